"""Idempotency-Key on create routes: same key and body → same response, created once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import select

from app.accounts.models import AuditEntry, IdempotencyRecord, Organisation
from app.core.database import Database
from app.core.tenancy import unscoped
from tests.accounts.accounts_helpers import Creds, bearer, mint


def _count(db_url: str, model: Any, **where: Any) -> int:
    db = Database(db_url)
    with db.session() as s:
        unscoped(s)
        stmt = select(model)
        for k, v in where.items():
            stmt = stmt.where(getattr(model, k) == v)
        n = len(s.exec(stmt).all())
    db.dispose()
    return n


def test_same_key_same_body_replays_without_creating_twice(
    api: TestClient, admin: Creds, db_url: str
) -> None:
    h = bearer(mint(admin)) | {"Idempotency-Key": "create-org-1"}
    body = {"name": "Tyres Inc", "kind": "manufacturer"}
    first = api.post("/v1/organisations", headers=h, json=body)
    # Same JSON, different spelling: still the same request.
    again = api.post(
        "/v1/organisations",
        headers=h | {"content-type": "application/json"},
        content=b'{ "kind": "manufacturer",   "name": "Tyres Inc" }',
    )
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers["idempotency-replayed"] == "true"
    assert "idempotency-replayed" not in first.headers
    assert _count(db_url, Organisation, name="Tyres Inc") == 1
    assert _count(db_url, AuditEntry, resource_id=first.json()["id"]) == 1


def test_same_key_different_body_is_422(api: TestClient, admin: Creds, db_url: str) -> None:
    h = bearer(mint(admin)) | {"Idempotency-Key": "k"}
    assert api.post(
        "/v1/organisations", headers=h, json={"name": "A", "kind": "operator"}
    ).is_success
    r = api.post("/v1/organisations", headers=h, json={"name": "B", "kind": "operator"})
    assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused"
    assert r.json()["errors"][0]["pointer"] == "/header:Idempotency-Key"
    assert _count(db_url, Organisation, name="B") == 0
    # Another route with the same key is a different request as well.
    r = api.post(f"/v1/organisations/{admin.org_id}/clients", headers=h, json={"role": "viewer"})
    assert r.status_code == 422


def test_keys_belong_to_one_organisation(api: TestClient, admin: Creds, creds_factory: Any) -> None:
    other = creds_factory("operator-2", "operator", "admin")
    key = {"Idempotency-Key": "shared"}
    a = api.post(
        "/v1/organisations",
        headers=bearer(mint(admin)) | key,
        json={"name": "A", "kind": "operator"},
    )
    b = api.post(
        "/v1/organisations",
        headers=bearer(mint(other)) | key,
        json={"name": "B", "kind": "operator"},
    )
    assert a.status_code == b.status_code == 201 and a.json()["id"] != b.json()["id"]


def test_without_a_key_every_post_creates(api: TestClient, admin: Creds, db_url: str) -> None:
    h = bearer(mint(admin))
    for _ in range(2):
        r = api.post(
            f"/v1/organisations/{admin.org_id}/clients", headers=h, json={"role": "viewer"}
        )
        assert r.status_code == 201
    assert _count(db_url, IdempotencyRecord) == 0


def test_replayed_client_creation_never_reveals_a_stored_secret(
    api: TestClient, admin: Creds, db_url: str
) -> None:
    h = bearer(mint(admin)) | {"Idempotency-Key": "client-1"}
    url = f"/v1/organisations/{admin.org_id}/clients"
    first = api.post(url, headers=h, json={"role": "viewer"})
    again = api.post(url, headers=h, json={"role": "viewer"})
    assert first.status_code == again.status_code == 201
    assert first.json()["client_secret"]
    assert again.json()["client_secret"] is None
    assert {k: v for k, v in first.json().items() if k != "client_secret"} == {
        k: v for k, v in again.json().items() if k != "client_secret"
    }
    db = Database(db_url)
    with db.session() as s:
        unscoped(s)
        stored = s.exec(select(IdempotencyRecord)).one().response_body
    db.dispose()
    assert first.json()["client_secret"] not in stored


def test_keys_expire(api: TestClient, admin: Creds, db_url: str) -> None:
    h = bearer(mint(admin)) | {"Idempotency-Key": "old"}
    assert api.post(
        "/v1/organisations", headers=h, json={"name": "A", "kind": "operator"}
    ).is_success
    db = Database(db_url)
    with db.session() as s:
        unscoped(s)
        rec = s.exec(select(IdempotencyRecord)).one()
        s.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.id == rec.id)
            .values(created_at=rec.created_at - timedelta(hours=25))
        )
    db.dispose()
    r = api.post("/v1/organisations", headers=h, json={"name": "B", "kind": "operator"})
    assert r.status_code == 201 and r.json()["name"] == "B"


def test_malformed_keys_are_422(api: TestClient, admin: Creds) -> None:
    h = bearer(mint(admin)) | {"Idempotency-Key": "x" * 300}
    r = api.post("/v1/organisations", headers=h, json={"name": "A", "kind": "operator"})
    assert r.status_code == 422


def test_concurrent_requests_with_one_key_create_once(
    api: TestClient, admin: Creds, db_url: str
) -> None:
    """Eight simultaneous requests with the same key and body: one creates, the others replay
    it or are told to retry (409 with Retry-After); never two organisations."""
    from concurrent.futures import ThreadPoolExecutor

    h = bearer(mint(admin)) | {"Idempotency-Key": "race-1"}
    body = {"name": "Racing Tyres", "kind": "manufacturer"}
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(
            pool.map(lambda _: api.post("/v1/organisations", headers=h, json=body), range(8))
        )
    statuses = sorted(r.status_code for r in results)
    assert set(statuses) <= {201, 409}, statuses
    created = [r for r in results if r.status_code == 201]
    assert created
    assert len({r.json()["id"] for r in created}) == 1
    for r in results:
        if r.status_code == 409:
            assert r.json()["code"] == "idempotency_key_in_use"
            assert r.headers["retry-after"] == "1"
    assert _count(db_url, Organisation, name="Racing Tyres") == 1
    assert _count(db_url, AuditEntry, resource_id=created[0].json()["id"]) == 1
    # Afterwards the key replays the one response.
    again = api.post("/v1/organisations", headers=h, json=body)
    assert again.status_code == 201 and again.json()["id"] == created[0].json()["id"]
