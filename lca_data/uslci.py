"""A small importer for the USLCI FY18 openLCA 1.5 JSON-LD export (bw2io's JSONLDImporter fails on it).

Produces plain dataset dicts (Brightway-ready exchanges + catalogue fields) and a report; no bw2data
import here, so it can be tested on a small fixture folder. Rules: rules/uslci.yaml (linking,
cut-offs, allocation, variants), rules/flow_mapping.yaml (elementary flows).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import dq as _dq
from . import rules as _rules
from .flowmap import FlowMapper, normalize_name

PRODUCT = "PRODUCT_FLOW"
WASTE = "WASTE_FLOW"
ELEMENTARY = "ELEMENTARY_FLOW"


def _load_dir(path: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if not path.is_dir():
        return out
    for f in sorted(path.glob("*.json")):
        with open(f, encoding="utf-8") as fh:
            d = json.load(fh)
        out[d["@id"]] = d
    return out


class JsonLd:
    """The olca 1.5 JSON-LD folder: processes, flows, flow properties, unit groups, categories."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.processes = _load_dir(self.root / "processes")
        self.flows = _load_dir(self.root / "flows")
        self.flow_properties = _load_dir(self.root / "flow_properties")
        self.unit_groups = _load_dir(self.root / "unit_groups")
        self.categories = _load_dir(self.root / "categories")
        self.unit_factor: dict[
            str, tuple[str, float]
        ] = {}  # unit id -> (group id, factor to group ref)
        self.unit_by_name: dict[tuple[str, str], float] = {}  # (group id, unit name) -> factor
        self.group_ref_unit: dict[str, str] = {}
        for gid, g in self.unit_groups.items():
            for u in g.get("units", []):
                self.unit_factor[u["@id"]] = (gid, float(u["conversionFactor"]))
                self.unit_by_name[(gid, u["name"])] = float(u["conversionFactor"])
                if u.get("referenceUnit"):
                    self.group_ref_unit[gid] = u["name"]
        self._cat_cache: dict[str, str] = {}

    def category_path(self, ref: dict[str, Any] | None) -> str:
        if not ref:
            return ""
        cid = ref["@id"]
        if cid in self._cat_cache:
            return self._cat_cache[cid]
        parts, cur, seen = [], cid, set()
        while cur and cur in self.categories and cur not in seen:
            seen.add(cur)
            c = self.categories[cur]
            parts.append(c["name"])
            cur = (c.get("category") or {}).get("@id")
        path = "/".join(reversed(parts)) if parts else ref.get("name", "")
        self._cat_cache[cid] = path
        return path

    def ref_property(self, flow_id: str) -> str | None:
        for fp in self.flows.get(flow_id, {}).get("flowProperties", []):
            if fp.get("referenceFlowProperty"):
                return fp["flowProperty"]["@id"]
        return None

    def group_of_property(self, fp_id: str | None) -> str | None:
        if fp_id is None:
            return None
        return ((self.flow_properties.get(fp_id) or {}).get("unitGroup") or {}).get("@id")

    def to_reference(self, ex: dict[str, Any]) -> tuple[float, bool]:
        """Exchange amount in the reference unit of its flow's reference flow property.

        Returns (amount, ok); ok=False when the exchange's unit/property cannot be resolved
        (amount is then returned unconverted and the caller counts it)."""
        flow = self.flows.get(ex["flow"]["@id"])
        amount = float(ex["amount"])
        uf = self.unit_factor.get(ex["unit"]["@id"])
        if flow is None or uf is None:
            return amount, False
        factors = {
            fp["flowProperty"]["@id"]: float(fp["conversionFactor"])
            for fp in flow.get("flowProperties", [])
        }
        cp = factors.get(ex["flowProperty"]["@id"])
        if not cp:
            return amount, False
        return amount * uf[1] / cp, True

    def unit_factor_in_flow_ref_group(self, flow_id: str, unit_name: str) -> float | None:
        gid = self.group_of_property(self.ref_property(flow_id))
        return self.unit_by_name.get((gid, unit_name)) if gid else None


def reference_year(proc: dict[str, Any], valid_range: tuple[int, int]) -> int | None:
    doc = proc.get("processDocumentation") or {}
    for key in ("validFrom", "validUntil"):
        v = doc.get(key)
        if v and re.match(r"^\d{4}", v):
            y = int(v[:4])
            if valid_range[0] <= y <= valid_range[1]:
                return y
    return None


@dataclass
class Product:
    process_id: str
    flow_id: str
    exchange: dict[str, Any]
    factor: float
    code: str
    unit: str
    amount_ref: float  # output amount in flow reference units (before allocation)
    unit_factor: float  # activity unit -> flow reference unit
    is_reference: bool


def _lognormal(amount: float, unc: dict[str, Any] | None) -> dict[str, Any]:
    if not unc or unc.get("distributionType") != "LOG_NORMAL_DISTRIBUTION" or amount == 0:
        return {}
    gsd = unc.get("geomSd")
    if not gsd or gsd <= 1:
        return {}
    return {
        "uncertainty type": 2,
        "loc": math.log(abs(amount)),
        "scale": math.log(gsd),
        "negative": amount < 0,
    }


class UslciImport:
    """Runs the import; results in `.datasets` (list of dicts) and `.report`."""

    def __init__(self, root: Path, mapper: FlowMapper, config: dict[str, Any] | None = None):
        self.cfg = config if config is not None else _rules.load("uslci")
        self.db = JsonLd(root)
        self.mapper = mapper
        self.database = self.cfg["database"]
        self.datasets: list[dict[str, Any]] = []
        self.report: dict[str, Any] = {}
        self.flow_decisions: dict[tuple[str, bool], Any] = {}

    # -- allocation --------------------------------------------------------------------------
    def _products(self, pid: str, proc: dict[str, Any], rep: dict[str, list]) -> list[Product]:
        exs = proc["exchanges"]
        outs = [e for e in exs if not e["input"] and e["flow"].get("flowType") == PRODUCT]
        qref = [e for e in outs if e.get("quantitativeReference")]
        if not qref:
            rep["no_reference_product"].append({"process": pid, "name": proc["name"]})
            return []
        qref_flow = qref[0]["flow"]["@id"]

        def make(e: dict[str, Any], factor: float) -> Product:
            fid = e["flow"]["@id"]
            amt_ref, _ok = self.db.to_reference(e)
            unit = e["unit"]["name"]
            uf = self.db.unit_factor_in_flow_ref_group(fid, unit) or 1.0
            is_ref = fid == qref_flow
            code = pid if is_ref else f"{pid}.{fid}"
            return Product(pid, fid, e, factor, code, unit, amt_ref, uf, is_ref)

        factors = proc.get("allocationFactors") or []
        phys = {
            a["product"]["@id"]: float(a["value"])
            for a in factors
            if a.get("allocationType") == "PHYSICAL_ALLOCATION" and a.get("product")
        }
        n_causal = sum(1 for a in factors if a.get("allocationType") == "CAUSAL_ALLOCATION")
        if len(outs) == 1:
            if factors:
                rep["factors_ignored_single_output"].append(
                    {"process": pid, "name": proc["name"], "factors": len(factors)}
                )
            return [make(outs[0], 1.0)]

        co_names = [
            normalize_name(e["flow"]["name"]) for e in outs if e["flow"]["@id"] != qref_flow
        ]
        if phys:
            listed = {
                fid: v for fid, v in phys.items() if any(e["flow"]["@id"] == fid for e in outs)
            }
            f_ref = listed.get(
                qref_flow, max(0.0, 1.0 - sum(v for k, v in listed.items() if k != qref_flow))
            )
            prods, zero = [], []
            for e in outs:
                fid = e["flow"]["@id"]
                f = f_ref if fid == qref_flow else listed.get(fid, 0.0)
                if f > 0:
                    prods.append(make(e, f))
                else:
                    zero.append(normalize_name(e["flow"]["name"]))
            rep["physical_factors"].append(
                {
                    "process": pid,
                    "name": proc["name"],
                    "factors": {
                        normalize_name(p.exchange["flow"]["name"]): p.factor for p in prods
                    },
                    "zero_allocated_co_products_no_dataset": zero,
                    "causal_factors_unused": n_causal,
                }
            )
            return prods

        if factors:
            rep["factors_unusable"].append(
                {"process": pid, "name": proc["name"], "factors": len(factors)}
            )
        props = {self.db.ref_property(e["flow"]["@id"]) for e in outs}
        amounts = [self.db.to_reference(e) for e in outs]
        if (
            len(props) == 1
            and None not in props
            and all(ok for _, ok in amounts)
            and sum(a for a, _ in amounts) > 0
        ):
            total = sum(a for a, _ in amounts)
            prods = [make(e, a / total) for e, (a, _) in zip(outs, amounts, strict=False)]
            prop_name = (self.db.flow_properties.get(str(next(iter(props)))) or {}).get("name", "?")
            rep["by_property"].append(
                {
                    "process": pid,
                    "name": proc["name"],
                    "property": prop_name,
                    "factors": {
                        normalize_name(p.exchange["flow"]["name"]): round(p.factor, 6)
                        for p in prods
                    },
                }
            )
            return prods
        rep["reference_product_100pct"].append(
            {
                "process": pid,
                "name": proc["name"],
                "co_products_no_dataset": co_names,
                "properties": sorted(
                    (self.db.flow_properties.get(p) or {}).get("name", "?") for p in props if p
                ),
            }
        )
        return [make(qref[0], 1.0)]

    # -- main --------------------------------------------------------------------------------
    def run(self) -> None:
        cfg = self.cfg
        alloc_rep: dict[str, list] = defaultdict(list)
        for k in (
            "no_reference_product",
            "factors_ignored_single_output",
            "physical_factors",
            "factors_unusable",
            "by_property",
            "reference_product_100pct",
        ):
            alloc_rep[k] = []
        products: dict[str, list[Product]] = {}
        for pid in sorted(self.db.processes):
            products[pid] = self._products(pid, self.db.processes[pid], alloc_rep)

        # provider map: product flow -> activity
        candidates: dict[str, list[Product]] = defaultdict(list)
        for prods in products.values():
            for p in prods:
                candidates[p.flow_id].append(p)
        provider: dict[str, Product] = {}
        ambiguous = []
        for fid, cands in candidates.items():
            cands = sorted(cands, key=lambda p: (not p.is_reference, p.process_id))
            provider[fid] = cands[0]
            if len(cands) > 1:
                ambiguous.append(
                    {
                        "flow": normalize_name(cands[0].exchange["flow"]["name"]),
                        "flow_id": fid,
                        "chosen": cands[0].code,
                        "others": [c.code for c in cands[1:]],
                    }
                )

        totals: Counter[str] = Counter()
        cut_by_flow: Counter[str] = Counter()
        unmapped: dict[tuple[str, str], dict[str, Any]] = {}
        dropped_flows: set[tuple[str, str]] = set()
        mapping_rows: dict[tuple[str, bool], dict[str, Any]] = {}
        year_range = tuple(cfg["valid_year_range"])

        for pid in sorted(products):
            proc = self.db.processes[pid]
            for prod in products[pid]:
                scale = prod.factor / prod.amount_ref if prod.amount_ref else 0.0
                if not prod.amount_ref:
                    totals["zero_reference_amount"] += 1
                    continue
                # amounts below are per 1 flow-reference unit of product; multiply by unit_factor
                # to express them per 1 activity unit (e.g. per kWh when the flow reference is MJ).
                per_unit = scale * prod.unit_factor
                exchanges = [
                    {"type": "production", "input": (self.database, prod.code), "amount": 1.0}
                ]
                n_in = n_cut = n_waste = 0
                cut_names: list[str] = []
                bio_kept = bio_dropped = 0
                unmapped_here: set[str] = set()
                for e in proc["exchanges"]:
                    ftype = e["flow"].get("flowType")
                    fid = e["flow"]["@id"]
                    if ftype == PRODUCT and not e["input"]:
                        continue  # outputs handled by allocation
                    amt_ref, ok = self.db.to_reference(e)
                    if not ok:
                        totals["unit_conversion_unresolved"] += 1
                    elif amt_ref != float(e["amount"]):
                        totals["unit_converted"] += 1
                    if ftype == WASTE:
                        n_waste += 1
                        totals["waste_outputs_cut_off"] += 1
                        cut_names.append(normalize_name(e["flow"]["name"]) + " (waste output)")
                        continue
                    if ftype == PRODUCT:  # technosphere input
                        n_in += 1
                        totals["technosphere_inputs"] += 1
                        prov = provider.get(fid)
                        if prov is None:
                            n_cut += 1
                            totals["cut_off_inputs"] += 1
                            nm = normalize_name(e["flow"]["name"])
                            cut_by_flow[nm] += 1
                            cut_names.append(nm)
                            continue
                        amount = amt_ref / prov.unit_factor * scale * prod.unit_factor
                        ex = {
                            "type": "technosphere",
                            "input": (self.database, prov.code),
                            "amount": amount,
                            "amount_ref": amt_ref * per_unit,
                            "ref_unit_group": self.db.group_of_property(self.db.ref_property(fid)),
                        }
                        ex.update(_lognormal(amount, e.get("uncertainty")))
                        exchanges.append(ex)
                        continue
                    # elementary
                    flow = self.db.flows.get(fid, {})
                    cat = self.db.category_path(flow.get("category"))
                    key = (fid, bool(e["input"]))
                    dec = self.flow_decisions.get(key)
                    if dec is None:
                        dec = self.mapper.map(
                            flow.get("name", e["flow"]["name"]), cat, bool(e["input"])
                        )
                        self.flow_decisions[key] = dec
                    row = mapping_rows.setdefault(
                        key,
                        {
                            "uslci_flow_id": fid,
                            "uslci_name": flow.get("name", e["flow"]["name"]),
                            "uslci_category": cat,
                            "direction": "input" if e["input"] else "output",
                            "kind": dec.kind,
                            "rule": dec.rule,
                            "biosphere3_code": dec.flow.code if dec.flow else None,
                            "biosphere3_name": dec.flow.name if dec.flow else None,
                            "biosphere3_categories": list(dec.flow.categories)
                            if dec.flow
                            else None,
                            "ghg": dec.ghg,
                            "characterized": dec.characterized,
                            "written": dec.keep,
                            "note": dec.note,
                            "uses": 0,
                        },
                    )
                    row["uses"] += 1 if prod.is_reference else 0
                    totals["elementary_exchanges"] += 1
                    if not dec.keep:
                        if dec.unmapped_ghg:
                            u = unmapped.setdefault(
                                (dec.name, dec.category),
                                {
                                    "name": dec.name,
                                    "category": dec.category,
                                    "rule": dec.rule,
                                    "biosphere3_name": dec.flow.name if dec.flow else None,
                                    "reason": "no biosphere3 flow"
                                    if dec.flow is None
                                    else "biosphere3 flow has no CF in the release's climate methods",
                                    "uses": 0,
                                },
                            )
                            u["uses"] += 1
                            unmapped_here.add(dec.name)
                            totals["ghg_exchanges_unmapped"] += 1
                        else:
                            bio_dropped += 1
                            totals["non_ghg_exchanges_dropped"] += 1
                            dropped_flows.add((dec.name, dec.category))
                        continue
                    sign = 1.0
                    if (dec.kind == "emission" and e["input"]) or (
                        dec.kind == "resource" and not e["input"]
                    ):
                        sign = -1.0
                        totals["reversed_direction"] += 1
                    amount = sign * amt_ref * per_unit
                    ex = {
                        "type": "biosphere",
                        "input": ("biosphere3", dec.flow.code),  # type: ignore[union-attr]
                        "amount": amount,
                    }
                    ex.update(_lognormal(amount, e.get("uncertainty")))
                    exchanges.append(ex)
                    bio_kept += 1
                    totals["ghg_exchanges_written"] += 1

                share = (n_cut / n_in) if n_in else 0.0
                completeness = {
                    "basis": "count of technosphere inputs (USLCI product flows) in the unit process",
                    "technosphere_inputs": n_in,
                    "cut_off_inputs": n_cut,
                    "cut_off_share": round(share, 4),
                    "waste_outputs_cut_off": n_waste,
                    "cut_off_flows": sorted(set(cut_names)),
                    "elementary_ghg_written": bio_kept,
                    "elementary_non_ghg_dropped": bio_dropped,
                    "unmapped_ghg_flows": sorted(unmapped_here),
                }
                loc = (proc.get("location") or {}).get("name")
                year = reference_year(proc, year_range)
                q = _dq.score(
                    "uslci_unit_process", location=loc, reference_year=year, cut_off_share=share
                )
                name = (
                    normalize_name(proc["name"])
                    if prod.is_reference
                    else f"{normalize_name(prod.exchange['flow']['name'])} (co-product of: {normalize_name(proc['name'])})"
                )
                allocation = None
                if not (
                    prod.is_reference
                    and prod.factor == 1.0
                    and len(products[pid]) == 1
                    and not self._is_multi(proc)
                ):
                    allocation = {
                        "factor": prod.factor,
                        "method": self._alloc_method(pid, alloc_rep),
                    }
                ds = {
                    "database": self.database,
                    "code": prod.code,
                    "pcf_id": f"{cfg['pcf_prefix']}:{prod.code}",
                    "name": name,
                    "name_zh": None,
                    "reference product": normalize_name(prod.exchange["flow"]["name"]),
                    "unit": prod.unit,
                    "location": loc,
                    "geography": loc,
                    "reference_year": year,
                    "source": cfg["source"],
                    "citation": cfg["citation"]
                    + f"; process '{normalize_name(proc['name'])}' ({pid})",
                    "licence": cfg["licence"],
                    "category": self.db.category_path(proc.get("category")),
                    "variant": "original",
                    "kind": "unit_process",
                    "dq": q["dq"],
                    "uncertainty": q["uncertainty"],
                    "completeness": completeness,
                    "proxy": q["proxy"],
                    "second_hand": False,
                    "allocation": allocation,
                    "uslci_process_id": pid,
                    "uslci_product_flow_id": prod.flow_id,
                    "exchanges": exchanges,
                }
                self.datasets.append(ds)

        self.report = {
            "processes": len(self.db.processes),
            "activities": len(self.datasets),
            "technosphere_inputs": totals["technosphere_inputs"],
            "cut_off_inputs": totals["cut_off_inputs"],
            "cut_off_inputs_note": "counted over written activities (an allocated co-product activity repeats its process's inputs); see cut_off_inputs_by_process for the per-process count",
            "waste_outputs_cut_off": totals["waste_outputs_cut_off"],
            "unit_conversion_unresolved": totals["unit_conversion_unresolved"],
            "unit_converted_exchanges": totals["unit_converted"],
            "zero_reference_amount": totals["zero_reference_amount"],
            "elementary": {
                "exchanges": totals["elementary_exchanges"],
                "ghg_written": totals["ghg_exchanges_written"],
                "ghg_unmapped": totals["ghg_exchanges_unmapped"],
                "non_ghg_dropped": totals["non_ghg_exchanges_dropped"],
                "non_ghg_distinct_flows_dropped": len(dropped_flows),
                "reversed_direction": totals["reversed_direction"],
                "unmapped_ghg_flows": sorted(
                    unmapped.values(), key=lambda u: (-u["uses"], u["name"])
                ),
            },
            "allocation": {k: v for k, v in alloc_rep.items()},
            "allocation_counts": {k: len(v) for k, v in alloc_rep.items()},
            "ambiguous_providers": ambiguous,
            "cut_off_top_flows": [{"flow": k, "inputs": v} for k, v in cut_by_flow.most_common(40)],
        }
        self.report.update(self._process_level_counts(provider))
        self.mapping_rows = sorted(
            mapping_rows.values(),
            key=lambda r: (r["uslci_name"], r["uslci_category"], r["direction"]),
        )

    def _process_level_counts(self, provider: dict[str, Product]) -> dict[str, Any]:
        """Counts over the source processes (as in the data README: 2,461 of 6,480 inputs)."""
        n_in = n_cut = n_no_maker = 0
        multi = 0
        made = {
            e["flow"]["@id"]
            for p in self.db.processes.values()
            for e in p["exchanges"]
            if not e["input"] and e["flow"].get("flowType") == PRODUCT
        }
        for proc in self.db.processes.values():
            if self._is_multi(proc):
                multi += 1
            for e in proc["exchanges"]:
                if e["input"] and e["flow"].get("flowType") == PRODUCT:
                    n_in += 1
                    if e["flow"]["@id"] not in provider:
                        n_cut += 1
                        if e["flow"]["@id"] not in made:
                            n_no_maker += 1
        return {
            "source_process_technosphere_inputs": n_in,
            "source_process_cut_off_inputs": n_cut,
            "source_process_cut_off_breakdown": {
                "no_process_outputs_the_product": n_no_maker,
                "output_only_as_co_product_without_dataset": n_cut - n_no_maker,
            },
            "multi_output_processes": multi,
            "processes_with_allocation_factors": sum(
                1 for p in self.db.processes.values() if p.get("allocationFactors")
            ),
        }

    @staticmethod
    def _is_multi(proc: dict[str, Any]) -> bool:
        return (
            sum(
                1
                for e in proc["exchanges"]
                if not e["input"] and e["flow"].get("flowType") == PRODUCT
            )
            > 1
        )

    @staticmethod
    def _alloc_method(pid: str, rep: dict[str, list]) -> str:
        for k in (
            "physical_factors",
            "by_property",
            "reference_product_100pct",
            "factors_ignored_single_output",
        ):
            if any(r["process"] == pid for r in rep[k]):
                return k
        return "single_output"


def make_variant(
    datasets: list[dict[str, Any]],
    variant: dict[str, Any],
    grid: dict[str, Any],
    grid_regex: str,
    kwh_per_ref_unit: dict[str, float],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Copy USLCI datasets into a variant database with consumer grid electricity relinked to `grid`.

    `kwh_per_ref_unit`: unit-group id -> kWh per reference unit of that group (Energy: 1/3.6)."""
    rx = re.compile(grid_regex, re.I)
    src_db = datasets[0]["database"] if datasets else None
    by_code = {d["code"]: d for d in datasets}
    is_grid = {code for code, d in by_code.items() if rx.search(d["name"])}
    out = []
    n_relinked = n_datasets_relinked = 0
    unconvertible = 0
    for d in datasets:
        nd = {k: v for k, v in d.items() if k != "exchanges"}
        nd.update(
            {
                "database": variant["database"],
                "pcf_id": f"{variant['pcf_prefix']}:{d['code']}",
                "name": f"{d['name']} | grid electricity: {grid['pcf_id']}",
                "variant": variant["variant"],
                "variant_of": d["pcf_id"],
                "citation": d["citation"]
                + f"; grid electricity relinked to {grid['pcf_id']} ({grid['citation']})",
            }
        )
        exs, relinked, kwh = [], 0, 0.0
        for ex in d["exchanges"]:
            ex = dict(ex)
            if ex["type"] == "production":
                ex["input"] = (variant["database"], d["code"])
            elif ex["type"] == "technosphere" and ex["input"][0] == src_db:
                code = ex["input"][1]
                if code in is_grid and d["code"] not in is_grid:
                    factor = kwh_per_ref_unit.get(str(ex.get("ref_unit_group")))
                    if factor is None:
                        unconvertible += 1
                        ex["input"] = (variant["database"], code)
                    else:
                        amount = ex["amount_ref"] * factor
                        ex = {
                            "type": "technosphere",
                            "input": (grid["database"], grid["code"]),
                            "amount": amount,
                            "relinked_from": by_code[code]["pcf_id"],
                        }
                        relinked += 1
                        kwh += amount
                else:
                    ex["input"] = (variant["database"], code)
            exs.append(ex)
        nd["exchanges"] = exs
        q = _dq.score(
            "uslci_unit_process",
            location=d["location"],
            reference_year=d["reference_year"],
            cut_off_share=d["completeness"]["cut_off_share"],
            flags=["cn_grid_variant"],
            partially_regionalised=True,
        )
        nd.update(dq=q["dq"], uncertainty=q["uncertainty"], proxy=q["proxy"])
        nd["relinked_electricity"] = {"inputs": relinked, "kwh_per_unit": kwh, "to": grid["pcf_id"]}
        n_relinked += relinked
        n_datasets_relinked += 1 if relinked else 0
        out.append(nd)
    rep = {
        "variant": variant["variant"],
        "database": variant["database"],
        "grid": grid["pcf_id"],
        "datasets": len(out),
        "grid_mix_datasets_not_relinked": len(is_grid),
        "electricity_inputs_relinked": n_relinked,
        "datasets_with_direct_relinked_input": n_datasets_relinked,
        "unconvertible_units": unconvertible,
    }
    return out, rep
