"""Footprints: drop the indexes no query uses (pcr_code, product_name, input_hash).

Every listing filters an organisation's footprints and orders them by creation time: the
(org_id, created_at) index serves it, and the rule / product filters are applied to that
organisation's rows (a product filter is a substring match, which a B-tree cannot serve
anyway). Measured on the bench machine: the three indexes cost ~0.15 ms of the ~0.55 ms of
server CPU of each footprint insert, the hottest write of the service.

Revision ID: 0007_footprint_indexes
Revises: 0006_footprint_lz4
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007_footprint_indexes"
down_revision: str | None = "0006_footprint_lz4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DROPPED = ("pcr_code", "product_name", "input_hash")


def upgrade() -> None:
    for column in DROPPED:
        op.drop_index(op.f(f"ix_footprint_{column}"), table_name="footprint")


def downgrade() -> None:
    for column in DROPPED:
        op.create_index(op.f(f"ix_footprint_{column}"), "footprint", [column])
