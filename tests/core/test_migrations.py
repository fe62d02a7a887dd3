"""The models and the migrations agree: autogenerate finds nothing to do, on both backends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

import app.models  # noqa: F401 - registers every table
from app.core.database import make_engine, metadata
from app.core.migrate import alembic_config, upgrade_to_head
from tests.conftest import create_pg_database, drop_pg_database


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    request.getfixturevalue("pg_url")  # skips (or, under CI, has failed) without PostgreSQL
    url = create_pg_database("pcf_migr")
    try:
        yield url
    finally:
        drop_pg_database(url)


def test_upgrade_to_head_then_autogenerate_finds_no_difference(fresh_url: str) -> None:
    upgrade_to_head(fresh_url)
    engine = make_engine(fresh_url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        diff = compare_metadata(ctx, metadata)
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    assert diff == [], f"models and migrations disagree: {diff}"
    assert {t.name for t in metadata.sorted_tables} <= tables


def test_single_linear_history() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    heads = script.get_heads()
    assert len(heads) == 1, f"migration history has several heads: {heads}"


def test_naming_convention_applies_to_every_constraint() -> None:
    for table in metadata.sorted_tables:
        for c in table.constraints:
            assert c.name, f"{table.name} has an unnamed constraint {c!r}"


def test_footprint_documents_are_lz4_compressed_on_postgresql(fresh_url: str) -> None:
    upgrade_to_head(fresh_url)
    engine = make_engine(fresh_url)
    try:
        if engine.dialect.name != "postgresql":
            pytest.skip("column compression: PostgreSQL")
        with engine.connect() as conn:
            lz4 = conn.execute(
                text(
                    "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' "
                    "AND 'lz4' = ANY(enumvals)"
                )
            ).first()
            if lz4 is None:
                pytest.skip("this PostgreSQL is built without LZ4")
            rows = conn.execute(
                text(
                    "SELECT attname, attcompression FROM pg_attribute "
                    "WHERE attrelid = 'footprint'::regclass "
                    "AND attname IN ('normalised_input', 'result')"
                )
            ).all()
    finally:
        engine.dispose()
    assert {name: method for name, method in rows} == {"normalised_input": "l", "result": "l"}
