"""Numbers as the exports write them: PACT v3 decimal strings (ADR-39: ``"12.3456"``, never an
exponent), with a fixed number of significant digits."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

SIGNIFICANT = 8
NOISE = 1e-12  # float noise below this (relative to 1 kg CO2e) is zero


class NotExportable(ValueError):
    """A number cannot be written where it is asked for (e.g. negative where PACT wants >= 0)."""


def decimal_string(value: float | int | Decimal, significant: int = SIGNIFICANT) -> str:
    """``value`` as a plain decimal string with at most ``significant`` significant digits."""
    try:
        d = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    except (InvalidOperation, ValueError) as exc:
        raise NotExportable(f"{value!r} is not a number") from exc
    if not d.is_finite():
        raise NotExportable(f"{value!r} is not a finite number")
    if d.is_zero() or abs(d) < Decimal(NOISE):
        return "0"
    exp = d.adjusted() - significant + 1
    q = d.quantize(Decimal(1).scaleb(exp), rounding=ROUND_HALF_EVEN)
    text = format(q, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in {"-0", ""} else text


def non_negative(value: float, what: str) -> str:
    """A decimal string for a quantity that must be >= 0 (float noise counts as 0)."""
    if value < -NOISE:
        raise NotExportable(f"{what} is negative ({value:g}); PACT requires a value >= 0")
    return decimal_string(max(value, 0.0))


def non_positive(value: float, what: str) -> str:
    if value > NOISE:
        raise NotExportable(f"{what} is positive ({value:g}); PACT requires a value <= 0")
    return decimal_string(min(value, 0.0))
