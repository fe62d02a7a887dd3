"""Every table of the service, imported in one place so Alembic and the tests see them all.

Each domain package defines its own tables in its ``models.py``; add the import here.
"""

from __future__ import annotations

from app.core.database import metadata

__all__ = ["metadata"]
