"""Database engine, sessions and the table naming convention (SQLite or PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import set_json_dumps
from sqlalchemy import Table, bindparam, event, insert, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, StatementError
from sqlmodel import Session, SQLModel, create_engine

from app.core import jsonio

# Constraint names are part of the schema: fixed so migrations are stable on both backends.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata = SQLModel.metadata


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys and WAL, PostgreSQL a pool."""
    u = make_url(url)
    kwargs.setdefault("json_serializer", jsonio.dumps)
    kwargs.setdefault("json_deserializer", jsonio.loads)
    if u.get_backend_name() == "sqlite":
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            if u.database and u.database != ":memory:":
                cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        return engine
    # No pre-ping: it would cost a round trip on every request. A connection found broken is
    # dropped by the pool when its statement fails (that request gets a 503, see
    # app.core.errors) and the next checkout opens a fresh one; idle connections are renewed
    # after pool_recycle seconds so a server-side idle timeout never meets them.
    return create_engine(
        url,
        pool_pre_ping=False,
        pool_recycle=kwargs.pop("pool_recycle", 1800),
        pool_size=kwargs.pop("pool_size", 10),
        max_overflow=kwargs.pop("max_overflow", 20),
        **kwargs,
    )


def ensure_sqlite_dir(url: str) -> None:
    """Create the folder of a SQLite file so a fresh checkout starts without set-up."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
        Path(u.database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)


def ping(engine: Engine) -> None:
    """Raise if the database does not answer."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


class Database:
    """Owns the engine; hands out sessions that commit on success and roll back on error."""

    def __init__(self, url: str) -> None:
        self.url = url
        ensure_sqlite_dir(url)
        self.engine = make_engine(url)
        self.writer = AsyncWriter(self.engine) if self.engine.dialect.name == "postgresql" else None

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as s:
            if self.writer is not None:
                s.info[_WRITER] = self.writer
            try:
                yield s
                # Nothing begun and nothing pending (a request that only read from caches, or
                # wrote through ``write_together``): no commit to make (SQLAlchemy would begin
                # and commit an empty transaction).
                if s.in_transaction() or s.new or s.dirty or s.deleted:
                    s.commit()
            except BaseException:
                s.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()

    async def aclose(self) -> None:
        """Close the async writer's connections and the engine's (the service's shutdown)."""
        if self.writer is not None:
            await self.writer.aclose()
        self.engine.dispose()


# ---------------------------------------------------------------------------- atomic inserts
@dataclass
class _Together:
    """One ``WITH … INSERT`` statement shape, and its PostgreSQL text for the async writer
    (rendered the first time it is needed)."""

    stmt: Any
    pg: tuple[str, dict[str, Callable[[Any], Any] | None]] | None = None


_TOGETHER: dict[tuple[tuple[str, tuple[str, ...]], ...], _Together] = {}


def _together(rows: Sequence[tuple[Table, Mapping[str, Any]]]) -> tuple[_Together, dict[str, Any]]:
    """``WITH w0 AS (INSERT …), w1 AS (INSERT …) INSERT …`` for ``rows``, built once per shape,
    with the parameter names ``r{i}_{column}``."""
    shape = tuple((t.name, tuple(sorted(values))) for t, values in rows)
    together = _TOGETHER.get(shape)
    if together is None:
        parts = [
            insert(t).values({c: bindparam(f"r{i}_{c}", type_=t.c[c].type) for c in sorted(values)})
            for i, (t, values) in enumerate(rows)
        ]
        stmt = parts[-1]
        for i, part in enumerate(parts[:-1]):
            stmt = stmt.add_cte(part.cte(f"w{i}"))
        together = _TOGETHER[shape] = _Together(stmt)
    params = {f"r{i}_{c}": v for i, (_, values) in enumerate(rows) for c, v in values.items()}
    return together, params


def insert_together(session: Session, rows: Sequence[tuple[Table, Mapping[str, Any]]]) -> None:
    """Insert ``rows`` (table, column values) all or none: a request's *last* write.

    If the session has a transaction in progress (it has read or written already), the rows are
    inserted in it, one statement each, and commit with it. Otherwise, on PostgreSQL, they are
    written by one statement (data-modifying CTEs) that is its own transaction: one round trip
    instead of four (BEGIN, two INSERTs, COMMIT), which is most of a footprint's database time.
    Either way nothing is half written. Nothing the request does afterwards can undo it, hence
    "last write". ``write_together`` is the same for async code.
    """
    if session.in_transaction() or session.get_bind().dialect.name != "postgresql":
        conn = session.connection()
        for table, values in rows:
            conn.execute(insert(table), dict(values))
        return
    together, params = _together(rows)
    engine = session.get_bind().engine
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(together.stmt, params)


async def write_together(session: Session, rows: Sequence[tuple[Table, Mapping[str, Any]]]) -> None:
    """``insert_together`` without holding up the event loop while PostgreSQL works.

    Where ``insert_together`` would write one statement in its own transaction (PostgreSQL, the
    session has no transaction in progress), the statement goes through the process's
    ``AsyncWriter``: the worker serves other requests while the database inserts, commits and
    flushes its log (a millisecond or so, most of a footprint request's waiting). Anywhere else
    it is ``insert_together`` itself, so the guarantees are the same: all rows or none.
    """
    writer: AsyncWriter | None = session.info.get(_WRITER)
    if writer is None or session.in_transaction():
        insert_together(session, rows)
        return
    together, params = _together(rows)
    await writer.execute(together, params)


# ---------------------------------------------------------------------------- async writer
_WRITER = "pcf_async_writer"


class AsyncWriter:
    """Autocommit psycopg connections of one process for ``write_together``'s statements.

    Plain psycopg, not SQLAlchemy's async engine: the statement is rendered once per shape by
    SQLAlchemy's PostgreSQL dialect (text and bind processors: JSON encoding, casts), so per
    request only the parameters are processed and one round trip is made. Connections are
    opened when needed and kept while idle (at most ``max_idle``); a connection that fails is
    closed, and its error is raised as SQLAlchemy's (an ``OperationalError`` becomes the 503
    ``database_unavailable`` like any lost connection), so the next request opens a new one.
    Connections belong to the event loop that opened them; a writer used from another loop
    (tests run apps on several) closes the old ones at the socket and opens new ones.
    """

    def __init__(self, engine: Engine, *, max_idle: int = 8) -> None:
        url = engine.url.set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._dialect = engine.dialect
        self._max_idle = max_idle
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def _render(self, together: _Together) -> tuple[str, dict[str, Callable[[Any], Any] | None]]:
        if together.pg is None:
            compiled = together.stmt.compile(dialect=self._dialect)
            processors = {
                name: bp.type.dialect_impl(self._dialect).bind_processor(self._dialect)
                for name, bp in ((compiled.bind_names[b], b) for b in compiled.binds.values())
            }
            together.pg = (compiled.string, processors)
        return together.pg

    async def _acquire(self) -> psycopg.AsyncConnection[Any]:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._forget_idle()
            self._loop = loop
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn
        conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
        # JSON columns encoded by orjson, as on the engine's connections (psycopg's default
        # is the standard library's encoder: 5-10x slower on a footprint's ~20 kB)
        set_json_dumps(jsonio.dumps_bytes, conn)
        return conn

    async def execute(self, together: _Together, params: Mapping[str, Any]) -> None:
        sql, processors = self._render(together)
        values = {
            k: (p(v) if (p := processors.get(k)) is not None else v) for k, v in params.items()
        }
        try:
            conn = await self._acquire()
        except psycopg.Error as exc:
            raise _wrapped(sql, exc) from exc
        try:
            await conn.execute(sql, values)
        except psycopg.Error as exc:
            await self._close(conn)
            raise _wrapped(sql, exc) from exc
        except BaseException:  # cancelled mid-statement: the connection's state is unknown
            await self._close(conn)
            raise
        if len(self._idle) < self._max_idle and conn.info.transaction_status == _IDLE:
            self._idle.append(conn)
        else:
            await self._close(conn)

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await self._close(conn)

    def _forget_idle(self) -> None:
        """Close connections opened on another event loop without it (at the socket)."""
        idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(Exception):
                conn.pgconn.finish()

    @staticmethod
    async def _close(conn: psycopg.AsyncConnection[Any]) -> None:
        with contextlib.suppress(Exception):
            await conn.close()


_IDLE = psycopg.pq.TransactionStatus.IDLE


def _wrapped(sql: str, exc: psycopg.Error) -> StatementError:
    """A psycopg error as SQLAlchemy raises it (a ``DBAPIError`` subclass, as the error
    handlers expect: ``OperationalError``, ``IntegrityError``, …)."""
    return DBAPIError.instance(
        sql,
        None,
        exc,
        psycopg.Error,
        connection_invalidated=isinstance(exc, psycopg.OperationalError),
    )
