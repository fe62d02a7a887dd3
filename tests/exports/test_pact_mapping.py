"""A footprint → a PACT v3 ProductFootprint: every example validates against the official schema,
numbers are decimal strings that match the footprint, and the version chain is right."""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.exports.numbers import NotExportable, decimal_string, non_negative
from tests.exports.conftest import CAN, REFRIGERATOR, ExportApi
from tests.exports.pact_schema import SPEC, assert_valid, errors
from tests.footprints.conftest import all_examples

DECIMAL = re.compile(r"^[+-]?\d+(\.\d+)?$")
SPEC_EXAMPLES = SPEC.parent / "examples"


def _decimals(pf: dict[str, Any]) -> dict[str, str]:
    pcf = pf["pcf"]
    return {k: v for k, v in pcf.items() if isinstance(v, str) and DECIMAL.match(v)}


def test_the_validator_accepts_the_official_examples_and_refuses_broken_ones() -> None:
    for name in ("example-1.json", "example-2.json", "example-3.json", "example-4.json"):
        assert_valid(json.loads((SPEC_EXAMPLES / name).read_text()))
    good = json.loads((SPEC_EXAMPLES / "example-1.json").read_text())
    for broken in (
        {**good, "pcf": {**good["pcf"], "pcfExcludingBiogenicUptake": 0.384}},  # a number
        {**good, "pcf": {**good["pcf"], "fossilGhgEmissions": "1e-3"}},  # an exponent
        {**good, "status": "Retired"},
        {**good, "id": "not-a-uuid"},
        {**good, "created": "2025-1-08T14:47:32Z"},
        {k: v for k, v in good.items() if k != "companyIds"},
    ):
        assert errors(broken), broken


@given(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False))
def test_decimal_strings_never_have_an_exponent_and_keep_the_value(x: float) -> None:
    s = decimal_string(x)
    assert DECIMAL.match(s), s
    assert math.isclose(float(Decimal(s)), x, rel_tol=1e-7, abs_tol=1e-12)


def test_negative_where_pact_wants_positive_is_refused() -> None:
    assert non_negative(-1e-15, "x") == "0"  # float noise
    with pytest.raises(NotExportable):
        non_negative(-0.5, "fossilGhgEmissions")


@pytest.mark.slow
def test_every_example_maps_to_a_valid_pact_footprint(exp: ExportApi) -> None:
    for name in all_examples():
        fid = exp.footprint(name)
        r = exp.get("viewer", f"/v1/footprints/{fid}/pact")
        assert r.status_code == 200, (name, r.text)
        pf = r.json()
        assert_valid(pf)
        assert pf["id"] == fid and pf["status"] == "Active" and "precedingPfIds" not in pf
        assert pf["specVersion"] == "3.0.3"
        fp = exp.get("viewer", f"/v1/footprints/{fid}").json()
        pcf = pf["pcf"]
        # cradle-to-gate per declared unit, biogenic CO2 emissions in, uptake out
        gate = [s for s in fp["stages"] if s["stage"] in {"raw_materials", "manufacturing"}]
        total = sum(s["indicators"]["gwp100_total"] for s in gate)
        bio_e = sum(s["indicators"]["biogenic_co2_emission"] for s in gate)
        bio_r = sum(s["indicators"]["biogenic_co2_removal"] for s in gate)
        du = next(u for u in fp["per_unit"] if u["key"] == "declared_unit")
        assert math.isclose(total, du["kgco2e"], rel_tol=1e-9)
        assert math.isclose(float(pcf["pcfExcludingBiogenicUptake"]), total + bio_e, rel_tol=1e-6)
        assert math.isclose(
            float(pcf["pcfIncludingBiogenicUptake"]),
            total + bio_e - bio_r,
            rel_tol=1e-6,
            abs_tol=1e-9,
        )
        fossil = sum(s["indicators"]["gwp100_fossil"] for s in gate)
        assert math.isclose(float(pcf["fossilGhgEmissions"]), fossil, rel_tol=1e-6, abs_tol=1e-9)
        assert pcf["ipccCharacterizationFactors"] == [fp["provenance"]["gwp_set"]]
        assert "ISO14067" in pcf["crossSectoralStandards"]
        assert pcf["geographyCountry"] == "CN"
        assert pcf["referencePeriodStart"] == "2024-01-01T00:00:00Z"
        assert pcf["referencePeriodEnd"] == "2025-01-01T00:00:00Z"  # end exclusive
        assert math.isclose(
            float(pcf["primaryDataShare"]),
            fp["data_quality"]["primary_data_share"] * 100,
            abs_tol=1e-3,
        )
        assert set(pcf["dqi"]) == {"technologicalDQR", "geographicalDQR", "temporalDQR"}
        assert all(1 <= float(v) <= 5 for v in pcf["dqi"].values())
        assert all(DECIMAL.match(v) for v in _decimals(pf).values())
        classes = pf["productClassifications"]
        assert any(c.startswith("urn:pact:productclassification:un-cpc:") for c in classes)
        assert any(":hs-code:" in c for c in classes)
        assert pf["productIds"] and all(p.startswith("urn:") for p in pf["productIds"])
        assert pf["companyIds"] == [f"urn:uuid:{exp.creds['maker'].org_id}"]
        assert pf["companyName"] == "Acme"


def test_units_mass_and_packaging(exp: ExportApi) -> None:
    beer = exp.get("maker", f"/v1/footprints/{exp.footprint(CAN)}/pact").json()
    assert beer["pcf"]["declaredUnitOfMeasurement"] == "liter"
    assert beer["pcf"]["declaredUnitAmount"] == "100"  # 1 hL
    assert beer["pcf"]["packagingEmissionsIncluded"] is True
    assert float(beer["pcf"]["packagingGhgEmissions"]) > 0
    # 105 kg of packed beer less 200 cans × 13.5 g, the tray (1 kg) and the film (0.25 kg)
    assert math.isclose(float(beer["pcf"]["productMassPerDeclaredUnit"]), 105 - 2.7 - 1.25)
    fridge = exp.get("maker", f"/v1/footprints/{exp.footprint(REFRIGERATOR)}/pact").json()
    assert fridge["pcf"]["declaredUnitOfMeasurement"] == "piece"
    assert fridge["pcf"]["declaredUnitAmount"] == "1"
    assert "urn:pact:productclassification:un-cpc:44811" in fridge["productClassifications"]
    # a gate PCF per declared unit: described by its declared unit, not the use-phase FU
    assert "factory gate" in fridge["productDescription"]
    assert "service life" not in fridge["productDescription"]


def test_a_recalculation_deprecates_its_predecessor(exp: ExportApi) -> None:
    first = exp.footprint(REFRIGERATOR)
    r = exp.post("maker", f"/v1/footprints/{first}/recalculate", json={})
    assert r.status_code == 201, r.text
    second = r.json()["id"]
    third = exp.post("maker", f"/v1/footprints/{second}/recalculate", json={}).json()["id"]
    old = exp.get("maker", f"/v1/footprints/{first}/pact").json()
    mid = exp.get("maker", f"/v1/footprints/{second}/pact").json()
    new = exp.get("maker", f"/v1/footprints/{third}/pact").json()
    for pf in (old, mid, new):
        assert_valid(pf)
    assert old["status"] == "Deprecated" and "precedingPfIds" not in old
    assert mid["status"] == "Deprecated" and mid["precedingPfIds"] == [first]
    assert new["status"] == "Active" and new["precedingPfIds"] == [second, first]


def test_pact_preview_is_tenant_scoped(exp: ExportApi) -> None:
    fid = exp.footprint(CAN)
    assert exp.get("rival", f"/v1/footprints/{fid}/pact").status_code == 404
    assert exp.get("buyer", f"/v1/footprints/{fid}/pact").status_code == 404


def test_spec_is_vendored_with_its_licence() -> None:
    spec_dir = Path(SPEC).parent
    assert (spec_dir / "LICENSE.md").is_file()
    assert "World Business Council" in (spec_dir / "LICENSE.md").read_text()
    assert "version: 3.0.3" in SPEC.read_text()
