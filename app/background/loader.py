"""The loaded background data of this process: release, catalogue and engine.

Loaded once at start-up from the current release, read-only afterwards (shared by all requests).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.background.catalogue import Catalogue
from app.background.release import ReleaseRef, current_release

log = logging.getLogger("pcf.background")


@dataclass(frozen=True)
class BackgroundData:
    release: ReleaseRef
    catalogue: Catalogue
    engine: Any  # app.background.engine.Engine (typed loosely to keep start-up imports light)

    @property
    def release_id(self) -> str:
        return self.release.release_id

    def unit_values(self, pcf_id: str) -> dict[str, float]:
        rec = self.catalogue.get(pcf_id)
        if rec is None:
            raise KeyError(pcf_id)
        bw = rec["brightway"]
        return dict(self.engine.unit_values((bw["database"], bw["code"])))


def load_background(data_dir: Path) -> BackgroundData | None:
    """The current release with its catalogue and engine, or None when none is built."""
    from app.background.engine import Engine

    release = current_release(data_dir)
    if release is None:
        return None
    catalogue = Catalogue.load(release.path)
    engine = Engine.load(release.path)
    log.info(
        "background loaded",
        extra={"release_id": release.release_id, "datasets": len(catalogue)},
    )
    return BackgroundData(release=release, catalogue=catalogue, engine=engine)
