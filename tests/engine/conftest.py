"""Fixtures for the background engine.

``engine_release`` is a release directory with ``brightway/`` and ``engine/``. By default it is a
synthetic ecoinvent-shaped project built here (a few hundred activities over two technosphere
databases, loops, fossil/biogenic/land-use GHGs, the six indicator methods). Set
``PCF_TEST_RELEASE_DIR`` to a real release (``<data_dir>/releases/<id>``) to run the same engine
tests against it instead (its ``engine/`` must have been exported by the data build).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.background.engine import Engine
from tests.engine.synthetic import (
    SyntheticSystem,
    build_synthetic_release,
    bw2data_dir,
    make_system,
)

SYNTHETIC_N = 300
SYNTHETIC_BANK = 200


@dataclass(frozen=True)
class ReleaseFixture:
    release_dir: Path
    system: SyntheticSystem | None  # None for a real release

    @property
    def brightway_dir(self) -> Path:
        return self.release_dir / "brightway"


@pytest.fixture(scope="session")
def engine_release(tmp_path_factory: pytest.TempPathFactory) -> ReleaseFixture:
    real = os.environ.get("PCF_TEST_RELEASE_DIR")
    if real:
        return ReleaseFixture(Path(real), None)
    release = tmp_path_factory.mktemp("release") / "synthetic-1"
    system = make_system(SYNTHETIC_N, seed=42, sigma=0.15)
    build_synthetic_release(release, system, mc_samples=SYNTHETIC_BANK)
    return ReleaseFixture(release, system)


@pytest.fixture(scope="session")
def engine(engine_release: ReleaseFixture) -> Engine:
    return Engine.load(engine_release.release_dir)


@pytest.fixture(scope="module")
def bw_release(engine_release: ReleaseFixture) -> Iterator[ReleaseFixture]:
    """bw2data pointed at the release's Brightway project for the module (restored after)."""
    with bw2data_dir(engine_release.brightway_dir):
        yield engine_release
