"""Build a new release = a base release + one database of user-imported, user-licensed datasets.

Layout written (the same as `lca_data.build`, so the service loads it unchanged):

    DIR/releases/<release_id>/manifest.json       the base manifest, updated; `imports` records
                                                  format, file sha256, dataset count, licence
    DIR/releases/<release_id>/catalogue.json      base catalogue + the imported datasets
    DIR/releases/<release_id>/build-report.json   base report + `imports` (unlinked exchanges, ...)
    DIR/releases/<release_id>/gaps.json           base gaps (+ imported datasets matching a gap)
    DIR/releases/<release_id>/brightway/          copy of the base project + database import_<name>
    DIR/releases/<release_id>/engine/             export_engine_arrays(release_dir)

release_id = "bg-imp-" + content_hash[:12]; content_hash = sha256 over the base release's content
hash, the format, name and licence, the sha256 of every imported file, the import code and the
library versions. Built in DIR/.importing-<id>-<pid>/ and renamed into place at the end; on any
error the temporary directory is removed, so no half-written release is ever left.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import PACKAGE_DIR
from .. import build as _build
from .. import bw as _bw
from .. import dq as _dq
from .. import rules as _rules
from . import (
    DEFAULT_LICENCE,
    FORMATS,
    NOT_REDISTRIBUTABLE,
    PCF_ID_PREFIX,
    SOURCE_LABEL,
    ImportFailed,
)
from . import readers as _readers

IMPORT_CODE_VERSION = "1"
DQ_PROFILE = "licensed_unit_process"
# Used when rules/dq_rules.yaml has no such profile (yet): a unit process from a licensed,
# reviewed database (ecoinvent, a SimaPro library, an openLCA database), as USLCI's 2/2.
DQ_PROFILE_DEFAULT = {
    "TeR": 2,
    "P": 2,
    "note": "user-imported unit process from a licensed LCI database (importers/release.py)",
}

Progress = Callable[[str], None]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def input_files(path: Path) -> tuple[str, list[dict[str, str]]]:
    """(sha256 of the input, [{path, sha256}]). A folder's sha256 is taken over its sorted
    relative paths and file digests."""
    if path.is_file():
        digest = _sha256(path)
        return digest, [{"path": path.name, "sha256": digest}]
    files = [
        {"path": p.relative_to(path).as_posix(), "sha256": _sha256(p)}
        for p in sorted(path.rglob("*"))
        if p.is_file()
    ]
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f['path']}\0{f['sha256']}\n".encode())
    return h.hexdigest(), files


def code_digest() -> str:
    h = hashlib.sha256(f"import-code-version:{IMPORT_CODE_VERSION}\n".encode())
    for p in sorted((PACKAGE_DIR / "importers").glob("*.py")):
        h.update(f"{p.name}\0{_sha256(p)}\n".encode())
    return h.hexdigest()


def dq_config() -> dict[str, Any]:
    cfg = copy.deepcopy(_rules.load("dq_rules"))
    cfg["profiles"].setdefault(DQ_PROFILE, dict(DQ_PROFILE_DEFAULT))
    return cfg


def _write_json(path: Path, obj: Any) -> None:
    _build._write_json(path, obj)


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _resolve_base(data_dir: Path, base: str | None) -> tuple[str, Path, dict[str, Any]]:
    rid = base
    if rid is None:
        marker = data_dir / "current"
        rid = marker.read_text(encoding="utf-8").strip() if marker.is_file() else ""
        if not rid:
            raise ImportFailed(
                f"no current release in {data_dir}: run `pcf data build` or pass --base"
            )
    rdir = data_dir / "releases" / rid
    if not (rdir / "manifest.json").is_file():
        raise ImportFailed(f"base release {rid} not found in {data_dir / 'releases'}")
    return rid, rdir, _read_json(rdir / "manifest.json")


def _datasets(
    result: _readers.ReadResult,
    *,
    fmt: str,
    name: str,
    db_name: str,
    licence: str,
    src: str,
    input_sha: str,
) -> list[dict[str, Any]]:
    cfg = dq_config()
    unlinked_by_ds: dict[str, list[dict[str, Any]]] = {}
    for u in result.unlinked:
        unlinked_by_ds.setdefault(u["dataset"], []).append(u)
    out = []
    for a in result.activities:
        mine = unlinked_by_ds.get(a["code"], [])
        tech = sum(1 for e in a["exchanges"] if e["type"] == "technosphere")
        cut = sum(1 for u in mine if u["type"] != "biosphere")
        share = cut / (tech + cut) if tech + cut else 0.0
        q = _dq.score(
            DQ_PROFILE,
            location=a.get("location"),
            reference_year=a.get("reference_year"),
            cut_off_share=share,
            config=cfg,
        )
        unit = _readers.short_unit(a.get("unit"))
        out.append(
            {
                "database": db_name,
                "code": a["code"],
                "pcf_id": f"{PCF_ID_PREFIX}:{name}:{a['code']}",
                "name": a["name"],
                "name_zh": None,
                "reference product": a.get("reference product"),
                "unit": unit,
                "bw_unit": a.get("unit") or unit,
                "location": a.get("location"),
                "geography": a.get("location"),
                "reference_year": a.get("reference_year"),
                "source": f"{SOURCE_LABEL} ({fmt}): {src}",
                "citation": f"{src} (sha256 {input_sha[:16]}…), dataset '{a['name']}' "
                f"({a.get('source_id') or a['code']}), imported by the user",
                "licence": f"{licence} ({NOT_REDISTRIBUTABLE})",
                "category": a.get("category"),
                "variant": "original",
                "kind": "unit_process",
                "dq": q["dq"],
                "uncertainty": q["uncertainty"],
                "completeness": {
                    "basis": "technosphere inputs of the imported dataset linked within the "
                    "import; unlinked ones are cut off",
                    "technosphere_inputs": tech + cut,
                    "cut_off_inputs": cut,
                    "cut_off_share": round(share, 4),
                    "elementary_linked": sum(1 for e in a["exchanges"] if e["type"] == "biosphere"),
                    "elementary_unlinked": sum(1 for u in mine if u["type"] == "biosphere"),
                    "unlinked_exchanges": sorted({str(u["exchange"]) for u in mine}),
                },
                "proxy": q["proxy"],
                "second_hand": False,
                "flags": ["user_import", "not_redistributable"],
                "allocation": None,
                "exchanges": a["exchanges"],
            }
        )
    return out


def _write_database(db_name: str, datasets: list[dict[str, Any]], fmt: str) -> int:
    import bw2data as bd

    data = {
        (db_name, d["code"]): {
            "name": d["name"],
            "unit": d["bw_unit"],
            "location": d["location"] or "GLO",
            "reference product": d.get("reference product"),
            "type": "process",
            "pcf_id": d["pcf_id"],
            "exchanges": d["exchanges"],
        }
        for d in datasets
    }
    db = bd.Database(db_name)
    db.register(format=f"PCF Service user import ({fmt})")
    db.write(data)
    return len(data)


def _export_engine(release_dir: Path, progress: Progress) -> dict[str, Any]:
    try:
        from app.background.engine_export import export_engine_arrays
    except ImportError as exc:  # same behaviour as lca_data.build
        progress("  WARNING: engine arrays NOT exported (app.background.engine_export missing)")
        return {"status": "skipped", "reason": f"app.background.engine_export: {exc}"}
    progress("  exporting engine arrays (app.background.engine_export)")
    t = time.time()
    try:
        export_engine_arrays(release_dir)
    except Exception as exc:
        raise ImportFailed(
            f"engine export failed: {_readers._describe(exc)} (the build fails the same way)"
        ) from exc
    return {"status": "done", "seconds": round(time.time() - t, 2)}


def _gaps(base_gaps: Any, datasets: list[dict[str, Any]]) -> dict[str, Any]:
    """Base gaps; a 'missing' gap whose name pattern matches an imported dataset lists it under
    `imported_datasets` (the base build would refuse such a name; an import may fill a gap)."""
    gaps = copy.deepcopy(base_gaps)
    entries = gaps.get("gaps", []) if isinstance(gaps, dict) else gaps
    rx = {g["key"]: re.compile(g["name_regex"]) for g in _rules.gaps() if g.get("name_regex")}
    for entry in entries:
        r = rx.get(entry.get("key"))
        hits = sorted(d["pcf_id"] for d in datasets if r and r.search(d["name"]))
        if hits:
            entry["imported_datasets"] = sorted(set(entry.get("imported_datasets", []) + hits))
    return gaps if isinstance(gaps, dict) else {"gaps": entries}


def import_release(
    data_dir: Path,
    fmt: str,
    path: Path,
    *,
    name: str | None = None,
    licence: str | None = None,
    base: str | None = None,
    make_current: bool = False,
    force: bool = False,
    progress: Progress = print,
) -> dict[str, Any]:
    """Import `path` (format `fmt`) on top of release `base` (default: current) into a new
    release; return its manifest. Raises ImportFailed with a one-line message on bad input."""
    t0 = time.time()
    if fmt not in FORMATS:
        raise ImportFailed(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    data_dir = Path(data_dir).resolve()
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise ImportFailed(f"{path} does not exist")
    base_id, base_dir, base_manifest = _resolve_base(data_dir, base)
    name = slug(name or path.stem)
    if not name:
        raise ImportFailed("--name must contain letters or digits")
    db_name = f"import_{name}"
    if db_name in base_manifest.get("brightway", {}).get("databases", {}):
        raise ImportFailed(
            f"base release {base_id} already has database {db_name}: choose another --name"
        )
    licence_text = " ".join((licence or DEFAULT_LICENCE).split())
    input_sha, files = input_files(path)
    libs = _build.library_versions()
    key = {
        "base_release": base_id,
        "base_content_hash": base_manifest.get("content_hash"),
        "format": fmt,
        "name": name,
        "licence": licence_text,
        "input_sha256": input_sha,
        "code": code_digest(),
        "libraries": libs,
    }
    chash = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    release_id = "bg-imp-" + chash[:12]
    releases = data_dir / "releases"
    final = releases / release_id
    if (final / "manifest.json").is_file() and not force:
        progress(f"release {release_id} already built from these inputs: nothing to do")
        if make_current:
            _build._write_current(data_dir, release_id)
        return dict(_read_json(final / "manifest.json"))

    progress(f"importing {fmt} {path} on top of {base_id} into release {release_id}")
    tmp = data_dir / f".importing-{release_id}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        progress(f"[1/5] copying base release {base_id}")
        shutil.copytree(base_dir, tmp, ignore=shutil.ignore_patterns("engine"))
        _bw.use_brightway_dir(tmp / "brightway")
        import bw2data as bd

        if db_name in bd.databases:
            raise ImportFailed(f"base release {base_id} already has database {db_name}")

        progress(f"[2/5] reading {fmt} input")
        with tempfile.TemporaryDirectory(dir=data_dir, prefix=".import-work-") as work:
            if fmt == "ecospold2":
                result = _readers.read_ecospold2(path, db_name)
            elif fmt == "simapro":
                result = _readers.read_simapro(path, db_name)
            else:
                result = _readers.read_jsonld(path, db_name, Path(work))
        if not result.activities:
            raise ImportFailed(f"{path}: no dataset found")
        progress(
            f"  {len(result.activities)} datasets read ({result.reader}); "
            f"{len(result.unlinked)} exchanges could not be linked (cut off, listed below)"
        )

        progress(f"[3/5] writing Brightway database {db_name}")
        datasets = _datasets(
            result,
            fmt=fmt,
            name=name,
            db_name=db_name,
            licence=licence_text,
            src=path.name,
            input_sha=input_sha,
        )
        n_written = _write_database(db_name, datasets, fmt)

        progress("[4/5] engine arrays")
        engine_export = _export_engine(tmp, progress)

        progress("[5/5] catalogue, report, manifest")
        catalogue = _read_json(tmp / "catalogue.json")
        catalogue += [_catalogue_record(d) for d in datasets]
        catalogue.sort(key=lambda c: c["pcf_id"])
        ids = [c["pcf_id"] for c in catalogue]
        if len(ids) != len(set(ids)):
            raise ImportFailed("duplicate pcf_id in the catalogue (same --name imported twice?)")
        gaps = _gaps(_read_json(tmp / "gaps.json"), datasets)
        record = {
            "format": fmt,
            "path": path.name,
            "sha256": input_sha,
            "files": files,
            "name": name,
            "database": db_name,
            "datasets": n_written,
            "pcf_id_prefix": f"{PCF_ID_PREFIX}:{name}:",
            "licence": licence_text,
            "redistributable": False,
            "licence_note": NOT_REDISTRIBUTABLE,
            "reader": result.reader,
            "unlinked_exchanges": len(result.unlinked),
            "imported_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "base_release": base_id,
        }
        report = _read_json(tmp / "build-report.json")
        report["release_id"] = release_id
        report["engine_export"] = engine_export
        report.setdefault("imports", []).append(
            dict(record, unlinked=result.unlinked, notes=result.notes)
        )
        manifest = _manifest(
            base_manifest, catalogue, gaps, record, engine_export, libs, chash, release_id
        )
        manifest["build_seconds"] = round(time.time() - t0, 1)
        _write_json(tmp / "catalogue.json", catalogue)
        _write_json(tmp / "build-report.json", report)
        _write_json(tmp / "gaps.json", gaps)
        _write_json(tmp / "manifest.json", manifest)  # last: marks the release complete

        old = None
        if final.exists():
            old = data_dir / f".replaced-{release_id}-{os.getpid()}"
            os.rename(final, old)
        os.rename(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _bw.use_brightway_dir(final / "brightway")
    for u in result.unlinked:
        progress(
            f"  unlinked: {u['dataset_name']} <- {u['exchange']} ({u['type'] or '?'}): "
            f"{u['reason']}"
        )
    for note in result.notes:
        progress(f"  note: {note}")
    if make_current:
        _build._write_current(data_dir, release_id)
    progress(
        f"release {release_id} built in {time.time() - t0:.1f} s: {n_written} imported datasets "
        f"in {db_name} on top of {base_id}"
        + ("; now current" if make_current else "; not current (use --make-current)")
    )
    return manifest


def _catalogue_record(d: dict[str, Any]) -> dict[str, Any]:
    return _build.catalogue_record(d)


def _manifest(
    base: dict[str, Any],
    catalogue: list[dict[str, Any]],
    gaps: dict[str, Any],
    record: dict[str, Any],
    engine_export: dict[str, Any],
    libs: dict[str, str],
    chash: str,
    release_id: str,
) -> dict[str, Any]:
    m = copy.deepcopy(base)
    db_name = record["database"]
    m.update(
        {
            "id": release_id,
            "release_id": release_id,
            "content_hash": chash,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "libraries": libs,
            "base_release": {"id": base["id"], "content_hash": base.get("content_hash")},
            "datasets": len(catalogue),
        }
    )
    m["brightway"]["databases"][db_name] = record["datasets"]
    m["datasets_by_database"] = {**m.get("datasets_by_database", {}), db_name: record["datasets"]}
    by_source: dict[str, int] = {}
    licences: dict[str, int] = {}
    for c in catalogue:
        prefix = c["pcf_id"].split(":", 1)[0]
        by_source[prefix] = by_source.get(prefix, 0) + 1
        licences[c["licence"]] = licences.get(c["licence"], 0) + 1
    m["datasets_by_source"] = dict(sorted(by_source.items()))
    m["datasets_by_variant"] = {
        v: sum(1 for c in catalogue if c["variant"] == v)
        for v in sorted({c["variant"] for c in catalogue})
    }
    m["licences"] = [
        {"licence": k, "datasets": v} for k, v in sorted(licences.items(), key=lambda kv: -kv[1])
    ]
    m["attribution"] = [
        *m.get("attribution", []),
        f"{db_name}: imported by the user from {record['path']} ({record['format']}) under their "
        f"own licence: {record['licence']} ({NOT_REDISTRIBUTABLE})",
    ]
    m["imports"] = [*m.get("imports", []), record]
    summary = dict(m.get("build_report_summary", {}))
    summary["engine_export"] = engine_export["status"]
    summary["imports"] = [
        {k: i[k] for k in ("database", "format", "datasets", "unlinked_exchanges")}
        for i in m["imports"]
    ]
    m["build_report_summary"] = summary
    m["gaps"] = gaps.get("gaps", [])
    return m
