"""Export a release's Brightway project into the engine's numpy arrays (``R/engine/``).

Called by the data build at the end of a release build, with bw2data pointed at ``R/brightway``
and project ``pcf`` current::

    export_engine_arrays(release_dir)

The matrices are bw2calc's own: one ``bw2calc.LCA`` is built over the datapackages of every
database of the project and the ``characterization_matrix`` of each indicator method is loaded
through ``LCA.load_lcia_data`` - so sign conventions (flip), duplicate handling and masking are
exactly bw2calc's. The stats_arrays parameters of every matrix element are taken from the same
matrix_utils resource groups, so the Monte Carlo bank draws what ``use_distributions=True`` draws.

bw2data/bw2calc are imported inside the functions: importing this module is cheap and the serving
engine (``engine.py``) never imports them.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from app.background import gases, montecarlo
from app.background.engine import (
    BIOSPHERE_FILE,
    CHARACTERIZATION_FILE,
    FORMAT_VERSION,
    INDEX_FILE,
    TECHNOSPHERE_FILE,
    UNCERTAINTY_FILE,
    UNIT_VALUES_FILE,
    engine_dir,
    factorize,
    save_csr,
)
from app.background.indicators import INDICATORS, Indicator
from app.background.montecarlo import BankInputs, PatternMatrix, UncertainEntries

log = logging.getLogger(__name__)

DEFAULT_MC_SAMPLES = 1000
DEFAULT_MC_SEED = 20240501
BIOSPHERE_TYPES = {"emission", "natural resource", "inventory indicator", "economic", "social"}


# --------------------------------------------------------------------------------------------
# Entry point for the data build
# --------------------------------------------------------------------------------------------


def export_engine_arrays(
    release_dir: Path,
    *,
    mc_samples: int | None = None,
    mc_seed: int | None = None,
    indicators: Sequence[Indicator] = INDICATORS,
) -> None:
    """Write ``release_dir/engine/`` from the *current* bw2data project.

    ``mc_samples`` (default: env ``PCF_ENGINE_MC_SAMPLES`` or 1000; 0 = no bank, the engine can
    build it later) sets the size of the Monte Carlo bank; building it costs one numeric
    factorization per sample (about 1-1.5 s per sample at 20k activities with Pardiso).
    """
    import bw2calc as bc
    import bw2data as bd
    from bw2data.backends import ActivityDataset as AD

    t0 = time.perf_counter()
    nodes: dict[int, dict[str, Any]] = {}
    db_types: dict[str, set[str]] = {}
    for row in AD.select(
        AD.id, AD.database, AD.code, AD.name, AD.location, AD.type, AD.product, AD.data
    ):
        data = row.data or {}
        nodes[row.id] = {
            "database": row.database,
            "code": row.code,
            "name": row.name,
            "location": row.location,
            "type": row.type,
            "reference product": row.product or data.get("reference product"),
            "unit": data.get("unit"),
            "categories": list(data.get("categories") or ()),
        }
        db_types.setdefault(row.database, set()).add(row.type or "process")
    tech_dbs = sorted(
        name
        for name in bd.databases
        if name != bd.config.biosphere and not db_types.get(name, set()) <= BIOSPHERE_TYPES
    )
    if not tech_dbs:
        raise ValueError("No technosphere database in the current project")
    missing = [i.method for i in indicators if i.method not in bd.methods]
    if missing:
        raise ValueError(f"Methods missing from the project: {missing}")

    db_packages = [bd.Database(name).datapackage() for name in sorted(bd.databases)]
    method_packages = [bd.Method(i.method).datapackage() for i in indicators]
    first = next(
        i
        for i, n in nodes.items()
        if n["database"] == tech_dbs[0] and n["type"] not in BIOSPHERE_TYPES
    )
    lca = bc.LCA({first: 1}, data_objs=[*db_packages, method_packages[0]])
    lca.load_lci_data()
    char_mms = []
    for dp in method_packages:
        lca.load_lcia_data(data_objs=[dp])
        char_mms.append(lca.characterization_mm)

    release_id = _release_id(Path(release_dir))
    export_from_mapped_matrices(
        out_dir=engine_dir(Path(release_dir)),
        technosphere_mm=lca.technosphere_mm,
        biosphere_mm=lca.biosphere_mm,
        characterization_mms=char_mms,
        node_meta=lambda i: nodes.get(int(i), {"database": "?", "code": str(i)}),
        indicators=indicators,
        extra_index={"release_id": release_id, "databases": tech_dbs},
        mc_samples=mc_samples,
        mc_seed=mc_seed,
    )
    log.info("Engine arrays exported in %.1f s", time.perf_counter() - t0)


def _release_id(release_dir: Path) -> str:
    manifest = release_dir / "manifest.json"
    if manifest.exists():
        try:
            return str(json.loads(manifest.read_text()).get("release_id") or release_dir.name)
        except (ValueError, OSError):
            pass
    return release_dir.name


# --------------------------------------------------------------------------------------------
# Generic exporter (also used by the benchmark with hand-made datapackages)
# --------------------------------------------------------------------------------------------


def export_from_mapped_matrices(
    *,
    out_dir: Path,
    technosphere_mm: Any,
    biosphere_mm: Any,
    characterization_mms: Sequence[Any],
    node_meta: Callable[[int], dict[str, Any]],
    indicators: Sequence[Indicator] = INDICATORS,
    extra_index: dict[str, Any] | None = None,
    mc_samples: int | None = None,
    mc_seed: int | None = None,
    solver_backend: str = "auto",
) -> dict[str, Any]:
    """Write the engine files from bw2calc's ``MappedMatrix`` objects. Returns timing info."""
    timings: dict[str, float] = {}
    t = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    a = sp.csr_matrix(technosphere_mm.matrix, dtype=np.float64)
    b = sp.csr_matrix(biosphere_mm.matrix, dtype=np.float64)
    product_ids = _mapper_ids(technosphere_mm.row_mapper)
    activity_ids = _mapper_ids(technosphere_mm.col_mapper)
    flow_ids = _mapper_ids(biosphere_mm.row_mapper) if b.shape[0] else np.zeros(0, dtype=np.int64)
    n_p, n_a, n_f = a.shape[0], a.shape[1], b.shape[0]
    if n_p != n_a:
        raise ValueError(f"Technosphere is not square: {a.shape}")

    cf = np.zeros((len(indicators), n_f))
    for k, mm in enumerate(characterization_mms):
        cf[k] = sp.csr_matrix(mm.matrix).diagonal()

    # Uncertainty (and a check that the stored entries rebuild bw2calc's matrices exactly).
    tech_e = entries_from_mapped_matrix(technosphere_mm)
    bio_e = entries_from_mapped_matrix(biosphere_mm)
    cf_e = tuple(entries_from_mapped_matrix(mm, diagonal=True) for mm in characterization_mms)
    _check_rebuild("technosphere", tech_e, a)
    _check_rebuild("biosphere", bio_e, b)
    for k, e in enumerate(cf_e):
        _check_rebuild(f"characterization {indicators[k].key}", e, sp.diags(cf[k]).tocsr())
    inputs = BankInputs(
        n_products=n_p,
        n_activities=n_a,
        n_flows=n_f,
        technosphere=tech_e,
        biosphere=bio_e,
        characterization=cf_e,
    )
    timings["read"] = time.perf_counter() - t

    # Unit values: one transposed solve per indicator (all K right-hand sides at once).
    t = time.perf_counter()
    lu = factorize(a, solver_backend)
    rhs = np.asarray(b.T @ cf.T)  # [n_activities, K]
    unit = np.ascontiguousarray(
        np.asarray(lu.solve(rhs, transpose=True)).reshape(n_p, len(indicators))
    )
    residual = np.abs(a.T @ unit - rhs).max() / max(np.abs(rhs).max(), 1e-300)
    timings["factorize_and_solve"] = time.perf_counter() - t
    if not np.isfinite(unit).all():
        raise ValueError("Unit values contain non-finite numbers (singular technosphere?)")

    t = time.perf_counter()
    save_csr(out_dir / TECHNOSPHERE_FILE, a)
    save_csr(out_dir / BIOSPHERE_FILE, b)
    np.save(out_dir / CHARACTERIZATION_FILE, cf)
    np.save(out_dir / UNIT_VALUES_FILE, unit)
    inputs.save(out_dir / UNCERTAINTY_FILE)

    prod_keys = [_key(node_meta(int(i))) for i in product_ids]
    act_meta = [node_meta(int(i)) for i in activity_ids]
    index: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "created_unix": int(time.time()),
        "indicators": [{"key": i.key, "method": list(i.method)} for i in indicators],
        "shape": {"products": n_p, "activities": n_a, "flows": n_f},
        "solver": lu.backend,
        "relative_residual": float(residual),
        "products": prod_keys,
        "activities": [_key(m) for m in act_meta],
        "products_equal_activities": prod_keys == [_key(m) for m in act_meta],
        "activity_meta": [
            {k: m.get(k) for k in ("name", "location", "unit", "reference product")}
            for m in act_meta
        ],
        "biosphere": [_flow_record(node_meta(int(i))) for i in flow_ids],
        "uncertain_elements": {
            "technosphere": tech_e.n_uncertain,
            "biosphere": bio_e.n_uncertain,
            "characterization": sum(e.n_uncertain for e in cf_e),
        },
    }
    if extra_index:
        index.update(extra_index)
    # Remove a stale bank: it belongs to the previous arrays.
    for name in ("mc_bank.npy", "mc_bank.json"):
        (out_dir / name).unlink(missing_ok=True)
    tmp = out_dir / (INDEX_FILE + ".tmp")
    tmp.write_text(json.dumps(index, ensure_ascii=False))
    tmp.replace(out_dir / INDEX_FILE)
    timings["write"] = time.perf_counter() - t

    samples = (
        mc_samples
        if mc_samples is not None
        else int(os.environ.get("PCF_ENGINE_MC_SAMPLES", DEFAULT_MC_SAMPLES))
    )
    if samples > 0:
        t = time.perf_counter()
        seed = DEFAULT_MC_SEED if mc_seed is None else mc_seed
        bank, meta = montecarlo.build_bank(
            inputs, samples, seed, backend=solver_backend, progress_every=100
        )
        montecarlo.save_bank(out_dir, bank, meta)
        timings["mc_bank"] = time.perf_counter() - t
    return timings


def _mapper_ids(mapper: Any) -> npt.NDArray[np.int64]:
    """Brightway ids in matrix-index order."""
    d = mapper.to_dict()
    ids = np.zeros(len(d), dtype=np.int64)
    for node_id, pos in d.items():
        ids[pos] = node_id
    return ids


def _key(meta: dict[str, Any]) -> list[str]:
    return [str(meta.get("database")), str(meta.get("code"))]


def entries_from_mapped_matrix(mm: Any, *, diagonal: bool = False) -> UncertainEntries:
    """Collect every element of a ``matrix_utils.MappedMatrix`` with its distribution.

    Follows ``MappedMatrix.rebuild_matrix``: groups in order; a group from a datapackage without
    ``sum_inter_duplicates`` overwrites earlier values at the same positions; NaN data is skipped.
    """
    parts: list[dict[str, npt.NDArray[Any]]] = []
    ncols = max(int(mm.matrix.shape[1]), 1)
    for group in mm.groups:
        if group.empty or len(group.row_masked) == 0:
            continue
        if not group.vector:
            # Scenario arrays (several values per element) have no single matrix to export.
            raise ValueError(f"Array (scenario) resource groups cannot be exported: {group}")
        rows = np.asarray(group.row_masked, dtype=np.int64)
        cols = rows if diagonal else np.asarray(group.col_masked, dtype=np.int64)
        static = np.asarray(
            group.apply_masks(group.get_resource_by_suffix("data")), dtype=np.float64
        )
        n = rows.shape[0]
        factor = np.ones(n)
        if group.has_flip:
            factor[np.asarray(group.flip, dtype=bool)] = -1.0
        if group.has_rescale:
            factor *= np.asarray(group.rescale, dtype=np.float64)
        if group.has_distributions:
            dist = group.apply_masks(group.get_resource_by_suffix("distributions"))
            fields = {f: np.asarray(dist[f]) for f in montecarlo.PARAM_FIELDS}
        else:
            fields = {
                "uncertainty_type": np.zeros(n, dtype=np.int64),
                "loc": static.copy(),
                "scale": np.full(n, np.nan),
                "shape": np.full(n, np.nan),
                "minimum": np.full(n, np.nan),
                "maximum": np.full(n, np.nan),
                "negative": np.zeros(n, dtype=bool),
            }
        keep = ~np.isnan(static)
        part = {"rows": rows, "cols": cols, "factor": factor, "static": static, **fields}
        part = {k: v[keep] for k, v in part.items()}
        if not group.package.metadata.get("sum_inter_duplicates", False) and parts:
            lin = part["rows"] * ncols + part["cols"]
            for prev in parts:
                alive = ~np.isin(prev["rows"] * ncols + prev["cols"], lin)
                for k in list(prev):
                    prev[k] = prev[k][alive]
        parts.append(part)

    def cat(name: str, dtype: Any) -> npt.NDArray[Any]:
        if not parts:
            return np.zeros(0, dtype=dtype)
        return np.concatenate([p[name] for p in parts]).astype(dtype)

    return UncertainEntries(
        rows=cat("rows", np.int64),
        cols=cat("cols", np.int64),
        factor=cat("factor", np.float64),
        static=cat("static", np.float64),
        uncertainty_type=cat("uncertainty_type", np.int64),
        loc=cat("loc", np.float64),
        scale=cat("scale", np.float64),
        shape=cat("shape", np.float64),
        minimum=cat("minimum", np.float64),
        maximum=cat("maximum", np.float64),
        negative=cat("negative", np.bool_),
    )


def _check_rebuild(label: str, entries: UncertainEntries, matrix: sp.csr_matrix) -> None:
    if matrix.shape[0] == 0 or matrix.shape[1] == 0:
        return
    rebuilt = (
        PatternMatrix(entries, (int(matrix.shape[0]), int(matrix.shape[1]))).matrix(
            entries.static_values()
        )
        if len(entries)
        else sp.csr_matrix(matrix.shape)
    )
    # The engine computes on bw2calc's own matrices (stored as CSR); these entries only feed
    # Monte Carlo sampling. bw2calc may sum duplicate entries in float32 (seen on USLCI: 4
    # elements differ at 4e-8 relative), so compare element by element at float32 precision.
    if not (matrix.nnz or rebuilt.nnz):
        return
    diff = abs(rebuilt - matrix).tocsr()
    scale = max(abs(matrix).max() if matrix.nnz else 0.0, 1e-300)
    bound = abs(matrix).multiply(1e-6).tocsr() + abs(rebuilt).multiply(1e-6).tocsr()
    excess = (diff - bound).tocoo()
    worst = excess.data.max() if excess.nnz else 0.0
    if worst > 1e-12 * scale:
        raise ValueError(
            f"{label}: stored elements do not rebuild bw2calc's matrix "
            f"(max diff {diff.max()} beyond float32 precision)"
        )


# --------------------------------------------------------------------------------------------
# Flow classification for reporting by gas
# --------------------------------------------------------------------------------------------


def classify_flow(name: str, categories: Sequence[str] = ()) -> tuple[str | None, str | None]:
    """(gas, origin) of an elementary flow: see app.background.gases."""
    return gases.classify(name, categories)


def _flow_record(meta: dict[str, Any]) -> dict[str, Any]:
    cats = list(meta.get("categories") or ())
    gas, origin = classify_flow(str(meta.get("name") or ""), cats)
    return {
        "database": meta.get("database"),
        "code": meta.get("code"),
        "name": meta.get("name"),
        "categories": cats,
        "unit": meta.get("unit"),
        "gas": gas,
        "origin": origin,
    }
