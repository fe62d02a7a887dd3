"""Shared fixtures: both database backends (SQLite and a throwaway PostgreSQL database), the
application, and the background-data release.

PostgreSQL: where a server answers at ``PCF_TEST_PG_ADMIN_URL`` (default: user ``postgres`` at
127.0.0.1:5432), the suite creates a database ``pcf_test_<random>``, runs every database test
against it as well as against SQLite, and drops it at the end. Under CI (``CI=true``) a server that
does not answer is a failure, never a skip.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.core.settings import PROJECT_ROOT, Env, Settings

PG_ADMIN_URL = os.environ.get(
    "PCF_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
BACKENDS = ["sqlite", "postgresql"]


def _pg_answers() -> str | None:
    try:
        eng = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with eng.connect() as c:
            c.execute(text("SELECT 1"))
        eng.dispose()
        return None
    except Exception as exc:  # any failure means "not there"
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"


_PG_PROBLEM = _pg_answers()


def pytest_sessionstart(session: pytest.Session) -> None:
    if _PG_PROBLEM and IN_CI:
        pytest.exit(f"PostgreSQL is required under CI and did not answer: {_PG_PROBLEM}", 3)


def create_pg_database(prefix: str = "pcf_test") -> str:
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    name = make_url(url).database
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A migrated throwaway PostgreSQL database for the whole session."""
    if _PG_PROBLEM:
        pytest.skip(f"PostgreSQL not available ({_PG_PROBLEM})")
    from app.core.migrate import upgrade_to_head

    url = create_pg_database()
    try:
        upgrade_to_head(url)
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    from app.core.migrate import upgrade_to_head

    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'pcf.sqlite3'}"
    upgrade_to_head(url)
    return url


def _clean(url: str) -> None:
    """Empty every table (children first) so each test starts from a migrated, empty schema.

    Also forgets the rule versions the process cached: a purge deletes released versions, which
    the service itself never does."""
    import app.models  # noqa: F401
    from app.core.database import make_engine, metadata
    from app.rules.services import forget_cached_versions

    forget_cached_versions()

    eng = make_engine(url)
    with eng.begin() as c:
        if c.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            if names:
                # Append-only triggers (audit log) do not fire for this test-only purge.
                c.execute(text("SET LOCAL session_replication_role = replica"))
                c.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            # SQLite cannot disable triggers: drop the append-only ones, purge, recreate them.
            triggers = c.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))
            saved = list(triggers)
            for name, _ in saved:
                c.execute(text(f'DROP TRIGGER "{name}"'))
            for t in reversed(metadata.sorted_tables):
                c.execute(t.delete())
            for _, sql in saved:
                c.execute(text(sql))
    eng.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test once on SQLite and once on PostgreSQL, each on an empty migrated schema."""
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    _clean(url)
    yield url
    _clean(url)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The background-data directory holding a built release (built once if missing)."""
    d = Path(os.environ.get("PCF_TEST_DATA_DIR", PROJECT_ROOT / "var" / "data"))
    if not (d / "current").is_file():
        subprocess.run([sys.executable, "-m", "lca_data.build", "--data-dir", str(d)], check=True)
    return d


def make_settings(db_url: str, data_dir: Path, **overrides: object) -> Settings:
    return Settings(
        env=Env.test,
        database_url=db_url,
        data_dir=data_dir,
        log_json=True,
        log_level="WARNING",
        **overrides,  # type: ignore[arg-type]
    )


@pytest.fixture
def empty_data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d


@pytest.fixture
def client_factory(db_url: str):  # type: ignore[no-untyped-def]
    """Build a TestClient for given settings overrides (runs the app's lifespan)."""
    from fastapi.testclient import TestClient

    from app.main import create_app

    opened: list[TestClient] = []

    def make(data_dir: Path, **overrides: object) -> TestClient:
        c = TestClient(create_app(make_settings(db_url, data_dir, **overrides)))
        c.__enter__()
        opened.append(c)
        return c

    yield make
    for c in opened:
        c.__exit__(None, None, None)
