"""Brightway side of the build: point bw2data at a release, biosphere3, LCIA methods, databases.

bw2data is imported lazily: `use_brightway_dir()` sets BRIGHTWAY2_DIR before the first import (fresh
process) or calls `projects.change_base_directories()` (bw2data already imported).
"""

from __future__ import annotations

import json
import os
import sys
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from . import BIOSPHERE_DB, BW_PROJECT

IPCC_PREFIX = "IPCC 2021"
BIOGENIC_EMISSION = ("PCF Service", "biogenic CO2", "emission")
BIOGENIC_REMOVAL = ("PCF Service", "biogenic CO2", "removal")
_EXCHANGE_KEYS_NOT_WRITTEN = ("amount_ref", "ref_unit_group")


def use_brightway_dir(bw_dir: Path, project: str = BW_PROJECT):
    """Point bw2data at `bw_dir` (a release's `brightway/` folder) and select project `project`."""
    bw_dir = Path(bw_dir).resolve()
    bw_dir.mkdir(parents=True, exist_ok=True)
    (bw_dir / "logs").mkdir(exist_ok=True)
    if "bw2data" not in sys.modules:
        os.environ["BRIGHTWAY2_DIR"] = str(bw_dir)
        import bw2data

        bw2data.projects.set_current(project)
    else:
        import bw2data

        os.environ["BRIGHTWAY2_DIR"] = str(bw_dir)
        bw2data.projects.change_base_directories(
            bw_dir, base_logs_dir=bw_dir / "logs", project_name=project
        )
    return bw2data


def use_release(release_dir: Path, project: str = BW_PROJECT):
    """Point bw2data at the Brightway project of a built release (for the engine, tests, notebooks)."""
    return use_brightway_dir(Path(release_dir) / "brightway", project)


def lcia_data() -> list[dict[str, Any]]:
    import bw2io

    fp = Path(bw2io.__file__).parent / "data" / "lcia" / "lcia_39_ecoinvent.zip"
    with zipfile.ZipFile(fp) as z:
        return json.load(z.open("data.json"))


def ipcc_methods(data: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    data = data if data is not None else lcia_data()
    out = []
    for m in data:
        if m["name"][0] == IPCC_PREFIX:
            m = dict(m)
            m["name"] = tuple(m["name"])
            m["exchanges"] = [
                dict(e, input=tuple(e["input"])) for e in m["exchanges"]
            ]  # lists -> tuples (bw2io#277)
            out.append(m)
    return out


def biosphere_records() -> list[dict[str, Any]]:
    """biosphere3 flows as bw2io would write them (without writing): name, categories, code, unit."""
    from bw2io.importers import Ecospold2BiosphereImporter

    imp = Ecospold2BiosphereImporter()
    imp.apply_strategies(verbose=False)
    return [
        {
            "name": d["name"],
            "categories": tuple(d["categories"]),
            "code": d["code"],
            "unit": d.get("unit"),
        }
        for d in imp.data
    ]


def biogenic_cfs(
    records: Iterable[dict[str, Any]],
) -> dict[tuple[str, ...], list[tuple[str, float]]]:
    """Our two methods. Emission: CF 1 on 'Carbon dioxide, non-fossil' to air (all sub-compartments).
    Removal: CF 1 on 'Carbon dioxide, in air' (natural resource/in air) - a resource input is a
    positive amount in Brightway, so the removal score is a positive mass of CO2."""
    emission, removal = [], []
    for r in records:
        cats = tuple(r["categories"])
        if r["name"] == "Carbon dioxide, non-fossil" and cats[0] == "air":
            emission.append((r["code"], 1.0))
        elif r["name"] == "Carbon dioxide, in air" and cats == ("natural resource", "in air"):
            removal.append((r["code"], 1.0))
    return {BIOGENIC_EMISSION: sorted(emission), BIOGENIC_REMOVAL: sorted(removal)}


def write_biosphere_and_methods(
    progress: Callable[[str], None], indicator_methods: Iterable[tuple[str, ...]]
) -> dict[str, Any]:
    """Write biosphere3 and the methods; return counts, the flow records, and the biosphere3 codes
    with a non-zero CF in one of `indicator_methods` (the "characterized" set used by the mapping)."""
    import bw2data as bd
    import bw2io

    bw2io.create_default_biosphere3()
    bio = bd.Database(BIOSPHERE_DB)
    records, id_by_code = [], {}
    for a in bio:
        records.append({"name": a["name"], "categories": tuple(a["categories"]), "code": a["code"]})
        id_by_code[a["code"]] = a.id
    progress(f"  biosphere3: {len(records)} elementary flows")
    indicator_methods = {tuple(m) for m in indicator_methods}
    written: list[Any] = []
    characterized: set[str] = set()
    all_methods = [
        (
            m["name"],
            m.get("unit"),
            m.get("description", ""),
            m.get("filename"),
            [(e["input"][1], e["amount"]) for e in m["exchanges"]],
        )
        for m in ipcc_methods()
    ]
    for name, cfs in biogenic_cfs(records).items():
        desc = (
            "PCF Service: biogenic CO2 emissions (non-fossil CO2 to air), CF 1"
            if name[-1] == "emission"
            else "PCF Service: biogenic CO2 removals (CO2 taken from air, natural resource/in air), CF 1: positive = removed"
        )
        all_methods.append((name, "kg CO2", desc, None, cfs))
    for name, unit, desc, filename, cfs in all_methods:
        meth = bd.Method(name)
        meta = {"unit": unit, "description": desc}
        if filename:
            meta["filename"] = filename
            meta["source"] = (
                "bw2io bundled lcia_39_ecoinvent.zip (ecoinvent 3.9 LCIA implementation)"
            )
        meth.register(**meta)
        meth.write([(id_by_code[code], cf) for code, cf in cfs])
        written.append(name)
        if name in indicator_methods:
            characterized.update(code for code, cf in cfs if cf)
    missing = indicator_methods - set(written)
    if missing:
        raise RuntimeError(f"indicator methods not available: {sorted(missing)}")
    progress(
        f"  methods: {len(written)} written ({sum(1 for n in written if n[0] == IPCC_PREFIX)} IPCC 2021 + 2 biogenic CO2)"
    )
    return {
        "biosphere_flows": len(records),
        "methods": [list(n) for n in written],
        "records": records,
        "characterized_codes": characterized,
    }


def write_database(name: str, datasets: list[dict[str, Any]]) -> int:
    import bw2data as bd

    data = {}
    for d in datasets:
        act = {k: v for k, v in d.items() if k not in ("exchanges", "database", "code")}
        act["type"] = "process"
        act["exchanges"] = [
            {k: v for k, v in ex.items() if k not in _EXCHANGE_KEYS_NOT_WRITTEN}
            for ex in d["exchanges"]
        ]
        data[(name, d["code"])] = act
    db = bd.Database(name)
    db.register(format="PCF Service lca_data build")
    db.write(data)
    return len(data)
