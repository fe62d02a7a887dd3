"""Exports: PACT shares (which footprint, to which API client), recipients' events endpoints,
PACT events received and sent (the outbox of asynchronous replies), CBAM supplier data.

Revision ID: 0005_exports
Revises: 0004_footprints
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005_exports"
down_revision: str | None = "0004_footprints"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Str = sqlmodel.sql.sqltypes.AutoString


def _org_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["org_id"],
        ["organisation.id"],
        name=op.f(f"fk_{table}_org_id_organisation"),
        ondelete="CASCADE",
    )


def _footprint_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["footprint_id"],
        ["footprint.id"],
        name=op.f(f"fk_{table}_footprint_id_footprint"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "pact_share",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("footprint_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", Str(length=64), nullable=False),
        sa.Column("created_by", Str(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _org_fk("pact_share"),
        _footprint_fk("pact_share"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pact_share")),
        sa.UniqueConstraint(
            "footprint_id", "client_id", name=op.f("uq_pact_share_footprint_id_client_id")
        ),
    )
    op.create_index(op.f("ix_pact_share_org_id"), "pact_share", ["org_id"])
    op.create_index(op.f("ix_pact_share_footprint_id"), "pact_share", ["footprint_id"])
    op.create_index(
        "ix_pact_share_client_id_footprint_id", "pact_share", ["client_id", "footprint_id"]
    )

    op.create_table(
        "pact_recipient",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", Str(length=64), nullable=False),
        sa.Column("events_url", Str(length=500), nullable=False),
        sa.Column("created_by", Str(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _org_fk("pact_recipient"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pact_recipient")),
        sa.UniqueConstraint("org_id", "client_id", name=op.f("uq_pact_recipient_org_id_client_id")),
    )
    op.create_index(op.f("ix_pact_recipient_org_id"), "pact_recipient", ["org_id"])

    op.create_table(
        "pact_event",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("direction", Str(length=3), nullable=False),
        sa.Column("event_id", Str(length=200), nullable=False),
        sa.Column("type", Str(length=100), nullable=False),
        sa.Column("client_id", Str(length=64), nullable=False),
        sa.Column("owner_org_id", sa.Uuid(), nullable=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("status", Str(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", Str(length=500), nullable=True),
        sa.Column("target_url", Str(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pact_event")),
    )
    op.create_index(op.f("ix_pact_event_owner_org_id"), "pact_event", ["owner_org_id"])
    op.create_index("ix_pact_event_client_id_event_id", "pact_event", ["client_id", "event_id"])

    op.create_table(
        "cbam_supplier_data",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("footprint_id", sa.Uuid(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("updated_by", Str(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _org_fk("cbam_supplier_data"),
        _footprint_fk("cbam_supplier_data"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cbam_supplier_data")),
        sa.UniqueConstraint("footprint_id", name=op.f("uq_cbam_supplier_data_footprint_id")),
    )
    op.create_index(op.f("ix_cbam_supplier_data_org_id"), "cbam_supplier_data", ["org_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_cbam_supplier_data_org_id"), table_name="cbam_supplier_data")
    op.drop_table("cbam_supplier_data")
    op.drop_index("ix_pact_event_client_id_event_id", table_name="pact_event")
    op.drop_index(op.f("ix_pact_event_owner_org_id"), table_name="pact_event")
    op.drop_table("pact_event")
    op.drop_index(op.f("ix_pact_recipient_org_id"), table_name="pact_recipient")
    op.drop_table("pact_recipient")
    op.drop_index("ix_pact_share_client_id_footprint_id", table_name="pact_share")
    op.drop_index(op.f("ix_pact_share_footprint_id"), table_name="pact_share")
    op.drop_index(op.f("ix_pact_share_org_id"), table_name="pact_share")
    op.drop_table("pact_share")
