"""Tables of the exports: what an organisation shares over PACT and with whom, the PACT events
received and sent (the outbox of the asynchronous replies), and the CBAM supplier data of a
footprint's bill of materials.

CBAM data lives in its own table on purpose: it is never part of the footprint (a footprint never
changes, and CBAM figures are never the product footprint, nor the reverse).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.core.tenancy import OrgOwned


def utcnow() -> datetime:
    return datetime.now(UTC)


class PactShare(OrgOwned, table=True):
    """One footprint of an organisation made visible over PACT to one API client."""

    __tablename__ = "pact_share"
    __table_args__ = (
        UniqueConstraint("footprint_id", "client_id"),
        Index("ix_pact_share_client_id_footprint_id", "client_id", "footprint_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    footprint_id: uuid.UUID = Field(foreign_key="footprint.id", index=True, ondelete="CASCADE")
    # The recipient: an API client id (``pcf_…``) of any organisation.
    client_id: str = Field(max_length=64)
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class PactRecipient(OrgOwned, table=True):
    """Where the owner's host sends PACT events for one recipient client (its ``/3/events``)."""

    __tablename__ = "pact_recipient"
    __table_args__ = (UniqueConstraint("org_id", "client_id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    client_id: str = Field(max_length=64)
    events_url: str = Field(max_length=500)
    # The credentials the recipient's host issued to us, to authenticate there before sending it
    # events (PACT Action Authenticate); the secret sealed with PCF_SECRET_KEY (secretbox.py).
    auth_url: str | None = Field(default=None, max_length=500)
    auth_client_id: str | None = Field(default=None, max_length=200)
    auth_secret_sealed: str | None = Field(default=None, max_length=2000)
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class PactEvent(SQLModel, table=True):
    """A PACT event received on ``/3/events`` (``direction='in'``) or sent as a reply
    (``direction='out'``, with its delivery state). Cross-organisation by nature: a recipient
    client talks to every owner that shares with it, so the row names both sides."""

    __tablename__ = "pact_event"
    __table_args__ = (Index("ix_pact_event_client_id_event_id", "client_id", "event_id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    direction: str = Field(max_length=3)  # in | out
    event_id: str = Field(max_length=200)
    type: str = Field(max_length=100)
    client_id: str = Field(max_length=64)  # the recipient client (sender of an inbound event)
    owner_org_id: uuid.UUID | None = Field(default=None, index=True)
    body: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    # out: pending → delivered | failed (retries exhausted) | undeliverable (no endpoint)
    status: str = Field(default="received", max_length=20)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=500)
    target_url: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class CbamSupplierData(OrgOwned, table=True):
    """The CBAM data of one footprint's bill of materials: installation, reporting period,
    precursor suppliers with their specific embedded emissions, carbon price. Replaced as a whole
    by ``PUT``; the footprint itself never changes."""

    __tablename__ = "cbam_supplier_data"
    __table_args__ = (UniqueConstraint("footprint_id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    footprint_id: uuid.UUID = Field(foreign_key="footprint.id", ondelete="CASCADE")
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    updated_by: str = Field(max_length=64)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
