"""The calculation's per-release and per-rule shortcuts give the plain computation's result.

``test_calc_cache.py`` checks the engine's caches against a reference engine view; this file
checks what the calculator itself keeps or skips against the same calculator with each shortcut
turned off:

* per release: dataset facts, default end-of-life datasets, the dataset of a hotspot activity
  (``_ReleaseFacts``), and the waste outputs' names and pointers;
* per request: a dataset's warning looked at once (not at every item of the dataset);
* per rule: the wording of its defaults (as results' inputs, and as warnings);
* the input walked in place (the input itself untouched) and the unknown-dataset check.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest

from app.background.loader import BackgroundData
from app.core.errors import FieldError
from app.footprints import calculator, tables
from app.footprints.calculator import (
    CalcConfig,
    RuleRef,
    _ReleaseFacts,
    _waste_names,
    calculate,
    dataset_problems,
)
from app.footprints.engine_port import engine_view
from app.footprints.normalise import InputWalk, normalised_and_hash
from app.footprints.services import parse_input
from app.rules.interpreter import ResolvedInput, Rule, _same_json, load_reference_rules, ptr
from app.rules.schema import Stage
from tests.footprints.conftest import all_examples, example
from tests.footprints.test_calc_cache import _variants

CFG = CalcConfig(max_lines=2000, max_depth=8, max_amount=1e9, mc_iterations=500, mc_seed=11)


@pytest.fixture(scope="module")
def rules() -> dict[str, Rule]:
    return {code: Rule(doc) for code, doc in load_reference_rules().items()}


class _NeverSeen(set[str]):
    """A set that never holds anything: every item of a dataset looks at its warning."""

    def __contains__(self, item: object) -> bool:
        return False


def _shortcuts_off(m: pytest.MonkeyPatch) -> None:
    """Every calculator shortcut off: fresh release facts per calculation, dataset warnings
    looked at for every item, defaults worded per request, waste names worded per output."""
    m.setattr(calculator, "_release_facts", lambda catalogue: _ReleaseFacts())
    m.setattr(calculator, "_default_warnings", lambda rule: {})
    m.setattr(calculator, "_waste_names", _waste_names.__wrapped__)
    m.setattr(ResolvedInput, "as_dict", lambda self: self._as_dict())
    init = calculator._Builder.__init__

    def plain_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self._dataset_warned = _NeverSeen()

    m.setattr(calculator._Builder, "__init__", plain_init)


def _run(inp: Any, rule: Rule, bg: BackgroundData) -> Any:
    code = inp.product.pcr_code
    calc = calculate(inp, rule, RuleRef(code, "1.0.0", "t"), bg, engine_view(bg), CFG)
    calc.result["provenance"].pop("calculated_at")
    return calc


def _outcome(raw: dict[str, Any], rules: dict[str, Rule], bg: BackgroundData) -> str:
    """The whole result (or every problem), as JSON text: floats by their shortest repr, so
    equal text means the same bits, the same types and the same key order."""
    try:
        inp = parse_input(raw, bg, CFG)
        calc = _run(inp, rules[inp.product.pcr_code], bg)
    except Exception as exc:  # a 422 with its problems
        errors = [e.as_dict() for e in getattr(exc, "errors", [])]
        return json.dumps({"failed": type(exc).__name__, "errors": errors}, ensure_ascii=False)
    demand = {st.value: [[list(k), a] for k, a in d.items()] for st, d in calc.demand.items()}
    return json.dumps(
        [calc.result, calc.normalised_input, calc.input_hash, demand], ensure_ascii=False
    )


def _more_variants(name: str) -> dict[str, dict[str, Any]]:
    out = _variants(name)
    raw = example(name)
    for country in ("DE", "GB"):  # warnings of another geography
        v = copy.deepcopy(raw)
        v["product"]["production_site"] = {"country": country}
        out[f"made in {country}"] = v
    v = copy.deepcopy(raw)
    v["eol_datasets"] = {
        "*": {"recycling": "desnz24:plastic_plastics_average_plastics_open_loop_t"}
    }
    out["end-of-life dataset given"] = v
    v = copy.deepcopy(raw)
    v["lines"].append(copy.deepcopy(raw["lines"][0]))  # a dataset used twice
    v["lines"][-1]["packaging"] = True
    out["dataset twice"] = v
    v = copy.deepcopy(raw)
    v["inputs"] = {}
    out["defaults only"] = v
    v = copy.deepcopy(raw)
    v["lines"][0]["dataset"] = "nope:no_such_dataset"
    out["unknown dataset"] = v
    return out


@pytest.mark.parametrize("name", all_examples())
def test_shortcuts_give_the_plain_result(
    background: BackgroundData,
    rules: dict[str, Rule],
    name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cases = _more_variants(name)
    with monkeypatch.context() as m:
        _shortcuts_off(m)
        want = {variant: _outcome(raw, rules, background) for variant, raw in cases.items()}
    assert any('"proxy_dataset"' in w for w in want.values())  # warnings are compared too
    for _ in range(2):  # the caches as they are, then warm
        for variant, raw in cases.items():
            assert _outcome(raw, rules, background) == want[variant], variant


# ============================================================================ the pieces
def test_waste_names_are_the_output_names() -> None:
    for group in ("steel", "pu_foam", "a/b~c", "*"):
        for route in ("recycling", "landfill", "x/y"):
            for packaging in (False, True):
                name, at, share_at = _waste_names(group, route, packaging)
                assert name == f"End of life: {group} → {route}" + (
                    " (packaging)" if packaging else ""
                )
                assert at == ptr("eol_datasets", group, route)
                assert share_at == "/inputs/eol_treatment_shares" + ptr(group, route)


def test_release_facts_are_the_catalogues_and_bounded(background: BackgroundData) -> None:
    catalogue = background.catalogue
    facts = _ReleaseFacts()
    groups = ["steel", "aluminium", "glass", "pet", "rubber", "pcb", "unspecified", "x"]
    for group in groups:
        for route in ("recycling", "landfill", "incineration", "reuse", "teleportation"):
            for _ in range(2):  # computed, then kept
                want = tables.eol_dataset(group, route, catalogue)
                assert facts.eol_dataset(group, route, catalogue) == want
    for i in range(_ReleaseFacts.EOL_ENTRIES + 10):  # the caller's words: bounded
        facts.eol_dataset(f"group_{i}", "landfill", catalogue)
        assert len(facts.eol) <= _ReleaseFacts.EOL_ENTRIES
    engine = background.engine
    for key in [*engine.activities[:: max(1, len(engine.activities) // 50)], ("no", "such")]:
        rec = catalogue.by_brightway_key(*key)
        assert facts.dataset_of(catalogue, key) == (rec["pcf_id"] if rec else None)
        assert facts.dataset_of(catalogue, key) == (rec["pcf_id"] if rec else None)


def test_release_facts_follow_the_catalogue(background: BackgroundData) -> None:
    """One ``_ReleaseFacts`` per catalogue, dropped with it."""
    a = calculator._release_facts(background.catalogue)
    assert calculator._release_facts(background.catalogue) is a

    class Other:  # another release's catalogue
        pass

    other = Other()
    b = calculator._release_facts(other)
    assert b is not a and calculator._release_facts(other) is b
    n = len(calculator._RELEASES)
    del other
    assert len(calculator._RELEASES) == n - 1


def test_input_walk_leaves_the_input_alone(background: BackgroundData) -> None:
    raw = example("refrigerator-300l-two-door.json")
    raw["inputs"]["eol_treatment_shares"]["steel"] = {"recycling": 1.0}  # an integral float
    raw["inputs"]["refrigerant_charge"] = {"value": 55.0, "unit": "g"}
    inp = parse_input(raw, background, CFG)
    before = inp.model_dump(mode="python")
    walked = InputWalk(inp, CFG.max_amount)
    assert walked.tree["inputs"]["refrigerant_charge"]["value"] == 55
    assert type(walked.tree["inputs"]["refrigerant_charge"]["value"]) is int
    after = inp.model_dump(mode="python")
    assert repr(after) == repr(before)  # the same values, the same types (55.0 stays a float)
    assert type(inp.inputs["refrigerant_charge"]["value"]) is float
    got = walked.normalised_and_hash("1.0.0", "cradle_to_grave", "AR6")
    assert got == normalised_and_hash(inp, "1.0.0", "cradle_to_grave", "AR6")


def test_input_walk_hands_odd_values_to_pydantic(background: BackgroundData) -> None:
    inp = parse_input(example("refrigerator-300l-two-door.json"), background, CFG)
    inp.inputs["odd"] = {1: 2.0, "t": (1.0, 2)}  # a key that is not a string, a tuple
    walked = InputWalk(inp, CFG.max_amount)
    assert not walked.complete and not walked.bad_numbers
    got = walked.normalised_and_hash("1.0.0", "cradle_to_grave", "AR6")
    assert got == normalised_and_hash(inp, "1.0.0", "cradle_to_grave", "AR6")


def test_default_inputs_are_worded_fresh_and_exact(rules: dict[str, Rule]) -> None:
    seen = 0
    for rule in rules.values():
        for key, (stage, spec) in rule.specs.items():
            if spec.default is None:
                continue
            r = rule._default_input(key, stage, spec)
            want = r._as_dict()
            first, second = r.as_dict(), r.as_dict()
            assert _same_json(first, want) and _same_json(second, want)
            assert first is not second
            first["value"] = "scribbled"  # the caller's own copy
            assert _same_json(r.as_dict(), want)
            seen += 1
    assert seen > 10


def test_default_words_that_json_cannot_hold_are_copied(rules: dict[str, Rule]) -> None:
    rule = rules["refrigerator"]
    key = "eol_treatment_shares"
    stage, spec = rule.specs[key]
    shares = {"steel": {"recycling": math.nan, "landfill": 1}}
    r = ResolvedInput(key, stage, spec, shares, "default", "a source", None)
    got = r.as_dict()
    assert math.isnan(got["value"]["steel"]["recycling"])
    assert type(got["value"]["steel"]["landfill"]) is int
    assert got["value"] is not shares and got["value"]["steel"] is not shares["steel"]


def test_same_json_is_strict() -> None:
    assert _same_json({"a": [1, 2.5, None, "x", True]}, {"a": [1, 2.5, None, "x", True]})
    assert not _same_json({"a": 1}, {"a": 1.0})
    assert not _same_json({"a": True}, {"a": 1})
    assert not _same_json({"a": 0.0}, {"a": -0.0})
    assert not _same_json({"a": math.nan}, {"a": math.nan})
    assert not _same_json({"a": 1, "b": 2}, {"b": 2, "a": 1})  # key order
    assert not _same_json([1, 2], (1, 2))


# ============================================================================ unknown datasets
def _plain_dataset_problems(raw: Any, bg: Any) -> list[FieldError]:
    """``dataset_problems`` as it was written before pointers were built lazily."""
    out: list[FieldError] = []

    def check(value: Any, at: str) -> None:
        if isinstance(value, str) and value and value not in bg.catalogue:
            closest = bg.catalogue.closest(value)
            hint = f"; closest: {', '.join(closest)}" if closest else ""
            out.append(
                FieldError(
                    at,
                    "dataset_unknown",
                    f"no dataset {value} in release {bg.release_id}{hint}",
                    {"closest": closest},
                )
            )

    def lines(items: Any, at: str) -> None:
        if not isinstance(items, list):
            return
        for i, line in enumerate(items):
            if isinstance(line, dict):
                check(line.get("dataset"), f"{at}/{i}/dataset")
                lines(line.get("lines"), f"{at}/{i}/lines")

    if not isinstance(raw, dict):
        return out
    lines(raw.get("lines"), "/lines")
    m = raw.get("manufacturing")
    if isinstance(m, dict):
        for section, entries in m.items():
            if isinstance(entries, list):
                for i, e in enumerate(entries):
                    if isinstance(e, dict):
                        check(e.get("dataset"), ptr("manufacturing", section, i, "dataset"))
    legs = raw.get("transport")
    if isinstance(legs, list):
        for i, leg in enumerate(legs):
            if isinstance(leg, dict):
                check(leg.get("dataset"), ptr("transport", i, "dataset"))
    eol = raw.get("eol_datasets")
    if isinstance(eol, dict):
        for group, routes in eol.items():
            if isinstance(routes, dict):
                for route, ds in routes.items():
                    check(ds, ptr("eol_datasets", group, route))
    inputs = raw.get("inputs")
    if isinstance(inputs, dict):
        for key, value in inputs.items():
            if isinstance(value, dict):
                check(value.get("dataset"), ptr("inputs", key, "dataset"))
    return out


def test_unknown_datasets_are_found_as_before(background: BackgroundData) -> None:
    raws: list[Any] = [None, 3, [], {"lines": "x"}, {"lines": [5, {"dataset": ""}]}]
    raws.append(
        {
            "lines": [
                {"dataset": "zzz", "lines": [{"dataset": "factor:worldsteel_crude_x"}, 7]},
                {"dataset": 4, "lines": "no"},
            ],
            "manufacturing": {"fuels": [{"dataset": "bad/~id"}, 1], "x": 3},
            "transport": [{"dataset": 4}, {"dataset": "tr"}, "leg"],
            "eol_datasets": {"a/b": {"r": "bad"}, "c": 3},
            "inputs": {"g": {"dataset": "q"}, "h": 2},
        }
    )
    for name in all_examples():
        raw = example(name)
        raws.append(raw)
        bad = copy.deepcopy(raw)
        bad["lines"][-1]["dataset"] = "desnz24:no_such_thing"
        bad.setdefault("manufacturing", {}).setdefault("fuels", []).append(
            {"name": "x", "amount": 1, "unit": "kg", "dataset": "nope"}
        )
        raws.append(bad)
    for raw in raws:
        got = [e.as_dict() for e in dataset_problems(raw, background)]
        assert got == [e.as_dict() for e in _plain_dataset_problems(raw, background)]


def test_every_stage_value_is_plain() -> None:
    assert all(type(v) is str and v == s.value for s, v in calculator._STAGE_VALUE.items())
    assert set(calculator._STAGE_VALUE) == set(Stage)
