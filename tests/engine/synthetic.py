"""Synthetic, ecoinvent-shaped background systems for engine tests and the benchmark.

``make_system`` draws a sparse technosphere (about 10-15 inputs per activity, mostly from
"lower tier" activities plus a share of upward links that create loops, and a few hub activities
such as electricity, heat and transport used by many) with a productive economy (every column's
inputs are worth less than its output in a hidden price system, so the system is solvable and
well-conditioned while physical amounts span many orders of magnitude). Biosphere flows include the
greenhouse gases the indicators care about. Every exchange can carry a lognormal uncertainty.

The same ``SyntheticSystem`` can be written as a bw2data project (``write_bw2data_project``; slow,
a few hundred activities for tests) or straight into bw_processing datapackages
(``to_datapackages``; fast, used by the benchmark for 1k-20k activities).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from app.background.indicators import INDICATORS

# (name, categories, gas) — the GHG flows the synthetic methods characterize.
GHG_FLOWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Carbon dioxide, fossil", ("air",)),
    ("Carbon dioxide, non-fossil", ("air",)),
    ("Carbon dioxide, from soil or biomass stock", ("air",)),
    ("Carbon dioxide, in air", ("natural resource", "in air")),
    ("Methane, fossil", ("air",)),
    ("Methane, non-fossil", ("air",)),
    ("Methane, from soil or biomass stock", ("air",)),
    ("Dinitrogen monoxide", ("air",)),
    ("Ethane, 1,1,1,2-tetrafluoro-, HFC-134a", ("air",)),
    ("Sulfur hexafluoride", ("air",)),
)

# Characterization factors per indicator key (AR6-like numbers; synthetic, for tests only).
SYNTHETIC_CFS: dict[str, dict[str, float]] = {
    "gwp100_total": {
        "Carbon dioxide, fossil": 1.0,
        "Carbon dioxide, from soil or biomass stock": 1.0,
        "Methane, fossil": 29.8,
        "Methane, non-fossil": 27.0,
        "Methane, from soil or biomass stock": 27.0,
        "Dinitrogen monoxide": 273.0,
        "Ethane, 1,1,1,2-tetrafluoro-, HFC-134a": 1530.0,
        "Sulfur hexafluoride": 25200.0,
    },
    "gwp100_fossil": {
        "Carbon dioxide, fossil": 1.0,
        "Methane, fossil": 29.8,
        "Dinitrogen monoxide": 273.0,
        "Ethane, 1,1,1,2-tetrafluoro-, HFC-134a": 1530.0,
        "Sulfur hexafluoride": 25200.0,
    },
    "gwp100_biogenic_ch4": {"Methane, non-fossil": 27.0},
    "gwp100_land_use": {
        "Carbon dioxide, from soil or biomass stock": 1.0,
        "Methane, from soil or biomass stock": 27.0,
    },
    "biogenic_co2_emission": {"Carbon dioxide, non-fossil": 1.0},
    "biogenic_co2_removal": {"Carbon dioxide, in air": 1.0},
}


@dataclass
class SyntheticSystem:
    """Exchanges of a synthetic system, in Brightway sign conventions (inputs positive + flip)."""

    n_activities: int
    n_flows: int
    names: list[str]
    flow_names: list[str]
    flow_categories: list[tuple[str, ...]]
    # technosphere inputs: (row=input product, col=consuming activity, amount > 0 as stored)
    tech_rows: npt.NDArray[np.int64]
    tech_cols: npt.NDArray[np.int64]
    tech_amounts: npt.NDArray[np.float64]
    tech_sigma: npt.NDArray[np.float64]  # lognormal sigma, 0 = no uncertainty
    production: npt.NDArray[np.float64]  # production amount of each activity (diagonal)
    bio_rows: npt.NDArray[np.int64]
    bio_cols: npt.NDArray[np.int64]
    bio_amounts: npt.NDArray[np.float64]
    bio_sigma: npt.NDArray[np.float64]
    cfs: dict[str, dict[int, float]] = field(default_factory=dict)  # indicator -> flow idx -> CF
    cf_sigma: float = 0.0  # if > 0, CFs are normal with this relative sd (tests only)


def make_system(
    n: int,
    *,
    seed: int = 0,
    n_flows: int | None = None,
    inputs_per_activity: tuple[int, int] = (10, 15),
    loop_share: float = 0.08,
    hub_share: float = 0.005,
    core_share: float = 0.03,
    bio_per_activity: tuple[int, int] = (4, 12),
    sigma: float = 0.2,
    uncertain_share: float = 0.7,
) -> SyntheticSystem:
    """Draw a sparse, ecoinvent-shaped system of ``n`` activities (see module docstring)."""
    rng = np.random.default_rng(seed)
    n_flows = n_flows if n_flows is not None else max(len(GHG_FLOWS) + 5, min(4000, n // 5))
    price = np.exp(rng.normal(0.0, 2.0, n))  # hidden prices: amounts span many decades
    n_hubs = max(3, int(hub_share * n))
    hubs = rng.choice(n, n_hubs, replace=False)
    # Upward (loop-creating) links only go into a "core" (hubs plus a few percent of activities),
    # as in ecoinvent, where loops run through markets for electricity, heat, transport, etc.
    core = np.union1d(hubs, rng.choice(n, max(3, int(core_share * n)), replace=False))

    rows: list[npt.NDArray[np.int64]] = []
    cols: list[npt.NDArray[np.int64]] = []
    for j in range(n):
        k = int(rng.integers(inputs_per_activity[0], inputs_per_activity[1] + 1))
        k = min(k, n - 1)
        n_loop = int(rng.binomial(k, loop_share))
        n_hub = int(rng.binomial(k - n_loop, 0.3))
        n_low = k - n_loop - n_hub
        cand: list[npt.NDArray[np.int64]] = []
        if j > 0 and n_low > 0:
            # Lower tier: activities with a smaller index, biased towards "basic" ones.
            cand.append((rng.random(n_low) ** 2 * j).astype(np.int64))
        if n_loop:
            cand.append(rng.choice(core, n_loop))
        if n_hub:
            cand.append(rng.choice(hubs, n_hub))
        if not cand:
            continue
        r = np.unique(np.concatenate(cand))
        r = r[r != j]
        rows.append(r)
        cols.append(np.full(r.shape, j, dtype=np.int64))
    tech_rows = np.concatenate(rows)
    tech_cols = np.concatenate(cols)
    # Value shares of inputs per column sum to <= 0.75: a productive economy.
    share = rng.random(tech_rows.shape[0])
    col_sum = np.bincount(tech_cols, weights=share, minlength=n)
    total = rng.uniform(0.3, 0.75, n)
    share = share / col_sum[tech_cols] * total[tech_cols]
    production = np.exp(rng.normal(0.0, 0.3, n)) * np.where(rng.random(n) < 0.05, 10.0, 1.0)
    tech_amounts = share * production[tech_cols] * price[tech_cols] / price[tech_rows]
    uncertain = rng.random(tech_rows.shape[0]) < uncertain_share
    tech_sigma = np.where(uncertain, rng.uniform(0.5, 1.5, tech_rows.shape[0]) * sigma, 0.0)

    flow_names = [f for f, _ in GHG_FLOWS] + [
        f"Synthetic flow {i}" for i in range(n_flows - len(GHG_FLOWS))
    ]
    flow_categories = [c for _, c in GHG_FLOWS] + [
        ("air",) if i % 2 else ("water",) for i in range(n_flows - len(GHG_FLOWS))
    ]
    brows: list[npt.NDArray[np.int64]] = []
    bcols: list[npt.NDArray[np.int64]] = []
    for j in range(n):
        k = int(rng.integers(bio_per_activity[0], bio_per_activity[1] + 1))
        ghg = rng.choice(len(GHG_FLOWS), min(len(GHG_FLOWS), 1 + int(rng.binomial(k, 0.3))), replace=False)
        other = rng.integers(len(GHG_FLOWS), n_flows, k)
        r = np.unique(np.concatenate([ghg, other]))
        brows.append(r)
        bcols.append(np.full(r.shape, j, dtype=np.int64))
    bio_rows = np.concatenate(brows)
    bio_cols = np.concatenate(bcols)
    bio_amounts = np.exp(rng.normal(-1.0, 2.0, bio_rows.shape[0])) * production[bio_cols] / price[bio_cols] ** 0.5
    uncertain = rng.random(bio_rows.shape[0]) < uncertain_share
    bio_sigma = np.where(uncertain, rng.uniform(0.5, 1.5, bio_rows.shape[0]) * sigma, 0.0)

    index = {name: i for i, name in enumerate(flow_names)}
    cfs = {key: {index[f]: v for f, v in table.items()} for key, table in SYNTHETIC_CFS.items()}
    return SyntheticSystem(
        n_activities=n,
        n_flows=n_flows,
        names=[f"synthetic activity {j}" for j in range(n)],
        flow_names=flow_names,
        flow_categories=flow_categories,
        tech_rows=tech_rows,
        tech_cols=tech_cols,
        tech_amounts=tech_amounts,
        tech_sigma=tech_sigma,
        production=production,
        bio_rows=bio_rows,
        bio_cols=bio_cols,
        bio_amounts=bio_amounts,
        bio_sigma=bio_sigma,
        cfs=cfs,
    )


def _uncertainty_dict(amount: float, sigma: float) -> dict[str, Any]:
    if sigma <= 0:
        return {"uncertainty type": 0}
    return {
        "uncertainty type": 2,
        "loc": float(np.log(abs(amount))),
        "scale": float(sigma),
        "negative": bool(amount < 0),
    }
