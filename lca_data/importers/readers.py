"""Readers for the three import formats. Each returns a `ReadResult`: Brightway-ready activities
(exchanges linked to biosphere3 or to the import's own database) plus every exchange that could not
be linked, with the reason. Nothing is dropped silently.

* EcoSpold2 (ecoinvent): bw2io `SingleOutputEcospold2Importer`, biosphere linked by flow UUID.
* SimaPro CSV: bw2io `SimaProCSVImporter`, biosphere linked by name + compartment + unit.
* openLCA JSON-LD (olca-schema 2, zip): our own reader (`read_jsonld`). bw2io 0.9.17's
  `JSONLDImporter` does not fit (tried on tests/lca_data/fixtures/import/jsonld): it does not read
  zips (NotImplementedError), links every elementary flow to a new "<db> biosphere" database
  instead of biosphere3 (so nothing would be characterized), models products as separate nodes
  (the catalogue and the engine need one node per process that is also its product), and turns an
  input without a provider into a product node with no process - a silent zero-burden cut-off.

All functions need bw2data pointed at the project being built (the new release's copy).
"""

from __future__ import annotations

import json
import re
import zipfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .. import BIOSPHERE_DB
from . import ImportFailed

UNCERTAINTY_KEYS = ("uncertainty type", "loc", "scale", "shape", "minimum", "maximum", "negative")
# bw2io's normalized unit names -> the short symbols the catalogue uses elsewhere.
SHORT_UNITS = {
    "kilogram": "kg",
    "gram": "g",
    "ton": "t",
    "kilowatt hour": "kWh",
    "megajoule": "MJ",
    "cubic meter": "m3",
    "square meter": "m2",
    "litre": "L",
    "liter": "L",
    "ton kilometer": "tkm",
    "person kilometer": "p*km",
    "unit": "Item(s)",
    "hectare": "ha",
    "hour": "h",
    "meter": "m",
    "kilometer": "km",
}
_LOCATION_IN_NAME = re.compile(r"\{([^{}|]+)\}")
_YEAR = re.compile(r"(?<!\d)(1[89]\d\d|2\d\d\d)(?!\d)")


@dataclass
class ReadResult:
    """What a reader produced. `activities`: dicts with code, name, unit, location, reference_year,
    category, reference product, comment, exchanges (each with `input` = (database, code))."""

    activities: list[dict[str, Any]]
    unlinked: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    reader: str = ""


def short_unit(unit: str | None) -> str:
    if not unit:
        return "unit"
    return SHORT_UNITS.get(unit, unit)


def year_from(text: object) -> int | None:
    m = _YEAR.search(str(text or ""))
    return int(m.group(1)) if m else None


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


# --------------------------------------------------------------------------------------------
# bw2io-based readers
# --------------------------------------------------------------------------------------------


def _exchange_key(e: dict[str, Any]) -> tuple[str, str]:
    return (str(e.get("name")), "technosphere" if e.get("type") == "substitution" else "")


def _from_bw2io(
    data: list[dict[str, Any]],
    db_name: str,
    before: dict[str, Counter[tuple[str, str]]],
    dataset_key: str,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """bw2io's linked data -> (activities, unlinked). `before`: exchanges per dataset before the
    strategies ran, to report those bw2io deleted (e.g. inputs from activities not imported)."""
    acts, unlinked = [], []
    for ds in data:
        if ds.get("type", "process") != "process":
            continue
        code = ds["code"]
        exchanges = []
        after: Counter[tuple[str, str]] = Counter()
        for e in ds.get("exchanges", []):
            after[_exchange_key(e)] += 1
            inp = e.get("input")
            if not inp or inp[0] not in (db_name, BIOSPHERE_DB):
                unlinked.append(
                    {
                        "dataset": code,
                        "dataset_name": ds.get("name"),
                        "exchange": e.get("name"),
                        "type": e.get("type"),
                        "amount": e.get("amount"),
                        "unit": e.get("unit"),
                        "categories": list(e.get("categories") or ()),
                        "reason": "no biosphere3 flow matches"
                        if e.get("type") == "biosphere"
                        else "no provider in the import",
                    }
                )
                continue
            ex = {"type": e["type"], "input": tuple(inp), "amount": float(e["amount"])}
            ex.update({k: e[k] for k in UNCERTAINTY_KEYS if e.get(k) is not None})
            exchanges.append(ex)
        for (name, _), n in (before.get(str(ds.get(dataset_key)), Counter()) - after).items():
            for _ in range(n):
                unlinked.append(
                    {
                        "dataset": code,
                        "dataset_name": ds.get("name"),
                        "exchange": name,
                        "type": None,
                        "amount": None,
                        "unit": None,
                        "categories": [],
                        "reason": "deleted by a bw2io strategy (e.g. its provider activity is not "
                        "in the import, or a zero-amount co-product); see the bw2io log",
                    }
                )
        production = [x for x in exchanges if x["type"] == "production"]
        if len(production) != 1 or production[0]["input"] != (db_name, code):
            raise ImportFailed(
                f"dataset '{ds.get('name')}' has {len(production)} production exchanges after "
                "linking (exactly one to itself is needed; multi-output datasets are not supported)"
            )
        acts.append(
            {
                "code": code,
                "name": ds.get("name"),
                "unit": ds.get("unit"),
                "location": ds.get("location"),
                "reference product": ds.get("reference product"),
                "exchanges": exchanges,
                "_raw": ds,
            }
        )
    return acts, unlinked


def _before(data: Iterable[dict[str, Any]], key: str) -> dict[str, Counter[tuple[str, str]]]:
    return {
        str(ds.get(key)): Counter(_exchange_key(e) for e in ds.get("exchanges", [])) for ds in data
    }


def ensure_migrations(names: Iterable[str]) -> None:
    """Write only the bw2io migrations a strategy needs (create_core_migrations() takes ~17 s)."""
    from bw2io.data import get_ecoinvent_pre35_migration_data, get_simapro_water_migration_data
    from bw2io.migrations import Migration, migrations
    from bw2io.units import get_default_units_migration_data

    sources = {
        "default-units": (get_default_units_migration_data, "Convert to default units"),
        "simapro-water": (
            get_simapro_water_migration_data,
            "Change SimaPro water flows to more standard names",
        ),
        "fix-ecoinvent-flows-pre-35": (
            get_ecoinvent_pre35_migration_data,
            "Update new biosphere UUIDs in Consequential 3.4",
        ),
    }
    for name in names:
        if name not in migrations:
            fn, desc = sources[name]
            Migration(name).write(fn(), desc)


def ecospold2_dir(path: Path) -> Path:
    """The folder holding the .spold files: PATH itself or PATH/datasets (ecoinvent layout)."""
    if not path.is_dir():
        raise ImportFailed(f"EcoSpold2 input must be a folder of .spold files: {path}")
    for cand in (path, path / "datasets"):
        if cand.is_dir() and any(p.suffix.lower() == ".spold" for p in cand.iterdir()):
            return cand
    raise ImportFailed(f"no .spold files in {path} (or {path / 'datasets'})")


def read_ecospold2(path: Path, db_name: str) -> ReadResult:
    from bw2io.importers import SingleOutputEcospold2Importer

    folder = ecospold2_dir(path)
    n_files = sum(1 for p in folder.iterdir() if p.suffix.lower() == ".spold")
    ensure_migrations(["fix-ecoinvent-flows-pre-35"])
    try:
        imp = SingleOutputEcospold2Importer(
            str(folder), db_name, use_mp=n_files > 200, add_product_information=False
        )
        before = _before(imp.data, "filename")
        imp.apply_strategies(verbose=False)
    except ImportFailed:
        raise
    except Exception as exc:
        raise ImportFailed(f"EcoSpold2 folder {path} could not be read: {_describe(exc)}") from exc
    acts, unlinked = _from_bw2io(imp.data, db_name, before, "filename")
    for a in acts:
        raw = a.pop("_raw")
        a["reference_year"] = year_from(raw.get("start_date"))
        a["category"] = next(
            (v for s, v in raw.get("classifications", []) if s.startswith("ISIC")), None
        )
        a["comment"] = raw.get("comment") or None
        a["source_id"] = raw.get("filename")
    return ReadResult(acts, unlinked, reader="bw2io SingleOutputEcospold2Importer")


def read_simapro(path: Path, db_name: str) -> ReadResult:
    from bw2io.importers import SimaProCSVImporter

    if not path.is_file():
        raise ImportFailed(f"SimaPro input must be a CSV file: {path}")
    first = (path.read_bytes()[:200].decode("latin-1", errors="replace").splitlines() or [""])[0]
    if "SimaPro" not in first and "CSV separator" not in first:
        raise ImportFailed(f"{path} is not a SimaPro CSV export (its first line must name SimaPro)")
    ensure_migrations(["default-units", "simapro-water"])
    try:
        imp = SimaProCSVImporter(str(path), db_name)
        before = _before(imp.data, "code")
        imp.apply_strategies(verbose=False)
    except Exception as exc:
        raise ImportFailed(f"SimaPro CSV {path} could not be read: {_describe(exc)}") from exc
    if not imp.data:
        raise ImportFailed(f"SimaPro CSV {path} holds no process")
    # set_code_by_activity_hash replaced the codes: map the SimaPro identifiers for `before`.
    before_by_code: dict[str, Counter[tuple[str, str]]] = {}
    for ds in imp.data:
        ident = (ds.get("simapro metadata") or {}).get("Process identifier")
        if ident in before:
            before_by_code[ds["code"]] = before[ident]
    acts, unlinked = _from_bw2io(imp.data, db_name, before_by_code, "code")
    for a in acts:
        raw = a.pop("_raw")
        meta = raw.get("simapro metadata") or {}
        if not a.get("location"):
            m = _LOCATION_IN_NAME.search(a["name"] or "")
            a["location"] = m.group(1).strip() if m else None
        a["reference_year"] = year_from(meta.get("Time period"))
        prod = next(e for e in raw["exchanges"] if e.get("type") == "production")
        a["category"] = "/".join(prod.get("categories") or ()) or None
        comment = meta.get("Comment")
        a["comment"] = " ".join(comment) if isinstance(comment, list) else comment
        a["source_id"] = meta.get("Process identifier")
    return ReadResult(acts, unlinked, reader="bw2io SimaProCSVImporter")


def _describe(exc: BaseException) -> str:
    msg = _one_line(exc) or "(no message)"
    return f"{type(exc).__name__}: {msg}"[:400]


# --------------------------------------------------------------------------------------------
# openLCA JSON-LD (olca-schema 2) reader
# --------------------------------------------------------------------------------------------

TOP_COMPARTMENTS = {
    "emission to air": "air",
    "emissions to air": "air",
    "air": "air",
    "emission to water": "water",
    "emissions to water": "water",
    "water": "water",
    "emission to soil": "soil",
    "emissions to soil": "soil",
    "soil": "soil",
    "resource": "natural resource",
    "resources": "natural resource",
    "natural resource": "natural resource",
}
SUB_COMPARTMENTS = {
    "unspecified": None,
    "high population density": "urban air close to ground",
    "low population density": "non-urban air or from high stacks",
}


def olca_compartment(category: str | None) -> tuple[str, ...] | None:
    """openLCA category path -> biosphere3 categories, e.g. "Elementary flows/Emission to air/
    high population density" -> ("air", "urban air close to ground"). None: not a compartment."""
    parts = [p.strip() for p in (category or "").split("/") if p.strip()]
    if parts and parts[0].lower() == "elementary flows":
        parts = parts[1:]
    if not parts or parts[0].lower() not in TOP_COMPARTMENTS:
        return None
    cats = [TOP_COMPARTMENTS[parts[0].lower()]]
    for p in parts[1:2]:
        sub = SUB_COMPARTMENTS.get(p.lower(), p)
        if sub:
            cats.append(sub)
    return tuple(cats)


@dataclass
class BiosphereLookup:
    """biosphere3 flows by code and by (name, categories), with their (normalized) units."""

    by_code: dict[str, dict[str, Any]]
    by_name: dict[tuple[str, tuple[str, ...]], dict[str, Any]]

    @classmethod
    def load(cls) -> BiosphereLookup:
        import bw2data as bd

        by_code, by_name = {}, {}
        for a in bd.Database(BIOSPHERE_DB):
            rec = {
                "code": a["code"],
                "name": a["name"],
                "categories": tuple(a["categories"]),
                "unit": a.get("unit"),
            }
            by_code[rec["code"]] = rec
            by_name[(rec["name"].lower(), rec["categories"])] = rec
        return cls(by_code, by_name)

    def match(
        self, flow_id: str, name: str, cats: tuple[str, ...] | None
    ) -> tuple[dict[str, Any] | None, str]:
        rec = self.by_code.get(flow_id)
        if rec is not None:
            return rec, "uuid"
        if cats is None:
            return None, "category is not an elementary-flow compartment"
        key = " ".join(name.split()).lower()
        rec = self.by_name.get((key, cats))
        if rec is not None:
            return rec, "name+compartment"
        if len(cats) > 1:
            rec = self.by_name.get((key, cats[:1]))
            if rec is not None:
                return rec, "name+top-level compartment"
        return None, "no biosphere3 flow with this UUID or name/compartment"


def _safe_extract(zpath: Path, dest: Path) -> None:
    try:
        with zipfile.ZipFile(zpath) as z:
            for info in z.infolist():
                p = PurePosixPath(info.filename)
                if p.is_absolute() or ".." in p.parts:
                    raise ImportFailed(f"{zpath}: unsafe path in zip: {info.filename}")
            z.extractall(dest)
    except zipfile.BadZipFile as exc:
        raise ImportFailed(f"{zpath} is not a valid zip file ({exc})") from exc


def _load_folder(root: Path, name: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    folder = root / name
    if not folder.is_dir():
        return out
    for f in sorted(folder.glob("*.json")):
        try:
            d = json.loads(f.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ImportFailed(f"{name}/{f.name}: not valid JSON ({_describe(exc)})") from exc
        if not isinstance(d, dict) or "@id" not in d:
            raise ImportFailed(f"{name}/{f.name}: not a JSON-LD entity (no @id)")
        out[d["@id"]] = d
    return out


def _json_root(extracted: Path) -> Path:
    """The folder holding processes/ (zips are sometimes made of the parent folder)."""
    if (extracted / "processes").is_dir():
        return extracted
    subs = [p for p in extracted.iterdir() if p.is_dir() and (p / "processes").is_dir()]
    if len(subs) == 1:
        return subs[0]
    raise ImportFailed("the JSON-LD zip has no processes/ folder")


class _Olca:
    def __init__(self, root: Path):
        self.processes = _load_folder(root, "processes")
        self.flows = _load_folder(root, "flows")
        self.unit_groups = _load_folder(root, "unit_groups")
        self.locations = _load_folder(root, "locations")
        self.unit_factor: dict[str, float] = {}
        self.ref_unit: dict[str, str] = {}  # unit group id -> reference unit name
        for gid, g in self.unit_groups.items():
            for u in g.get("units", []):
                self.unit_factor[u["@id"]] = float(u.get("conversionFactor", 1.0))
                if u.get("isRefUnit") or u.get("referenceUnit"):
                    self.ref_unit[gid] = u["name"]
        props = _load_folder(root, "flow_properties")
        self.prop_group = {
            pid: (p.get("unitGroup") or {}).get("@id", "") for pid, p in props.items()
        }
        if not self.processes:
            raise ImportFailed("the JSON-LD zip has no processes")
        for pid, p in self.processes.items():
            if isinstance(p.get("category"), dict) or any(
                "input" in e and "isInput" not in e for e in p.get("exchanges", [])
            ):
                raise ImportFailed(
                    f"process {pid} is in the olca-schema 1.x layout; export with openLCA 2 "
                    "(olca-schema 2) or convert it"
                )

    def flow(self, ref: dict[str, Any]) -> dict[str, Any]:
        fid = ref.get("@id", "")
        return self.flows.get(fid) or ref

    def ref_unit_of(self, flow: dict[str, Any]) -> str | None:
        for fp in flow.get("flowProperties", []):
            if fp.get("isRefFlowProperty") or fp.get("referenceFlowProperty"):
                gid = self.prop_group.get(fp["flowProperty"]["@id"])
                return self.ref_unit.get(gid or "") or fp["flowProperty"].get("refUnit")
        return None

    def to_reference(self, ex: dict[str, Any]) -> float:
        """Exchange amount in the reference unit of its flow's reference flow property."""
        amount = float(ex["amount"])
        flow = self.flows.get(ex["flow"]["@id"])
        unit_id = (ex.get("unit") or {}).get("@id")
        if flow is None or unit_id not in self.unit_factor:
            raise ImportFailed(
                f"exchange of '{ex['flow'].get('name')}': unknown flow or unit "
                "(flows/ or unit_groups/ missing from the zip?)"
            )
        factors = {
            fp["flowProperty"]["@id"]: float(fp.get("conversionFactor", 1.0))
            for fp in flow.get("flowProperties", [])
        }
        prop_id = (ex.get("flowProperty") or {}).get("@id")
        if prop_id is None:
            prop_id = next(
                (
                    fp["flowProperty"]["@id"]
                    for fp in flow.get("flowProperties", [])
                    if fp.get("isRefFlowProperty")
                ),
                None,
            )
        cf = factors.get(prop_id or "")
        if not cf:
            raise ImportFailed(
                f"exchange of '{flow.get('name')}': flow property not declared on the flow"
            )
        return amount * self.unit_factor[unit_id] / cf


def read_jsonld(path: Path, db_name: str, workdir: Path) -> ReadResult:
    from bw2io.units import normalize_units

    if path.is_dir():  # an unzipped export
        root = _json_root(path)
    elif zipfile.is_zipfile(path):
        extracted = workdir / "jsonld"
        extracted.mkdir(parents=True, exist_ok=True)
        _safe_extract(path, extracted)
        root = _json_root(extracted)
    else:
        raise ImportFailed(f"openLCA JSON-LD input must be a zip file (or its folder): {path}")
    db = _Olca(root)
    bio = BiosphereLookup.load()

    # provider of each product flow: the process whose quantitative reference it is
    ref_ex: dict[str, dict[str, Any]] = {}
    makers: dict[str, list[str]] = {}
    for pid, p in sorted(db.processes.items()):
        refs = [e for e in p.get("exchanges", []) if e.get("isQuantitativeReference")]
        if (
            len(refs) != 1
            or refs[0].get("isInput")
            or refs[0]["flow"].get("flowType")
            not in (
                "PRODUCT_FLOW",
                None,
            )
        ):
            raise ImportFailed(
                f"process '{p.get('name')}' ({pid}): needs exactly one quantitative reference that "
                "is a product output (waste-treatment processes are not supported)"
            )
        ref_ex[pid] = refs[0]
        makers.setdefault(refs[0]["flow"]["@id"], []).append(pid)

    acts, unlinked, notes = [], [], []
    for pid, p in sorted(db.processes.items()):
        ref = ref_ex[pid]
        ref_flow = db.flow(ref["flow"])
        factor, how = 1.0, "single output"
        co_products = [
            e
            for e in p.get("exchanges", [])
            if not e.get("isInput")
            and not e.get("isQuantitativeReference")
            and e["flow"].get("flowType") == "PRODUCT_FLOW"
            and not e.get("isAvoidedProduct")
        ]
        if co_products:
            method = p.get("defaultAllocationMethod")
            f = [
                a
                for a in p.get("allocationFactors", [])
                if a.get("allocationType") == method
                and (a.get("product") or {}).get("@id") == ref["flow"]["@id"]
                and not a.get("exchange")
            ]
            if f:
                factor, how = float(f[0]["value"]), f"{method} factor {float(f[0]['value']):g}"
            else:
                how = "100 % to the reference product (no usable allocation factor)"
            notes.append(
                f"{p.get('name')}: {len(co_products)} co-product(s) get no dataset; inputs and "
                f"emissions allocated {how}"
            )
        unit = normalize_units(db.ref_unit_of(ref_flow) or ref["unit"].get("name", "unit"))
        exchanges: list[dict[str, Any]] = [
            {"type": "production", "input": (db_name, pid), "amount": db.to_reference(ref)}
        ]
        for e in p.get("exchanges", []):
            if e is ref or e in co_products:
                continue
            flow = db.flow(e["flow"])
            ftype = flow.get("flowType") or e["flow"].get("flowType")
            name = " ".join(str(flow.get("name", "")).split())
            amount = db.to_reference(e) * factor
            miss = {
                "dataset": pid,
                "dataset_name": p.get("name"),
                "exchange": name,
                "type": None,
                "amount": amount,
                "unit": db.ref_unit_of(flow),
                "categories": [flow.get("category")] if flow.get("category") else [],
            }
            if ftype == "ELEMENTARY_FLOW":
                cats = olca_compartment(flow.get("category"))
                rec, why = bio.match(flow.get("@id", ""), name, cats)
                bw_unit = normalize_units(db.ref_unit_of(flow) or "")
                if rec is not None and rec["unit"] and bw_unit != rec["unit"]:
                    why = f"unit {bw_unit} differs from biosphere3's {rec['unit']}"
                    rec = None
                if rec is None:
                    unlinked.append(dict(miss, type="biosphere", reason=why))
                    continue
                exchanges.append(
                    {"type": "biosphere", "input": (BIOSPHERE_DB, rec["code"]), "amount": amount}
                )
            elif e.get("isInput") and ftype == "PRODUCT_FLOW":
                prov = (e.get("defaultProvider") or {}).get("@id")
                cands = makers.get(e["flow"]["@id"], [])
                if prov not in cands:
                    prov = cands[0] if len(cands) == 1 else None
                if prov is None:
                    reason = (
                        "no provider in the import"
                        if not cands
                        else f"{len(cands)} possible providers and no default provider"
                    )
                    unlinked.append(dict(miss, type="technosphere", reason=reason))
                    continue
                exchanges.append(
                    {"type": "technosphere", "input": (db_name, prov), "amount": amount}
                )
            else:
                kind = "avoided product" if e.get("isAvoidedProduct") else (ftype or "?").lower()
                unlinked.append(
                    dict(miss, type="technosphere", reason=f"{kind} not modelled by this reader")
                )
        loc = p.get("location") or {}
        loc_name = loc.get("name")
        if loc.get("@id") in db.locations:
            loc_name = db.locations[loc["@id"]].get("code") or loc_name
        doc = p.get("processDocumentation") or {}
        acts.append(
            {
                "code": pid,
                "name": " ".join(str(p.get("name", pid)).split()),
                "unit": unit,
                "location": loc.get("code") or loc_name,
                "reference product": " ".join(str(ref_flow.get("name", "")).split()),
                "reference_year": year_from(doc.get("validFrom") or doc.get("validUntil")),
                "category": p.get("category") if isinstance(p.get("category"), str) else None,
                "comment": p.get("description"),
                "source_id": pid,
                "exchanges": exchanges,
            }
        )
    return ReadResult(acts, unlinked, notes, reader="PCF Service olca-schema 2 reader")
