"""Product Category Rules: the rule registry (rules, versions and drafts).

A published rule version never changes: database triggers refuse any UPDATE of a published or
deprecated row other than deprecating it (status, deprecated_at, deprecation_reason), and refuse
deleting it. Drafts stay editable.

Revision ID: 0003_rules
Revises: 0002_accounts
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003_rules"
down_revision: str | None = "0002_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Str = sqlmodel.sql.sqltypes.AutoString

# Columns a published version may never change (everything but the deprecation fields).
FROZEN = (
    "id",
    "rule_code",
    "version",
    "major",
    "minor",
    "patch",
    "based_on",
    "content_hash",
    "owner_org_id",
    "created_by",
    "created_at",
    "updated_at",
    "published_at",
    "published_by",
    "note",
)

_PG_CHANGED = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in FROZEN)
PG_FUNCTION = f"""
CREATE FUNCTION pcr_version_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'pcr_version %@% is published: it is never deleted',
                OLD.rule_code, OLD.version USING ERRCODE = 'check_violation';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status <> 'draft' AND (
        {_PG_CHANGED}
        OR NEW.document::text IS DISTINCT FROM OLD.document::text
        OR NEW.status = 'draft'
        OR (OLD.status = 'deprecated' AND NEW.status <> 'deprecated')
    ) THEN
        RAISE EXCEPTION 'pcr_version %@% is published: it never changes',
            OLD.rule_code, OLD.version USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$
"""
PG_TRIGGER = (
    "CREATE TRIGGER pcr_version_immutable BEFORE UPDATE OR DELETE ON pcr_version "
    "FOR EACH ROW EXECUTE FUNCTION pcr_version_immutable()"
)

_SQLITE_CHANGED = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in (*FROZEN, "document"))
SQLITE_TRIGGERS = (
    "CREATE TRIGGER pcr_version_immutable BEFORE UPDATE ON pcr_version "
    f"WHEN OLD.status <> 'draft' AND ({_SQLITE_CHANGED} OR NEW.status = 'draft' "
    "OR (OLD.status = 'deprecated' AND NEW.status <> 'deprecated')) "
    "BEGIN SELECT RAISE(ABORT, 'pcr_version is published: it never changes'); END",
    "CREATE TRIGGER pcr_version_no_delete BEFORE DELETE ON pcr_version "
    "WHEN OLD.status <> 'draft' "
    "BEGIN SELECT RAISE(ABORT, 'pcr_version is published: it is never deleted'); END",
)


def upgrade() -> None:
    op.create_table(
        "pcr_rule",
        sa.Column("code", Str(length=64), nullable=False),
        sa.Column("name", Str(length=200), nullable=False),
        sa.Column("product_group", Str(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_pcr_rule")),
    )
    op.create_table(
        "pcr_version",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("rule_code", Str(length=64), nullable=False),
        sa.Column("status", Str(length=20), nullable=False),
        sa.Column("version", Str(length=32), nullable=True),
        sa.Column("major", sa.Integer(), nullable=True),
        sa.Column("minor", sa.Integer(), nullable=True),
        sa.Column("patch", sa.Integer(), nullable=True),
        sa.Column("based_on", Str(length=32), nullable=True),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("content_hash", Str(length=64), nullable=False),
        sa.Column("owner_org_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", Str(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_by", Str(length=64), nullable=True),
        sa.Column("note", Str(length=2000), nullable=True),
        sa.Column("deprecated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deprecation_reason", Str(length=2000), nullable=True),
        sa.CheckConstraint(
            "(status = 'draft' AND version IS NULL) OR (status <> 'draft' AND version IS NOT NULL)",
            name=op.f("ck_pcr_version_version_when_published"),
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'published', 'deprecated')", name=op.f("ck_pcr_version_status")
        ),
        sa.ForeignKeyConstraint(
            ["owner_org_id"],
            ["organisation.id"],
            name=op.f("fk_pcr_version_owner_org_id_organisation"),
        ),
        sa.ForeignKeyConstraint(
            ["rule_code"], ["pcr_rule.code"], name=op.f("fk_pcr_version_rule_code_pcr_rule")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pcr_version")),
        sa.UniqueConstraint("rule_code", "version", name=op.f("uq_pcr_version_rule_code_version")),
    )
    op.create_index(op.f("ix_pcr_version_owner_org_id"), "pcr_version", ["owner_org_id"])
    op.create_index(op.f("ix_pcr_version_rule_code"), "pcr_version", ["rule_code"])

    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(PG_TRIGGER)
    else:
        for ddl in SQLITE_TRIGGERS:
            op.execute(ddl)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS pcr_version_immutable ON pcr_version")
        op.execute("DROP FUNCTION IF EXISTS pcr_version_immutable()")
    else:
        op.execute("DROP TRIGGER IF EXISTS pcr_version_immutable")
        op.execute("DROP TRIGGER IF EXISTS pcr_version_no_delete")
    op.drop_index(op.f("ix_pcr_version_rule_code"), table_name="pcr_version")
    op.drop_index(op.f("ix_pcr_version_owner_org_id"), table_name="pcr_version")
    op.drop_table("pcr_version")
    op.drop_table("pcr_rule")
