"""The principal cache saves the per-request client look-up on PostgreSQL without delaying a
revocation: a change made in this process is seen at once, one made elsewhere as soon as its
NOTIFY arrives; without a listening connection nothing is cached."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text

from app.accounts import service
from app.accounts.principal import OrgKind, Principal, Role
from app.accounts.principal_cache import CHANNEL, PrincipalCache
from app.core.database import Database
from app.core.security import TokenClaims
from app.core.tenancy import unscoped
from tests.accounts.accounts_helpers import Creds, bearer, mint


@contextmanager
def client_lookups(api: TestClient) -> Iterator[list[str]]:
    """The statements on ``api_client`` the app runs inside the block."""
    seen: list[str] = []
    engine = api.app.state.db.engine  # type: ignore[attr-defined]

    def record(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if "FROM api_client" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _me(api: TestClient, creds: Creds) -> int:
    return api.get("/v1/me", headers=bearer(mint(creds))).status_code


@pytest.fixture
def maker(creds_factory: Callable[..., Creds]) -> Creds:
    return creds_factory("Acme", OrgKind.manufacturer, Role.manufacturer)


def test_cached_on_postgresql_only_and_a_local_revocation_is_immediate(
    api: TestClient, maker: Creds, db_url: str
) -> None:
    cache: PrincipalCache = api.app.state.principal_cache  # type: ignore[attr-defined]
    postgres = db_url.startswith("postgresql")
    assert cache.wait_listening(timeout=5 if postgres else 0.1) is postgres
    assert _me(api, maker) == 200
    with client_lookups(api) as seen:
        assert _me(api, maker) == 200
    assert len(seen) == (0 if postgres else 1)

    # revoked through the service in this process: refused on the very next request
    db = Database(db_url)
    try:
        with db.session() as s:
            unscoped(s)
            service.revoke_client(s, None, service.get_client(s, maker.client_id), actor="test")
    finally:
        db.dispose()
    assert _me(api, maker) == 401


def test_a_change_made_elsewhere_is_seen_when_its_notification_arrives(
    api: TestClient, maker: Creds, db_url: str
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("LISTEN/NOTIFY: PostgreSQL")
    cache: PrincipalCache = api.app.state.principal_cache  # type: ignore[attr-defined]
    assert cache.wait_listening()
    assert _me(api, maker) == 200
    with client_lookups(api) as seen:
        assert _me(api, maker) == 200
    assert seen == []  # served from the cache
    # another process revokes the client: only its committed NOTIFY reaches this one
    db = Database(db_url)
    try:
        with db.engine.begin() as c:
            c.execute(
                text("UPDATE api_client SET revoked_at = now() WHERE client_id = :c"),
                {"c": maker.client_id},
            )
            c.execute(text("SELECT pg_notify(:ch, :c)"), {"ch": CHANNEL, "c": maker.client_id})
    finally:
        db.dispose()
    deadline = time.monotonic() + 5
    while _me(api, maker) != 401:
        assert time.monotonic() < deadline, "the revocation was not seen within 5 s"
        time.sleep(0.01)


def test_without_a_listening_connection_nothing_is_cached(
    api: TestClient, maker: Creds, db_url: str
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("LISTEN/NOTIFY: PostgreSQL")
    cache: PrincipalCache = api.app.state.principal_cache  # type: ignore[attr-defined]
    assert cache.wait_listening()
    assert _me(api, maker) == 200
    db = Database(db_url)
    try:  # the listening connection is lost (a server restart, a network cut)
        with db.engine.begin() as c:
            c.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND query LIKE 'LISTEN %'"
                )
            )
    finally:
        db.dispose()
    deadline = time.monotonic() + 5
    while cache.listening:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    with client_lookups(api) as seen:
        assert _me(api, maker) == 200
        assert _me(api, maker) == 200
    assert len(seen) == 2  # read from the database every time
    assert cache.wait_listening(timeout=10)  # and it listens again by itself


def test_a_read_older_than_a_change_is_never_stored() -> None:
    cache = PrincipalCache("sqlite://")
    cache._set_listening(True)  # as the listener does once connected
    claims = TokenClaims("pcf_x", uuid.uuid4(), "manufacturer", 1, 0)
    p = Principal("pcf_x", claims.org_id, "Acme", "manufacturer", Role.manufacturer)
    before = cache.generation
    cache.forget("pcf_x")  # a change is heard of while the request was reading
    cache.put(claims, p, before)
    assert cache.get(claims) is None
    cache.put(claims, p, cache.generation)
    assert cache.get(claims) == p
    # a token of another secret version or role is not the cached principal
    assert cache.get(TokenClaims("pcf_x", claims.org_id, "manufacturer", 2, 0)) is None
    assert cache.get(TokenClaims("pcf_x", claims.org_id, "viewer", 1, 0)) is None
    cache.ttl = 0.0
    assert cache.get(claims) is None
