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
    """``ureg().Quantity(float(value), parse_unit(unit))`` (``new_quantity``)."""
    return new_quantity(float(value), parse_unit(unit)._units)


def new_quantity(magnitude: float, units: Any) -> pint.Quantity:
    """``ureg().Quantity(magnitude, units)`` of a Python float and a quantity's units (pint's
    immutable ``UnitsContainer``), built as pint builds it: for a float and a container its
    constructor only checks its arguments, then sets the instance's ``_magnitude`` (the float
    itself: this registry does not force arrays) and ``_units``. Those checks cost ten times the
    rest, and a request builds a handful of quantities. Anything else goes through pint.
    ``tests/rules/test_units_fast.py`` compares the two."""
    plain = _plain_quantity()
    if plain is None or type(magnitude) is not float or type(units) is not plain[1]:
        return ureg().Quantity(magnitude, units)
    q: Any = object.__new__(plain[0])
    q._magnitude = magnitude
    q._units = units
    built: pint.Quantity = q
    return built


@lru_cache(maxsize=1)
def _plain_quantity() -> tuple[type, type] | None:
    """(the registry's Quantity class, pint's UnitsContainer class) when the registry keeps
    magnitudes as given (no ndarray forced on them); None otherwise (pint builds them all)."""
    reg = ureg()
    if reg.force_ndarray or reg.force_ndarray_like:
        return None
    return reg.Quantity, type(reg.parse_units("kg")._units)


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


@lru_cache(maxsize=4096)
def _units_factor(units: Any, to: str) -> float | None:
    """``_factor`` for a quantity's own units (pint's immutable ``UnitsContainer``)."""
    reg = ureg()
    target = parse_unit(to)
    if (
        reg.Quantity(0.0, units).to(target).magnitude != 0
        or reg.Quantity(0.0, target).to(reg.Unit(units)).magnitude != 0
    ):
        return None
    return float(reg.Quantity(1.0, units).to(target).magnitude)


def magnitude_of(q: pint.Quantity, to: str) -> float:
    """``float(q.to(to).magnitude)`` with the factor cached per (units of ``q``, ``to``): the same
    bits (pint converts a multiplicative unit as ``magnitude * factor``; offset units convert by
    value, uncached). Raises DimensionalityError when incompatible."""
    f = _units_factor(q._units, to)
    if f is None:
        return float(q.to(parse_unit(to)).magnitude)
    return float(q.magnitude * f)


@lru_cache(maxsize=4096)
def _multiplicative(units: Any) -> bool:
    """True when ``units`` hold no offset unit (°C, °F), so that pint multiplies and divides
    quantities in them without converting them first."""
    return bool(ureg().Quantity(0.0, units).to_root_units().magnitude == 0)


@lru_cache(maxsize=4096)
def _ratio_factor(units_a: Any, units_b: Any) -> float | None:
    if not (_multiplicative(units_a) and _multiplicative(units_b)):
        return None
    return _units_factor(units_a / units_b, "dimensionless")


def ratio(a: pint.Quantity, b: pint.Quantity) -> float:
    """``float((a / b).to("dimensionless").magnitude)`` with the factor cached per pair of units:
    the same bits (pint divides the magnitudes, then multiplies by the conversion factor).
    Raises DimensionalityError when ``a / b`` is not dimensionless."""
    f = _ratio_factor(a._units, b._units)
    if f is None:
        return float((a / b).to("dimensionless").magnitude)
    return float(a.magnitude / b.magnitude * f)


@lru_cache(maxsize=4096)
def _product_factor(unit_a: str, unit_b: str, to: str) -> float | None:
    a, b = parse_unit(unit_a)._units, parse_unit(unit_b)._units
    if not (_multiplicative(a) and _multiplicative(b)):
        return None
    return _units_factor(a * b, to)


def product_in(value_a: float, unit_a: str, value_b: float, unit_b: str, to: str) -> float:
    """``float((quantity(value_a, unit_a) * quantity(value_b, unit_b)).to(to).magnitude)``, the
    same bits (pint multiplies the magnitudes, then by the conversion factor), with the factor
    cached per units. Anything unusual (an unknown or offset unit, incompatible dimensions) is
    left to pint, which raises as it always did."""
    try:
        f = _product_factor(unit_a, unit_b, to)
    except Exception:  # pint's own expression below raises the error the caller expects
        f = None
    if f is None:
        return float((quantity(value_a, unit_a) * quantity(value_b, unit_b)).to(to).magnitude)
    return float(float(value_a) * float(value_b) * f)


@lru_cache(maxsize=4096)
def same_dimension(unit_a: str, unit_b: str) -> bool:
    """Both units parse to the same dimensionality (UnitProblem for an unknown unit; cached)."""
    return bool(parse_unit(unit_a).dimensionality == parse_unit(unit_b).dimensionality)


@lru_cache(maxsize=4096)
def unit_text(units: Any) -> str:
    """A quantity's units (``q._units``) in pint's short format (``f"{q.units:~}"``), "" for
    dimensionless; cached."""
    unit = ureg().Unit(units)
    return f"{unit:~}" if str(unit) != "dimensionless" else ""


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
