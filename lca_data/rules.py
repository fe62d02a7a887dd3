"""Loading of the written rule files in lca_data/rules/ and lca_data/gaps.yaml."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from . import GAPS_FILE, RULES_DIR


@cache
def _load(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def load(name: str) -> Any:
    """Rules file `lca_data/rules/<name>.yaml`."""
    return _load(str(RULES_DIR / f"{name}.yaml"))


def gaps() -> list[dict[str, Any]]:
    return list(_load(str(GAPS_FILE))["gaps"])


def rule_files() -> list[Path]:
    return [*sorted(RULES_DIR.glob("*.yaml")), GAPS_FILE]
