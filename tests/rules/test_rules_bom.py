"""Checking a bill of materials against a rule (no database): every problem at once."""

from __future__ import annotations

from typing import Any

import pytest

from app.rules.bom import BomInput
from app.rules.interpreter import Rule
from app.rules.schema import RuleDocument, Stage


def _line(name: str, stage: str = "raw_materials", **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": name, "stage": stage, "amount": 1, "unit": "kg"}
    base.update(kw)
    if not {"dataset", "supplier_value", "lines"} & base.keys() and not base.get("excluded"):
        base["dataset"] = f"ds:{name}"
    return base


def _tyre_lines() -> list[dict[str, Any]]:
    return [
        _line("natural rubber", amount=3.5, material_group="rubber"),
        _line("carbon black", amount=2.0, material_group="carbon_black"),
        _line("steel cord", amount=1.5, material_group="steel"),
        _line("film", amount=0.05, material_group="plastic", packaging=True),
        _line("power", "manufacturing", category="electricity", amount=12, unit="kWh"),
        _line("truck", "distribution", category="transport", amount=0.5, unit="t*km"),
    ]


def _bom(**kw: Any) -> BomInput:
    return BomInput.model_validate(kw)


def _codes(report: Any) -> set[tuple[str, str]]:
    return {(e.pointer, e.code) for e in report.errors}


@pytest.fixture
def c1(reference_rules: dict[str, RuleDocument]) -> Rule:
    return Rule(reference_rules["passenger-car-tyre"])


def test_tyre_bom_runs_and_reports_per_1000_km(c1: Rule) -> None:
    bom = _bom(
        inputs={
            "rrc": {"value": 8.0, "unit": "kg/t"},
            "mileage": {"value": 40000, "unit": "km"},
            "eol_treatment_shares": {"*": {"material_recovery": 0.5, "energy_recovery": 0.5}},
        },
        lines=_tyre_lines(),
    )
    outputs, report = c1.run_models(bom)
    assert report.valid, report.errors
    fuel = next(o for o in outputs if o.kind == "fuel")
    # the defaults of the rule: 1 400 kg, 4 tyres, η 0.22 → 4 992.5 MJ (see test_rules_usephase)
    assert fuel.amount == pytest.approx(4992.48, rel=1e-5)
    assert fuel.factor is not None and fuel.factor.value == 0.09
    assert report.inputs["vehicle_mass"].origin == "default"
    assert report.inputs["mileage"].origin == "supplied"
    # per 1 000 km: 1000 / 40 000 = 0.025 of the per-tyre result
    assert c1.reporting_factors(report.inputs) == {"per_1000_km": pytest.approx(0.025)}
    eol = {o.flow: o.amount for o in outputs if o.stage is Stage.end_of_life}
    assert eol["waste:rubber:material_recovery"] == pytest.approx(1.75)
    assert eol["waste:plastic:energy_recovery"] == pytest.approx(0.025)


def test_label_class_instead_of_rrc(c1: Rule) -> None:
    inputs: dict[str, Any] = {
        "label_class": "C",
        "mileage": {"value": 40000, "unit": "km"},
        "eol_treatment_shares": {"*": {"landfill": 1}},
    }
    outputs, report = c1.run_models(_bom(inputs=inputs, lines=_tyre_lines()))
    assert report.valid
    fuel = next(o for o in outputs if o.kind == "fuel")
    assert fuel.detail["rrc_kg_per_t"] == 9.0 and fuel.detail["rrc_class_min"] == 7.8
    # class E has no upper bound: the measured RRC is required
    inputs["label_class"] = "E"
    report = c1.check_bom(_bom(inputs=inputs, lines=_tyre_lines()))
    assert ("/inputs/rrc", "missing_input") in _codes(report)
    # neither RRC nor class
    del inputs["label_class"]
    report = c1.check_bom(_bom(inputs=inputs, lines=_tyre_lines()))
    assert ("/inputs/rrc", "missing_input") in _codes(report)


def test_every_problem_is_listed_at_once(reference_rules: dict[str, RuleDocument]) -> None:
    rule = Rule(reference_rules["refrigerator"])
    bom = _bom(
        gwp_set="AR5",
        reference_amount={"value": 1, "unit": "kg"},  # the rule counts appliances, not kg
        inputs={
            "label_energy_per_day": {"value": 0.8, "unit": "kWh"},  # per day missing
            "service_life": {"value": 12, "unit": "year"},  # the rule fixes it
            "refrigerant": "R-22",  # not a choice
            "colour": "white",  # not an input
            "eol_treatment_shares": {"steel": {"recycling": 0.7, "landfil": 0.2}},
        },
        lines=[
            _line("steel", amount=30, unit="kWh", material_group="steel"),  # not a material unit
            _line("abs"),  # no material group
            _line(
                "compressor",
                amount=1,
                unit="item",
                material_group="compressor",
                lines=[_line("motor", "manufacturing", material_group="copper")],  # stage
            ),
            _line("screws", excluded=True, estimated_share=0.02),  # above 1 % per item
            _line("labels", excluded=True),  # share missing
            _line(
                "green power",
                "manufacturing",
                category="electricity",
                unit="kWh",
                supplier_value={"value": 0.01, "unit": "kgCO2e/kWh", "source": "PPA"},
            ),
            _line("gas", "manufacturing", category="fuel", unit="t*km"),
            _line("paint", "use", amount=0.1, material_group="paint"),
        ],
    )
    report = rule.check_bom(bom)
    got = _codes(report)
    expected = {
        ("/reference_amount/unit", "unit_mismatch"),
        ("/inputs/label_energy_per_day/unit", "unit_mismatch"),
        ("/inputs/service_life", "not_overridable"),
        ("/inputs/refrigerant", "invalid_choice"),
        ("/inputs/colour", "unknown_input"),
        ("/inputs/refrigerant_charge", "missing_input"),
        ("/inputs/refrigerant_eol_loss", "missing_input"),
        ("/lines/0/unit", "unit_mismatch"),
        ("/lines/1/material_group", "missing_field"),
        ("/lines/2/lines/0/stage", "stage_mismatch"),
        ("/lines/3/estimated_share", "cutoff_item_exceeds"),
        ("/lines/4/estimated_share", "cutoff_share_missing"),
        ("/lines/5/supplier_value/contractual_instrument", "contractual_instrument_required"),
        ("/lines/6/unit", "unit_mismatch"),
        ("/lines", "stage_missing_lines"),  # no distribution (transport) lines
    }
    assert expected <= got, expected - got
    assert not report.valid
    assert report.cut_off["ok"] is False and report.cut_off["excluded_share"] == 0.02


def test_a_fixed_default_may_be_restated_not_changed(
    reference_rules: dict[str, RuleDocument],
) -> None:
    rule = Rule(reference_rules["refrigerator"])
    same = {"service_life": {"value": 120, "unit": "month"}}
    _, errors, _ = rule.resolve_inputs(same, rule.doc.boundary.default)
    assert not [e for e in errors if e.pointer == "/inputs/service_life"]
    other = {"service_life": {"value": 12, "unit": "year"}}
    _, errors, _ = rule.resolve_inputs(other, rule.doc.boundary.default)
    assert [e.code for e in errors if e.pointer == "/inputs/service_life"] == ["not_overridable"]


def test_end_of_life_shares_are_checked_per_material_group(
    reference_rules: dict[str, RuleDocument],
) -> None:
    rule = Rule(reference_rules["washing-machine"])
    bom = _bom(
        inputs={
            "label_energy_per_cycle": {"value": 0.9, "unit": "kWh/cycle"},
            "cycles_per_year": {"value": 220, "unit": "cycle/year"},
            "eol_treatment_shares": {"steel": {"recycling": 0.7, "landfil": 0.2}},
        },
        lines=[
            _line("steel", amount=30, material_group="steel"),
            _line("pp", amount=5, material_group="plastic"),
            _line("power", "manufacturing", category="electricity", unit="kWh"),
            _line("truck", "distribution", category="transport", unit="t*km"),
        ],
    )
    got = _codes(rule.check_bom(bom))
    assert ("/inputs/eol_treatment_shares/steel", "unknown_route") in got
    assert ("/inputs/eol_treatment_shares/steel", "shares_not_one") in got
    assert ("/inputs/eol_treatment_shares/plastic", "missing_input") in got


def test_cradle_to_gate_needs_no_use_or_end_of_life_inputs(c1: Rule) -> None:
    lines = [ln for ln in _tyre_lines() if ln["stage"] != "distribution"]
    report = c1.check_bom(_bom(boundary="cradle_to_gate", lines=lines, inputs={}))
    assert report.valid, report.errors
    assert set(report.inputs) == {"grid_electricity"}
    # a use-stage line is outside a cradle-to-gate boundary
    lines.append(_line("fuel", "use", category="fuel", unit="L"))
    report = c1.check_bom(_bom(boundary="cradle_to_gate", lines=lines, inputs={"mileage": 1}))
    assert ("/lines/5/stage", "stage_outside_boundary") in _codes(report)
    assert [w.code for w in report.warnings] == ["outside_boundary"]


def test_cut_off_coverage(c1: Rule) -> None:
    lines = [ln for ln in _tyre_lines() if ln["stage"] != "distribution"] + [
        _line(f"trace {i}", excluded=True, estimated_share=0.009) for i in range(6)
    ]
    report = c1.check_bom(_bom(boundary="cradle_to_gate", lines=lines))
    # six items of 0.9 % each: every item is within 1 %, but 5.4 % excluded leaves 94.6 % < 95 %
    assert _codes(report) == {("/lines", "cutoff_coverage")}
    assert report.cut_off["coverage"] == pytest.approx(0.946)


def test_beer_reusable_packaging_needs_trips(reference_rules: dict[str, RuleDocument]) -> None:
    rule = Rule(reference_rules["beer"])
    lines = [
        _line("malt", amount=15, material_group="malt"),
        _line("bottle", amount=40, material_group="glass", packaging=True, reusable=True),
        _line("crate", amount=8, material_group="plastic", packaging=True, reusable=True, trips=25),
        _line("heat", "manufacturing", category="heat", amount=30, unit="kWh"),
    ]
    report = rule.check_bom(_bom(boundary="cradle_to_gate", lines=lines))
    assert _codes(report) == {("/lines/1/trips", "missing_field")}
    lines[1]["trips"] = 20
    report = rule.check_bom(_bom(boundary="cradle_to_gate", lines=lines))
    assert report.valid
    # reusable packaging counts per trip: 40 kg / 20 trips = 2 kg glass, 8 / 25 = 0.32 kg crate
    masses = {(m.group, m.packaging): m.kg for m in report.materials}
    assert masses == {
        ("glass", True): pytest.approx(2.0),
        ("malt", False): pytest.approx(15.0),
        ("plastic", True): pytest.approx(0.32),
    }


def test_beer_cooling_through_the_rule(reference_rules: dict[str, RuleDocument]) -> None:
    rule = Rule(reference_rules["beer"])
    bom = _bom(
        reference_amount={"value": 100, "unit": "L"},
        inputs={
            "retail_cooling_energy": {"value": 0.002, "unit": "kWh/L/day"},
            "retail_storage_days": {"value": 10, "unit": "day"},
            "home_cooling_energy": {"value": 1, "unit": "Wh/L/day"},
            "home_storage_days": {"value": 5, "unit": "day"},
            "eol_treatment_shares": {"*": {"recycling": 1}},
        },
        lines=[
            _line("malt", amount=15, material_group="malt"),
            _line("can", amount=1.5, material_group="aluminium", packaging=True),
            _line("power", "manufacturing", category="electricity", amount=8, unit="kWh"),
            _line("truck", "distribution", category="transport", amount=5, unit="t*km"),
        ],
    )
    outputs, report = rule.run_models(bom)
    assert report.valid, report.errors
    by_flow = {o.flow: (o.stage, o.amount) for o in outputs}
    assert by_flow["electricity:retail_cooling"] == (Stage.distribution, pytest.approx(2.0))
    assert by_flow["electricity:home_cooling"] == (Stage.use, pytest.approx(0.5))
    assert rule.reporting_factors(report.inputs) == {"per_litre": pytest.approx(0.01)}


def test_supplier_specific_electricity_with_instrument_is_accepted(c1: Rule) -> None:
    lines = [ln for ln in _tyre_lines() if ln["stage"] != "distribution"]
    lines[4] = _line(
        "green power",
        "manufacturing",
        category="electricity",
        amount=12,
        unit="MWh",
        supplier_value={
            "value": 20,
            "unit": "kgCO2e/MWh",
            "source": "utility",
            "contractual_instrument": {"type": "gec", "reference": "GEC-2025-001"},
        },
    )
    assert c1.check_bom(_bom(boundary="cradle_to_gate", lines=lines)).valid


def test_bom_structure_is_checked_by_the_schema() -> None:
    from pydantic import ValidationError

    both = {"dataset": "a", "supplier_value": {"value": 1, "unit": "kgCO2e/kg", "source": "s"}}
    with pytest.raises(ValidationError) as exc:
        BomInput.model_validate(
            {
                "lines": [
                    {"name": "x", "stage": "raw_materials", "amount": 0, "unit": "kg"},
                    {"name": "y", "stage": "raw_materials", "amount": 1, "unit": "kg", **both},
                    {"name": "z", "stage": "recycling", "amount": 1, "unit": "kg"},
                ]
            }
        )
    locs = {e["loc"] for e in exc.value.errors()}
    assert ("lines", 0, "amount") in locs  # not above 0
    assert ("lines", 1) in locs  # both a dataset and a supplier value
    assert ("lines", 2, "stage") in locs  # not a life-cycle stage


def test_a_sub_assembly_needs_no_material_group_of_its_own(
    reference_rules: dict[str, RuleDocument],
) -> None:
    """The refrigerator rule asks every material line for its material group (end of life);
    a sub-assembly's end of life is that of its lines, so the parent is not asked, its lines
    are, and the parent's amount never reaches the end-of-life masses."""
    rule = Rule(reference_rules["refrigerator"])
    compressor = _line(
        "compressor",
        amount=2,
        unit="item",
        cn_code="841430",
        lines=[
            _line("shell", amount=6.5, material_group="steel"),
            _line("winding", amount=1.0),  # no group: still an error
        ],
    )
    bom = _bom(lines=[compressor])
    walked_errors = {(p, c) for p, c in _codes(rule.check_bom(bom)) if c == "missing_field"}
    assert walked_errors == {("/lines/0/lines/1/material_group", "missing_field")}
    ok = _bom(lines=[{**compressor, "lines": [_line("shell", amount=6.5, material_group="steel")]}])
    assert {m.group: m.kg for m in rule.materials(ok)} == {"steel": 13.0}


def test_beer_end_of_life_takes_the_packaging_only(
    reference_rules: dict[str, RuleDocument],
) -> None:
    """The beer rule's end-of-life model has ``materials: packaging``: an ingredient needs
    neither a material group nor end-of-life shares; a packaging line needs both. (What reaches
    each route: the beer examples' hand calculations in test_footprints_examples.py.)"""
    rule = Rule(reference_rules["beer"])

    def eol_problems(bom: BomInput) -> set[tuple[str, str]]:
        return {
            (p, c)
            for p, c in _codes(rule.check_bom(bom))
            if c == "missing_field" or p.startswith("/inputs/eol_treatment_shares")
        }

    shares = {"eol_treatment_shares": {"glass": {"recycling": 0.7, "landfill": 0.3}}}
    ok = _bom(
        inputs=shares,
        lines=[
            _line("malt", amount=16),  # no material group, no shares: an ingredient
            _line("hops", amount=0.15, material_group="hops"),  # a group without shares
            _line("bottle", amount=2.5, material_group="glass", packaging=True),
        ],
    )
    assert eol_problems(ok) == set()
    bad = _bom(
        inputs=shares,
        lines=[
            _line("crate", amount=1, packaging=True),
            _line("can", material_group="aluminium", packaging=True),
        ],
    )
    problems = eol_problems(bad)
    assert ("/lines/0/material_group", "missing_field") in problems
    assert any(p.startswith("/inputs/eol_treatment_shares") for p, _ in problems), problems
