"""PACT v2.3 export (``GET /v1/footprints/{id}/pact?spec=2.3``): every example validates against
the vendored official v2 schema (plus decimal strings and no unknown fields), the numbers are the
v3 document's, the deprecated and the new field names are both there and agree, and fields v2.3
requires that we have no figure for are handled as ``mapping_v2`` documents."""

from __future__ import annotations

import copy
import math
import re
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from app.exports.pact.mapping import NotMappable
from app.exports.pact.mapping_v2 import to_product_footprint_v2
from tests.exports.conftest import CAN, GLASS, REFRIGERATOR, TYRE, ExportApi
from tests.exports.pact_schema import _formats
from tests.exports.pact_schema import assert_valid as assert_valid_v3

SPEC_V2 = (
    Path(__file__).resolve().parents[2]
    / "app"
    / "exports"
    / "pact"
    / "spec"
    / "v2"
    / "openapi.yaml"
)
BASE = "urn:pact:v2:openapi"
DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")  # v2 [=Decimal=]: a JSON string, never an exponent
# the object types of a ProductFootprint: in the strict check, a property they do not define is
# an error (the official schema allows any, so a left-over v3 field would pass unnoticed)
CLOSED = (
    "ProductFootprint",
    "CarbonFootprint",
    "DataQualityIndicators",
    "Assurance",
    "ProductOrSectorSpecificRule",
    "EmissionFactorDatabases",
)
V3_ONLY = {
    "declaredUnitOfMeasurement",
    "declaredUnitAmount",
    "pcfExcludingBiogenicUptake",
    "pcfIncludingBiogenicUptake",
    "ipccCharacterizationFactors",
    "landUseChangeGhgEmissions",
    "biogenicCO2Uptake",
    "biogenicNonCO2Emissions",
    "verification",
}


# ============================================================================ the v2 validator
@lru_cache(maxsize=2)
def _registry(strict: bool) -> Registry:
    doc = yaml.safe_load(SPEC_V2.read_text(encoding="utf-8"))
    if strict:
        doc = copy.deepcopy(doc)
        for name in CLOSED:
            doc["components"]["schemas"][name]["additionalProperties"] = False
    return Registry().with_resource(
        BASE, Resource.from_contents(doc, default_specification=DRAFT202012)
    )


@lru_cache(maxsize=4)
def _validator(strict: bool) -> Draft202012Validator:
    fc = _formats()  # RFC 3339 date-times, as for v3

    @fc.checks("decimal", raises=ValueError)
    def _decimal(value: object) -> bool:
        if isinstance(value, str) and not DECIMAL.match(value):
            raise ValueError(f"{value!r} is not a PACT decimal string")
        return True

    schema = {"$ref": f"{BASE}#/components/schemas/ProductFootprint"}
    return Draft202012Validator(schema, registry=_registry(strict), format_checker=fc)


def errors_v2(instance: Any, strict: bool = True) -> list[str]:
    return [
        f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in _validator(strict).iter_errors(instance)
    ]


def assert_valid_v2(instance: Any) -> None:
    problems = errors_v2(instance)
    assert not problems, f"not a valid PACT v2.3 ProductFootprint: {problems[:10]}"


def _export(exp: ExportApi, name: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(v3 document, v2.3 document, footprint) of a new footprint from example ``name``."""
    fid = exp.footprint(name)
    v3 = exp.get("viewer", f"/v1/footprints/{fid}/pact")
    v2 = exp.get("viewer", f"/v1/footprints/{fid}/pact", params={"spec": "2.3"})
    assert v3.status_code == 200, v3.text
    assert v2.status_code == 200, v2.text
    return v3.json(), v2.json(), exp.get("viewer", f"/v1/footprints/{fid}").json()


def _gate(fp: dict[str, Any], key: str) -> float:
    """Indicator ``key`` of the gate stages per declared unit."""
    gate = [s for s in fp["stages"] if s["stage"] in {"raw_materials", "manufacturing"}]
    du = next(u for u in fp["per_unit"] if u["key"] == "declared_unit")
    scale = du["kgco2e"] / sum(s["kgco2e"] for s in gate)
    return float(sum(s["indicators"][key] for s in gate) * scale)


# ============================================================================ over the API
def test_the_validator_refuses_broken_documents(exp: ExportApi) -> None:
    _, good, _ = _export(exp, CAN)
    assert_valid_v2(good)
    pcf = good["pcf"]
    for broken in (
        {**good, "pcf": {**pcf, "pCfExcludingBiogenic": 51.3}},  # a number
        {**good, "pcf": {**pcf, "fossilGhgEmissions": "1e-3"}},  # an exponent
        {**good, "pcf": {**pcf, "declaredUnit": "piece"}},  # not in v2.3
        {**good, "pcf": {**pcf, "characterizationFactors": "AR4"}},
        {**good, "pcf": {**pcf, "exemptedEmissionsPercent": "0"}},  # v2.3: a number
        {**good, "pcf": {**pcf, "crossSectoralStandardsUsed": ["ISO14067"]}},  # the new name
        {**good, "pcf": {k: v for k, v in pcf.items() if k != "biogenicCarbonContent"}},
        {**good, "pcf": {**pcf, "pcfExcludingBiogenicUptake": "1"}},  # a v3 field
        {**good, "version": "1"},
        {k: v for k, v in good.items() if k != "productCategoryCpc"},
        {k: v for k, v in good.items() if k != "comment"},
    ):
        assert errors_v2(broken), broken
    # the official schema alone lets unknown (e.g. v3) fields through: hence the strict check
    assert not errors_v2({**good, "pcf": {**pcf, "pcfExcludingBiogenicUptake": "1"}}, strict=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", [CAN, GLASS, REFRIGERATOR, TYRE])
def test_every_example_exports_as_a_valid_v2_3_footprint(exp: ExportApi, name: str) -> None:
    v3, v2, fp = _export(exp, name)
    assert_valid_v3(v3)
    assert_valid_v2(v2)
    a, b = v3["pcf"], v2["pcf"]
    assert v2["specVersion"] == "2.3.3" and v2["version"] == 1 and "updated" not in v2
    assert not V3_ONLY & (set(v2) | set(b))
    # the product footprint's own fields are the v3 document's
    for key in ("id", "created", "status", "companyName", "companyIds", "productIds"):
        assert v2[key] == v3[key], key
    for key in ("productDescription", "productNameCompany", "productClassifications"):
        assert v2[key] == v3[key], key
    assert v2["comment"].startswith(v3["comment"])
    # same quantity, same decimal string
    same = {
        "fossilGhgEmissions": "fossilGhgEmissions",
        "fossilCarbonContent": "fossilCarbonContent",
        "pCfIncludingBiogenic": "pcfIncludingBiogenicUptake",
        "dLucGhgEmissions": "landUseChangeGhgEmissions",
        "biogenicCarbonWithdrawal": "biogenicCO2Uptake",
        "packagingGhgEmissions": "packagingGhgEmissions",
        "productMassPerDeclaredUnit": "productMassPerDeclaredUnit",
        "referencePeriodStart": "referencePeriodStart",
        "referencePeriodEnd": "referencePeriodEnd",
        "geographyCountry": "geographyCountry",
        "boundaryProcessesDescription": "boundaryProcessesDescription",
        "packagingEmissionsIncluded": "packagingEmissionsIncluded",
        "secondaryEmissionFactorSources": "secondaryEmissionFactorSources",
        "productOrSectorSpecificRules": "productOrSectorSpecificRules",
        "allocationRulesDescription": "allocationRulesDescription",
    }
    for k2, k3 in same.items():
        assert b[k2] == a[k3], (k2, b[k2], a[k3])
    # v2.3 excludes biogenic CO2 emissions from pCfExcludingBiogenic; v3 includes them
    bio_co2 = _gate(fp, "biogenic_co2_emission")
    total = _gate(fp, "gwp100_total")
    assert math.isclose(float(a["pcfExcludingBiogenicUptake"]), total + bio_co2, rel_tol=1e-6)
    assert math.isclose(float(b["pCfExcludingBiogenic"]), total, rel_tol=1e-7)
    assert math.isclose(
        float(b["otherBiogenicGhgEmissions"]),
        float(a["biogenicNonCO2Emissions"]) + bio_co2,
        rel_tol=1e-6,
        abs_tol=1e-9,
    )
    if _gate(fp, "biogenic_co2_emission") == 0:
        assert b["pCfExcludingBiogenic"] == a["pcfExcludingBiogenicUptake"]
    # numbers v2.3 types as JSON numbers
    assert b["exemptedEmissionsPercent"] == float(a["exemptedEmissionsPercent"])
    assert b["primaryDataShare"] == float(a["primaryDataShare"])
    assert isinstance(b["primaryDataShare"], int | float)
    # deprecated and new names: both present and consistent
    assert b["ipccCharacterizationFactorsSources"] == a["ipccCharacterizationFactors"]
    assert b["characterizationFactors"] in b["ipccCharacterizationFactorsSources"]
    assert b["crossSectoralStandards"] == a["crossSectoralStandards"] == ["ISO14067"]
    assert b["crossSectoralStandardsUsed"] == ["ISO Standard 14067"]
    cpc = f"urn:pact:productclassification:un-cpc:{v2['productCategoryCpc']}"
    assert (
        re.fullmatch(r"\d{4,5}", v2["productCategoryCpc"]) and cpc in v2["productClassifications"]
    )
    # no figure: a conversion of the uptake, or left out
    assert Decimal(b["biogenicCarbonContent"]) == pytest.approx(
        -Decimal(a["biogenicCO2Uptake"]) * Decimal("12.011") / Decimal("44.009")
    )
    assert b["biogenicAccountingMethodology"] == "ISO"
    assert "landManagementGhgEmissions" not in b and "dqi" not in b and "dqi" in a
    assert "landManagementGhgEmissions and dqi are not given" in v2["comment"]
    assert b["exemptedEmissionsDescription"] == a.get("exemptedEmissionsDescription", "")
    # units: v2.3 has no piece; a piece is declared by its mass, the values stay per piece
    if a["declaredUnitOfMeasurement"] == "piece":
        assert b["declaredUnit"] == "kilogram"
        assert b["unitaryProductAmount"] == a["productMassPerDeclaredUnit"]
        assert Decimal(b["unitaryProductAmount"]) > 1
        assert "no declared unit 'piece'" in v2["comment"]
    else:
        assert b["declaredUnit"] == a["declaredUnitOfMeasurement"] == "liter"
        assert b["unitaryProductAmount"] == a["declaredUnitAmount"] == "100"


def test_the_spec_parameter_is_validated(exp: ExportApi) -> None:
    fid = exp.footprint(REFRIGERATOR)
    default = exp.get("viewer", f"/v1/footprints/{fid}/pact").json()
    assert exp.get("viewer", f"/v1/footprints/{fid}/pact", params={"spec": "3.0"}).json() == default
    assert default["specVersion"].startswith("3.")
    for bad in ("2.0", "2.2", "3", "v2.3", "2.3.3", "", "latest"):
        r = exp.get("viewer", f"/v1/footprints/{fid}/pact", params={"spec": bad})
        assert r.status_code == 422, (bad, r.text)
    assert exp.get("rival", f"/v1/footprints/{fid}/pact", params={"spec": "2.3"}).status_code == 404


# ============================================================================ the mapping alone
RESULT = {  # one gate stage, per declared unit: fossil 8, biogenic CH4 0.5, land use 1.5
    "per_unit": [{"key": "declared_unit", "amount": 1.0, "unit": "kg", "kgco2e": 10.0}],
    "stages": [
        {
            "stage": "raw_materials",
            "kgco2e": 10.0,
            "indicators": {
                "gwp100_total": 10.0,
                "gwp100_fossil": 8.0,
                "gwp100_biogenic_ch4": 0.5,
                "gwp100_land_use": 1.5,
                "biogenic_co2_emission": 2.0,
                "biogenic_co2_removal": 3.0,
            },
        }
    ],
}


def _v3(**pcf: Any) -> dict[str, Any]:
    """A v3 document as ``mapping.to_product_footprint`` writes it for ``RESULT``."""
    doc: dict[str, Any] = {
        "id": "3f6c0f06-98d4-4b4a-9a73-0c1a2b3c4d5e",
        "specVersion": "3.0.3",
        "created": "2025-03-01T00:00:00Z",
        "status": "Active",
        "companyName": "Acme",
        "companyIds": ["urn:uuid:6f1c5b2e-1d1a-4a57-8c0f-3d2e1f0a9b8c"],
        "productDescription": "Barley malt",
        "productIds": ["urn:pact:pcf-service.example:product-id:x:sku:MALT"],
        "productClassifications": ["urn:pact:productclassification:un-cpc:23951"],
        "productNameCompany": "Malt",
        "comment": "Test footprint.",
        "pcf": {
            "declaredUnitOfMeasurement": "kilogram",
            "declaredUnitAmount": "1",
            "productMassPerDeclaredUnit": "1",
            "referencePeriodStart": "2025-01-01T00:00:00Z",
            "referencePeriodEnd": "2026-01-01T00:00:00Z",
            "boundaryProcessesDescription": "Cradle-to-gate.",
            "pcfExcludingBiogenicUptake": "12",
            "pcfIncludingBiogenicUptake": "9",
            "fossilGhgEmissions": "8",
            "fossilCarbonContent": "0",
            "landUseChangeGhgEmissions": "1.5",
            "biogenicCO2Uptake": "-3",
            "biogenicNonCO2Emissions": "0.5",
            "ipccCharacterizationFactors": ["AR6"],
            "crossSectoralStandards": ["ISO14067"],
            "exemptedEmissionsPercent": "0",
            "packagingEmissionsIncluded": False,
            "primaryDataShare": "12.5",
        },
    }
    doc["pcf"].update(pcf)
    return doc


def test_biogenic_co2_emissions_are_outside_pcf_excluding_biogenic() -> None:
    v3 = _v3()
    assert_valid_v3(v3)
    v2 = to_product_footprint_v2(v3, RESULT)
    assert_valid_v2(v2)
    b = v2["pcf"]
    assert b["pCfExcludingBiogenic"] == "10"  # v3: 12, with the 2 kg biogenic CO2 emitted
    assert b["pCfIncludingBiogenic"] == "9"
    assert b["otherBiogenicGhgEmissions"] == "2.5"  # biogenic CO2 2 + biogenic CH4 0.5
    assert b["dLucGhgEmissions"] == "1.5" and b["biogenicCarbonWithdrawal"] == "-3"
    assert b["biogenicCarbonContent"] == "0.81876434"  # 3 kg CO2 as carbon: 3 × 12.011 / 44.009
    assert b["primaryDataShare"] == 12.5 and b["exemptedEmissionsPercent"] == 0
    assert b["exemptedEmissionsDescription"] == ""
    assert v2["productCategoryCpc"] == "23951"
    assert "from 2025" in v2["comment"]  # reference period 2025: v2.3 expects dqi


def test_a_piece_is_declared_by_its_mass() -> None:
    v2 = to_product_footprint_v2(
        _v3(
            declaredUnitOfMeasurement="piece",
            declaredUnitAmount="2",
            productMassPerDeclaredUnit="61.4",
        ),
        RESULT,
    )
    assert_valid_v2(v2)
    assert (v2["pcf"]["declaredUnit"], v2["pcf"]["unitaryProductAmount"]) == ("kilogram", "61.4")
    assert v2["pcf"]["fossilGhgEmissions"] == "8"  # still per declared unit (2 pieces)
    assert "(2 piece)" in v2["comment"]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"declaredUnitOfMeasurement": "piece", "productMassPerDeclaredUnit": "0"}, "piece"),
        ({"declaredUnitOfMeasurement": "hour"}, "hour"),
        ({"ipccCharacterizationFactors": ["AR4", "AR6"]}, "AR5/AR6"),
        ({"crossSectoralStandards": ["PEF"]}, "crossSectoralStandardsUsed"),
        ({"exemptedEmissionsPercent": "1.5"}, "described"),
        ({"biogenicCO2Uptake": "0.5"}, "positive"),
    ],
)
def test_what_v2_3_cannot_say_is_refused(change: dict[str, Any], why: str) -> None:
    with pytest.raises(NotMappable, match=re.escape(why)):
        to_product_footprint_v2(_v3(**change), RESULT)


def test_no_cpc_code_no_v2_3() -> None:
    v3 = _v3()
    v3["productClassifications"] = ["urn:pact:pcf-service.example:hs-code:1107"]
    with pytest.raises(NotMappable, match="productCategoryCpc"):
        to_product_footprint_v2(v3, RESULT)


def test_spec_is_vendored_with_its_licence() -> None:
    licence = SPEC_V2.parent / "LICENSE.md"
    assert "World Business Council" in licence.read_text()
    assert licence.read_text() == (SPEC_V2.parents[1] / "LICENSE.md").read_text()
    assert "version: 2.3.3" in SPEC_V2.read_text()
    assert "sha256" in (SPEC_V2.parent / "README.md").read_text()
