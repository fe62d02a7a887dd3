"""A stored footprint → a PACT v3 ``ProductFootprint`` (spec/openapi.yaml, version 3.0.3).

The PACT footprint is the **cradle-to-gate** part of the footprint (raw materials and
manufacturing) per declared unit, as the PACT methodology asks; the ISO 14067 footprint with its
use and end-of-life stages stays in the footprint and its report. Numbers are decimal strings.

Biogenic CO2 (PACT v3 definitions): ``pcfExcludingBiogenicUptake`` contains fossil, land and
biogenic emissions (biogenic CH4 *and* biogenic CO2 emissions) but not the CO2 taken up by the
product's biomass; ``pcfIncludingBiogenicUptake`` subtracts that uptake. Our footprint total counts
biogenic CO2 as 0/0 and keeps emissions and removals apart, so:

    pcfExcludingBiogenicUptake = gwp100_total + biogenic_co2_emission
    pcfIncludingBiogenicUptake = pcfExcludingBiogenicUptake − biogenic_co2_removal
    biogenicCO2Uptake          = −biogenic_co2_removal
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import yaml

from app.exports.bom import flatten, product_mass_kg
from app.exports.numbers import decimal_string, non_negative, non_positive

SPEC_VERSION = "3.0.3"
URN_DOMAIN = "pcf-service.example"
GATE_STAGES = ("raw_materials", "manufacturing")
COMPLETE_ENOUGH = 0.001
VALIDITY_YEARS = 3  # PACT: validity defaults to 3 years after the reference period

# Our units → PACT ``declaredUnitOfMeasurement`` and the factor to its amount.
PACT_UNITS: dict[str, tuple[str, float]] = {
    "hl": ("liter", 100.0),
    "l": ("liter", 1.0),
    "liter": ("liter", 1.0),
    "litre": ("liter", 1.0),
    "ml": ("liter", 0.001),
    "kg": ("kilogram", 1.0),
    "g": ("kilogram", 0.001),
    "t": ("kilogram", 1000.0),
    "m3": ("cubic meter", 1.0),
    "m^3": ("cubic meter", 1.0),
    "kwh": ("kilowatt hour", 1.0),
    "mj": ("megajoule", 1.0),
    "tkm": ("ton kilometer", 1.0),
    "m2": ("square meter", 1.0),
    "m^2": ("square meter", 1.0),
    "item": ("piece", 1.0),
    "items": ("piece", 1.0),
    "piece": ("piece", 1.0),
    "pcs": ("piece", 1.0),
    "unit": ("piece", 1.0),
}
STAGE_WORDS = {
    "raw_materials": "raw-material acquisition and pre-processing",
    "manufacturing": "production",
    "distribution": "distribution",
    "use": "use",
    "end_of_life": "end of life",
}


class Catalogue(Protocol):
    def get(self, pcf_id: str) -> dict[str, Any] | None: ...


class NotMappable(ValueError):
    """The footprint cannot be written as a PACT footprint (the message says why)."""


@dataclass(frozen=True)
class PactSource:
    """Everything a PACT footprint is made of: the stored footprint and what surrounds it."""

    id: uuid.UUID
    created_at: datetime
    company_name: str
    org_id: uuid.UUID
    pcr_code: str
    product_name: str
    normalised_input: Mapping[str, Any]
    result: Mapping[str, Any]
    preceding_ids: Sequence[uuid.UUID] = ()
    deprecated: bool = False
    rule_name: str | None = None
    cn_code: str | None = None
    catalogue: Catalogue | None = None
    extra_product_ids: Sequence[str] = field(default_factory=tuple)


@lru_cache(maxsize=1)
def classifications() -> dict[str, dict[str, str]]:
    path = Path(__file__).with_name("classifications.yaml")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(k): {kk: str(vv) for kk, vv in v.items()} for k, v in data.items()}


def _slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9().+,\-:=@;$_!*']+", "-", text.strip()).strip("-")
    return s[:120] or "product"


def _dt(value: datetime) -> str:
    v = value if value.tzinfo else value.replace(tzinfo=UTC)
    return v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _years_later(d: datetime, years: int) -> datetime:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, month=3, day=1)


def reference_period(src: PactSource) -> tuple[datetime, datetime, bool]:
    """Start (inclusive) and end (exclusive) of the reference period; False if assumed."""
    product = src.normalised_input.get("product") or {}
    rp = product.get("reference_period") if isinstance(product, Mapping) else None
    if isinstance(rp, Mapping) and rp.get("start") and rp.get("end"):
        start = date.fromisoformat(str(rp["start"]))
        end = date.fromisoformat(str(rp["end"])) + timedelta(days=1)  # PACT: end exclusive
        return (
            datetime.combine(start, time.min, UTC),
            datetime.combine(end, time.min, UTC),
            True,
        )
    year = src.created_at.year - 1
    return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC), False


def product_ids(src: PactSource) -> list[str]:
    product = src.normalised_input.get("product") or {}
    ids = list(src.extra_product_ids)
    for key in ("sku", "model"):
        value = product.get(key) if isinstance(product, Mapping) else None
        if value:
            ids.append(f"urn:pact:{URN_DOMAIN}:product-id:{src.org_id}:{key}:{_slug(str(value))}")
    if not ids:
        ids.append(f"urn:pact:{URN_DOMAIN}:product-id:{src.org_id}:name:{_slug(src.product_name)}")
    return list(dict.fromkeys(ids))


def product_classifications(src: PactSource) -> list[str]:
    known = classifications().get(src.pcr_code, {})
    out = []
    if known.get("cpc"):
        out.append(f"urn:pact:productclassification:un-cpc:{known['cpc']}")
    hs = src.cn_code or known.get("hs")
    if hs:
        out.append(f"urn:pact:{URN_DOMAIN}:hs-code:{hs}")
    return out


def gate_figures(result: Mapping[str, Any]) -> tuple[dict[str, float], Mapping[str, Any]]:
    """Indicators of the gate stages per declared unit, and the declared-unit entry."""
    per_unit = {p["key"]: p for p in result.get("per_unit") or []}
    du = per_unit.get("declared_unit")
    if du is None:
        raise NotMappable("the footprint has no declared-unit result")
    rows = [s for s in result.get("stages") or [] if s.get("stage") in GATE_STAGES]
    gate_total = sum(float(s.get("kgco2e") or 0.0) for s in rows)
    scale = float(du["kgco2e"]) / gate_total if gate_total else 1.0
    keys = {k for s in rows for k in (s.get("indicators") or {})}
    ind = {
        k: sum(float((s.get("indicators") or {}).get(k, 0.0)) for s in rows) * scale for k in keys
    }
    ind.setdefault("gwp100_total", float(du["kgco2e"]))
    return ind, du


def _dqi(src: PactSource) -> dict[str, str] | None:
    """Technological, geographical and temporal DQR of the gate contributors, weighted by their
    share: a line's own DQ criteria (primary data), else its dataset's (the release catalogue)."""
    lines_by_ptr: dict[str, Mapping[str, Any]] = {}

    def index(lines: Any, base: str) -> None:
        for i, line in enumerate(lines or []):
            if isinstance(line, Mapping):
                lines_by_ptr[f"{base}/{i}"] = line
                index(line.get("lines"), f"{base}/{i}/lines")

    index(src.normalised_input.get("lines"), "/lines")
    sums = {"ter": 0.0, "ger": 0.0, "tir": 0.0}
    weight = 0.0
    for c in (src.result.get("contributors") or {}).get("lines") or []:
        if c.get("stage") not in GATE_STAGES:
            continue
        w = abs(float(c.get("kgco2e") or 0.0))
        crit: dict[str, float] | None = None
        line = lines_by_ptr.get(str(c.get("pointer") or ""))
        if line and isinstance(line.get("dqr"), Mapping):
            d = line["dqr"]
            crit = {"ter": d["ter"], "ger": d["ger"], "tir": d["tir"]}
        elif c.get("dataset") and src.catalogue is not None:
            rec = src.catalogue.get(str(c["dataset"])) or {}
            dq = rec.get("dq") or {}
            if all(k in dq for k in ("TeR", "GeR", "TiR")):
                crit = {"ter": dq["TeR"], "ger": dq["GeR"], "tir": dq["TiR"]}
        if crit is None or w == 0:
            continue
        for k in sums:
            sums[k] += w * float(crit[k])
        weight += w
    if weight == 0:
        return None

    def score(k: str) -> str:
        return decimal_string(round(min(max(sums[k] / weight, 1.0), 5.0), 2))

    return {
        "technologicalDQR": score("ter"),
        "geographicalDQR": score("ger"),
        "temporalDQR": score("tir"),
    }


def _packaging(src: PactSource, scale_to_du: float) -> tuple[bool, float | None]:
    lines = flatten(src.normalised_input)
    included = any(x.packaging and not x.excluded for x in lines)
    contributors = (src.result.get("contributors") or {}).get("lines") or []
    total = float(src.result.get("total_kgco2e") or 0.0)
    listed = sum(float(c.get("kgco2e") or 0.0) for c in contributors)
    # The footprint lists its largest contributors only: the packaging figure is given when what
    # is not listed is at most 0.1 % of the total (SHOULD, not MUST: left out rather than guessed).
    complete = abs(total - listed) <= COMPLETE_ENOUGH * max(abs(total), 1e-9)
    if not included or not complete:
        return included, None
    gate_pack = sum(
        float(c.get("kgco2e") or 0.0)
        for c in contributors
        if c.get("packaging") and c.get("stage") in GATE_STAGES
    )
    return True, gate_pack * scale_to_du


def to_product_footprint(src: PactSource) -> dict[str, Any]:
    """The PACT v3 ProductFootprint of ``src`` (raises ``NotMappable``)."""
    r = src.result
    prov = r.get("provenance") or {}
    ind, du = gate_figures(r)
    unit_key = str(du.get("unit") or "").strip().lower()
    if unit_key not in PACT_UNITS:
        raise NotMappable(f"declared unit {du.get('unit')!r} has no PACT equivalent")
    pact_unit, factor = PACT_UNITS[unit_key]
    du_amount = float(du.get("amount") or 1.0)
    gate_rows = [s for s in r.get("stages") or [] if s.get("stage") in GATE_STAGES]
    gate_fu = sum(float(s.get("kgco2e") or 0.0) for s in gate_rows)
    scale_to_du = float(du["kgco2e"]) / gate_fu if gate_fu else 1.0

    total = ind.get("gwp100_total", 0.0)
    bio_emission = ind.get("biogenic_co2_emission", 0.0)
    bio_removal = ind.get("biogenic_co2_removal", 0.0)
    excl = total + bio_emission
    incl = excl - bio_removal

    start, end, stated = reference_period(src)
    mass, mass_basis = product_mass_kg(src.normalised_input)
    product = src.normalised_input.get("product") or {}
    site = product.get("production_site") if isinstance(product, Mapping) else None
    country = site.get("country") if isinstance(site, Mapping) else None
    cut = r.get("cut_off") or {}
    excluded = cut.get("excluded") or []
    exempted = float(cut.get("excluded_share") or 0.0) * 100

    comments = [
        f"Cradle-to-gate part ({', '.join(STAGE_WORDS[s] for s in GATE_STAGES)}) of an ISO 14067 "
        f"/ GB/T 24067 footprint calculated by PCF Service (footprint {src.id}, rule "
        f"{prov.get('pcr_code')} {prov.get('pcr_version')}, background release "
        f"{prov.get('release_id')}).",
        "fossilCarbonContent is not assessed by the calculation and is reported as 0.",
    ]
    if not stated:
        comments.append(
            "Reference period not stated in the input: the calendar year before "
            "the calculation is assumed."
        )
    if mass is None:
        comments.append("Product mass unknown: productMassPerDeclaredUnit is 0.")
    else:
        comments.append(f"Product mass per declared unit: {mass_basis}.")

    included_stages = [str(s.get("stage")) for s in r.get("stages") or []]
    boundary = (
        "Cradle-to-gate: "
        + "; ".join(STAGE_WORDS.get(s, s) for s in GATE_STAGES if s in included_stages)
        + f". The underlying footprint is {prov.get('boundary', '').replace('_', '-')}"
        + " (stages: "
        + ", ".join(STAGE_WORDS.get(s, s) for s in included_stages)
        + "); distribution, use and end of life are not part of this PCF."
    )
    pcf: dict[str, Any] = {
        "declaredUnitOfMeasurement": pact_unit,
        "declaredUnitAmount": decimal_string(du_amount * factor),
        "productMassPerDeclaredUnit": decimal_string(mass or 0.0),
        "referencePeriodStart": _dt(start),
        "referencePeriodEnd": _dt(end),
        "boundaryProcessesDescription": boundary,
        "pcfExcludingBiogenicUptake": decimal_string(excl),
        "pcfIncludingBiogenicUptake": decimal_string(incl),
        "fossilGhgEmissions": non_negative(ind.get("gwp100_fossil", 0.0), "fossilGhgEmissions"),
        "fossilCarbonContent": "0",
        "landUseChangeGhgEmissions": non_negative(
            ind.get("gwp100_land_use", 0.0), "landUseChangeGhgEmissions"
        ),
        "biogenicCO2Uptake": non_positive(-bio_removal, "biogenicCO2Uptake"),
        "biogenicNonCO2Emissions": non_negative(
            ind.get("gwp100_biogenic_ch4", 0.0), "biogenicNonCO2Emissions"
        ),
        "ipccCharacterizationFactors": [str(prov.get("gwp_set") or "AR6")],
        "crossSectoralStandards": ["ISO14067"],
        "exemptedEmissionsPercent": decimal_string(exempted),
        "allocationRulesDescription": "As the product category rule prescribes: avoid "
        "allocation (subdivision, system expansion), then physical (mass), then economic; "
        "end of life by the rule's method (cut-off by default).",
    }
    if country and re.fullmatch(r"[A-Z]{2}", str(country)):
        pcf["geographyCountry"] = str(country)
    included, pack = _packaging(src, scale_to_du)
    pcf["packagingEmissionsIncluded"] = included
    if included and pack is not None:
        pcf["packagingGhgEmissions"] = non_negative(pack, "packagingGhgEmissions")
    if excluded:
        pcf["exemptedEmissionsDescription"] = "; ".join(
            f"{e.get('name')} (estimated {float(e.get('estimated_share') or 0):.2%})"
            for e in excluded
        )
    if src.rule_name or prov.get("pcr_code"):
        pcf["productOrSectorSpecificRules"] = [
            {
                "operator": "Other",
                "ruleNames": [
                    f"{src.rule_name or prov.get('pcr_code')} {prov.get('pcr_version')}".strip()
                ],
                "otherOperatorName": "PCF Service product category rules",
            }
        ]
    if prov.get("release_id"):
        pcf["secondaryEmissionFactorSources"] = [
            {"name": "PCF Service background-data release", "version": str(prov["release_id"])}
        ]
    dq = r.get("data_quality") or {}
    if "primary_data_share" in dq:
        pcf["primaryDataShare"] = decimal_string(round(float(dq["primary_data_share"]) * 100, 4))
    dqi = _dqi(src)
    if dqi is not None:
        pcf["dqi"] = dqi

    pf: dict[str, Any] = {
        "id": str(src.id),
        "specVersion": SPEC_VERSION,
        "created": _dt(src.created_at),
        "status": "Deprecated" if src.deprecated else "Active",
        "validityPeriodStart": _dt(end),
        "validityPeriodEnd": _dt(_years_later(end, VALIDITY_YEARS)),
        "companyName": src.company_name,
        "companyIds": [f"urn:uuid:{src.org_id}"],
        "productDescription": f"{src.product_name}"
        + (f" ({product.get('model')})" if product.get("model") else "")
        # the PCF is cradle-to-gate per declared unit: describe that, not the functional unit
        + f" — {du.get('description') or r.get('functional_unit', '')}".rstrip(" —"),
        "productIds": product_ids(src),
        "productNameCompany": src.product_name,
        "comment": " ".join(comments),
        "pcf": pcf,
    }
    classes = product_classifications(src)
    if classes:
        pf["productClassifications"] = classes
    if src.preceding_ids:
        pf["precedingPfIds"] = [str(i) for i in dict.fromkeys(src.preceding_ids)]
    return pf
