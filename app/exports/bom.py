"""The bill of materials of a stored footprint, flattened: every line with its mass per reference
flow (sub-assemblies multiplied out, pieces through their ``piece_mass``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

KG_PER: dict[str, float] = {
    "kg": 1.0,
    "g": 1e-3,
    "mg": 1e-6,
    "t": 1000.0,
    "tonne": 1000.0,
    "tonnes": 1000.0,
    "metric_ton": 1000.0,
}
PIECES = {"item", "items", "pcs", "pc", "piece", "pieces", "unit", "units", "each"}


def kg(amount: float, unit: str) -> float | None:
    """``amount`` in ``unit`` as kg, or None when the unit is not a mass."""
    factor = KG_PER.get(unit.strip().lower())
    return amount * factor if factor is not None else None


@dataclass(frozen=True)
class FlatLine:
    pointer: str  # JSON pointer into the footprint's input, e.g. /lines/8/lines/0
    ref: str | None
    name: str
    stage: str
    cn_code: str | None
    material_group: str | None
    packaging: bool
    excluded: bool
    quantity: float  # per reference flow, in ``unit``
    unit: str
    mass_kg: float | None  # per reference flow; None when the line is not measured in mass
    is_assembly: bool
    depth: int


def flatten(data: Mapping[str, Any]) -> list[FlatLine]:
    """Every line of ``data['lines']`` (a footprint's normalised input), depth first."""
    return list(_walk(data.get("lines") or [], "/lines", 1.0, False, 0))


def _walk(
    lines: list[Any], base: str, mult: float, packaging: bool, depth: int
) -> Iterator[FlatLine]:
    for i, line in enumerate(lines):
        if not isinstance(line, Mapping):
            continue
        at = f"{base}/{i}"
        amount = float(line.get("amount") or 0.0) * mult
        unit = str(line.get("unit") or "")
        pack = packaging or bool(line.get("packaging"))
        mass = kg(amount, unit)
        pm = line.get("piece_mass")
        if mass is None and unit.strip().lower() in PIECES and isinstance(pm, Mapping):
            per_piece = kg(float(pm.get("value") or 0.0), str(pm.get("unit") or ""))
            mass = amount * per_piece if per_piece is not None else None
        sub = line.get("lines")
        yield FlatLine(
            pointer=at,
            ref=line.get("ref"),
            name=str(line.get("name") or ""),
            stage=str(line.get("stage") or ""),
            cn_code=line.get("cn_code"),
            material_group=line.get("material_group"),
            packaging=pack,
            excluded=bool(line.get("excluded")),
            quantity=amount,
            unit=unit,
            mass_kg=mass,
            is_assembly=bool(sub),
            depth=depth,
        )
        if sub:
            yield from _walk(sub, at + "/lines", amount, pack, depth + 1)


def product_mass_kg(data: Mapping[str, Any]) -> tuple[float | None, str]:
    """Mass of one reference flow without packaging, and how it was found."""
    lines = flatten(data)
    packaging = sum(x.mass_kg or 0.0 for x in lines if x.packaging and x.depth == 0)
    product = data.get("product") or {}
    m = product.get("mass") if isinstance(product, Mapping) else None
    if isinstance(m, Mapping):
        total = kg(float(m.get("value") or 0.0), str(m.get("unit") or ""))
        if total is not None and total - packaging > 0:
            return total - packaging, "product mass given, less the packaging lines"
    bom = sum(
        x.mass_kg or 0.0
        for x in lines
        if x.depth == 0 and not x.packaging and x.stage == "raw_materials" and not x.excluded
    )
    if bom > 0:
        return bom, "sum of the raw-material lines measured in mass (no product mass given)"
    return None, "not known"
