"""Footprints: one row per calculated footprint, with its normalised input and result.

A footprint never changes: database triggers refuse UPDATE and DELETE of a row. A recalculation
is a new row whose ``recalculated_from`` names the one it recalculates.

Revision ID: 0004_footprints
Revises: 0003_rules
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004_footprints"
down_revision: str | None = "0003_rules"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Str = sqlmodel.sql.sqltypes.AutoString

PG_FUNCTION = """
CREATE FUNCTION footprint_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'footprint % never changes (%)', OLD.id, TG_OP
        USING ERRCODE = 'check_violation';
END
$$
"""
PG_TRIGGER = (
    "CREATE TRIGGER footprint_immutable BEFORE UPDATE OR DELETE ON footprint "
    "FOR EACH ROW EXECUTE FUNCTION footprint_immutable()"
)
SQLITE_TRIGGERS = (
    "CREATE TRIGGER footprint_no_update BEFORE UPDATE ON footprint "
    "BEGIN SELECT RAISE(ABORT, 'footprint never changes: UPDATE refused'); END",
    "CREATE TRIGGER footprint_no_delete BEFORE DELETE ON footprint "
    "BEGIN SELECT RAISE(ABORT, 'footprint never changes: DELETE refused'); END",
)


def upgrade() -> None:
    op.create_table(
        "footprint",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("pcr_code", Str(length=64), nullable=False),
        sa.Column("pcr_version", Str(length=32), nullable=False),
        sa.Column("product_name", Str(length=200), nullable=False),
        sa.Column("product_model", Str(length=100), nullable=True),
        sa.Column("release_id", Str(length=64), nullable=False),
        sa.Column("input_hash", Str(length=64), nullable=False),
        sa.Column("total_kgco2e", sa.Float(), nullable=False),
        sa.Column("normalised_input", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("recalculated_from", sa.Uuid(), nullable=True),
        sa.Column("created_by", Str(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisation.id"],
            name=op.f("fk_footprint_org_id_organisation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recalculated_from"],
            ["footprint.id"],
            name=op.f("fk_footprint_recalculated_from_footprint"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_footprint")),
    )
    op.create_index(op.f("ix_footprint_org_id"), "footprint", ["org_id"])
    op.create_index(op.f("ix_footprint_pcr_code"), "footprint", ["pcr_code"])
    op.create_index(op.f("ix_footprint_product_name"), "footprint", ["product_name"])
    op.create_index(op.f("ix_footprint_input_hash"), "footprint", ["input_hash"])
    op.create_index("ix_footprint_org_id_created_at", "footprint", ["org_id", "created_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(PG_TRIGGER)
    else:
        for ddl in SQLITE_TRIGGERS:
            op.execute(ddl)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS footprint_immutable ON footprint")
        op.execute("DROP FUNCTION IF EXISTS footprint_immutable()")
    else:
        op.execute("DROP TRIGGER IF EXISTS footprint_no_update")
        op.execute("DROP TRIGGER IF EXISTS footprint_no_delete")
    op.drop_index("ix_footprint_org_id_created_at", table_name="footprint")
    op.drop_index(op.f("ix_footprint_input_hash"), table_name="footprint")
    op.drop_index(op.f("ix_footprint_product_name"), table_name="footprint")
    op.drop_index(op.f("ix_footprint_pcr_code"), table_name="footprint")
    op.drop_index(op.f("ix_footprint_org_id"), table_name="footprint")
    op.drop_table("footprint")
