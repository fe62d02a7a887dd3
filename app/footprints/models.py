"""The footprint table: one row per calculated footprint, never changed afterwards.

A row holds the normalised input, its hash and the full result JSON. Database triggers (migration
0004) refuse UPDATE and DELETE; a recalculation is a new row pointing at the one it recalculates.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index
from sqlmodel import Field

from app.core.tenancy import OrgOwned


def utcnow() -> datetime:
    return datetime.now(UTC)


class Footprint(OrgOwned, table=True):
    """Indexes: the primary key and (org_id, created_at), which every listing uses (an
    organisation's footprints, newest first, then filtered). Nothing else is indexed: each
    index costs every insert, the hottest write (migration 0007 measured 25 % of its server
    CPU for three unused ones)."""

    __tablename__ = "footprint"
    __table_args__ = (Index("ix_footprint_org_id_created_at", "org_id", "created_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    pcr_code: str = Field(max_length=64)
    pcr_version: str = Field(max_length=32)
    product_name: str = Field(max_length=200)
    product_model: str | None = Field(default=None, max_length=100)
    release_id: str = Field(max_length=64)
    input_hash: str = Field(max_length=64)
    total_kgco2e: float
    normalised_input: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    result: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    recalculated_from: uuid.UUID | None = Field(default=None, foreign_key="footprint.id")
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


@dataclass(frozen=True, slots=True)
class StoredFootprint:
    """A footprint row as ``services.store`` wrote it (the columns of ``Footprint``), without
    an ORM object: the request that creates a footprint only answers it."""

    id: uuid.UUID
    org_id: uuid.UUID
    pcr_code: str
    pcr_version: str
    product_name: str
    product_model: str | None
    release_id: str
    input_hash: str
    total_kgco2e: float
    normalised_input: dict[str, Any]
    result: dict[str, Any]
    recalculated_from: uuid.UUID | None
    created_by: str
    created_at: datetime
