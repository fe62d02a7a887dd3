"""Tables: organisations, API clients, the audit log and remembered idempotent responses."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import JSON, CheckConstraint, Column, DateTime, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.core.tenancy import OrgOwned


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(**kw: object) -> object:
    return Field(default_factory=utcnow, sa_type=DateTime(timezone=True), **kw)  # type: ignore[call-overload]


class Organisation(SQLModel, table=True):
    __tablename__ = "organisation"
    __table_args__ = (
        CheckConstraint("kind IN ('operator', 'association', 'manufacturer')", name="kind"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    kind: str = Field(max_length=20)
    # PCR codes of the product families whose rules an association owns (empty otherwise).
    families: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts()  # type: ignore[assignment]


class ApiClient(SQLModel, table=True):
    """An OAuth2 client (client credentials): one organisation, one role, a hashed secret."""

    __tablename__ = "api_client"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'association', 'manufacturer', 'viewer')", name="role"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    client_id: str = Field(max_length=64, unique=True)
    org_id: uuid.UUID = Field(foreign_key="organisation.id", index=True)
    role: str = Field(max_length=20)
    description: str = Field(default="", max_length=200)
    secret_hash: str = Field(max_length=255)
    # Bumped on rotation: tokens carry it, so rotating a secret ends the old tokens too.
    secret_version: int = Field(default=1)
    created_at: datetime = _ts()  # type: ignore[assignment]
    rotated_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class AuditEntry(SQLModel, table=True):
    """One write: who, when, what, and hashes of the state before and after. Append-only
    (database triggers refuse UPDATE and DELETE; the service offers no way to change it)."""

    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _ts(index=True)  # type: ignore[assignment]
    client_id: str = Field(max_length=64, index=True)
    org_id: uuid.UUID | None = Field(default=None, index=True)
    org_name: str | None = Field(default=None, max_length=200)
    role: str | None = Field(default=None, max_length=20)
    resource: str = Field(max_length=100, index=True)
    resource_id: str = Field(max_length=200, index=True)
    action: str = Field(max_length=50)
    before_hash: str | None = Field(default=None, max_length=64)
    after_hash: str | None = Field(default=None, max_length=64)
    request_id: str | None = Field(default=None, max_length=128)


class IdempotencyRecord(OrgOwned, table=True):
    """The first response to a create request with an ``Idempotency-Key``, per organisation."""

    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("org_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=255)
    method: str = Field(max_length=10)
    path: str = Field(max_length=500)
    request_hash: str = Field(max_length=64)
    status_code: int
    response_body: str = Field(sa_type=Text)
    created_at: datetime = _ts()  # type: ignore[assignment]
