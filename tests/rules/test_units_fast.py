"""``units.new_quantity`` builds the quantity pint's constructor builds (the request path makes a
handful per footprint without pint's argument handling); the use-phase models' quantities too."""

from __future__ import annotations

import math
from typing import Any

import pint
import pytest

from app.rules import usephase
from app.rules.units import new_quantity, parse_unit, quantity, ureg

UNITS = ["kg", "g", "kWh/day", "kWh/year", "1/year", "dimensionless", "kg/t", "L", "degC", "%"]
VALUES = [0.0, -0.0, 1.0, 0.1, 1 / 3, -2.75, 1e-300, 987654.321, math.inf, math.nan]


def _same(got: Any, want: Any) -> None:
    assert type(got) is type(want)
    assert vars(got).keys() == vars(want).keys()
    assert got._units is want._units or got._units == want._units
    a, b = got._magnitude, want._magnitude
    assert type(a) is type(b)
    assert (math.isnan(a) and math.isnan(b)) or (
        a == b and math.copysign(1, a) == math.copysign(1, b)
    )


@pytest.mark.parametrize("unit", UNITS)
def test_new_quantity_is_pints_quantity(unit: str) -> None:
    units = parse_unit(unit)._units
    for value in VALUES:
        want = ureg().Quantity(value, units)
        got = new_quantity(value, units)
        _same(got, want)
        _same(quantity(value, unit), ureg().Quantity(float(value), parse_unit(unit)))
        if math.isfinite(value) and unit not in ("degC",):
            # it behaves as pint's own: conversions and arithmetic give the same bits
            assert got.to(units).magnitude == want.to(units).magnitude
            assert (got * 3).magnitude == (want * 3).magnitude
            assert str(got.units) == str(want.units)


def test_other_magnitudes_go_through_pint() -> None:
    units = parse_unit("kg")._units
    for value in (3, [1.0, 2.0]):
        got = new_quantity(value, units)  # type: ignore[arg-type]
        want = ureg().Quantity(value, units)
        assert type(got) is type(want) and type(got._magnitude) is type(want._magnitude)
    for refused in (None, True):  # pint's own refusal, as before
        with pytest.raises(TypeError):
            new_quantity(refused, units)  # type: ignore[arg-type]
    q = new_quantity(2.0, "kg")  # a unit given as text: pint parses it
    assert isinstance(q, pint.Quantity) and q.magnitude == 2.0


@pytest.mark.parametrize(("value", "unit"), [(2.5, "kWh/year"), (7.0, "kWh"), (8.4, "kg/t")])
def test_use_phase_quantities_are_pints(value: float, unit: str) -> None:
    _same(usephase._q(value, unit), ureg().Quantity(value, unit))
