"""The CBAM data pack of a product: which bill-of-materials lines are CBAM goods, the mass of iron
and steel and of aluminium by CN code, and the precursors with their supplier, production route
and specific embedded emissions (the supplier's actual values, or marked as default values), with
the electricity factor and its source type.

CBAM specific embedded emissions (SEE) are gate-to-gate plus precursors, follow the EU ETS
monitoring rules and count CO2 (+PFC, N2O): they are **not** a product carbon footprint, and the
pack carries no footprint number (exports.md §1.10).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from app.exports.bom import FlatLine, flatten
from app.exports.cbam.relevance import SECTOR_LABELS, Lists, check, load_lists

FORMAT = "pcf-service/cbam-data-pack"
FORMAT_VERSION = "1.0"
TEMPLATE = {
    "name": "CBAM Communication template for installations",
    "version": "2024-12-13 (transitional period; definitive-period version not yet checked)",
    "sheets": ["Summary_Communication", "E_PurchPrec"],
}
NOTICE = (
    "CBAM data: specific embedded emissions (SEE) of CBAM goods and their precursors, "
    "gate-to-gate plus precursors under the EU ETS monitoring rules. They are not a product "
    "carbon footprint (ISO 14067), and a product carbon footprint is not CBAM embedded emissions."
)
METAL_GROUPS = {"steel": "iron_steel", "iron": "iron_steel", "aluminium": "aluminium"}


def metal_sector(cn_code: str) -> str | None:
    """Iron and steel (chapters 72, 73) or aluminium (chapter 76), CBAM good or not."""
    if cn_code[:2] in {"72", "73"} or cn_code.startswith("260112"):
        return "iron_steel"
    return "aluminium" if cn_code[:2] == "76" else None


def _line_key(data: Mapping[str, Any]) -> dict[str, FlatLine]:
    """Lines by pointer and by ref."""
    out: dict[str, FlatLine] = {}
    for x in flatten(data):
        out[x.pointer] = x
        if x.ref:
            out.setdefault(x.ref, x)
    return out


def unknown_lines(data: Mapping[str, Any], cbam: Mapping[str, Any]) -> list[tuple[int, str]]:
    """(index, line) of precursors whose line is neither a pointer nor a ref of the BOM."""
    lines = _line_key(data)
    return [
        (i, str(p.get("line")))
        for i, p in enumerate(cbam.get("precursors") or [])
        if str(p.get("line")) not in lines
    ]


def _relevance(code: str, lists: Lists) -> dict[str, Any]:
    r = check(code, lists)
    return {
        "cbam_today": r.cbam_today,
        "sector": r.sector,
        "annex_entry": r.annex_entry,
        "proposed_downstream": r.proposed_downstream,
    }


def _round(v: float | None, n: int = 6) -> float | None:
    return None if v is None else round(v, n)


def build(
    *,
    footprint_id: str,
    product: Mapping[str, Any],
    pcr_code: str,
    normalised_input: Mapping[str, Any],
    cbam: Mapping[str, Any] | None,
    lists: Lists | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    lists = lists or load_lists()
    cbam = cbam or {}
    flat = flatten(normalised_input)
    by_key = _line_key(normalised_input)
    problems: list[dict[str, str]] = []

    coded = []
    mass: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for x in flat:
        if not x.cn_code:
            continue
        rel = _relevance(x.cn_code, lists)
        coded.append(
            {
                "pointer": x.pointer,
                "ref": x.ref,
                "name": x.name,
                "cn_code": x.cn_code,
                "quantity": _round(x.quantity),
                "unit": x.unit,
                "mass_kg": _round(x.mass_kg),
                "packaging": x.packaging,
                **rel,
            }
        )
        sector = metal_sector(x.cn_code)
        if sector is None:
            continue
        relevant = rel["cbam_today"] or rel["proposed_downstream"]
        if relevant and x.mass_kg is None:
            problems.append(
                {
                    "pointer": x.pointer,
                    "code": "mass_unknown",
                    "message": f"{x.name}: CN {x.cn_code} is relevant but the line is not "
                    "measured in mass (give piece_mass)",
                }
            )
        row = mass[sector].setdefault(
            x.cn_code,
            {
                "cn_code": x.cn_code,
                "cbam_today": rel["cbam_today"],
                "proposed_downstream": rel["proposed_downstream"],
                "mass_kg": 0.0,
                "lines": [],
            },
        )
        row["mass_kg"] = _round(row["mass_kg"] + (x.mass_kg or 0.0))
        row["lines"].append(x.pointer)
    uncoded = [
        {
            "pointer": x.pointer,
            "name": x.name,
            "material_group": x.material_group,
            "sector": METAL_GROUPS[x.material_group or ""],
            "mass_kg": _round(x.mass_kg),
        }
        for x in flat
        if not x.cn_code and (x.material_group or "") in METAL_GROUPS and not x.is_assembly
    ]
    for u in uncoded:
        problems.append(
            {
                "pointer": str(u["pointer"]),
                "code": "cn_code_missing",
                "message": f"{u['name']}: {u['material_group']} line without a CN code; its CBAM "
                "relevance cannot be checked",
            }
        )

    precursors = []
    supplied: set[str] = set()
    for p in cbam.get("precursors") or []:
        line = by_key.get(str(p.get("line")))
        if line is None:
            continue
        supplied.add(line.pointer)
        code = p.get("cn_code") or line.cn_code
        rel = _relevance(code, lists) if code else {"sector": None}
        mass_t = line.mass_kg / 1000 if line.mass_kg is not None else None
        see_d, see_i = p.get("see_direct"), p.get("see_indirect")
        precursors.append(
            {
                "line": line.pointer,
                "ref": line.ref,
                "name": line.name,
                "cn_code": code,
                "sector": rel.get("sector"),
                "cbam_today": rel.get("cbam_today", False),
                "mass_kg": _round(line.mass_kg),
                "supplier": p.get("supplier"),
                "installation": p.get("installation"),
                "country": p.get("country"),
                "production_route": p.get("production_route"),
                "see_direct_tco2e_per_t": see_d,
                "see_indirect_tco2e_per_t": see_i,
                "values": p.get("values"),
                "default_value_reference": p.get("default_value_reference"),
                "verified": p.get("verified"),
                "electricity": p.get("electricity"),
                "embedded_direct_tco2e": _round(mass_t * see_d, 9)
                if mass_t is not None and see_d is not None
                else None,
                "embedded_indirect_tco2e": _round(mass_t * see_i, 9)
                if mass_t is not None and see_i is not None
                else None,
            }
        )
    for c in coded:
        if c["sector"] in SECTOR_LABELS and c["cbam_today"] and c["pointer"] not in supplied:
            problems.append(
                {
                    "pointer": str(c["pointer"]),
                    "code": "supplier_data_missing",
                    "message": f"{c['name']}: CN {c['cn_code']} is a CBAM good; give its supplier "
                    "and specific embedded emissions (actual or default values)",
                }
            )
            precursors.append(
                {
                    "line": c["pointer"],
                    "ref": c["ref"],
                    "name": c["name"],
                    "cn_code": c["cn_code"],
                    "sector": c["sector"],
                    "cbam_today": True,
                    "mass_kg": c["mass_kg"],
                    "values": "missing",
                }
            )

    product_cn = cbam.get("product_cn_code")
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "notice": NOTICE,
        "generated_at": (now or datetime.now(UTC)).isoformat(),
        "template": TEMPLATE,
        "lists": {
            "annex_i": lists.annex_i.describe(),
            "proposed_downstream": lists.downstream.describe(),
        },
        "product": {
            "footprint_id": footprint_id,
            "name": product.get("name"),
            "model": product.get("model"),
            "pcr_code": pcr_code,
            "cn_code": product_cn,
            "relevance": _relevance(product_cn, lists) if product_cn else None,
            "quantities_per": "one reference flow of the footprint (one product unit)",
        },
        "installation": cbam.get("installation"),
        "reporting_period": cbam.get("reporting_period"),
        "lines_with_cn_code": coded,
        "mass_by_cn_code": {
            sector: {
                "label": SECTOR_LABELS[sector],
                "total_kg": _round(sum(r["mass_kg"] for r in rows.values())),
                "by_cn_code": sorted(rows.values(), key=lambda r: r["cn_code"]),
            }
            for sector, rows in sorted(mass.items())
        },
        "metal_lines_without_cn_code": uncoded,
        "precursors": precursors,
        "goods": cbam.get("goods") or [],
        "carbon_price": cbam.get("carbon_price"),
        "verifier": cbam.get("verifier"),
        "problems": problems,
    }
