"""China electricity factors (factors/china_electricity.csv) -> one aggregated dataset per factor.

Rules: rules/china_electricity.yaml. Database `cn_electricity`; each activity produces 1 kWh and
emits the factor's mass of fossil CO2 (CO2 series: CO2 itself; life-cycle series: CO2e written as
fossil CO2 equivalent because the notice publishes no gas split).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from . import SOURCES_DIR
from . import dq as _dq
from . import rules as _rules
from .factors import CO2_FOSSIL, read_csv
from .flowmap import BiosphereIndex

DATABASE = "cn_electricity"
_CJK = re.compile(r"[\u4e00-\u9fff]")


def classify(name: str, cfg: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    series = next(s for s in cfg["series"] if re.search(s["regex"], name, re.I))
    key = next((k for k in cfg["keys"] if re.search(k["regex"], name, re.I)), None)
    if key is None:
        raise ValueError(f"no key rule in rules/china_electricity.yaml matches {name!r}")
    return series, key


def build_china_electricity(
    index: BiosphereIndex, sources_dir: Path = SOURCES_DIR
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    cfg = _rules.load("china_electricity")
    rows = read_csv(sources_dir / "factors" / "china_electricity.csv")
    co2, _ = index.get(*CO2_FOSSIL)
    assert co2 is not None
    datasets, seen = [], set()
    for row in rows:
        series, key = classify(row["name"], cfg)
        year = int(row["year"])
        code = f"{series['series']}-{key['key']}-{year}"
        if code in seen:
            raise ValueError(f"duplicate China electricity factor {code}")
        seen.add(code)
        value = float(row["value_kgCO2e_per_unit"])
        name_zh = key["name_zh"]
        if "因子" not in name_zh:
            name_zh += "电力碳足迹因子" if series["series"] == "lca" else "电力二氧化碳排放因子"
        flags = []
        if cfg.get("second_hand_all_rows") or re.search("second-hand", row["note"], re.I):
            flags.append("second_hand")
        if key.get("generation_only"):
            flags.append("generation_only")
        profile = "official_grid_lca" if series["series"] == "lca" else "official_grid_co2"
        q = _dq.score(profile, location=key["location"], reference_year=year, flags=flags)
        if series["series"] == "lca":
            gas = {
                "basis": "co2e_total_only",
                "co2e_total_only": True,
                "gas_split_unknown": True,
                "text": "life-cycle CO2e factor; the notice publishes no gas split: written as the same mass of fossil CO2 (fossil CO2 equivalent)",
            }
        else:
            gas = {
                "basis": "co2_only",
                "co2e_total_only": False,
                "text": "CO2 grid emission factor: CO2 only (no CH4/N2O), no upstream, no T&D losses",
            }
        datasets.append(
            {
                "database": DATABASE,
                "code": code,
                "pcf_id": f"cn-elec:{code}",
                "name": row["name"],
                "name_zh": f"{name_zh} ({year})",
                "reference product": "electricity",
                "unit": row["unit"],
                "location": key["location"],
                "geography": key["location"],
                "reference_year": year,
                "source": row["source"],
                "citation": f"{row['source']}; {row['url_or_citation']}",
                "licence": cfg["licence"],
                "category": "energy/electricity",
                "variant": "original",
                "kind": "aggregated_factor",
                "factor_type": series["factor_type"],
                "published_value_kgco2e_per_unit": value,
                "note": row["note"],
                "gas_basis": gas,
                "flags": sorted(flags),
                "dq": q["dq"],
                "uncertainty": q["uncertainty"],
                "completeness": {
                    "basis": "aggregated factor: completeness is that of its published scope",
                    "scope": "life cycle incl. upstream fuel chain and T&D"
                    if series["series"] == "lca" and not key.get("generation_only")
                    else (
                        "generation only"
                        if key.get("generation_only")
                        else "CO2 at generation, location-based grid average"
                    ),
                    "co2e_total_only": gas["co2e_total_only"],
                },
                "proxy": q["proxy"],
                "second_hand": "second_hand" in flags,
                "allocation": None,
                "exchanges": [
                    {"type": "production", "input": (DATABASE, code), "amount": 1.0},
                    {"type": "biosphere", "input": ("biosphere3", co2.code), "amount": value},
                ],
            }
        )
    rep = {
        "rows": len(rows),
        "datasets": len(datasets),
        "by_factor_type": {
            t: sum(1 for d in datasets if d["factor_type"] == t)
            for t in ("grid_lca_co2e", "grid_co2_location")
        },
    }
    return datasets, rep


def values_by_geo_year(datasets: list[dict[str, Any]]) -> dict[tuple[str, int], list[float]]:
    """CO2-series values by (location, year), to cross-check the duplicated rows of sourced_factors.csv."""
    out: dict[tuple[str, int], list[float]] = {}
    for d in datasets:
        if d["factor_type"] == "grid_co2_location":
            out.setdefault((d["location"], d["reference_year"]), []).append(
                d["published_value_kgco2e_per_unit"]
            )
    return out
