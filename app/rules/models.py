"""Tables of the rule registry: one row per rule (product family), one per version or draft.

A version row is a draft (``version`` NULL, editable, visible to its association only) until it is
published (``version`` set, immutable). Database triggers (migration 0003) refuse any change to a
published or deprecated row other than deprecating it, and refuse deleting one; the service
answers such attempts with 409 before they reach the database.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class VersionStatus(StrEnum):
    draft = "draft"
    published = "published"
    deprecated = "deprecated"


class PcrRule(SQLModel, table=True):
    """A Product Category Rule: one product family, identified by its code."""

    __tablename__ = "pcr_rule"

    code: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    product_group: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class PcrVersion(SQLModel, table=True):
    """One version (published or deprecated) or one draft of a rule."""

    __tablename__ = "pcr_version"
    __table_args__ = (
        UniqueConstraint("rule_code", "version"),
        CheckConstraint("status IN ('draft', 'published', 'deprecated')", name="status"),
        CheckConstraint(
            "(status = 'draft' AND version IS NULL) OR (status <> 'draft' AND version IS NOT NULL)",
            name="version_when_published",
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    rule_code: str = Field(foreign_key="pcr_rule.code", index=True, max_length=64)
    status: str = Field(default=VersionStatus.draft.value, max_length=20)
    version: str | None = Field(default=None, max_length=32)
    major: int | None = None
    minor: int | None = None
    patch: int | None = None
    based_on: str | None = Field(default=None, max_length=32)
    document: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    content_hash: str = Field(max_length=64)
    # The association whose draft this is (and who published it); NULL for seeded versions.
    owner_org_id: uuid.UUID | None = Field(default=None, foreign_key="organisation.id", index=True)
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    published_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    published_by: str | None = Field(default=None, max_length=64)
    note: str | None = Field(default=None, max_length=2000)
    deprecated_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    deprecation_reason: str | None = Field(default=None, max_length=2000)

    @property
    def semver(self) -> tuple[int, int, int]:
        return (self.major or 0, self.minor or 0, self.patch or 0)
