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

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
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
    price_sigma: float = 2.0,
    bio_per_activity: tuple[int, int] = (4, 12),
    sigma: float = 0.2,
    uncertain_share: float = 0.7,
) -> SyntheticSystem:
    """Draw a sparse, ecoinvent-shaped system of ``n`` activities (see module docstring)."""
    rng = np.random.default_rng(seed)
    n_flows = n_flows if n_flows is not None else max(len(GHG_FLOWS) + 5, min(4000, n // 5))
    price = np.exp(rng.normal(0.0, price_sigma, n))  # hidden prices: amounts span many decades
    # Sectors of consecutive activities; the first few activities of each sector are its
    # "markets". Inside a sector, inputs come from lower-index activities of the same sector;
    # across sectors, inputs only come from markets (as ecoinvent's market activities). A share of
    # links goes to markets of *later* sectors, creating loops (electricity <-> mining <-> ...).
    sector_size = max(20, min(250, n // 20))
    sector = np.arange(n) // sector_size
    n_sectors = int(sector[-1]) + 1
    markets_per_sector = max(2, sector_size // 25)
    is_market = (np.arange(n) % sector_size) < markets_per_sector
    markets = np.flatnonzero(is_market)
    hubs = rng.choice(markets, max(3, int(hub_share * n)), replace=False)

    rows: list[npt.NDArray[np.int64]] = []
    cols: list[npt.NDArray[np.int64]] = []
    for j in range(n):
        k = int(rng.integers(inputs_per_activity[0], inputs_per_activity[1] + 1))
        sec = int(sector[j])
        start = sec * sector_size
        n_loop = int(rng.binomial(k, loop_share))
        n_hub = int(rng.binomial(k - n_loop, 0.25))
        n_cross = int(rng.binomial(k - n_loop - n_hub, 0.3)) if sec > 0 else 0
        n_local = k - n_loop - n_hub - n_cross
        cand: list[npt.NDArray[np.int64]] = []
        if j > start and n_local > 0:
            cand.append(start + (rng.random(n_local) * (j - start)).astype(np.int64))
        if n_cross:
            lower = markets[markets < start]
            cand.append(rng.choice(lower, n_cross))
        if n_loop:
            cand.append(rng.choice(markets, n_loop))
        if n_hub:
            cand.append(rng.choice(hubs, n_hub))
        if not cand:
            continue
        r = np.unique(np.concatenate(cand))
        r = r[r != j]
        rows.append(r)
        cols.append(np.full(r.shape, j, dtype=np.int64))
    del n_sectors
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
        ghg = rng.choice(
            len(GHG_FLOWS), min(len(GHG_FLOWS), 1 + int(rng.binomial(k, 0.3))), replace=False
        )
        other = rng.integers(len(GHG_FLOWS), n_flows, k)
        r = np.unique(np.concatenate([ghg, other]))
        brows.append(r)
        bcols.append(np.full(r.shape, j, dtype=np.int64))
    bio_rows = np.concatenate(brows)
    bio_cols = np.concatenate(bcols)
    bio_amounts = (
        np.exp(rng.normal(-1.0, 2.0, bio_rows.shape[0]))
        * production[bio_cols]
        / price[bio_cols] ** 0.5
    )
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


# ------------------------------------------------------------------------------------------------
# Writers
# ------------------------------------------------------------------------------------------------

BIOSPHERE_DB = "biosphere3"
TECH_DBS = ("bg_energy", "bg_materials")


def activity_key(system: SyntheticSystem, j: int) -> tuple[str, str]:
    """Activities alternate between two technosphere databases (cross-database links)."""
    return (TECH_DBS[j % 2], f"act-{j}")


def flow_key(i: int) -> tuple[str, str]:
    return (BIOSPHERE_DB, f"flow-{i}")


def write_bw2data_project(system: SyntheticSystem) -> None:
    """Write ``system`` into the *current* bw2data project (databases + the 6 indicator methods)."""
    import bw2data as bd

    flows = {}
    for i, (name, cats) in enumerate(zip(system.flow_names, system.flow_categories, strict=True)):
        flows[flow_key(i)] = {
            "name": name,
            "categories": cats,
            "unit": "kilogram",
            "type": "natural resource" if cats[0] == "natural resource" else "emission",
        }
    bd.Database(BIOSPHERE_DB).write(flows)

    acts: dict[str, dict[tuple[str, str], dict[str, Any]]] = {db: {} for db in TECH_DBS}
    exchanges: list[list[dict[str, Any]]] = [[] for _ in range(system.n_activities)]
    for j in range(system.n_activities):
        exchanges[j].append(
            {
                "input": activity_key(system, j),
                "amount": float(system.production[j]),
                "type": "production",
            }
        )
    for r, c, a, s in zip(
        system.tech_rows, system.tech_cols, system.tech_amounts, system.tech_sigma, strict=True
    ):
        exchanges[int(c)].append(
            {
                "input": activity_key(system, int(r)),
                "amount": float(a),
                "type": "technosphere",
                **_uncertainty_dict(float(a), float(s)),
            }
        )
    for r, c, a, s in zip(
        system.bio_rows, system.bio_cols, system.bio_amounts, system.bio_sigma, strict=True
    ):
        exchanges[int(c)].append(
            {
                "input": flow_key(int(r)),
                "amount": float(a),
                "type": "biosphere",
                **_uncertainty_dict(float(a), float(s)),
            }
        )
    for j in range(system.n_activities):
        db, code = activity_key(system, j)
        acts[db][(db, code)] = {
            "name": system.names[j],
            "reference product": system.names[j].replace("activity", "product"),
            "location": "GLO" if j % 3 else "CN",
            "unit": "kilogram",
            "type": "process",
            "exchanges": exchanges[j],
        }
    for db in TECH_DBS:  # cross-database links: write all, then process
        bd.Database(db).write(acts[db], process=False)
    for db in TECH_DBS:
        bd.Database(db).process()

    for ind in INDICATORS:
        cfs = []
        for i, v in system.cfs[ind.key].items():
            if system.cf_sigma > 0:
                cfs.append(
                    (
                        flow_key(i),
                        {
                            "amount": v,
                            "uncertainty type": 3,
                            "loc": v,
                            "scale": abs(v) * system.cf_sigma,
                        },
                    )
                )
            else:
                cfs.append((flow_key(i), v))
        bd.Method(ind.method).write(cfs)


def to_datapackages(system: SyntheticSystem) -> tuple[Any, list[Any], dict[int, dict[str, Any]]]:
    """bw_processing datapackages for ``system``: (inventory package, one method package per
    indicator, node metadata by id). Activity ids are ``1_000_000 + j``, flow ids ``i + 1``."""
    import bw_processing as bwp

    act_id = 1_000_000 + np.arange(system.n_activities, dtype=np.int64)
    flow_id = 1 + np.arange(system.n_flows, dtype=np.int64)

    def dist(amounts: npt.NDArray[np.float64], sigma: npt.NDArray[np.float64]) -> npt.NDArray[Any]:
        d = np.zeros(len(amounts), dtype=bwp.UNCERTAINTY_DTYPE)
        unc = sigma > 0
        d["uncertainty_type"] = np.where(unc, 2, 0)
        d["loc"] = np.where(unc, np.log(np.abs(amounts)), amounts)
        d["scale"] = np.where(unc, sigma, np.nan)
        d["shape"] = np.nan
        d["minimum"] = np.nan
        d["maximum"] = np.nan
        d["negative"] = amounts < 0
        return d

    def indices(r: npt.NDArray[np.int64], c: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
        ind = np.zeros(len(r), dtype=bwp.INDICES_DTYPE)
        ind["row"] = r
        ind["col"] = c
        return ind

    inv = bwp.create_datapackage(sum_intra_duplicates=True, sum_inter_duplicates=False)
    n = system.n_activities
    t_rows = np.concatenate([act_id, act_id[system.tech_rows]])
    t_cols = np.concatenate([act_id, act_id[system.tech_cols]])
    t_amt = np.concatenate([system.production, system.tech_amounts])
    t_sig = np.concatenate([np.zeros(n), system.tech_sigma])
    inv.add_persistent_vector(
        matrix="technosphere_matrix",
        name="synthetic_technosphere",
        indices_array=indices(t_rows, t_cols),
        data_array=t_amt,
        flip_array=np.concatenate(
            [np.zeros(n, dtype=bool), np.ones(len(system.tech_rows), dtype=bool)]
        ),
        distributions_array=dist(t_amt, t_sig),
    )
    inv.add_persistent_vector(
        matrix="biosphere_matrix",
        name="synthetic_biosphere",
        indices_array=indices(flow_id[system.bio_rows], act_id[system.bio_cols]),
        data_array=system.bio_amounts,
        distributions_array=dist(system.bio_amounts, system.bio_sigma),
    )
    methods = []
    for ind in INDICATORS:
        items = sorted(system.cfs[ind.key].items())
        dp = bwp.create_datapackage(sum_intra_duplicates=True, sum_inter_duplicates=False)
        vals = np.array([v for _, v in items], dtype=np.float64)
        dp.add_persistent_vector(
            matrix="characterization_matrix",
            name=f"cf_{ind.key}",
            indices_array=indices(
                flow_id[[i for i, _ in items]], np.zeros(len(items), dtype=np.int64)
            ),
            data_array=vals,
            distributions_array=dist(vals, np.zeros(len(vals))),
        )
        methods.append(dp)
    meta: dict[int, dict[str, Any]] = {}
    for j in range(n):
        db, code = activity_key(system, j)
        meta[int(act_id[j])] = {
            "database": db,
            "code": code,
            "name": system.names[j],
            "location": "GLO",
            "unit": "kilogram",
        }
    for i in range(system.n_flows):
        db, code = flow_key(i)
        meta[int(flow_id[i])] = {
            "database": db,
            "code": code,
            "name": system.flow_names[i],
            "categories": list(system.flow_categories[i]),
            "unit": "kilogram",
        }
    return inv, methods, meta


# ------------------------------------------------------------------------------------------------
# bw2data base-directory switching (bw2data state is process-global: always restore it)
# ------------------------------------------------------------------------------------------------


@contextmanager
def bw2data_dir(base_dir: Path, project: str = "pcf") -> Iterator[None]:
    """Point bw2data at ``base_dir`` with ``project`` current; restore the previous state after."""
    import bw2data as bd

    projects = bd.projects
    old = (Path(projects._base_data_dir), Path(projects._base_logs_dir), projects.current)
    base_dir.mkdir(parents=True, exist_ok=True)
    (base_dir / "logs").mkdir(exist_ok=True)
    projects.change_base_directories(
        base_dir, base_logs_dir=base_dir / "logs", project_name=project
    )
    try:
        yield
    finally:
        projects.change_base_directories(
            old[0], base_logs_dir=old[1], project_name=old[2], update=False
        )


def build_synthetic_release(
    release_dir: Path, system: SyntheticSystem, *, mc_samples: int = 0, mc_seed: int = 7
) -> None:
    """Write ``system`` as release ``release_dir`` (brightway/ + engine/), as the data build does."""
    from app.background.engine_export import export_engine_arrays

    with bw2data_dir(release_dir / "brightway"):
        write_bw2data_project(system)
        export_engine_arrays(release_dir, mc_samples=mc_samples, mc_seed=mc_seed)
