"""One pint unit registry for the rules, the use-phase models and the bill of materials.

pint's own definitions plus the few units a footprint needs: a countable ``item`` (one appliance,
one tyre; alias ``unit``, ``pcs``), a ``cycle`` (one washing programme, dimensionless) and
``kgCO2e`` (a mass of CO2-equivalent on its own dimension, so a factor ``kgCO2e/kWh`` can never be
confused with a mass ratio).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import pint

_EXTRA = (
    "item = [item] = unit = pcs = piece = tyre",
    "cycle = 1 = cycles",
    "kgCO2e = [co2e] = kg_CO2e = kgCO2eq",
    "gCO2e = 0.001 kgCO2e",
    "tCO2e = 1000 kgCO2e",
    "tkm = tonne * kilometer",
)


@lru_cache(maxsize=1)
def ureg() -> pint.UnitRegistry:
    reg: pint.UnitRegistry = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
    for line in _EXTRA:
        reg.define(line)
    # pint parses a compound unit string ("kWh/year") again on every ``.to("...")``; the
    # registry never changes after this point, so the parsed (immutable) containers are cached.
    reg.parse_units_as_container = lru_cache(maxsize=4096)(  # type: ignore[method-assign]
        reg.parse_units_as_container
    )
    return reg


class UnitProblem(ValueError):
    """A unit string that cannot be read, or a quantity of the wrong kind."""


@lru_cache(maxsize=4096)
def parse_unit(text: str) -> Any:
    """``text`` → pint Unit; raises UnitProblem with a readable message (cached: units are
    immutable and the same few strings come back in every bill of materials)."""
    if not isinstance(text, str) or not text.strip():
        raise UnitProblem("a unit is required")
    try:
        return ureg().parse_units(text.strip().replace("%", "percent"))
    except (pint.errors.PintError, AttributeError, TypeError, ValueError, SyntaxError) as exc:
        raise UnitProblem(f"'{text}' is not a unit this service knows") from exc


def quantity(value: float, unit: str) -> pint.Quantity:
    return ureg().Quantity(float(value), parse_unit(unit))


@lru_cache(maxsize=4096)
def _factor(unit: str, to: str) -> float | None:
    """The factor pint multiplies by to convert ``unit`` to ``to``; None when an offset unit
    (°C, °F) is involved, which converts by value. Raises as ``Quantity.to`` would."""
    target = parse_unit(to)
    if (
        quantity(0.0, unit).to(target).magnitude != 0
        or quantity(0.0, to).to(parse_unit(unit)).magnitude != 0
    ):
        return None
    return float(quantity(1.0, unit).to(target).magnitude)


def magnitude_in(value: float, unit: str, to: str) -> float:
    """``value unit`` in ``to``, as ``float(quantity(value, unit).to(to).magnitude)`` (the same
    bits: pint converts a multiplicative unit as ``value * factor``), with the factor cached per
    (unit, to). Raises UnitProblem for an unknown unit, DimensionalityError when incompatible."""
    f = _factor(unit, to)
    if f is None:
        return float(quantity(value, unit).to(parse_unit(to)).magnitude)
    return float(value) * f


def compatible(unit_a: str, unit_b: str) -> bool:
    """True when both units parse and measure the same kind of thing."""
    try:
        a, b = parse_unit(unit_a), parse_unit(unit_b)
    except UnitProblem:
        return False
    return bool(a.dimensionality == b.dimensionality)


def dimension_name(unit: str) -> str:
    """A readable name of a unit's dimension (for error messages)."""
    try:
        dim = parse_unit(unit).dimensionality
    except UnitProblem:
        return "unknown"
    return str(dim) if dim else "dimensionless"


def convert(value: float, unit: str, to: str) -> float:
    """``value unit`` expressed in ``to`` (both must be compatible)."""
    try:
        return float(quantity(value, unit).to(parse_unit(to)).magnitude)
    except pint.errors.DimensionalityError as exc:
        raise UnitProblem(f"{unit} cannot be converted to {to}") from exc
