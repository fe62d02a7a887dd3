"""Benchmark: the background engine vs bw2calc on synthetic ecoinvent-shaped backgrounds.

    python bench/engine.py                      # 1k, 10k, 20k activities (about 8-10 minutes)
    python bench/engine.py --sizes 1000 --bank 1000

For each size it builds a synthetic background (tests/engine/synthetic.py: sparse, 10-15 inputs
per activity, loops through market activities, lognormal uncertainty on most exchanges), writes it
as bw_processing datapackages, exports the engine arrays from bw2calc's own matrices
(``engine_export.export_from_mapped_matrices``) and then compares, side by side:

* a 100-line BOM: a fresh ``bw2calc.LCA`` (all 6 indicators via ``switch_method``) vs
  ``Engine.footprint`` - speed ratio and max relative difference;
* hotspots: one solve on the cached factorization per request (factorization count checked);
* Monte Carlo of 1,000 iterations: engine request on the bank vs bw2calc's ``next(lca)`` loop
  (bw2calc time extrapolated from a measured subset; engine time extrapolated linearly when the
  bank is smaller than 1,000 at large sizes - the bank build cost is reported separately);
* engine start-up time and peak RSS, measured in a fresh process (load + footprint + hotspots +
  Monte Carlo request).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

warnings.filterwarnings("ignore")

from app.background.engine import Engine  # noqa: E402
from app.background.engine_export import export_from_mapped_matrices  # noqa: E402
from app.background.indicators import INDICATORS  # noqa: E402
from tests.engine.synthetic import make_system, to_datapackages  # noqa: E402

BOM_LINES = 100
MC_ITERATIONS = 1000


def machine() -> dict[str, Any]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = "?"
    try:
        cfg = np.show_config(mode="dicts")
        b = cfg["Build Dependencies"]["blas"]
        blas = f"{b.get('name')} {b.get('version')}"
    except Exception:
        pass
    try:
        import pypardiso  # noqa: F401

        solver = "pypardiso (MKL Pardiso) for bw2calc and the engine"
    except ImportError:
        solver = "SciPy SuperLU"
    import bw2calc
    import scipy

    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "bw2calc": bw2calc.__version__ if hasattr(bw2calc, "__version__") else "?",
        "blas": blas,
        "solver": solver,
    }


def build_release(n: int, bank: int, out: Path) -> tuple[Any, list[Any], dict[str, float]]:
    import bw2calc as bc

    t = time.perf_counter()
    system = make_system(n, seed=2024)
    inv, methods, meta = to_datapackages(system)
    gen = time.perf_counter() - t
    t = time.perf_counter()
    lca = bc.LCA({1_000_000: 1.0}, data_objs=[inv, methods[0]])
    lca.load_lci_data()
    char = []
    for m in methods:
        lca.load_lcia_data(data_objs=[m])
        char.append(lca.characterization_mm)
    timings = export_from_mapped_matrices(
        out_dir=out / "engine",
        technosphere_mm=lca.technosphere_mm,
        biosphere_mm=lca.biosphere_mm,
        characterization_mms=char,
        node_meta=lambda i: meta[int(i)],
        extra_index={"release_id": f"bench-{n}"},
        mc_samples=bank,
        mc_seed=1,
    )
    timings["generate"] = gen
    timings["export_total"] = time.perf_counter() - t
    return inv, methods, timings


def bw2calc_bom(
    inv: Any, methods: list[Any], demand_ids: dict[int, float]
) -> tuple[float, np.ndarray]:
    """One fresh bw2calc LCA for the demand, all indicators. Returns (seconds, scores)."""
    import bw2calc as bc

    t = time.perf_counter()
    lca = bc.LCA(demand_ids, data_objs=[inv, methods[0]])
    lca.lci()
    lca.lcia()
    scores = [lca.score]
    for m in methods[1:]:
        lca.switch_method([m])
        lca.lcia_calculation()
        scores.append(lca.score)
    return time.perf_counter() - t, np.array(scores)


def startup_probe(release: Path, demand: dict[tuple[str, str], float]) -> dict[str, float]:
    code = f"""
import json, time, sys

def rss_mb(field):  # this process only (ru_maxrss would include the parent's peak after fork)
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")

sys.path.insert(0, {str(ROOT)!r})
t0 = time.perf_counter()
from pathlib import Path
from app.background.engine import Engine
e = Engine.load(Path({str(release)!r}), factorize="lazy")
t_load = time.perf_counter() - t0
demand = {{tuple(k): v for k, v in json.loads({json.dumps([[list(k), v] for k, v in demand.items()])!r})}}
e.footprint(demand)
rss_serving = rss_mb("VmHWM")
t = time.perf_counter(); e.factorization(); t_fact = time.perf_counter() - t
e.hotspots(demand)
if e.bank_ready:
    e.monte_carlo(demand)
rss = rss_mb("VmHWM")
print(json.dumps({{"startup_s": t_load, "factorize_s": t_fact, "rss_serving_mb": rss_serving, "rss_peak_mb": rss}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_size(n: int, bank: int, bw_mc_iters: int, bw_reps: int, workdir: Path) -> dict[str, Any]:
    import bw2calc as bc

    res: dict[str, Any] = {"activities": n, "bank": bank}
    release = workdir / f"release-{n}"
    inv, methods, timings = build_release(n, bank, release)
    res["export"] = {k: round(v, 2) for k, v in timings.items()}
    engine = Engine.load(release, factorize="lazy")

    rng = np.random.default_rng(n)
    cols = rng.choice(n, BOM_LINES, replace=False)
    amounts = rng.lognormal(0.0, 1.5, BOM_LINES)
    demand_ids = {1_000_000 + int(j): float(a) for j, a in zip(cols, amounts, strict=True)}
    keys = [engine.products[int(j)] for j in cols]
    demand = {k: float(a) for k, a in zip(keys, amounts, strict=True)}
    assert engine.index["products"][int(cols[0])] == list(keys[0])

    # --- BOM footprint
    bw_times, ref = [], None
    for _ in range(bw_reps):
        dt, ref = bw2calc_bom(inv, methods, demand_ids)
        bw_times.append(dt)
    assert ref is not None
    reps = 2000
    t = time.perf_counter()
    for _ in range(reps):
        got = engine.footprint_array(demand)
    eng_t = (time.perf_counter() - t) / reps
    rel = np.abs(got - ref) / np.maximum(np.abs(ref), 1e-300)
    res["bom"] = {
        "bw2calc_s": float(np.median(bw_times)),
        "engine_s": eng_t,
        "ratio": float(np.median(bw_times)) / eng_t,
        "max_rel_diff": float(rel.max()),
    }

    # --- hotspots
    t = time.perf_counter()
    engine.factorization()
    fact_t = time.perf_counter() - t
    hs = []
    for i in range(5):
        t = time.perf_counter()
        h = engine.hotspots(
            {k: v * (1 + i) for k, v in demand.items()}, top_processes=20, top_flows=20
        )
        hs.append(time.perf_counter() - t)
    hot_total_rel = abs(h.total / (1 + 4) - ref[0]) / abs(ref[0])
    res["hotspots"] = {
        "factorize_once_s": fact_t,
        "per_request_s": float(np.median(hs)),
        "factorizations": engine.factorization_count,
        "total_rel_diff": float(hot_total_rel),
        "bw2calc_fresh_lca_s": float(np.median(bw_times)),
    }

    # --- Monte Carlo
    iters = min(MC_ITERATIONS, bank)
    t = time.perf_counter()
    mc = engine.monte_carlo(demand, iterations=iters, seed=3, keep_samples=True)
    mc_t = time.perf_counter() - t
    mc_1000 = mc_t * MC_ITERATIONS / iters
    lca = bc.LCA(demand_ids, data_objs=[inv, methods[0]], use_distributions=True, seed_override=7)
    lca.lci()
    lca.lcia()
    t = time.perf_counter()
    bw_scores = []
    for _ in range(bw_mc_iters):
        next(lca)
        bw_scores.append(lca.score)
    bw_iter = (time.perf_counter() - t) / bw_mc_iters
    s0 = mc.stats[INDICATORS[0].key]
    bw = np.array(bw_scores)
    res["monte_carlo"] = {
        "engine_iterations": iters,
        "engine_request_s": mc_t,
        "engine_1000_s": mc_1000,
        "bw2calc_iterations_measured": bw_mc_iters,
        "bw2calc_per_iteration_s": bw_iter,
        "bw2calc_1000_s": bw_iter * MC_ITERATIONS,
        "ratio": bw_iter * MC_ITERATIONS / mc_1000,
        "bank_build_s": timings.get("mc_bank", 0.0),
        "bank_s_per_sample": timings.get("mc_bank", 0.0) / max(bank, 1),
        "engine_stats": {
            "mean": s0.mean,
            "sd": s0.sd,
            "p2_5": s0.p2_5,
            "p50": s0.p50,
            "p97_5": s0.p97_5,
        },
        "bw2calc_stats": {
            "mean": float(bw.mean()),
            "sd": float(bw.std(ddof=1)) if bw.size > 1 else 0.0,
            "p2_5": float(np.percentile(bw, 2.5)),
            "p50": float(np.percentile(bw, 50)),
            "p97_5": float(np.percentile(bw, 97.5)),
        },
        "deterministic": s0.deterministic,
    }
    del engine
    res["startup"] = startup_probe(release, demand)
    return res


def fmt(r: dict[str, Any]) -> str:
    b, h, m, s = r["bom"], r["hotspots"], r["monte_carlo"], r["startup"]
    es, bs = m["engine_stats"], m["bw2calc_stats"]
    return "\n".join(
        [
            f"== {r['activities']:,} activities (bank {r['bank']} samples) ==",
            f"export: {r['export']}",
            f"BOM {BOM_LINES} lines : bw2calc fresh LCA {b['bw2calc_s'] * 1e3:9.1f} ms | engine "
            f"{b['engine_s'] * 1e6:8.1f} us | ratio {b['ratio']:>10,.0f}x | max rel diff {b['max_rel_diff']:.1e}",
            f"hotspots       : factorize once {h['factorize_once_s']:.2f} s, then "
            f"{h['per_request_s'] * 1e3:.1f} ms/request (factorizations: {h['factorizations']}; "
            f"bw2calc fresh LCA {h['bw2calc_fresh_lca_s'] * 1e3:.0f} ms)",
            f"Monte Carlo 1k : bw2calc {m['bw2calc_1000_s']:9.1f} s (from {m['bw2calc_iterations_measured']} "
            f"iterations x {m['bw2calc_per_iteration_s'] * 1e3:.1f} ms) | engine {m['engine_1000_s'] * 1e3:.1f} ms "
            f"({m['engine_iterations']} iterations measured) | ratio {m['ratio']:,.0f}x",
            f"  bank build   : {m['bank_build_s']:.1f} s ({m['bank_s_per_sample']:.3f} s/sample; "
            f"1000 samples ~ {m['bank_s_per_sample'] * 1000 / 60:.1f} min, once per release)",
            f"  stats GWP100 : engine mean {es['mean']:.4g} sd {es['sd']:.3g} p2.5 {es['p2_5']:.4g} "
            f"p50 {es['p50']:.4g} p97.5 {es['p97_5']:.4g}",
            f"                 bw2calc mean {bs['mean']:.4g} sd {bs['sd']:.3g} p2.5 {bs['p2_5']:.4g} "
            f"p50 {bs['p50']:.4g} p97.5 {bs['p97_5']:.4g}  (deterministic {m['deterministic']:.4g})",
            f"start-up       : load {s['startup_s']:.2f} s, RSS serving {s['rss_serving_mb']:.0f} MB, "
            f"peak RSS (with factorization + MC) {s['rss_peak_mb']:.0f} MB",
        ]
    )


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 20000])
    p.add_argument(
        "--bank",
        type=int,
        nargs="+",
        default=[1000, 150, 100],
        help="Monte Carlo bank samples per size",
    )
    p.add_argument(
        "--bw-mc",
        type=int,
        nargs="+",
        default=[1000, 10, 5],
        help="bw2calc next() iterations measured per size",
    )
    p.add_argument("--bw-reps", type=int, nargs="+", default=[10, 3, 3])
    p.add_argument("--json", type=Path, default=None, help="also write results as JSON here")
    args = p.parse_args()
    pad = lambda xs: xs + [xs[-1]] * (len(args.sizes) - len(xs))  # noqa: E731
    banks, bwmc, reps = pad(args.bank), pad(args.bw_mc), pad(args.bw_reps)

    info = machine()
    print("machine:", json.dumps(info))
    results = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pcf-engine-bench-") as tmp:
        for n, bank, bw_mc, rep in zip(args.sizes, banks, bwmc, reps, strict=True):
            t = time.perf_counter()
            r = bench_size(n, bank, bw_mc, rep, Path(tmp))
            r["wall_s"] = time.perf_counter() - t
            results.append(r)
            print(fmt(r), flush=True)
            print(f"({r['wall_s']:.0f} s)\n", flush=True)
    print(f"total {time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "results": results}, indent=1))


if __name__ == "__main__":
    main()
