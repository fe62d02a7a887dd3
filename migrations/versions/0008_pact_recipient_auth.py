"""PACT recipients: the credentials their host issued to us, to authenticate before sending
events there (auth base URL, client id, the secret sealed with PCF_SECRET_KEY).

Revision ID: 0008_pact_recipient_auth
Revises: 0007_footprint_indexes
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008_pact_recipient_auth"
down_revision: str | None = "0007_footprint_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (("auth_url", 500), ("auth_client_id", 200), ("auth_secret_sealed", 2000))


def upgrade() -> None:
    with op.batch_alter_table("pact_recipient") as batch:
        for name, length in COLUMNS:
            batch.add_column(
                sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), nullable=True)
            )


def downgrade() -> None:
    with op.batch_alter_table("pact_recipient") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
