"""Sourced factor tables (sourced_factors.csv + sourced_factors_extra.csv) -> aggregated datasets.

Rules: rules/factor_rules.yaml (ids, gas columns, flags, profiles, exclusions),
rules/flow_mapping.yaml (refrigerant gases and blends), rules/dq_rules.yaml (scores).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

from . import SOURCES_DIR
from . import dq as _dq
from . import rules as _rules
from .flowmap import BiosphereIndex

DATABASE = "sourced_factors"
CO2_FOSSIL = ("Carbon dioxide, fossil", ("air",))
CO2_NON_FOSSIL = ("Carbon dioxide, non-fossil", ("air",))
CH4_FOSSIL = ("Methane, fossil", ("air",))
CH4_NON_FOSSIL = ("Methane, non-fossil", ("air",))
N2O = ("Dinitrogen monoxide", ("air",))


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _num(v: str | None) -> float | None:
    v = (v or "").strip()
    return float(v) if v else None


def pcf_id_for(row_id: str, cfg: dict[str, Any]) -> tuple[str, str]:
    for r in cfg["id_prefixes"]:
        if re.search(r["row_id_regex"], row_id):
            strip = r["strip"]
            local = row_id[len(strip) :] if strip and row_id.startswith(strip) else row_id
            return r["pcf_prefix"], local
    raise ValueError(row_id)  # pragma: no cover


def row_flags(row: dict[str, str], cfg: dict[str, Any]) -> list[str]:
    flags = set()
    for flag, spec in cfg["flags"].items():
        rx = re.compile(spec["regex"], re.I)
        if any(rx.search(row.get(c) or "") for c in spec["columns"]):
            flags.add(flag)
    for sf in cfg.get("source_flags", []):
        if re.search(sf["row_id_regex"], row["id"]):
            flags.update(sf["flags"])
    return sorted(flags)


def row_profile(row: dict[str, str], cfg: dict[str, Any]) -> str:
    for p in cfg["profiles"]:
        if re.search(p["row_id_regex"], row["id"]) and (
            "category" not in p or p["category"] == row["category"]
        ):
            return p["profile"]
    raise ValueError(f"no DQ profile rule matches factor row {row['id']}")


def _bio(index: BiosphereIndex, spec: tuple[str, tuple[str, ...]]) -> str:
    f, _ = index.get(*spec)
    if f is None:
        raise KeyError(f"biosphere3 flow {spec} not found")
    return f.code


def gas_exchanges(
    row: dict[str, str], source_key: str, cfg: dict[str, Any], index: BiosphereIndex
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Biosphere exchanges per unit of the factor row, and a description of how they were derived."""
    total = float(row["value_kgco2e_per_unit"])
    co2, ch4, n2o, bio = (_num(row.get(k)) for k in ("co2_fossil", "ch4", "n2o", "co2_biogenic"))
    exs: list[dict[str, Any]] = []
    if co2 is None and ch4 is None and n2o is None:
        exs.append(
            {"type": "biosphere", "input": ("biosphere3", _bio(index, CO2_FOSSIL)), "amount": total}
        )
        info = {
            "basis": "co2e_total_only",
            "text": "only a CO2e total is published: written as the same mass of fossil CO2 (fossil CO2 equivalent); gas split unknown",
            "co2e_total_only": True,
        }
    else:
        gwps = cfg["gas_columns_co2e"].get(source_key, {})
        if (ch4 is not None or n2o is not None) and not gwps:
            raise ValueError(
                f"row {row['id']}: CH4/N2O columns without GWP basis in factor_rules.yaml"
            )
        non_fossil = re.search(cfg["ch4_non_fossil_name_regex"], row["name"]) is not None
        info = {"basis": "gas_split", "co2e_total_only": False}
        if co2:
            exs.append(
                {
                    "type": "biosphere",
                    "input": ("biosphere3", _bio(index, CO2_FOSSIL)),
                    "amount": co2,
                }
            )
            info["co2_fossil_kg"] = co2
        if ch4:
            kg = ch4 / gwps["ch4"]
            exs.append(
                {
                    "type": "biosphere",
                    "input": (
                        "biosphere3",
                        _bio(index, CH4_NON_FOSSIL if non_fossil else CH4_FOSSIL),
                    ),
                    "amount": kg,
                }
            )
            info["ch4_kg"] = kg
            info["ch4_origin"] = "non-fossil" if non_fossil else "fossil"
        if n2o:
            kg = n2o / gwps["n2o"]
            exs.append(
                {"type": "biosphere", "input": ("biosphere3", _bio(index, N2O)), "amount": kg}
            )
            info["n2o_kg"] = kg
        if gwps:
            info["text"] = (
                f"per-gas columns are kg CO2e with AR5 GWP100 (CH4 {gwps['ch4']}, N2O {gwps['n2o']}); "
                "divided by those GWPs to kg of gas so the AR6 method characterizes them"
            )
        else:
            info["text"] = "CO2 only (the co2_fossil column is kg CO2)"
        info["sum_of_gas_columns_kgco2e"] = sum(v for v in (co2, ch4, n2o) if v)
    if bio:
        exs.append(
            {
                "type": "biosphere",
                "input": ("biosphere3", _bio(index, CO2_NON_FOSSIL)),
                "amount": bio,
            }
        )
        info["co2_biogenic_kg"] = bio
    return exs, info


def refrigerant_exchanges(
    row: dict[str, str], fm: dict[str, Any], index: BiosphereIndex, values: dict[str, float]
) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
    """kg-of-gas exchanges for DESNZ refrigerant rows (1 kg released), or None -> AR5 CO2e fallback."""
    rid = row["id"]
    comps: dict[str, float]
    if rid in fm["refrigerant_blends"]:
        comps = dict(fm["refrigerant_blends"][rid])
    elif rid in fm["desnz_refrigerant_gases"]:
        comps = {rid: 1.0}
    else:
        return None
    exs, parts = [], []
    for comp_id, frac in comps.items():
        gas = fm["desnz_refrigerant_gases"].get(comp_id)
        flow, _ = index.get(gas, ("air",)) if gas else (None, False)
        if flow is None or not index.characterized(flow):
            return None
        exs.append({"type": "biosphere", "input": ("biosphere3", flow.code), "amount": float(frac)})
        parts.append({"gas": gas, "kg": float(frac), "desnz_ar5_gwp": values.get(comp_id)})
    info = {
        "basis": "kg_of_gas",
        "co2e_total_only": False,
        "components": parts,
        "text": "1 kg of refrigerant released, written as kg of each gas so the AR6 method characterizes it",
    }
    if len(comps) > 1:
        info["composition_source"] = (
            "[derived] ASHRAE Standard 34 blend designation (rules/flow_mapping.yaml)"
        )
        recon = sum(p["kg"] * (p["desnz_ar5_gwp"] or 0) for p in parts)
        info["ar5_check"] = {
            "published_blend_gwp": float(row["value_kgco2e_per_unit"]),
            "composition_x_component_gwp": recon,
        }
    return exs, info


def build_sourced_factors(
    index: BiosphereIndex,
    china_values: dict[tuple[str, int], list[float]] | None = None,
    sources_dir: Path = SOURCES_DIR,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    cfg = _rules.load("factor_rules")
    fm = _rules.load("flow_mapping")
    datasets: list[dict[str, Any]] = []
    rep: dict[str, Any] = {
        "rows": 0,
        "datasets": 0,
        "excluded": [],
        "superseded": [],
        "gas_split_rows": 0,
        "co2e_total_only_rows": [],
        "rounding_differences": [],
        "refrigerants_kg_gas": [],
        "refrigerants_ar5_fallback": [],
        "blend_checks": [],
        "by_table": {},
    }
    seen: set[str] = set()
    all_rows = []
    for t in cfg["tables"]:
        rows = read_csv(sources_dir / t["file"])
        rep["by_table"][t["table"]] = len(rows)
        all_rows += [(t["table"], r) for r in rows]
    values = {r["id"]: float(r["value_kgco2e_per_unit"]) for _, r in all_rows}
    sup = re.compile(cfg["superseded_by_china_electricity"])
    for table, row in all_rows:
        rep["rows"] += 1
        rid = row["id"]
        if rid in cfg["exclude"]:
            rep["excluded"].append({"id": rid, "reason": cfg["exclude"][rid]})
            continue
        if sup.search(rid):
            rep["superseded"].append(
                {
                    "id": rid,
                    "value": values[rid],
                    "geography": row["geography"],
                    "year": row["year"],
                }
            )
            continue
        prefix, local = pcf_id_for(rid, cfg)
        pcf_id = f"{prefix}:{local}"
        if pcf_id in seen:
            raise ValueError(f"duplicate pcf_id {pcf_id}")
        seen.add(pcf_id)
        flags = row_flags(row, cfg)
        profile = row_profile(row, cfg)
        source_key = prefix if prefix != "factor" else rid.split("_")[0]
        gas = None
        if row["category"] == "refrigerant":
            gas = refrigerant_exchanges(row, fm, index, values)
            if gas is None:
                rep["refrigerants_ar5_fallback"].append(rid)
                flags = sorted(set(flags) | {"gwp_basis_ar5"})
            else:
                rep["refrigerants_kg_gas"].append(rid)
                if "ar5_check" in gas[1]:
                    rep["blend_checks"].append({"id": rid, **gas[1]["ar5_check"]})
        if gas is None:
            exs, info = gas_exchanges(row, source_key, cfg, index)
            if row["category"] == "refrigerant":
                info["text"] = (
                    "published AR5 GWP (DESNZ) written as fossil CO2 equivalent: the gas has no "
                    "biosphere3 flow characterized by the IPCC 2021 method"
                )
                info["gwp_basis"] = "AR5 (DESNZ), gas not characterized by the IPCC 2021 method"
        else:
            exs, info = gas
        if info.get("co2e_total_only"):
            rep["co2e_total_only_rows"].append(rid)
        elif info.get("basis") == "gas_split":
            rep["gas_split_rows"] += 1
            s = info.get("sum_of_gas_columns_kgco2e")
            tot = float(row["value_kgco2e_per_unit"])
            if s is not None and abs(s - tot) > 1e-9 * max(1.0, abs(tot)):
                rep["rounding_differences"].append(
                    {"id": rid, "published_total": tot, "sum_of_gas_columns": s}
                )
        year = int(row["year"]) if (row.get("year") or "").strip() else None
        q = _dq.score(profile, location=row["geography"], reference_year=year, flags=flags)
        ds = {
            "database": DATABASE,
            "code": rid,
            "pcf_id": pcf_id,
            "name": row["name"],
            "name_zh": None,
            "reference product": row["name"],
            "unit": row["unit"],
            "location": row["geography"],
            "geography": row["geography"],
            "reference_year": year,
            "source": row["source"],
            "citation": row["citation"],
            "licence": row["licence"],
            "category": row["category"],
            "variant": "original",
            "kind": "aggregated_factor",
            "table": table,
            "factor_type": row["category"],
            "scope": row["scope"],
            "note": row["note"],
            "published_value_kgco2e_per_unit": float(row["value_kgco2e_per_unit"]),
            "gas_basis": info,
            "flags": flags,
            "dq": q["dq"],
            "uncertainty": q["uncertainty"],
            "completeness": {
                "basis": "aggregated factor: completeness is that of its published scope",
                "scope": row["scope"],
                "co2e_total_only": bool(info.get("co2e_total_only")),
            },
            "proxy": q["proxy"],
            "second_hand": "second_hand" in flags,
            "allocation": None,
            "exchanges": [{"type": "production", "input": (DATABASE, rid), "amount": 1.0}, *exs],
        }
        datasets.append(ds)
    rep["datasets"] = len(datasets)
    # the superseded MEE rows must agree with the China electricity table
    if china_values is not None:
        for s in rep["superseded"]:
            cands = china_values.get((s["geography"], int(s["year"])), [])
            s["agrees_with_china_electricity_table"] = any(
                abs(v - s["value"]) < 1e-9 for v in cands
            )
    return datasets, rep
