"""Database engine, sessions and the table naming convention (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Table, bindparam, event, insert, text
from sqlalchemy.engine import Engine, make_url
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

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()


# ---------------------------------------------------------------------------- atomic inserts
_TOGETHER: dict[tuple[tuple[str, tuple[str, ...]], ...], Any] = {}


def _together_statement(rows: Sequence[tuple[Table, Mapping[str, Any]]]) -> tuple[Any, Any]:
    """``WITH w0 AS (INSERT …), w1 AS (INSERT …) INSERT …`` for ``rows``, built once per shape,
    with the parameter names ``r{i}_{column}``."""
    shape = tuple((t.name, tuple(sorted(values))) for t, values in rows)
    stmt = _TOGETHER.get(shape)
    if stmt is None:
        parts = [
            insert(t).values({c: bindparam(f"r{i}_{c}", type_=t.c[c].type) for c in sorted(values)})
            for i, (t, values) in enumerate(rows)
        ]
        stmt = parts[-1]
        for i, part in enumerate(parts[:-1]):
            stmt = stmt.add_cte(part.cte(f"w{i}"))
        _TOGETHER[shape] = stmt
    params = {f"r{i}_{c}": v for i, (_, values) in enumerate(rows) for c, v in values.items()}
    return stmt, params


def insert_together(session: Session, rows: Sequence[tuple[Table, Mapping[str, Any]]]) -> None:
    """Insert ``rows`` (table, column values) all or none: a request's *last* write.

    If the session has a transaction in progress (it has read or written already), the rows are
    inserted in it, one statement each, and commit with it. Otherwise, on PostgreSQL, they are
    written by one statement (data-modifying CTEs) that is its own transaction: one round trip
    instead of four (BEGIN, two INSERTs, COMMIT), which is most of a footprint's database time.
    Either way nothing is half written. Nothing the request does afterwards can undo it, hence
    "last write".
    """
    if session.in_transaction() or session.get_bind().dialect.name != "postgresql":
        conn = session.connection()
        for table, values in rows:
            conn.execute(insert(table), dict(values))
        return
    stmt, params = _together_statement(rows)
    engine = session.get_bind().engine
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(stmt, params)
