"""Build an immutable background-data release.

    python -m lca_data.build --data-dir DIR [--force]

or `build_release(data_dir, force=False, progress=print) -> manifest`.

Layout written (see docs/data-sources.md):

    DIR/releases/<release_id>/manifest.json
    DIR/releases/<release_id>/catalogue.json
    DIR/releases/<release_id>/build-report.json
    DIR/releases/<release_id>/gaps.json
    DIR/releases/<release_id>/brightway/          bw2data base dir, project "pcf"
    DIR/current                                   text file: the current release id

release_id = "bg-" + content_hash[:12]; content_hash = sha256 over the bundled source files, the
rule files, the build code (+ app/background/indicators.py and engine_export.py) and the library
versions. If DIR/releases/<release_id>/manifest.json exists the build is a no-op (unless --force).
The release is built in DIR/.building-<id>-<pid>/ and renamed into place atomically.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import BIOSPHERE_DB, BUILD_CODE_VERSION, BW_PROJECT, PACKAGE_DIR, SOURCES_DIR
from . import rules as _rules

PROJECT_ROOT = PACKAGE_DIR.parent
LIBRARIES = (
    "bw2data",
    "bw2calc",
    "bw2io",
    "bw_processing",
    "matrix_utils",
    "numpy",
    "scipy",
    "pyyaml",
)
EXTRA_CODE_FILES = ("app/background/indicators.py", "app/background/engine_export.py")

Progress = Callable[[str], None]


def _ensure_project_on_path() -> None:
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": f"{sys.version_info.major}.{sys.version_info.minor}"}
    for lib in LIBRARIES:
        try:
            out[lib] = version(lib)
        except PackageNotFoundError:
            out[lib] = "absent"
    return out


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def hash_inputs(sources_dir: Path = SOURCES_DIR) -> list[tuple[str, Path]]:
    """(label, path) of every file the release content depends on, in a fixed order."""
    items: list[tuple[str, Path]] = []
    for p in sorted(sources_dir.rglob("*")):
        if p.is_file():
            items.append(("sources/" + p.relative_to(sources_dir).as_posix(), p))
    for p in _rules.rule_files():
        items.append(("rules/" + p.name, p))
    for p in sorted(PACKAGE_DIR.glob("*.py")):
        items.append(("code/lca_data/" + p.name, p))
    for rel in EXTRA_CODE_FILES:
        p = PROJECT_ROOT / rel
        if p.is_file():
            items.append(("code/" + rel, p))
    return items


def content_hash(sources_dir: Path = SOURCES_DIR, libs: dict[str, str] | None = None) -> str:
    h = hashlib.sha256()
    h.update(f"build-code-version:{BUILD_CODE_VERSION}\n".encode())
    for label, path in hash_inputs(sources_dir):
        h.update(f"{label}\0{_file_digest(path)}\n".encode())
    h.update(json.dumps(libs if libs is not None else library_versions(), sort_keys=True).encode())
    return h.hexdigest()


def _write_json(path: Path, obj: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1, sort_keys=False, default=_json_default)
        f.write("\n")


def _json_default(o: Any) -> Any:
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o))


def _write_current(data_dir: Path, release_id: str) -> None:
    tmp = data_dir / f".current.{os.getpid()}"
    tmp.write_text(release_id + "\n", encoding="utf-8")
    os.replace(tmp, data_dir / "current")


CATALOGUE_FIELDS = (
    "pcf_id",
    "name",
    "name_zh",
    "unit",
    "location",
    "geography",
    "reference_year",
    "source",
    "citation",
    "licence",
    "category",
    "variant",
    "kind",
    "factor_type",
    "dq",
    "uncertainty",
    "completeness",
    "proxy",
    "second_hand",
    "flags",
    "allocation",
    "gas_basis",
    "published_value_kgco2e_per_unit",
    "scope",
    "note",
    "table",
    "variant_of",
    "relinked_electricity",
    "reference product",
    "uslci_process_id",
)


def catalogue_record(d: dict[str, Any]) -> dict[str, Any]:
    rec = {
        k: d.get(k) for k in CATALOGUE_FIELDS if k in d or k in ("name_zh", "flags", "allocation")
    }
    rec["flags"] = list(rec.get("flags") or [])
    rec["brightway"] = {"project": BW_PROJECT, "database": d["database"], "code": d["code"]}
    return rec


def check_gaps(datasets: list[dict[str, Any]]) -> dict[str, Any]:
    import re

    ids = {d["pcf_id"] for d in datasets}
    out, problems = [], []
    for g in _rules.gaps():
        entry: dict[str, Any] = {
            k: g.get(k) for k in ("key", "material", "families", "status", "note")
        }
        if g["status"] == "missing":
            rx = re.compile(g["name_regex"])
            hits = sorted(d["pcf_id"] for d in datasets if rx.search(d["name"]))
            entry["datasets"] = []
            if hits:
                problems.append(
                    f"gap '{g['key']}' is marked missing but datasets match: {hits[:5]}"
                )
        else:
            entry["datasets"] = list(g.get("datasets", []))
            unknown = [i for i in entry["datasets"] if i not in ids]
            if unknown:
                problems.append(f"gap '{g['key']}' lists unknown datasets {unknown}")
        out.append(entry)
    if problems:
        raise RuntimeError("gaps.yaml is out of date: " + "; ".join(problems))
    return {"gaps": out}


def _assemble(
    release_dir: Path, release_id: str, chash: str, libs: dict[str, str], progress: Progress
) -> dict[str, Any]:
    """Build everything into release_dir (already created). Returns the manifest."""
    t0 = time.time()
    _ensure_project_on_path()
    from app.background.indicators import INDICATORS

    from . import bw as _bw
    from .china_elec import build_china_electricity, values_by_geo_year
    from .factors import build_sourced_factors
    from .flowmap import BiosphereIndex, FlowMapper
    from .uslci import UslciImport, make_variant

    bw_dir = release_dir / "brightway"
    progress(f"[1/7] Brightway base dir {bw_dir}, project '{BW_PROJECT}'")
    _bw.use_brightway_dir(bw_dir)

    progress("[2/7] biosphere3 + LCIA methods (bundled bw2io files, offline)")
    indicator_methods = [i.method for i in INDICATORS]
    bio = _bw.write_biosphere_and_methods(progress, indicator_methods)
    index = BiosphereIndex.from_records(bio["records"], bio["characterized_codes"])

    progress("[3/7] China electricity factors")
    cn, cn_rep = build_china_electricity(index)
    progress(f"  {len(cn)} datasets")

    progress("[4/7] sourced factor tables")
    sf, sf_rep = build_sourced_factors(index, values_by_geo_year(cn))
    bad = [s for s in sf_rep["superseded"] if not s.get("agrees_with_china_electricity_table")]
    if bad:
        raise RuntimeError(f"sourced_factors rows disagree with china_electricity.csv: {bad}")
    progress(
        f"  {len(sf)} datasets from {sf_rep['rows']} rows ({len(sf_rep['excluded'])} excluded, "
        f"{len(sf_rep['superseded'])} superseded by the China electricity table)"
    )

    progress("[5/7] USLCI FY18 JSON-LD import")
    ucfg = _rules.load("uslci")
    imp = UslciImport(SOURCES_DIR / ucfg["source_dir"], FlowMapper(index), ucfg)
    imp.run()
    us = imp.datasets
    r = imp.report
    progress(
        f"  {r['processes']} processes -> {r['activities']} activities; technosphere inputs "
        f"{r['source_process_technosphere_inputs']}, cut off {r['source_process_cut_off_inputs']}; "
        f"GHG exchanges written {r['elementary']['ghg_written']}, non-GHG dropped {r['elementary']['non_ghg_dropped']}, "
        f"unmapped GHG flows {len(r['elementary']['unmapped_ghg_flows'])}"
    )

    progress("[6/7] China-grid variants of USLCI")
    kwh = {}
    for gid, _g in imp.db.unit_groups.items():
        f = imp.db.unit_by_name.get((gid, "kWh"))
        if f:
            kwh[gid] = 1.0 / f
    cn_by_id = {d["pcf_id"]: d for d in cn}
    variants, variant_reps = [], []
    for v in ucfg["variants"]:
        vds, vrep = make_variant(us, v, cn_by_id[v["grid"]], ucfg["grid_provider_regex"], kwh)
        variants.append((v, vds))
        variant_reps.append(vrep)
        progress(
            f"  {v['database']}: {len(vds)} datasets, {vrep['electricity_inputs_relinked']} electricity inputs relinked to {v['grid']}"
        )

    progress("[7/7] writing Brightway databases")
    db_counts = {}
    for name, dss in [("cn_electricity", cn), ("sourced_factors", sf), (ucfg["database"], us)] + [
        (v["database"], vds) for v, vds in variants
    ]:
        db_counts[name] = _bw.write_database(name, dss)
        progress(f"  {name}: {db_counts[name]} activities")
    db_counts[BIOSPHERE_DB] = bio["biosphere_flows"]

    all_ds = cn + sf + us + [d for _, vds in variants for d in vds]
    gaps = check_gaps(all_ds)

    # The engine's arrays are part of every release: no release without them.
    from app.background.engine_export import export_engine_arrays

    progress("  exporting engine arrays (app.background.engine_export)")
    te = time.time()
    export_engine_arrays(release_dir)
    engine_export: dict[str, Any] = {"status": "done", "seconds": round(time.time() - te, 2)}

    catalogue = sorted((catalogue_record(d) for d in all_ds), key=lambda x: x["pcf_id"])
    ids = [c["pcf_id"] for c in catalogue]
    if len(ids) != len(set(ids)):
        raise RuntimeError("duplicate pcf_id in catalogue")

    report = {
        "release_id": release_id,
        "uslci": imp.report,
        "flow_mapping": imp.mapping_rows,
        "variants": variant_reps,
        "sourced_factors": sf_rep,
        "china_electricity": cn_rep,
        "gaps": gaps["gaps"],
        "methods": bio["methods"],
        "engine_export": engine_export,
    }
    by_source: dict[str, int] = {}
    for c in catalogue:
        prefix = c["pcf_id"].split(":", 1)[0]
        by_source[prefix] = by_source.get(prefix, 0) + 1
    licences: dict[str, int] = {}
    for c in catalogue:
        licences[c["licence"]] = licences.get(c["licence"], 0) + 1
    build_seconds = round(time.time() - t0, 1)
    ur = imp.report
    manifest = {
        "id": release_id,
        "release_id": release_id,
        "content_hash": chash,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "build_code_version": BUILD_CODE_VERSION,
        "libraries": libs,
        "platform": platform.platform(),
        "brightway": {
            "base_dir": "brightway",
            "project": BW_PROJECT,
            "databases": db_counts,
            "biosphere": BIOSPHERE_DB,
            "methods": bio["methods"],
            "indicator_methods": {i.key: list(i.method) for i in INDICATORS},
        },
        "datasets": len(catalogue),
        "datasets_by_source": dict(sorted(by_source.items())),
        "datasets_by_database": {k: v for k, v in db_counts.items() if k != BIOSPHERE_DB},
        "datasets_by_variant": {
            v: sum(1 for c in catalogue if c["variant"] == v)
            for v in sorted({c["variant"] for c in catalogue})
        },
        "default_cn_electricity": "cn-elec:lca-national-2024",
        "licences": [
            {"licence": k, "datasets": v}
            for k, v in sorted(licences.items(), key=lambda kv: -kv[1])
        ],
        "attribution": [
            "U.S. Life Cycle Inventory Database, NREL / Federal LCA Commons (MIT repository licence; US federal data)",
            "Contains public sector information licensed under the Open Government Licence v3.0. (UK DESNZ GHG Conversion Factors 2024)",
            "China electricity factors: MEE / NBS / NEA notices (official documents; cited per dataset)",
            "Other factors: per dataset citation (CC BY 4.0 papers and facts cited with attribution)",
            "biosphere3 and IPCC 2021 methods: ecoinvent 3.9 elementary flows and LCIA implementation as bundled in bw2io (BSD-3)",
        ],
        "build_report_summary": {
            "uslci_processes": ur["processes"],
            "uslci_activities": ur["activities"],
            "uslci_technosphere_inputs": ur["source_process_technosphere_inputs"],
            "uslci_cut_off_inputs": ur["source_process_cut_off_inputs"],
            "uslci_multi_output_processes": ur["multi_output_processes"],
            "uslci_processes_with_allocation_factors": ur["processes_with_allocation_factors"],
            "uslci_allocation_counts": ur["allocation_counts"],
            "uslci_ghg_exchanges_written": ur["elementary"]["ghg_written"],
            "uslci_non_ghg_exchanges_dropped": ur["elementary"]["non_ghg_dropped"],
            "uslci_unmapped_ghg_flows": [u["name"] for u in ur["elementary"]["unmapped_ghg_flows"]],
            "variants": {v["variant"]: v["electricity_inputs_relinked"] for v in variant_reps},
            "sourced_factor_rows": sf_rep["rows"],
            "sourced_factor_datasets": sf_rep["datasets"],
            "sourced_factor_rows_excluded": [e["id"] for e in sf_rep["excluded"]],
            "sourced_factor_co2e_total_only": len(sf_rep["co2e_total_only_rows"]),
            "china_electricity_datasets": cn_rep["datasets"],
            "gaps_missing": [g["key"] for g in gaps["gaps"] if g["status"] == "missing"],
            "engine_export": engine_export["status"],
        },
        "gaps": gaps["gaps"],
        "build_seconds": build_seconds,
    }
    _write_json(release_dir / "catalogue.json", catalogue)
    _write_json(release_dir / "build-report.json", report)
    _write_json(release_dir / "gaps.json", gaps)
    _write_json(release_dir / "manifest.json", manifest)  # written last: marks the release complete
    return manifest


def build_release(
    data_dir: Path, force: bool = False, progress: Progress = print
) -> dict[str, Any]:
    """Build (or reuse) the release for the current sources; make it current; return its manifest."""
    t0 = time.time()
    data_dir = Path(data_dir).resolve()
    releases = data_dir / "releases"
    releases.mkdir(parents=True, exist_ok=True)
    libs = library_versions()
    chash = content_hash(libs=libs)
    release_id = "bg-" + chash[:12]
    final = releases / release_id
    if (final / "manifest.json").is_file() and not force:
        progress(f"release {release_id} already built (content hash {chash[:12]}): nothing to do")
        _write_current(data_dir, release_id)
        return json.loads((final / "manifest.json").read_text(encoding="utf-8"))

    progress(f"building release {release_id} into {final}")
    tmp = data_dir / f".building-{release_id}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        manifest = _assemble(tmp, release_id, chash, libs, progress)
        old = None
        if final.exists():
            if not force and (final / "manifest.json").is_file():  # another build won the race
                shutil.rmtree(tmp)
                _write_current(data_dir, release_id)
                return json.loads((final / "manifest.json").read_text(encoding="utf-8"))
            old = data_dir / f".replaced-{release_id}-{os.getpid()}"
            os.rename(final, old)
        os.rename(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    from . import bw as _bw

    _bw.use_brightway_dir(final / "brightway")  # keep this process's bw2data on the final path
    _write_current(data_dir, release_id)
    progress(
        f"release {release_id} built in {time.time() - t0:.1f} s: {manifest['datasets']} datasets "
        f"{manifest['datasets_by_database']}"
    )
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m lca_data.build", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument(
        "--data-dir",
        required=True,
        type=Path,
        help="PCF data directory (holds releases/ and current)",
    )
    ap.add_argument(
        "--force", action="store_true", help="rebuild even if the release already exists"
    )
    args = ap.parse_args(argv)
    build_release(args.data_dir, force=args.force, progress=lambda m: print(m, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
