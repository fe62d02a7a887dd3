"""The append-only audit log: every write records who, when, what, and state hashes.

``record`` writes the entry in the caller's transaction, so it commits or rolls back together
with the change it describes: a rejected request leaves no entry, an accepted one always does.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, col, select

from app.accounts.models import AuditEntry, utcnow
from app.accounts.principal import Principal
from app.core.requestid import current_request_id

# Who acted when there is no API client (the ``pcf`` command, the dev seeding).
SYSTEM_ACTOR = "system"


def state_hash(state: dict[str, Any] | None) -> str | None:
    """SHA-256 of the canonical JSON of ``state`` (sorted keys, no spaces), or None."""
    if state is None:
        return None
    canonical = json.dumps(state, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def entry(
    principal: Principal | None,
    *,
    resource: str,
    resource_id: str,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    actor: str | None = None,
) -> dict[str, Any]:
    """The column values of one entry (``record`` writes it; ``insert_together`` may write it
    with the change it describes)."""
    return {
        "at": utcnow(),
        "client_id": principal.client_id if principal else (actor or SYSTEM_ACTOR),
        "org_id": principal.org_id if principal else None,
        "org_name": principal.org_name if principal else None,
        "role": principal.role.value if principal else None,
        "resource": resource,
        "resource_id": str(resource_id),
        "action": action,
        "before_hash": state_hash(before),
        "after_hash": state_hash(after),
        "request_id": current_request_id(),
    }


def record(
    session: Session,
    principal: Principal | None,
    *,
    resource: str,
    resource_id: str,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    actor: str | None = None,
) -> None:
    """Append one entry for a write, in the same transaction as the write.

    ``principal`` is None for the ``pcf`` command and start-up seeding; ``actor`` then names
    them (default ``system``). Written at once with one Core ``INSERT`` (no ORM object to
    track: an entry is never read back or changed in the request that writes it).
    """
    values = entry(
        principal,
        resource=resource,
        resource_id=resource_id,
        action=action,
        before=before,
        after=after,
        actor=actor,
    )
    session.connection().execute(_INSERT, values)


TABLE = AuditEntry.__table__  # type: ignore[attr-defined]
_INSERT = insert(TABLE)


def query(
    session: Session,
    *,
    org_id: uuid.UUID | None = None,
    client_id: str | None = None,
    resource: str | None = None,
    resource_id: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_id: int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Entries matching every given filter, oldest first, from ``after_id`` (a cursor)."""
    stmt = select(AuditEntry)
    if org_id is not None:
        stmt = stmt.where(AuditEntry.org_id == org_id)
    if client_id is not None:
        stmt = stmt.where(AuditEntry.client_id == client_id)
    if resource is not None:
        stmt = stmt.where(AuditEntry.resource == resource)
    if resource_id is not None:
        stmt = stmt.where(AuditEntry.resource_id == resource_id)
    if action is not None:
        stmt = stmt.where(AuditEntry.action == action)
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEntry.at < until)
    if after_id is not None:
        stmt = stmt.where(col(AuditEntry.id) > after_id)
    stmt = stmt.order_by(col(AuditEntry.id)).limit(limit)
    return list(session.exec(stmt).all())
