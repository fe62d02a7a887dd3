"""Footprints: compress the stored input and result with LZ4 on PostgreSQL.

Every footprint row holds ~25 kB of JSON, which PostgreSQL compresses when it stores it out of
line. Its default (pglz) costs about twice the CPU of LZ4 on these documents (measured on the
bench machine: ~0.65 vs ~0.35 ms of server CPU per row), on the hottest write of the service.
Only new rows are affected; nothing is rewritten. PostgreSQL 14+ built with LZ4 (Debian's and
the official images are); on a server without it, or on SQLite, this does nothing.

Revision ID: 0006_footprint_lz4
Revises: 0005_exports
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_footprint_lz4"
down_revision: str | None = "0005_exports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("normalised_input", "result")


def _lz4_available() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    if bind.dialect.server_version_info < (14,):
        return False
    row = bind.execute(
        sa.text(
            "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' "
            "AND 'lz4' = ANY(enumvals)"
        )
    ).first()
    return row is not None


def _set(method: str) -> None:
    if not _lz4_available():
        return
    for column in COLUMNS:
        op.execute(f'ALTER TABLE footprint ALTER COLUMN "{column}" SET COMPRESSION {method}')


def upgrade() -> None:
    _set("lz4")


def downgrade() -> None:
    _set("pglz")
