"""Background-data release build for PCF Service (GitHub issue #4, data half).

`python -m lca_data.build --data-dir DIR` turns the bundled open sources in `lca_data/sources/`
into an immutable release `DIR/releases/<release_id>/` holding a Brightway 2.5 project "pcf"
(biosphere3, IPCC 2021 + our biogenic-CO2 methods, USLCI and its China-grid variant, China
electricity factors, sourced factor tables), a dataset catalogue and a build report.
See docs/data-sources.md.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
SOURCES_DIR = PACKAGE_DIR / "sources"
RULES_DIR = PACKAGE_DIR / "rules"
GAPS_FILE = PACKAGE_DIR / "gaps.yaml"

# Bump when the meaning of the build changes without a code/rules change being visible in the hash.
BUILD_CODE_VERSION = "1"
BW_PROJECT = "pcf"
BIOSPHERE_DB = "biosphere3"
