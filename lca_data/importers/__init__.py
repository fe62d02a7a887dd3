"""Import user-licensed LCI data into a NEW background-data release (`pcf data import`).

    python -m lca_data.importers --data-dir DIR --format ecospold2|jsonld|simapro PATH
        [--name NAME] [--licence TEXT] [--base RELEASE_ID] [--make-current] [--force]

or `lca_data.importers.release.import_release(...) -> manifest`.

The new release is the base release (default: the current one) plus one Brightway database
`import_<name>` holding the imported datasets, linked to biosphere3; see docs/data-sources.md,
"Importing licensed data". The base release is never modified, and licensed data is never shipped
with the service: it exists only in the release built on the user's machine.

This package lives below `lca_data/` on purpose: the base build hashes `lca_data/*.py` (not
sub-packages) into its content hash, so import code changes do not change base release ids.
"""

from __future__ import annotations

FORMATS = ("ecospold2", "jsonld", "simapro")
PCF_ID_PREFIX = "import"
SOURCE_LABEL = "user import"
NOT_REDISTRIBUTABLE = "user-licensed, not redistributable"
DEFAULT_LICENCE = "licensed to the user; terms not stated"


class ImportFailed(Exception):
    """An import that cannot go on; the message is one line meant for the user."""
