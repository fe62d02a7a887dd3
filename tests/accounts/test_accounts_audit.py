"""The append-only audit log: every write, who/when/what, state hashes; admins read it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from app.accounts import service
from app.accounts.audit import state_hash
from app.accounts.models import AuditEntry, Organisation
from app.core.database import Database
from app.core.tenancy import unscoped
from tests.accounts.accounts_helpers import Creds, bearer, mint


def _entries(api: TestClient, admin: Creds, **params: Any) -> list[dict[str, Any]]:
    r = api.get("/v1/audit", headers=bearer(mint(admin)), params=params)
    assert r.status_code == 200, r.text
    return r.json()["data"]  # type: ignore[no-any-return]


def test_every_write_is_recorded_with_who_when_what_and_hashes(
    api: TestClient, admin: Creds, db_url: str
) -> None:
    t = mint(admin)
    before = datetime.now(UTC) - timedelta(seconds=5)
    org = api.post(
        "/v1/organisations",
        headers=bearer(t) | {"X-Request-ID": "req-audit-1"},
        json={"name": "Brewers", "kind": "association", "families": ["beer"]},
    ).json()
    entries = _entries(api, admin, resource="organisation", resource_id=org["id"])
    assert len(entries) == 1
    e = entries[0]
    assert e["client_id"] == admin.client_id and e["org_id"] == str(admin.org_id)
    assert e["org_name"] == "operator" and e["role"] == "admin"
    assert e["action"] == "create" and e["before_hash"] is None
    assert e["request_id"] == "req-audit-1"
    assert datetime.fromisoformat(e["at"]) >= before
    db = Database(db_url)
    with db.session() as s:
        unscoped(s)
        row = s.get(Organisation, __import__("uuid").UUID(org["id"]))
        assert row is not None
        assert e["after_hash"] == state_hash(service.org_state(row))
    db.dispose()

    c = api.post(
        f"/v1/organisations/{org['id']}/clients", headers=bearer(t), json={"role": "association"}
    ).json()
    api.post(f"/v1/clients/{c['client_id']}/rotate", headers=bearer(t))
    api.post(f"/v1/clients/{c['client_id']}/revoke", headers=bearer(t))
    trail = _entries(api, admin, resource="api_client", resource_id=c["client_id"])
    assert [x["action"] for x in trail] == ["create", "rotate", "revoke"]
    # Each step starts from the state the previous one left.
    assert trail[1]["before_hash"] == trail[0]["after_hash"]
    assert trail[2]["before_hash"] == trail[1]["after_hash"]


def test_a_rejected_write_leaves_no_entry(api: TestClient, admin: Creds) -> None:
    t = mint(admin)
    body = {"name": "Once", "kind": "manufacturer"}
    assert api.post("/v1/organisations", headers=bearer(t), json=body).status_code == 201
    n = len(_entries(api, admin))
    assert api.post("/v1/organisations", headers=bearer(t), json=body).status_code == 409
    assert (
        api.post("/v1/organisations", headers=bearer(t), json={"name": "", "kind": "x"}).status_code
        == 422
    )
    assert len(_entries(api, admin)) == n


def test_filters_and_paging(api: TestClient, admin: Creds, creds_factory: Any) -> None:
    other_admin = creds_factory("operator-2", "operator", "admin")
    for i in range(3):
        api.post(
            "/v1/organisations",
            headers=bearer(mint(admin)),
            json={"name": f"a{i}", "kind": "manufacturer"},
        )
    api.post(
        "/v1/organisations",
        headers=bearer(mint(other_admin)),
        json={"name": "b0", "kind": "manufacturer"},
    )
    mine = _entries(api, admin, client_id=admin.client_id)
    assert len(mine) == 3 and {e["client_id"] for e in mine} == {admin.client_id}
    assert len(_entries(api, admin, org_id=str(other_admin.org_id))) == 1
    assert all(e["action"] == "create" for e in _entries(api, admin, action="create"))
    assert _entries(api, admin, action="delete") == []
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert _entries(api, admin, since=future) == []
    assert len(_entries(api, admin, until=future)) == len(_entries(api, admin))

    everything = _entries(api, admin, limit=500)
    page1 = api.get("/v1/audit", headers=bearer(mint(admin)), params={"limit": 2}).json()
    page2 = api.get(
        "/v1/audit",
        headers=bearer(mint(admin)),
        params={"limit": 2, "cursor": page1["next_cursor"]},
    ).json()
    assert [e["id"] for e in page1["data"] + page2["data"]] == [e["id"] for e in everything[:4]]


def test_nobody_can_change_or_delete_an_entry_through_the_service(
    api: TestClient, admin: Creds
) -> None:
    t = mint(admin)
    for method in ("PUT", "PATCH", "DELETE"):
        assert api.request(method, "/v1/audit", headers=bearer(t)).status_code == 405
    spec = api.get("/openapi.json").json()
    assert set(spec["paths"]["/v1/audit"]) == {"get"}


def test_the_database_refuses_update_and_delete(db_url: str, admin: Creds) -> None:
    db = Database(db_url)
    with db.session() as s:
        unscoped(s)
        n = len(s.exec(select(AuditEntry)).all())
        assert n >= 2
    for stmt in (
        "UPDATE audit_entry SET action = 'forged'",
        "DELETE FROM audit_entry",
    ):
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as c:
            c.execute(text(stmt))
    if db.engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as c:
            c.execute(text("TRUNCATE audit_entry"))
    with db.session() as s:
        unscoped(s)
        rows = s.exec(select(AuditEntry)).all()
        assert len(rows) == n and all(r.action != "forged" for r in rows)
    db.dispose()
