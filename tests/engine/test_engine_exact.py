"""The engine's footprints are bw2calc's: property test against fresh ``bw2calc.LCA`` objects."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.background.engine import Engine, UnknownActivity
from app.background.indicators import INDICATOR_KEYS, INDICATORS
from tests.engine.conftest import ReleaseFixture

REL = 1e-9


def bw2calc_scores(demand: dict[tuple[str, str], float]) -> dict[str, float]:
    """A fresh bw2calc LCA per indicator (Brightway 2 calling convention)."""
    import bw2calc as bc

    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for ind in INDICATORS:
            lca = bc.LCA(demand, ind.method)
            lca.lci()
            lca.lcia()
            out[ind.key] = float(lca.score)
    return out


def assert_close(engine_value: float, reference: float, scale: float = 0.0) -> None:
    tol = REL * max(abs(reference), scale, 1e-300)
    assert abs(engine_value - reference) <= tol, (engine_value, reference)


def demands(n_products: int) -> st.SearchStrategy[list[tuple[int, float]]]:
    amount = st.floats(min_value=1e-3, max_value=1e4, allow_nan=False, allow_infinity=False)
    return st.lists(st.tuples(st.integers(0, n_products - 1), amount), min_size=1, max_size=25)


def test_index_is_consistent(engine: Engine) -> None:
    assert engine.indicator_keys == INDICATOR_KEYS
    assert engine.unit_value_matrix.shape == (engine.n_products, len(INDICATOR_KEYS))
    assert engine.index["products_equal_activities"]
    assert engine.index["relative_residual"] < 1e-10
    gases = {f["gas"] for f in engine.flows if f["gas"]}
    if engine.index.get("release_id", "").startswith("synthetic"):
        assert {"CO2", "CH4", "N2O"} <= gases


@pytest.mark.usefixtures("bw_release")
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_footprint_equals_fresh_bw2calc(engine: Engine, data: st.DataObject) -> None:
    lines = data.draw(demands(engine.n_products))
    demand: dict[tuple[str, str], float] = {}
    for i, amount in lines:
        key = engine.products[i]
        demand[key] = demand.get(key, 0.0) + amount
    got = engine.footprint(demand)
    ref = bw2calc_scores(demand)
    assert set(got) == set(INDICATOR_KEYS)
    for key in INDICATOR_KEYS:
        assert_close(got[key], ref[key])
    # The same demand given by index gives the same numbers.
    by_index = engine.footprint({engine.product_index(k): v for k, v in demand.items()})
    assert by_index == got


@pytest.mark.usefixtures("bw_release")
def test_unit_values_equal_bw2calc(engine: Engine) -> None:
    rng = np.random.default_rng(0)
    for i in rng.choice(engine.n_products, 5, replace=False):
        key = engine.products[int(i)]
        ref = bw2calc_scores({key: 1.0})
        got = engine.unit_values(key)
        for k in INDICATOR_KEYS:
            assert_close(got[k], ref[k])


def test_unknown_activity(engine: Engine) -> None:
    with pytest.raises(UnknownActivity):
        engine.footprint({("nope", "nope"): 1.0})
    with pytest.raises(UnknownActivity):
        engine.unit_values(engine.n_products)
    assert not engine.has_activity(("nope", "nope"))
    assert engine.has_activity(engine.products[0])


def test_serving_does_not_import_brightway(engine_release: ReleaseFixture) -> None:
    """Load + footprint + hotspots + Monte Carlo without bw2data/bw2calc in the process."""
    code = f"""
import sys, json
from pathlib import Path
from app.background.engine import Engine
e = Engine.load(Path({str(engine_release.release_dir)!r}), factorize="eager")
k = e.products[0]
e.footprint({{k: 1.0}}); e.hotspots({{k: 1.0}})
if e.bank_ready:
    e.monte_carlo({{k: 1.0}}, iterations=10)
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("bw2data", "bw2calc", "bw2io", "peewee"))
print(json.dumps(bad))
"""
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
