"""The normalised input of a footprint, its hash, and its expansion into bill-of-materials lines.

* ``normalised(inp, version, boundary, gwp)`` — the input with what the service resolved filled in
  (rule version, boundary, GWP set), as plain JSON; ``input_hash`` is the SHA-256 of its canonical
  JSON (sorted keys, no spaces), so the same request against the same rule hashes the same.
* ``expand(inp, grid)`` — the manufacturing and transport sections become ordinary lines appended
  after the posted ones; ``Expanded.origin`` maps each generated line back to the JSON pointer of
  the entry it came from, so a problem found on it points at what the caller wrote.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from app.core.errors import FieldError
from app.footprints import tables
from app.footprints.schemas import FootprintInput, FootprintLine
from app.rules.interpreter import ptr
from app.rules.modelkit import FactorValue
from app.rules.schema import LineCategory, Stage
from app.rules.units import UnitProblem, quantity


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def input_hash(normalised_input: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(normalised_input).encode("utf-8")).hexdigest()


def _numbers(data: Any) -> Any:
    """Integral floats as ints (1.0 → 1), so 1 and 1.0 hash the same (JSON, CSV and XLSX write
    the same number differently)."""
    if isinstance(data, float) and data.is_integer() and abs(data) < 2**53:
        return int(data)
    if isinstance(data, dict):
        return {k: _numbers(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_numbers(v) for v in data]
    return data


def normalised(inp: FootprintInput, version: str, boundary: str, gwp: str) -> dict[str, Any]:
    data: dict[str, Any] = _numbers(inp.model_dump(mode="json", exclude_none=True))
    data["product"]["pcr_version"] = version
    data["boundary"] = boundary
    data["gwp_set"] = gwp
    return data


@dataclass(frozen=True)
class Origin:
    """Where a generated line came from, and what it stands for."""

    pointer: str
    section: str  # electricity | fuels | steam | water | waste | refrigerant_losses | transport
    factor: FactorValue | None = None  # grid electricity given as a literal factor value
    default_dataset: bool = False  # the dataset is the service's default for the entry
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Expanded:
    lines: list[FootprintLine]
    origin: dict[int, Origin]  # index in ``lines`` → origin of a generated line
    errors: list[FieldError]

    def remap(self, error: FieldError) -> FieldError:
        """An error on ``/lines/<generated>/…`` → the same error on the entry it came from."""
        parts = error.pointer.split("/")
        if len(parts) >= 3 and parts[1] == "lines" and parts[2].isdigit():
            o = self.origin.get(int(parts[2]))
            if o is not None:
                rest = "/".join(parts[3:])
                return FieldError(
                    o.pointer + ("/" + rest if rest else ""), error.code, error.message, error.extra
                )
        return error


def _line(**kw: Any) -> FootprintLine:
    # Built from entries pydantic already checked; the line validator would refuse a grid line
    # whose factor is a literal value (no dataset, no supplier value) — that is expected here.
    kw.setdefault("category", LineCategory.material)
    for name in (
        "ref",
        "dataset",
        "supplier_value",
        "lines",
        "cn_code",
        "material_group",
        "trips",
        "estimated_share",
        "dqr",
        "piece_mass",
    ):
        kw.setdefault(name, None)
    for name in ("packaging", "reusable", "excluded"):
        kw.setdefault(name, False)
    return FootprintLine.model_construct(**kw)


def _in_kg(line: FootprintLine, at: str, errors: list[FieldError]) -> FootprintLine:
    """A line counted in pieces with the mass of one piece → the same line in kg (so the rule's
    material masses and end of life see it); its sub-assembly lines likewise."""
    update: dict[str, Any] = {}
    if line.lines:
        update["lines"] = [
            _in_kg(sub, f"{at}/lines/{i}", errors) for i, sub in enumerate(line.lines)
        ]
    pm = line.piece_mass
    if pm is not None:
        try:
            per_piece = quantity(pm.value, pm.unit).to("kg").magnitude
            pieces = quantity(line.amount, line.unit).to("item").magnitude
        except (UnitProblem, Exception):  # pint raises DimensionalityError
            errors.append(
                FieldError(
                    at + "/piece_mass",
                    "unit_incompatible",
                    f"piece_mass needs a line counted in pieces (not {line.unit}) and a mass "
                    f"(not {pm.unit})",
                    {"line_unit": line.unit, "piece_mass_unit": pm.unit},
                )
            )
        else:
            update.update(amount=float(pieces * per_piece), unit="kg", piece_mass=None)
    return line.model_copy(update=update) if update else line


def expand(inp: FootprintInput, grid: FactorValue | None) -> Expanded:
    errors: list[FieldError] = []
    lines: list[FootprintLine] = [
        _in_kg(line, f"/lines/{i}", errors) for i, line in enumerate(inp.lines)
    ]
    origin: dict[int, Origin] = {}

    def add(line: FootprintLine, o: Origin) -> None:
        origin[len(lines)] = o
        lines.append(line)

    m = inp.manufacturing
    if m is not None:
        for i, e in enumerate(m.electricity):
            at = ptr("manufacturing", "electricity", i)
            on_grid = e.supplier_value is None
            dataset = grid.dataset if (on_grid and grid is not None) else None
            add(
                _line(
                    name=e.name,
                    stage=Stage.manufacturing,
                    category=LineCategory.electricity,
                    amount=e.amount,
                    unit=e.unit,
                    dataset=dataset,
                    supplier_value=e.supplier_value,
                    dqr=e.dqr,
                ),
                Origin(
                    at,
                    "electricity",
                    factor=grid if (on_grid and dataset is None) else None,
                    default_dataset=on_grid,
                ),
            )
        sections: tuple[tuple[str, LineCategory], ...] = (
            ("fuels", LineCategory.fuel),
            ("steam", LineCategory.heat),
            ("water", LineCategory.water),
            ("waste", LineCategory.waste),
        )
        for section, category in sections:
            for i, c in enumerate(getattr(m, section)):
                add(
                    _line(
                        name=c.name,
                        stage=Stage.manufacturing,
                        category=category,
                        amount=c.amount,
                        unit=c.unit,
                        dataset=c.dataset,
                        supplier_value=c.supplier_value,
                        dqr=c.dqr,
                    ),
                    Origin(ptr("manufacturing", section, i), section),
                )
        for i, r in enumerate(m.refrigerant_losses):
            at = ptr("manufacturing", "refrigerant_losses", i)
            dataset = r.dataset or tables.refrigerant_dataset(r.gas)
            if dataset is None:
                known = ", ".join(sorted(tables.REFRIGERANT_DATASETS))
                errors.append(
                    FieldError(
                        at + "/gas",
                        "refrigerant_unknown",
                        f"no emission dataset for {r.gas}; give one (dataset) or use one of "
                        f"{known}",
                    )
                )
                continue
            add(
                _line(
                    name=f"Refrigerant charging loss, {r.gas}",
                    stage=Stage.manufacturing,
                    category=LineCategory.other,
                    amount=r.amount,
                    unit=r.unit,
                    dataset=dataset,
                ),
                Origin(at, "refrigerant_losses", default_dataset=r.dataset is None),
            )

    product_mass = inp.product.mass
    for i, leg in enumerate(inp.transport):
        at = ptr("transport", i)
        mass = leg.mass
        if mass is None:
            if leg.leg == "distribution" and product_mass is not None:
                mass = product_mass
            else:
                errors.append(
                    FieldError(
                        at + "/mass",
                        "missing_field",
                        "give the mass carried"
                        + (" (or the product mass)" if leg.leg == "distribution" else ""),
                    )
                )
                continue
        try:
            tkm = float(
                (quantity(mass.value, mass.unit) * quantity(leg.distance.value, leg.distance.unit))
                .to("t*km")
                .magnitude
            )
        except (UnitProblem, Exception) as exc:  # pint raises DimensionalityError
            errors.append(
                FieldError(
                    at,
                    "unit_mismatch",
                    f"mass ({mass.unit}) × distance ({leg.distance.unit}) is not t·km: {exc}",
                )
            )
            continue
        add(
            _line(
                name=leg.name or f"{leg.leg.capitalize()} transport, {leg.mode.replace('_', ' ')}",
                stage=Stage.raw_materials if leg.leg == "inbound" else Stage.distribution,
                category=LineCategory.transport,
                amount=tkm,
                unit="t*km",
                dataset=leg.dataset or tables.TRANSPORT_DATASETS[leg.mode],
            ),
            Origin(
                at,
                "transport",
                default_dataset=leg.dataset is None,
                detail={
                    "mode": leg.mode,
                    "mass_defaulted": leg.mass is None,
                    "distance": leg.distance.model_dump(),
                },
            ),
        )
    return Expanded(lines, origin, errors)


# ----------------------------------------------------------------------------- number checks
def walk_numbers(data: Any, at: str = "") -> Iterator[tuple[str, float]]:
    """Every number of a JSON-like tree with its pointer."""
    if isinstance(data, bool):
        return
    if isinstance(data, int | float):
        yield at, float(data)
    elif isinstance(data, dict):
        for k, v in data.items():
            yield from walk_numbers(v, at + ptr(k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from walk_numbers(v, at + ptr(i))


def _bad_numbers(data: Any, max_amount: float, path: list[object]) -> list[tuple[str, float]]:
    """``walk_numbers`` keeping only NaN, infinite and out-of-bounds numbers, in the same order;
    a pointer is built only for those (every number of a request is walked, twice)."""
    found: list[tuple[str, float]] = []

    def walk(data: Any) -> None:
        if isinstance(data, bool):
            return
        if isinstance(data, int | float):
            v = float(data)
            if not abs(v) <= max_amount or abs(v) == math.inf:  # also NaN
                found.append((ptr(*path), v))
        elif isinstance(data, dict):
            for k, item in data.items():
                path.append(k)
                walk(item)
                path.pop()
        elif isinstance(data, list):
            for i, item in enumerate(data):
                path.append(i)
                walk(item)
                path.pop()

    walk(data)
    return found


def check_numbers(raw: Any, max_amount: float) -> list[FieldError]:
    """NaN, infinite and out-of-bounds numbers anywhere in the request (JSON allows NaN and
    Infinity as Python reads it; pydantic's ``gt=0`` lets infinity through)."""
    out: list[FieldError] = []
    for at, v in _bad_numbers(raw, max_amount, []):
        if math.isnan(v):
            out.append(FieldError(at, "not_a_number", "NaN is not an amount"))
        elif math.isinf(v):
            out.append(FieldError(at, "not_finite", "an amount must be finite"))
        elif abs(v) > max_amount:
            out.append(
                FieldError(
                    at,
                    "out_of_bounds",
                    f"{v:g} is beyond PCF_FOOTPRINT_MAX_AMOUNT ({max_amount:g})",
                    {"limit": "PCF_FOOTPRINT_MAX_AMOUNT", "max": max_amount},
                )
            )
    return out
