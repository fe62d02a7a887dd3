"""Hotspots: one solve on the cached factorization; contributions add up to the footprint."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from app.background.engine import Engine
from app.background.indicators import INDICATORS


def _demand(engine: Engine) -> dict[tuple[str, str], float]:
    rng = np.random.default_rng(3)
    return {
        engine.products[int(i)]: float(a)
        for i, a in zip(
            rng.choice(engine.n_products, 8, replace=False), rng.uniform(0.5, 20, 8), strict=True
        )
    }


@pytest.mark.parametrize("indicator", [i.key for i in INDICATORS])
def test_contributions_add_up(engine: Engine, indicator: str) -> None:
    demand = _demand(engine)
    h = engine.hotspots(
        demand, indicator, top_processes=engine.n_activities, top_flows=engine.n_flows
    )
    total = engine.footprint(demand)[indicator]
    assert h.total == pytest.approx(total, rel=1e-9, abs=1e-12)
    assert sum(p.value for p in h.processes) == pytest.approx(total, rel=1e-9, abs=1e-12)
    assert sum(f.value for f in h.flows) == pytest.approx(total, rel=1e-9, abs=1e-12)
    values = [abs(p.value) for p in h.processes]
    assert values == sorted(values, reverse=True)


def test_no_refactorization_per_request(engine: Engine) -> None:
    demand = _demand(engine)
    first = engine.factorization()
    for n in range(1, 6):
        engine.hotspots({k: v * n for k, v in demand.items()}, top_processes=3)
    assert engine.factorization() is first
    assert engine.factorization_count == 1


@pytest.mark.usefixtures("bw_release")
def test_hotspots_match_bw2calc(engine: Engine) -> None:
    import bw2calc as bc

    demand = _demand(engine)
    ind = INDICATORS[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lca = bc.LCA(demand, ind.method)
        lca.lci()
        lca.lcia()
    h = engine.hotspots(demand, ind.key, top_processes=5, top_flows=5)
    # bw2calc's characterized inventory: columns = activities, rows = flows.
    per_activity = np.asarray(lca.characterized_inventory.sum(axis=0)).ravel()
    per_flow = np.asarray(lca.characterized_inventory.sum(axis=1)).ravel()
    col = {lca.dicts.activity.reversed[j]: j for j in range(per_activity.size)}  # id -> col
    import bw2data as bd

    for p in h.processes:
        node = bd.get_node(database=p.database, code=p.code)
        assert p.value == pytest.approx(per_activity[col[node.id]], rel=1e-9)
        assert p.supply == pytest.approx(lca.supply_array[col[node.id]], rel=1e-9)
    assert h.flows[0].value == pytest.approx(per_flow.max(), rel=1e-9)
