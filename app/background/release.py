"""Background-data releases on disk: which one is current, and its manifest.

A release is a directory ``<PCF_DATA_DIR>/releases/<release_id>/`` written once by
``pcf data build`` and never changed; ``<PCF_DATA_DIR>/current`` names the one the service loads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ReleaseRef:
    release_id: str
    path: Path
    manifest: dict[str, Any]


def releases_dir(data_dir: Path) -> Path:
    return data_dir / "releases"


def current_release_id(data_dir: Path) -> str | None:
    marker = data_dir / "current"
    if not marker.is_file():
        return None
    rid = marker.read_text(encoding="utf-8").strip()
    return rid or None


def read_release(data_dir: Path, release_id: str) -> ReleaseRef | None:
    path = releases_dir(data_dir) / release_id
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        return None
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    return ReleaseRef(release_id=release_id, path=path, manifest=manifest)


def current_release(data_dir: Path) -> ReleaseRef | None:
    rid = current_release_id(data_dir)
    return read_release(data_dir, rid) if rid else None


def list_releases(data_dir: Path) -> list[ReleaseRef]:
    root = releases_dir(data_dir)
    if not root.is_dir():
        return []
    refs = [read_release(data_dir, p.name) for p in sorted(root.iterdir()) if p.is_dir()]
    return [r for r in refs if r is not None]
