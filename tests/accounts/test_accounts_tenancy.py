"""Tenant isolation in one place (app.core.tenancy), on both backends."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import select

from app.accounts import service
from app.accounts.models import IdempotencyRecord
from app.accounts.principal import OrgKind, Principal, Role
from app.core.database import Database
from app.core.errors import NotFound
from app.core.tenancy import (
    TenantScopeError,
    bind_tenant,
    get_owned_or_404,
    scoped,
    unscoped,
)
from tests.accounts.accounts_helpers import bearer, mint


def _record(org_id: uuid.UUID, key: str) -> IdempotencyRecord:
    return IdempotencyRecord(
        org_id=org_id,
        key=key,
        method="POST",
        path="/x",
        request_hash="0" * 64,
        status_code=201,
        response_body="{}",
    )


@pytest.fixture
def two_orgs(db_url: str) -> Any:
    db = Database(db_url)
    with db.session() as s:
        unscoped(s)
        a = service.create_organisation(s, None, name="A", kind=OrgKind.manufacturer)
        b = service.create_organisation(s, None, name="B", kind=OrgKind.manufacturer)
        s.add(_record(a.id, "ka"))
        s.add(_record(b.id, "kb"))
    yield db, a.id, b.id
    db.dispose()


def _principal(org_id: uuid.UUID) -> Principal:
    return Principal("c", org_id, "x", "manufacturer", Role.manufacturer)


def test_a_bound_session_sees_only_its_organisation(two_orgs: Any) -> None:
    db, a, _ = two_orgs
    with db.session() as s:
        bind_tenant(s, a)
        keys = [r.key for r in s.exec(select(IdempotencyRecord)).all()]
        assert keys == ["ka"]
        other = s.exec(select(IdempotencyRecord).where(IdempotencyRecord.key == "kb")).first()
        assert other is None
        # Bulk writes are scoped too: another organisation's row is untouched.
        s.execute(update(IdempotencyRecord).values(status_code=299))
    with db.session() as s:
        unscoped(s)
        codes = {r.key: r.status_code for r in s.exec(select(IdempotencyRecord)).all()}
    assert codes == {"ka": 299, "kb": 201}


def test_get_owned_or_404_treats_other_organisations_as_missing(two_orgs: Any) -> None:
    db, a, b = two_orgs
    with db.session() as s:
        unscoped(s)
        kb_id = s.exec(select(IdempotencyRecord).where(IdempotencyRecord.key == "kb")).one().id
    with db.session() as s:
        bind_tenant(s, a)
        with pytest.raises(NotFound) as other:
            get_owned_or_404(s, IdempotencyRecord, kb_id, _principal(a))
        with pytest.raises(NotFound) as missing:
            get_owned_or_404(s, IdempotencyRecord, 999_999, _principal(a))
    assert type(other.value) is type(missing.value)
    with db.session() as s:
        bind_tenant(s, b)
        assert get_owned_or_404(s, IdempotencyRecord, kb_id, _principal(b)).key == "kb"


def test_scoped_adds_the_filter_explicitly(two_orgs: Any) -> None:
    db, a, _ = two_orgs
    with db.session() as s:
        unscoped(s)
        rows = s.exec(scoped(select(IdempotencyRecord), _principal(a))).all()
    assert [r.key for r in rows] == ["ka"]
    with pytest.raises(TypeError):
        scoped(select(service.Organisation), _principal(a))


def test_an_unbound_session_fails_closed(two_orgs: Any) -> None:
    db, a, _ = two_orgs
    with pytest.raises(TenantScopeError), db.session() as s:
        s.exec(select(IdempotencyRecord)).all()
    with pytest.raises(TenantScopeError), db.session() as s:
        s.add(_record(a, "new"))
        s.flush()


def test_writing_another_organisations_data_is_refused(two_orgs: Any) -> None:
    db, a, b = two_orgs
    with pytest.raises(TenantScopeError), db.session() as s:
        bind_tenant(s, a)
        s.add(_record(b, "sneaky"))
        s.flush()
    with db.session() as s:
        bind_tenant(s, a)
        rec = IdempotencyRecord(
            key="stamped", method="POST", path="/x", request_hash="0" * 64,
            status_code=201, response_body="{}",
        )  # fmt: skip
        s.add(rec)
        s.flush()
        assert rec.org_id == a  # stamped with the tenant
    with pytest.raises(TenantScopeError), db.session() as s:
        bind_tenant(s, a)
        mine = s.exec(select(IdempotencyRecord).where(IdempotencyRecord.key == "ka")).one()
        mine.org_id = b
        s.flush()


def test_another_organisation_answers_like_a_missing_one(api: Any, creds_factory: Any) -> None:
    mine = creds_factory("Mine", OrgKind.manufacturer, Role.viewer)
    theirs = creds_factory("Theirs", OrgKind.manufacturer, Role.manufacturer)
    t = mint(mine)
    own = api.get(f"/v1/organisations/{mine.org_id}", headers=bearer(t))
    other = api.get(f"/v1/organisations/{theirs.org_id}", headers=bearer(t))
    missing_id = uuid.uuid4()
    missing = api.get(f"/v1/organisations/{missing_id}", headers=bearer(t))
    assert own.status_code == 200
    assert other.status_code == missing.status_code == 404

    def strip(r: Any, oid: Any) -> dict[str, Any]:
        body = {k: v for k, v in r.json().items() if k != "request_id"}
        body["detail"] = body["detail"].replace(str(oid), "ID")
        return body

    assert strip(other, theirs.org_id) == strip(missing, missing_id)
