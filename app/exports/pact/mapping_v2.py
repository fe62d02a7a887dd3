"""Our PACT v3 ProductFootprint → a PACT **v2.3** ProductFootprint (spec/v2/openapi.yaml, 2.3.3).

For buyers whose tools still speak PACT v2 (deprecated on 1 April 2026). One internal model, two
serializers: the v2.3 document is derived from the v3 document of ``mapping.to_product_footprint``;
no footprint number is recalculated. Where the field is the same quantity, the value is the v3
decimal string unchanged (fossilGhgEmissions, pCfIncludingBiogenic, packagingGhgEmissions,
dLucGhgEmissions, biogenicCarbonWithdrawal, …). Emission values are decimal strings (v2.3
``format: decimal``); ``exemptedEmissionsPercent`` and ``primaryDataShare`` are JSON numbers, as
v2.3 types them. Values are per declared unit, i.e. per ``unitaryProductAmount`` × ``declaredUnit``
(the v3 ``declaredUnitAmount`` × ``declaredUnitOfMeasurement``).

Renamed or re-typed fields (v3 → v2.3)::

    declaredUnitOfMeasurement, declaredUnitAmount → declaredUnit, unitaryProductAmount
    pcfIncludingBiogenicUptake                    → pCfIncludingBiogenic
    landUseChangeGhgEmissions                     → dLucGhgEmissions (v3 says "Replaces")
    biogenicCO2Uptake                             → biogenicCarbonWithdrawal (v3 says "Replaces")
    ipccCharacterizationFactors                   → ipccCharacterizationFactorsSources
                                                    + characterizationFactors (deprecated)
    crossSectoralStandards                        → crossSectoralStandards (v2.3 enum only)
                                                    + crossSectoralStandardsUsed (deprecated)
    productClassifications                        → productClassifications
                                                    + productCategoryCpc (deprecated, mandatory)
    verification                                  → assurance

What comes from the stored footprint result (``result``, i.e. ``PactSource.result``), because the
v3 document does not carry it — through the same ``mapping.gate_figures`` (gate stages per
declared unit):

* ``pCfExcludingBiogenic`` — v2.3 excludes biogenic CO2 *emissions* (v3's
  ``pcfExcludingBiogenicUptake`` includes them and excludes only the uptake), so it is the gate
  ``gwp100_total``, which counts biogenic CO2 as 0. Equal to the v3 value when there are no
  biogenic CO2 emissions.
* ``otherBiogenicGhgEmissions`` — all biogenic GHG emissions other than dLUC, iLUC and land
  management: gate biogenic CO2 emissions + ``gwp100_biogenic_ch4`` (the v3
  ``biogenicNonCO2Emissions``).

Choices for what v2.3 asks and we have no figure for (each is also said in ``comment``):

* ``declaredUnit`` — the v2.3 enum has no ``piece`` (v3 added it). v2.3 defines
  ``unitaryProductAmount`` as "the amount of declared units contained within the product"
  (v3's example: a car door of 80 kg is ``kilogram`` × ``80``), so a footprint per piece is
  written as ``kilogram`` × the product mass of the declared unit (the v3
  ``productMassPerDeclaredUnit``, packaging excluded); the values stay per piece. No mass (``0``)
  → not exportable as v2.3. ``hour`` and ``megabit second`` have no v2.3 equivalent either.
* ``biogenicCarbonContent`` (mandatory) — the calculation does not assess carbon content. v2.3
  defines ``biogenicCarbonWithdrawal`` as the biogenic carbon in the product converted to kg CO2e,
  and v3's ``biogenicCO2Uptake`` replaces it, so the content is that same quantity in kg C:
  −biogenicCO2Uptake × 12.011 / 44.009 (molar masses of C and CO2). A unit conversion, not an
  estimate: ``0`` exactly when the uptake is ``0``.
* ``fossilCarbonContent`` — ``0`` as in v3 (not assessed; the v3 comment says so).
* ``version`` — ``1``: our footprints are immutable (a recalculation is a new id with
  ``precedingPfIds``), so no footprint is ever updated; v3 keeps the field only as "MUST be 1".
  ``updated`` is left out (v2.3: MUST NOT be present if never updated).
* ``productCategoryCpc`` — the UN CPC code of the v3 ``urn:pact:productclassification:un-cpc:``
  classification; without one the footprint is not exportable as v2.3 (no code is guessed).
* ``characterizationFactors`` — the earliest IPCC report used (v2.3 wording); only ``AR5`` or
  ``AR6`` are allowed, anything else is not exportable.
* ``crossSectoralStandardsUsed`` — the deprecated names of the v3 standards that have one
  (``ISO14067`` → ``ISO Standard 14067``, ``ISO14040-44`` → ``ISO Standard 14044``,
  ``GHGP-Product`` → ``GHG Protocol Product standard``); none → not exportable.
* ``biogenicAccountingMethodology`` — ``ISO`` when the footprint follows ISO 14067 (our
  calculation reports biogenic emissions and removals apart, as ISO 14067 asks); else left out.
* ``exemptedEmissionsDescription`` (mandatory) — the v3 text; ``""`` when nothing was exempted,
  which v2.3 allows ("CAN be the empty string if no emissions were excluded").
* ``comment``, ``boundaryProcessesDescription``, ``packagingEmissionsIncluded`` (mandatory) — the
  v3 values (our v3 document always has them).
* Left out (no figure; optional in v2.3 for reference periods before 2025, "MUST be defined" from
  2025 — said in ``comment``): ``landManagementGhgEmissions`` (land use and land-use change is one
  indicator, reported as dLUC) and ``dqi`` (v2.3 wants coverage, completeness and reliability
  besides the technological, geographical and temporal DQR, on a 1–3 scale; ours are 1–5).
  ``iLucGhgEmissions`` and ``uncertaintyAssessmentDescription`` are optional and left out.
* ``assurance`` — from v3 ``verification`` if present and it names a provider (mandatory in
  v2.3); ``coverage`` only where the value exists in both (``product level``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from app.exports.numbers import decimal_string, non_negative
from app.exports.pact.mapping import NotMappable, gate_figures

SPEC_VERSION_V2 = "2.3.3"
CPC_URN = "urn:pact:productclassification:un-cpc:"
UNITS_V2 = frozenset(
    {
        "liter",
        "kilogram",
        "cubic meter",
        "kilowatt hour",
        "megajoule",
        "ton kilometer",
        "square meter",
    }
)
STANDARDS_V2 = (
    "ISO14067",
    "ISO14083",
    "ISO14040-44",
    "GHGP-Product",
    "PEF",
    "PACT-1.0",
    "PACT-2.0",
    "PACT-3.0",
)
DEPRECATED_STANDARDS = {
    "ISO14067": "ISO Standard 14067",
    "ISO14040-44": "ISO Standard 14044",
    "GHGP-Product": "GHG Protocol Product standard",
}
CARBON_PER_CO2 = Decimal("12.011") / Decimal("44.009")  # kg C per kg CO2 (molar masses)
V2_2025 = datetime(2025, 1, 1, tzinfo=UTC)

# v3 fields copied unchanged into the v2.3 CarbonFootprint (same name, same meaning)
SAME_PCF = (
    "productMassPerDeclaredUnit",
    "referencePeriodStart",
    "referencePeriodEnd",
    "fossilGhgEmissions",
    "fossilCarbonContent",
    "boundaryProcessesDescription",
    "packagingEmissionsIncluded",
    "packagingGhgEmissions",
    "aircraftGhgEmissions",
    "geographyRegionOrSubregion",
    "geographyCountry",
    "geographyCountrySubdivision",
    "productOrSectorSpecificRules",
    "allocationRulesDescription",
    "secondaryEmissionFactorSources",
)
# the v2.3 ProductFootprint in schema order; fields not set here are copied from v3 unchanged
ORDER = (
    "id",
    "specVersion",
    "precedingPfIds",
    "version",
    "created",
    "status",
    "validityPeriodStart",
    "validityPeriodEnd",
    "companyName",
    "companyIds",
    "productDescription",
    "productIds",
    "productClassifications",
    "productCategoryCpc",
    "productNameCompany",
    "comment",
    "pcf",
    "extensions",
)


def _number(text: str) -> int | float:
    """A v3 decimal string as the JSON number v2.3 asks for (same digits)."""
    d = Decimal(text)
    return int(d) if d == d.to_integral_value() else float(d)


def _required(pcf: Mapping[str, Any], key: str) -> Any:
    if key not in pcf:
        raise NotMappable(f"the v3 footprint has no {key}, which PACT v2.3 requires")
    return pcf[key]


def _characterization(sources: list[str]) -> str:
    """The deprecated ``characterizationFactors``: the earliest report used, AR5 or AR6."""
    versions = sorted(int(s[2:]) for s in sources if s[:2] == "AR" and s[2:].isdigit())
    if not versions or f"AR{versions[0]}" not in {"AR5", "AR6"}:
        raise NotMappable(f"characterization factors {sources} are not AR5/AR6 (PACT v2.3)")
    return f"AR{versions[0]}"


def _at_most_zero(text: str, value: Decimal) -> str:
    if value > 0:
        raise NotMappable(f"biogenicCO2Uptake is positive ({text}); PACT requires a value <= 0")
    return text


def _assurance(verification: Mapping[str, Any]) -> dict[str, Any] | None:
    if not verification.get("providerName"):
        return None
    out: dict[str, Any] = {"assurance": True, "providerName": verification["providerName"]}
    if verification.get("coverage") == "product level":
        out["coverage"] = "product level"
    for key in ("completedAt", "standardName", "comments"):
        if key in verification:
            out[key] = verification[key]
    return out


def to_product_footprint_v2(v3_doc: Mapping[str, Any], result: Mapping[str, Any]) -> dict[str, Any]:
    """The PACT v2.3 ProductFootprint of our v3 document ``v3_doc`` (from
    ``mapping.to_product_footprint``) and the footprint's stored ``result`` (raises
    ``NotMappable``, or ``NotExportable`` for a negative value where v2.3 wants one >= 0)."""
    v3 = v3_doc["pcf"]
    notes: list[str] = []

    unit = str(_required(v3, "declaredUnitOfMeasurement"))
    amount = str(_required(v3, "declaredUnitAmount"))
    if unit == "piece":
        mass = str(v3.get("productMassPerDeclaredUnit") or "0")
        if Decimal(mass) <= 0:
            raise NotMappable(
                "PACT v2.3 has no declared unit 'piece' and the product mass is unknown, so the "
                "piece cannot be declared by its mass"
            )
        notes.append(
            f"PACT v2.3 has no declared unit 'piece': the declared unit ({amount} piece) is "
            f"given by its product mass, {mass} kilogram (packaging excluded); all values are "
            "per that declared unit, i.e. per piece."
        )
        unit, amount = "kilogram", mass
    elif unit not in UNITS_V2:
        raise NotMappable(f"declared unit {unit!r} has no PACT v2.3 equivalent")

    ind, _du = gate_figures(result)
    ar = [str(s) for s in _required(v3, "ipccCharacterizationFactors")]
    standards = [s for s in _required(v3, "crossSectoralStandards") if s in STANDARDS_V2]
    used = [DEPRECATED_STANDARDS[s] for s in standards if s in DEPRECATED_STANDARDS]
    if not used:
        raise NotMappable(
            "none of the cross-sectoral standards has a PACT v2.3 crossSectoralStandardsUsed name"
        )
    uptake = Decimal(str(_required(v3, "biogenicCO2Uptake")))
    exempted = str(_required(v3, "exemptedEmissionsPercent"))
    description = v3.get("exemptedEmissionsDescription")
    if description is None:
        if Decimal(exempted) != 0:
            raise NotMappable("emissions are exempted but not described (PACT v2.3 requires it)")
        description = ""

    pcf: dict[str, Any] = {
        "declaredUnit": unit,
        "unitaryProductAmount": amount,
        "pCfExcludingBiogenic": non_negative(ind.get("gwp100_total", 0.0), "pCfExcludingBiogenic"),
        "pCfIncludingBiogenic": _required(v3, "pcfIncludingBiogenicUptake"),
        "biogenicCarbonContent": decimal_string(-uptake * CARBON_PER_CO2),
        "dLucGhgEmissions": _required(v3, "landUseChangeGhgEmissions"),
        "otherBiogenicGhgEmissions": non_negative(
            ind.get("gwp100_biogenic_ch4", 0.0) + ind.get("biogenic_co2_emission", 0.0),
            "otherBiogenicGhgEmissions",
        ),
        "biogenicCarbonWithdrawal": _at_most_zero(v3["biogenicCO2Uptake"], uptake),
        "characterizationFactors": _characterization(ar),
        "ipccCharacterizationFactorsSources": ar,
        "crossSectoralStandardsUsed": used,
        "crossSectoralStandards": standards,
        "exemptedEmissionsPercent": _number(exempted),
        "exemptedEmissionsDescription": description,
    }
    for key in ("boundaryProcessesDescription", "packagingEmissionsIncluded"):
        _required(v3, key)
    for key in SAME_PCF:
        if key in v3:
            pcf[key] = v3[key]
    if "ISO14067" in standards:
        pcf["biogenicAccountingMethodology"] = "ISO"
    if "primaryDataShare" in v3:
        pcf["primaryDataShare"] = _number(str(v3["primaryDataShare"]))
    if "verification" in v3:
        assurance = _assurance(v3["verification"])
        if assurance is not None:
            pcf["assurance"] = assurance
        else:
            notes.append("The verification names no provider, which v2.3 assurance requires.")

    notes.append(
        "PACT v2.3 rendering of the PACT v3 footprint: biogenicCarbonContent is the biogenic CO2 "
        "uptake expressed as carbon (× 12.011/44.009); pCfExcludingBiogenic leaves out biogenic "
        "CO2 emissions, which otherBiogenicGhgEmissions gives with biogenic non-CO2 emissions; "
        "land use and land-use change are one figure, given as dLucGhgEmissions."
    )
    end = datetime.fromisoformat(str(v3["referencePeriodEnd"]).replace("Z", "+00:00"))
    missing = "landManagementGhgEmissions and dqi are not given"
    if end > V2_2025:
        notes.append(
            f"{missing} although v2.3 expects them for reference periods from 2025: the "
            "calculation has no separate land-management figure, and rates data quality on the "
            "v3 scale (technological, geographical, temporal DQR 1-5) only."
        )
    else:
        notes.append(
            f"{missing} (no separate land-management figure; data quality is rated on the v3 "
            "scale, technological, geographical and temporal DQR 1-5, only)."
        )

    cpc = [c.removeprefix(CPC_URN) for c in v3_doc.get("productClassifications") or []]
    cpc = [c for c in cpc if c and not c.startswith("urn:")]
    if not cpc:
        raise NotMappable("no UN CPC classification, which PACT v2.3 requires (productCategoryCpc)")

    own = {
        "specVersion": SPEC_VERSION_V2,
        "version": 1,
        "productCategoryCpc": cpc[0],
        "comment": " ".join([str(_required(v3_doc, "comment")), *notes]),
        "pcf": pcf,
    }
    return {
        key: own[key] if key in own else v3_doc[key] for key in ORDER if key in own or key in v3_doc
    }
