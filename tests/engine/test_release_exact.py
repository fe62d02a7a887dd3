"""The engine on the real background release equals a fresh ``bw2calc.LCA`` (issue #4).

Random demands over every database of the release built by ``pcf data build`` (USLCI, its
China-grid variant, China electricity, the sourced factor tables); total and each indicator to
1e-9 relative. bw2data works on a copy of the release's Brightway folder, so the release itself
is never touched.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.background.engine import Engine
from app.background.indicators import INDICATOR_KEYS
from app.background.release import current_release
from tests.engine.synthetic import bw2data_dir
from tests.engine.test_engine_exact import assert_close, bw2calc_scores, demands

# Below this, a score is floating-point noise of an exact zero (an activity with no emission
# of that kind), where a relative comparison means nothing; real scores here are > 1e-12.
ATOL = 1e-20


@pytest.fixture(scope="module")
def real_release(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    ref = current_release(data_dir)
    assert ref is not None, "no current release: run `pcf data build`"
    copy = tmp_path_factory.mktemp("bw-copy") / "brightway"
    shutil.copytree(ref.path / "brightway", copy)
    engine = Engine.load(ref.path, factorize="lazy")
    with bw2data_dir(copy):
        yield engine


@pytest.mark.slow
@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_release_footprints_equal_fresh_bw2calc(real_release: Engine, data: st.DataObject) -> None:
    engine = real_release
    lines = data.draw(demands(engine.n_products))
    demand: dict[tuple[str, str], float] = {}
    for i, amount in lines:
        key = engine.products[i]
        demand[key] = demand.get(key, 0.0) + amount
    got = engine.footprint(demand)
    ref = bw2calc_scores(demand)
    for key in INDICATOR_KEYS:
        if abs(ref[key]) < ATOL and abs(got[key]) < ATOL:
            continue  # both are rounding noise of a zero (e.g. 2.8e-37 vs 1.7e-33)
        assert_close(got[key], ref[key])


def test_release_covers_every_database(real_release: Engine) -> None:
    dbs = {db for db, _ in real_release.products}
    assert {"uslci", "uslci_cn_grid_national", "cn_electricity", "sourced_factors"} <= dbs
