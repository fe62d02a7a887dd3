"""The request path's shortcuts give the same numbers as the straightforward code they replace:
cached pint factors, the number check that builds pointers only for bad numbers, the Monte Carlo
of one indicator, and the calculation of every example through them (results stable run to run).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pint
import pytest

from app.background.loader import BackgroundData
from app.footprints.calculator import CalcConfig, RuleRef, calculate
from app.footprints.engine_port import engine_view
from app.footprints.normalise import check_numbers
from app.footprints.services import parse_input
from app.rules.interpreter import Rule, load_reference_rules, ptr
from app.rules.units import magnitude_in, parse_unit, quantity
from tests.footprints.conftest import all_examples, example

PAIRS = [
    ("g", "kg"),
    ("t", "kg"),
    ("kg", "kg"),
    ("lb", "kg"),
    ("MWh", "kWh"),
    ("MJ", "kWh"),
    ("kWh", "MJ"),
    ("mL", "L"),
    ("m**3", "L"),
    ("hl", "L"),
    ("t*km", "kg*km"),
    ("kg*km", "t*km"),
    ("%", "dimensionless"),
    ("kg/t", "dimensionless"),
    ("km", "m"),
    ("kWh/day", "kWh/year"),
    ("item", "item"),
    ("degC", "K"),  # offset units: converted by value, never by a cached factor
    ("degF", "degC"),
]


@pytest.mark.parametrize(("unit", "to"), PAIRS)
def test_cached_factor_is_bit_identical_to_pint(unit: str, to: str) -> None:
    for value in (0.0, 1.0, 0.1, 3.3, 12.5, 1e-7, 987654.321, -2.75, 1 / 3):
        expected = float(quantity(value, unit).to(parse_unit(to)).magnitude)
        assert magnitude_in(value, unit, to) == expected
        # a unit string given to .to() directly parses to the same units
        assert float(quantity(value, unit).to(to).magnitude) == expected


def test_cached_factor_raises_as_pint_does() -> None:
    with pytest.raises(pint.errors.DimensionalityError):
        magnitude_in(1.0, "kg", "kWh")
    with pytest.raises(pint.errors.DimensionalityError):  # again: errors are never cached
        magnitude_in(1.0, "kg", "kWh")


def _walk_numbers(data: Any, at: str = "") -> Iterator[tuple[str, float]]:
    """The original walk: every number with its pointer."""
    if isinstance(data, bool):
        return
    if isinstance(data, int | float):
        yield at, float(data)
    elif isinstance(data, dict):
        for k, v in data.items():
            yield from _walk_numbers(v, at + ptr(k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _walk_numbers(v, at + ptr(i))


def _reference_bad(raw: Any, max_amount: float) -> list[tuple[str, str]]:
    out = []
    for at, v in _walk_numbers(raw):
        if math.isnan(v):
            out.append((at, "not_a_number"))
        elif math.isinf(v):
            out.append((at, "not_finite"))
        elif abs(v) > max_amount:
            out.append((at, "out_of_bounds"))
    return out


@pytest.mark.parametrize("max_amount", [1e9, 10.0, math.inf])
def test_number_check_matches_the_full_walk(max_amount: float) -> None:
    raw = example("refrigerator-300l-two-door.json")
    raw["lines"][0]["amount"] = float("nan")
    raw["lines"][1]["amount"] = float("inf")
    raw["lines"][2]["amount"] = -1e12
    raw["product"]["a/b~c"] = [1, True, {"x": float("-inf")}, 5e10]
    got = [(e.pointer, e.code) for e in check_numbers(raw, max_amount)]
    assert got == _reference_bad(raw, max_amount)
    assert got  # the injected problems are found


def test_monte_carlo_of_one_indicator_equals_its_column(background: BackgroundData) -> None:
    engine = background.engine
    if not engine.bank_ready:
        pytest.skip("the release has no Monte Carlo bank")
    keys = engine.products[:: max(1, engine.n_products // 25)][:25]
    demand = {k: 0.5 + i for i, k in enumerate(keys)}
    sigmas = {keys[0]: 0.2, keys[3]: 0.05}
    full = engine.monte_carlo(demand, iterations=100, seed=3, sigmas=sigmas, keep_samples=True)
    for pos, key in enumerate(engine.indicator_keys):
        one = engine.monte_carlo(
            demand,
            iterations=100,
            seed=3,
            sigmas=sigmas,
            keep_samples=True,
            summarize=False,
            indicators=(key,),
        )
        assert one.samples is not None and full.samples is not None
        assert np.array_equal(one.samples[:, 0], full.samples[:, pos])
        assert one.stats == {}


def test_examples_are_stable_run_to_run(background: BackgroundData) -> None:
    """Every example twice (cold, then with every cache warm): the same numbers, bit for bit."""
    cfg = CalcConfig(max_lines=2000, max_depth=8, max_amount=1e9, mc_iterations=200, mc_seed=7)
    rules = {code: Rule(doc) for code, doc in load_reference_rules().items()}

    def run(name: str) -> dict[str, Any]:
        inp = parse_input(example(name), background, cfg)
        code = inp.product.pcr_code
        calc = calculate(
            inp, rules[code], RuleRef(code, "1.0.0", "t"), background, engine_view(background), cfg
        )
        calc.result["provenance"].pop("calculated_at")
        return calc.result

    first = {name: run(name) for name in all_examples()}
    again = {name: run(name) for name in all_examples()}
    assert first == again
