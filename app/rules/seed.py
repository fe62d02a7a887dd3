"""Start-up seeding: version 1.0.0 of every reference rule in ``product_rules/`` whose code is not
in the database yet. Idempotent; the database is the truth afterwards (a changed file does not
change a published version — publish a new one through the workflow)."""

from __future__ import annotations

import logging
from pathlib import Path

from app.core.database import Database
from app.rules.interpreter import PROJECT_RULES_DIR
from app.rules.services import seed_reference_rules

log = logging.getLogger("pcf.rules")


def seed_rules(database_url: str, directory: Path = PROJECT_RULES_DIR) -> list[str]:
    if not directory.is_dir():
        log.warning("no product rules to seed: %s is missing", directory)
        return []
    db = Database(database_url)
    try:
        with db.session() as session:
            return seed_reference_rules(session, directory)
    finally:
        db.dispose()
