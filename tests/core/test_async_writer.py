"""``write_together`` and the async writer: all rows or none, one statement on PostgreSQL through a
reused connection, errors raised as SQLAlchemy's (a lost connection: the 503 kind), and
connections never carried from one event loop to another."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.accounts import audit
from app.core.database import Database, write_together
from app.core.tenancy import unscoped


def _entry(marker: str, **changes: Any) -> tuple[Any, dict[str, Any]]:
    values = audit.entry(
        None,
        resource="test",
        resource_id=marker,
        action="create",
        before=None,
        after={"marker": marker, "data": {"x": [1.5, "二氧化碳", None]}},
        actor="writer-test",
    )
    return audit.TABLE, {**values, **changes}


def _count(db: Database, marker: str) -> int:
    with db.engine.connect() as c:
        return int(
            c.execute(
                select(func.count())
                .select_from(audit.TABLE)
                .where(audit.TABLE.c.resource_id == marker)
            ).scalar_one()
        )


async def _write(db: Database, rows: list[tuple[Any, dict[str, Any]]]) -> None:
    with db.session() as s:
        unscoped(s)
        await write_together(s, rows)


def test_rows_are_written_together_by_one_reused_connection(db_url: str) -> None:
    db = Database(db_url)
    try:
        marker = uuid.uuid4().hex

        async def scenario() -> None:
            await _write(db, [_entry(marker), _entry(marker)])
            first = list(db.writer._idle) if db.writer is not None else []
            await _write(db, [_entry(marker), _entry(marker)])
            if db.writer is not None:  # PostgreSQL: one connection, kept for the next write
                assert len(first) == 1 and db.writer._idle == first
                await db.writer.aclose()
                assert db.writer._idle == [] and first[0].closed

        asyncio.run(scenario())
        assert _count(db, marker) == 4
        with db.engine.connect() as c:
            ids = c.execute(
                select(audit.TABLE.c.client_id).where(audit.TABLE.c.resource_id == marker)
            ).scalars()
            assert set(ids) == {"writer-test"}
    finally:
        db.dispose()


def test_a_row_that_cannot_be_written_writes_none(db_url: str) -> None:
    db = Database(db_url)
    try:
        marker = uuid.uuid4().hex
        with pytest.raises(IntegrityError):  # SQLAlchemy's, whichever path wrote
            asyncio.run(_write(db, [_entry(marker), _entry(marker, resource=None)]))
        assert _count(db, marker) == 0
        # and the writer is usable afterwards
        asyncio.run(_write(db, [_entry(marker)]))
        assert _count(db, marker) == 1
    finally:
        db.dispose()


def test_lost_connection_is_an_invalidated_connection_error_then_a_new_one(pg_url: str) -> None:
    db = Database(pg_url)
    assert db.writer is not None
    marker = uuid.uuid4().hex
    try:

        async def scenario() -> None:
            await _write(db, [_entry(marker)])
            assert db.writer is not None and len(db.writer._idle) == 1
            with db.engine.begin() as c:  # the server ends the writer's connection
                c.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
            with pytest.raises(DBAPIError) as err:
                await _write(db, [_entry(marker)])
            assert err.value.connection_invalidated  # the 503 database_unavailable kind
            assert db.writer._idle == []
            await _write(db, [_entry(marker)])  # a new connection

        asyncio.run(scenario())
        assert _count(db, marker) == 2
    finally:
        db.dispose()


def test_connections_of_another_event_loop_are_not_reused(pg_url: str) -> None:
    db = Database(pg_url)
    assert db.writer is not None
    marker = uuid.uuid4().hex
    try:
        asyncio.run(_write(db, [_entry(marker)]))
        old = list(db.writer._idle)
        assert len(old) == 1
        asyncio.run(_write(db, [_entry(marker)]))  # a new loop: the old connection is closed
        assert old[0].closed
        assert len(db.writer._idle) == 1 and db.writer._idle[0] is not old[0]
        assert _count(db, marker) == 2
    finally:
        db.dispose()
