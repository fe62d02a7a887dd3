"""Every table of the service, imported in one place so Alembic and the tests see them all.

Each domain package defines its own tables in its ``models.py``; add the import here.
"""

from __future__ import annotations

from app.accounts.models import ApiClient, AuditEntry, IdempotencyRecord, Organisation
from app.core.database import metadata
from app.exports.models import CbamSupplierData, PactEvent, PactRecipient, PactShare
from app.footprints.models import Footprint
from app.rules.models import PcrRule, PcrVersion

__all__ = [
    "ApiClient",
    "AuditEntry",
    "CbamSupplierData",
    "Footprint",
    "IdempotencyRecord",
    "Organisation",
    "PactEvent",
    "PactRecipient",
    "PactShare",
    "PcrRule",
    "PcrVersion",
    "metadata",
]
