"""Which greenhouse gas an elementary flow is, and its origin: the one place for that rule.

Used by the engine export (``index.json`` flow records) and by footprints ("by gas" results).
Names follow biosphere3 (ecoinvent 3.9): "Methane, fossil", "Methane, difluoro-, HFC-32",
"Carbon dioxide, from soil or biomass stock", "Carbon dioxide, in air", …  Halocarbons are named
after a methane or ethane skeleton, so the substance code (HFC-32, HCFC-22, CFC-11, Halon 1301,
R-14) is read first, and only a plain "Methane[, origin]" is CH4.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_CODE = re.compile(r"\b((?:HFC|HCFC|CFC|HCC|PFC|HFO|R)-\d+[a-z]*|Halon \d+)\b", re.IGNORECASE)
_PLAIN = (
    (re.compile(r"^carbon dioxide\b"), "CO2"),
    (re.compile(r"^methane(,\s*(fossil|non-fossil|biogenic|from soil or biomass stock))?$"), "CH4"),
    (re.compile(r"^(dinitrogen monoxide|nitrous oxide)\b"), "N2O"),
    (re.compile(r"^(sulfur|sulphur) hexafluoride\b"), "SF6"),
    (re.compile(r"^nitrogen (tri)?fluoride\b"), "NF3"),
)


def classify(name: str, categories: Sequence[str] = ()) -> tuple[str | None, str | None]:
    """(gas, origin) of a flow, e.g. ("CO2", "fossil"), ("HFC-32", None); (None, None) if the
    flow is not a named greenhouse gas. origin ∈ {fossil, biogenic, land_use, uptake, None}."""
    n = name.strip().lower()
    gas: str | None = None
    m = _CODE.search(name)
    if m:
        code = m.group(1)
        if code.lower().startswith("halon"):
            gas = "Halon " + code.split()[-1]
        else:
            prefix, _, rest = code.partition("-")
            gas = f"{prefix.upper()}-{rest}"  # HFC-134a keeps its lower-case isomer letter
    else:
        for pattern, label in _PLAIN:
            if pattern.search(n):
                gas = label
                break
    if gas is None:
        return None, None
    if gas not in {"CO2", "CH4"}:
        return gas, None
    if "in air" in n or (categories and categories[0] == "natural resource"):
        return gas, "uptake"
    if "soil or biomass stock" in n or "land transformation" in n:
        return gas, "land_use"
    if "non-fossil" in n or "biogenic" in n:
        return gas, "biogenic"
    if "fossil" in n:
        return gas, "fossil"
    return gas, None


_ORIGIN_TEXT = {
    "fossil": "fossil",
    "biogenic": "biogenic",
    "land_use": "land-use change",
    "uptake": "uptake",
}


def label(name: str, categories: Sequence[str] = ()) -> str:
    """A reader's label for "by gas" results: "CO2 (fossil)", "CH4 (biogenic)", "HFC-32", or the
    flow's own name for any other characterized substance."""
    gas, origin = classify(name, categories)
    if gas is None:
        return name
    if origin is None:
        return gas
    return f"{gas} ({_ORIGIN_TEXT[origin]})"
