"""The six reference rules, the schema and the interpreter (no database).

A rule is data: these tests read the YAML files through the one interpreter, check what every
rule must state, and build a seventh family from data alone.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from app.rules.bom import BomInput
from app.rules.interpreter import Rule, check_rule, parse_rule
from app.rules.schema import Boundary, Confidence, InputType, RuleDocument, Stage
from app.rules.services import document_of

SIX = {
    "beer",
    "refrigerator",
    "room-air-conditioner",
    "washing-machine",
    "passenger-car-tyre",
    "truck-bus-tyre",
}


def _inputs(doc: RuleDocument) -> dict[str, Any]:
    return {i.key: i for s in doc.stages for i in s.inputs}


def test_six_reference_rules_load_and_check(reference_rules: dict[str, RuleDocument]) -> None:
    assert set(reference_rules) == SIX
    for doc in reference_rules.values():
        assert check_rule(doc) == []
        assert [s.stage for s in doc.stages] == list(Stage)  # the five stages, in order
        assert doc.boundary.options == [Boundary.cradle_to_gate, Boundary.cradle_to_grave]
        assert doc.packaging.separate_line
        assert doc.gwp.default.value == "AR6" and {g.value for g in doc.gwp.allowed} == {
            "AR5",
            "AR6",
        }
        assert doc.electricity.default_approach.value == "location_based"
        assert doc.electricity.supplier_specific.contractual_instrument_required
        assert doc.electricity.supplier_specific.reported_separately
        assert doc.cut_off.per_item_max == 0.01
        assert doc.end_of_life.default_method.value == "cut_off"
        assert doc.data_quality.max_dqr <= 3.0


def test_every_default_is_sourced_and_never_not_found(
    reference_rules: dict[str, RuleDocument],
) -> None:
    for doc in reference_rules.values():
        for key, spec in _inputs(doc).items():
            if spec.default is not None:
                assert "domain.md" in spec.default.source, (doc.code, key)
                assert spec.default.confidence in (Confidence.source, Confidence.derived)
            else:
                # an input without a default says why (domain.md: not found, product-specific)
                assert spec.source, (doc.code, key)


def test_grid_factor_is_the_china_life_cycle_factor(
    reference_rules: dict[str, RuleDocument],
) -> None:
    for doc in reference_rules.values():
        grid = _inputs(doc)[doc.electricity.factor_input]
        assert grid.type is InputType.factor and grid.default is not None
        assert grid.default.dataset == "cn-elec:lca-national-2024"
        assert grid.default.value == 0.5777 and grid.default.unit == "kgCO2e/kWh"
        assert grid.datasets == ["cn-elec:lca-national-2024", "cn-elec:lca-national-2023"]


@pytest.mark.parametrize(
    ("code", "years", "confidence"),
    [
        ("refrigerator", 10, Confidence.source),
        ("room-air-conditioner", 10, Confidence.source),
        ("washing-machine", 8, Confidence.derived),
    ],
)
def test_appliance_service_life(
    reference_rules: dict[str, RuleDocument], code: str, years: int, confidence: Confidence
) -> None:
    life = _inputs(reference_rules[code])["service_life"]
    assert life.default is not None
    assert (life.default.value, life.default.unit) == (years, "year")
    assert life.default.confidence is confidence
    assert life.overridable is False


@pytest.mark.parametrize(
    ("code", "required"),
    [
        # domain.md marks these not found: the rule requires them instead of guessing
        (
            "beer",
            {
                "retail_cooling_energy",
                "retail_storage_days",
                "home_cooling_energy",
                "home_storage_days",
                "eol_treatment_shares",
            },
        ),
        ("washing-machine", {"cycles_per_year", "label_energy_per_cycle", "eol_treatment_shares"}),
        ("refrigerator", {"refrigerant_eol_loss", "label_energy_per_day"}),
        ("passenger-car-tyre", {"mileage", "eol_treatment_shares"}),
        ("truck-bus-tyre", {"mileage", "vehicle_mass", "tyres_per_vehicle"}),
    ],
)
def test_not_found_values_are_required_inputs(
    reference_rules: dict[str, RuleDocument], code: str, required: set[str]
) -> None:
    specs = _inputs(reference_rules[code])
    for key in required:
        assert specs[key].required and specs[key].default is None, key


def test_beer_reuse_rates_are_required_per_reusable_packaging_line(
    reference_rules: dict[str, RuleDocument],
) -> None:
    reqs = reference_rules["beer"].line_requirements
    assert any(r.when.reusable and r.when.packaging and "trips" in r.require for r in reqs)


def test_tyre_defaults_and_label_classes(reference_rules: dict[str, RuleDocument]) -> None:
    c1 = _inputs(reference_rules["passenger-car-tyre"])
    assert c1["vehicle_mass"].default.value == 1400  # type: ignore[union-attr]
    assert c1["drivetrain_efficiency"].default.value == 0.22  # type: ignore[union-attr]
    assert c1["fuel_factor"].default.value == 0.09  # type: ignore[union-attr]
    c3_model = reference_rules["truck-bus-tyre"].use_phase[0]
    assert c3_model.set["label_classes"]["A"] == {"max": 4.0}
    assert [u.key for u in reference_rules["passenger-car-tyre"].reporting_units] == ["per_1000_km"]


# ---------------------------------------------------------------------------- the schema
def test_invalid_document_lists_every_problem(reference_rules: dict[str, RuleDocument]) -> None:
    data = document_of(reference_rules["refrigerator"])
    data["cut_off"]["per_item_max"] = 2  # out of range
    data["stages"][3]["inputs"][1]["default"]["confidence"] = "guess"  # not a tag
    data["functional_unit"]["unkown_field"] = 1  # typo
    del data["gwp"]
    doc, problems = parse_rule(data)
    assert doc is None
    pointers = {p.pointer for p in problems}
    assert {
        "/cut_off/per_item_max",
        "/stages/3/inputs/1/default/confidence",
        "/functional_unit/unkown_field",
        "/gwp",
    } <= pointers


def test_meaning_problems_are_listed_at_once(reference_rules: dict[str, RuleDocument]) -> None:
    data = document_of(reference_rules["refrigerator"])
    use = data["stages"][3]
    use["inputs"][0]["unit"] = "kg"  # label energy no longer an energy per day
    use["inputs"][1]["default"]["confidence"] = "not_found"  # a not-found value as a default
    use["inputs"][1]["required"] = True  # required *and* defaulted
    data["use_phase"][0]["bind"]["nonsense"] = "service_life"
    data["use_phase"][1]["model"] = "no_such_model"
    data["gwp"]["default"] = "AR5"
    data["gwp"]["allowed"] = ["AR6"]
    doc, problems = parse_rule(data)
    assert doc is None
    got = {(p.pointer, p.code) for p in problems}
    assert ("/use_phase/0/bind/consumption_per_day", "unit_mismatch") in got
    assert ("/stages/3/inputs/1/default/confidence", "default_not_found") in got
    assert ("/stages/3/inputs/1/required", "required_with_default") in got
    assert ("/use_phase/0/bind/nonsense", "unknown_param") in got
    assert ("/use_phase/1/model", "unknown_model") in got
    assert ("/gwp/default", "not_allowed") in got


def test_a_seventh_family_needs_no_code(reference_rules: dict[str, RuleDocument]) -> None:
    """A dishwasher: per-cycle label energy + end-of-life, from data only."""
    data = copy.deepcopy(document_of(reference_rules["washing-machine"]))
    data["code"] = "dishwasher"
    data["name"] = "Household dishwasher"
    doc, problems = parse_rule(data)
    assert problems == [] and doc is not None
    rule = Rule(doc)
    bom = BomInput.model_validate(
        {
            "inputs": {
                "label_energy_per_cycle": {"value": 1.0, "unit": "kWh/cycle"},
                "cycles_per_year": {"value": 280, "unit": "cycle/year"},
                "eol_treatment_shares": {"*": {"recycling": 1.0}},
            },
            "lines": [
                {
                    "name": "steel",
                    "stage": "raw_materials",
                    "amount": 20,
                    "unit": "kg",
                    "dataset": "x",
                    "material_group": "steel",
                },
                {
                    "name": "power",
                    "stage": "manufacturing",
                    "category": "electricity",
                    "amount": 30,
                    "unit": "kWh",
                    "dataset": "cn-elec:lca-national-2024",
                },
                {
                    "name": "truck",
                    "stage": "distribution",
                    "category": "transport",
                    "amount": 0.02,
                    "unit": "t*km",
                    "dataset": "t",
                },
            ],
        }
    )
    outputs, report = rule.run_models(bom)
    assert report.valid, report.errors
    use = [o for o in outputs if o.stage is Stage.use]
    assert use[0].amount == pytest.approx(1.0 * 280 * 8)  # kWh/cycle × cycles/yr × 8 yr
    assert {o.flow for o in outputs if o.stage is Stage.end_of_life} == {"waste:steel:recycling"}
