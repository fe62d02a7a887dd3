"""Request and response bodies of the accounts API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from app.accounts.families import ProductFamily
from app.accounts.principal import OrgKind, Role

# No control characters (PostgreSQL refuses NUL in text); names also no outer spaces.
TEXT_PATTERN = r"^[^\x00-\x1f\x7f]*$"
NAME_PATTERN = r"^[^\s\x00-\x1f\x7f]([^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?$"


def _encodable(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid UTF-8 text") from exc
    return value


# Text that any database stores: valid UTF-8 (no lone surrogates), no control characters.
SafeText = Annotated[str, AfterValidator(_encodable), Field(pattern=TEXT_PATTERN)]


def as_utc(value: datetime | None) -> datetime | None:
    """Timestamps leave the service in UTC (SQLite hands them back naive)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class TokenResponse(BaseModel):
    access_token: str = Field(description="Send as `Authorization: Bearer <access_token>`.")
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires.")


class Me(BaseModel):
    client_id: str
    org_id: uuid.UUID
    org_name: str
    org_kind: OrgKind
    role: Role
    families: list[str]


class OrganisationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, AfterValidator(_encodable)] = Field(
        min_length=1,
        max_length=200,
        pattern=NAME_PATTERN,
        description="Unique; no leading or trailing spaces.",
        examples=["Brewers Association of Example"],
    )
    kind: OrgKind
    families: list[ProductFamily] = Field(
        default_factory=list,
        max_length=len(ProductFamily),
        description="Associations only: the product families whose rules they own.",
    )

    @field_validator("families")
    @classmethod
    def _unique(cls, v: list[ProductFamily]) -> list[ProductFamily]:
        if len(set(v)) != len(v):
            raise ValueError("families must not repeat")
        return v


class OrganisationOut(_Out):
    id: uuid.UUID
    name: str
    kind: OrgKind
    families: list[str]
    created_at: datetime

    @field_validator("created_at")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return as_utc(v) or v


class OrganisationList(BaseModel):
    data: list[OrganisationOut]


class ClientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    description: SafeText = Field(default="", max_length=200)


class ClientOut(_Out):
    client_id: str
    org_id: uuid.UUID
    role: Role
    description: str
    secret_version: int
    created_at: datetime
    rotated_at: datetime | None
    revoked_at: datetime | None

    @field_validator("created_at", "rotated_at", "revoked_at")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        return as_utc(v)


class ClientCredentials(ClientOut):
    client_secret: str | None = Field(
        description="Shown once, in the response that creates or rotates it. A replay of an "
        "idempotent create answers null here: the secret is never stored in clear."
    )


class ClientList(BaseModel):
    data: list[ClientOut]


class AuditEntryOut(_Out):
    id: int
    at: datetime
    client_id: str
    org_id: uuid.UUID | None
    org_name: str | None
    role: str | None
    resource: str
    resource_id: str
    action: str
    before_hash: str | None = Field(description="SHA-256 of the state before (null: created).")
    after_hash: str | None = Field(description="SHA-256 of the state after (null: deleted).")
    request_id: str | None

    @field_validator("at")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return as_utc(v) or v


class AuditPage(BaseModel):
    data: list[AuditEntryOut]
    next_cursor: int | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )
