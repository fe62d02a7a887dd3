"""The create route's short cuts keep the contract: the body built from the stored result is the
documented ``FootprintOut`` and equals what GET answers; the row written with a Core INSERT has
every column; the newest rule version is cached only as long as documented; a lost database
connection is a 503 that a retry gets past; a client that hangs up is not an error."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import pytest
from sqlalchemy import text

from app.core.database import AsyncWriter, Database
from app.footprints.models import Footprint, StoredFootprint
from app.footprints.schemas import FootprintOut
from app.rules import services as rules
from tests.footprints.conftest import FootprintApi, all_examples, count_footprints, example

GLASS = "beer-lager-640ml-returnable-glass.json"


@pytest.mark.parametrize("name", all_examples())
def test_created_body_is_the_documented_model_and_get_answers_the_same(
    fp_api: FootprintApi, name: str
) -> None:
    r = fp_api.post("maker", "/v1/footprints", json=example(name))
    assert r.status_code == 201, r.text
    body = r.json()
    model = FootprintOut.model_validate(body)
    # nothing in the body that the model does not describe (it would be dropped silently)
    assert set(body) == set(FootprintOut.model_fields)
    assert set(body["provenance"]) == set(type(model.provenance).model_fields)
    got = fp_api.get("maker", f"/v1/footprints/{body['id']}")
    assert got.status_code == 200
    assert got.json() == body


def test_stored_footprint_has_every_column() -> None:
    columns = {c.name for c in Footprint.__table__.columns}  # type: ignore[attr-defined]
    assert {f.name for f in dataclasses.fields(StoredFootprint)} == columns


def test_newest_rule_version_is_used_at_once_here_and_within_the_ttl_elsewhere(
    fp_api: FootprintApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    def version() -> str:
        r = fp_api.post("maker", "/v1/footprints", json=example(GLASS))
        assert r.status_code == 201, r.text
        return str(r.json()["provenance"]["pcr_version"])

    coverage = iter([0.98, 0.99])

    def publish() -> str:
        draft = fp_api.post("assoc", "/v1/pcrs/beer/drafts").json()
        patched = fp_api.client.patch(
            f"/v1/pcrs/beer/drafts/{draft['id']}",
            headers=fp_api.headers["assoc"],
            json={"cut_off": {"min_coverage": next(coverage)}},
        )
        assert patched.status_code == 200, patched.text
        r = fp_api.post("assoc", f"/v1/pcrs/beer/drafts/{draft['id']}/publish", json={})
        assert r.status_code == 201, r.text
        return str(r.json()["version"])

    assert version() == "1.0.0"
    # published by this process: the next footprint uses it
    assert publish() == "1.1.0"
    assert version() == "1.1.0"

    # published by another worker process (this process is not told): the cached reference is
    # used until LATEST_TTL_SECONDS have passed, then the new version
    monkeypatch.setattr(rules, "_forget_latest", lambda code: None)
    assert publish() == "1.2.0"
    assert version() == "1.1.0"
    clock = rules.time.monotonic() + rules.LATEST_TTL_SECONDS + 0.1
    monkeypatch.setattr(rules.time, "monotonic", lambda: clock)
    assert version() == "1.2.0"

    # a version asked for by number is always that version
    body = example(GLASS)
    body["product"]["pcr_version"] = "1.0.0"
    r = fp_api.post("maker", "/v1/footprints", json=body)
    assert r.json()["provenance"]["pcr_version"] == "1.0.0"


def test_lost_database_connection_is_a_503_and_the_retry_succeeds(
    fp_api: FootprintApi, caplog: pytest.LogCaptureFixture
) -> None:
    if not fp_api.db_url.startswith("postgresql"):
        pytest.skip("server-side connection loss: PostgreSQL")
    assert fp_api.post("maker", "/v1/footprints", json=example(GLASS)).status_code == 201
    db = Database(fp_api.db_url)
    try:
        with db.engine.begin() as c:  # end the service's pooled connections, as a restart does
            n = c.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
        assert n >= 1
    finally:
        db.dispose()
    before = count_footprints(fp_api)
    with caplog.at_level(logging.WARNING, logger="pcf.errors"):
        r = fp_api.post("maker", "/v1/footprints", json=example(GLASS))
    assert r.status_code == 503, r.text
    assert r.json()["code"] == "database_unavailable" and r.headers["Retry-After"] == "1"
    assert count_footprints(fp_api) == before
    again = fp_api.post("maker", "/v1/footprints", json=example(GLASS))
    assert again.status_code == 201, again.text
    assert count_footprints(fp_api) == before + 1


def test_client_that_hangs_up_mid_body_is_not_an_error(
    fp_api: FootprintApi, caplog: pytest.LogCaptureFixture
) -> None:
    app: Any = fp_api.client.app
    auth = fp_api.headers["maker"]["Authorization"].encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/footprints",
        "raw_path": b"/v1/footprints",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"test"),
            (b"content-type", b"application/json"),
            (b"authorization", auth),
            (b"content-length", b"100000"),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    messages = [
        {"type": "http.request", "body": b'{"product": ', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    before = count_footprints(fp_api)
    with caplog.at_level(logging.INFO):
        asyncio.run(app(scope, receive, send))
    assert sent == []  # nobody to answer
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    access = [r for r in caplog.records if r.name == "pcf.access"]
    assert access and access[-1].__dict__["status"] == 499
    assert count_footprints(fp_api) == before


def test_footprint_and_audit_entry_are_written_together_or_not_at_all(
    fp_api: FootprintApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import event

    db: Database = fp_api.client.app.state.db  # type: ignore[attr-defined]
    statements: list[str] = []  # through the engine (sync)
    written: list[str] = []  # through the async writer

    def seen(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    if db.writer is not None:
        real_execute = AsyncWriter.execute

        async def spy(self: AsyncWriter, together: Any, params: Any) -> None:
            written.append(self._render(together)[0])
            await real_execute(self, together, params)

        monkeypatch.setattr(AsyncWriter, "execute", spy)

    assert fp_api.post("maker", "/v1/footprints", json=example(GLASS)).status_code == 201
    written.clear()
    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        r = fp_api.post("maker", "/v1/footprints", json=example(GLASS))
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert r.status_code == 201
    writes = [s for s in statements if "INSERT" in s]
    if fp_api.db_url.startswith("postgresql"):
        # client and rule known already: the request's one statement writes both rows, through
        # the async writer (the event loop is free meanwhile); nothing through the engine
        assert statements == []
        assert len(written) == 1 and written[0].lstrip().startswith("WITH w0 AS")
    else:
        assert len(writes) == 2
    fp_id = r.json()["id"]
    db = Database(fp_api.db_url)
    try:
        with db.engine.connect() as c:
            n = c.execute(
                text(
                    "SELECT count(*) FROM audit_entry WHERE resource_id = :i AND action = 'create'"
                ),
                {"i": fp_id},
            ).scalar_one()
    finally:
        db.dispose()
    assert n == 1

    # the audit entry cannot be written: neither is the footprint
    from app.accounts import audit

    real = audit.entry
    monkeypatch.setattr(audit, "entry", lambda *a, **k: {**real(*a, **k), "resource": None})
    before = count_footprints(fp_api)
    fp_api.client.raise_server_exceptions = False  # type: ignore[attr-defined]
    r = fp_api.post("maker", "/v1/footprints", json=example(GLASS))
    assert r.status_code == 500
    assert count_footprints(fp_api) == before
