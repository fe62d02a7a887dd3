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
from datetime import date
from enum import Enum
from functools import lru_cache
from typing import Any

import orjson

from app.core.errors import FieldError
from app.footprints import tables
from app.footprints.schemas import FootprintInput, FootprintLine
from app.rules.interpreter import ptr
from app.rules.modelkit import FactorValue
from app.rules.schema import LineCategory, Stage
from app.rules.units import UnitProblem, magnitude_in, product_in


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def input_hash(normalised_input: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical_bytes(normalised_input)).hexdigest()


_INT64 = 2**63


def _orjson_writes_the_same(data: Any) -> bool:
    """Whether orjson writes ``data`` byte for byte as ``canonical_json`` does (UTF-8).

    Both write the shortest round-trip digits of a float and escape strings alike (every code
    point checked); they differ on exponents from e-05 to e-09 (Python writes ``1e-05``, orjson
    ``1e-5``), on NaN and infinity, integers beyond 64 bits, keys that are not strings and types
    json cannot write: any of those, or anything unusual, answers False."""
    stack = [data]
    pop, extend = stack.pop, stack.extend
    while stack:
        x = pop()
        t = type(x)
        if t is str or t is bool or x is None:
            continue
        if t is float:
            if not (x == 0.0 or 1e-4 <= abs(x) < math.inf):
                return False
        elif t is int:
            if not -_INT64 <= x < _INT64:
                return False
        elif t is dict:
            for k in x:
                if type(k) is not str:
                    return False
            extend(x.values())
        elif t is list:
            extend(x)
        else:
            return False
    return True


def _canonical_bytes(data: Any, orjson_ok: bool | None = None) -> bytes:
    """``canonical_json(data).encode("utf-8")``, written by orjson when it writes the same bytes
    (``_orjson_writes_the_same``, unless the caller already knows: ``orjson_ok``; about 8x
    faster than the standard encoder)."""
    if orjson_ok is None:
        orjson_ok = _orjson_writes_the_same(data)
    if orjson_ok:
        try:
            return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # e.g. a lone surrogate, or nesting too deep: the standard path says
            pass
    return canonical_json(data).encode("utf-8")


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


def _numbers_in_place(data: dict[str, Any] | list[Any]) -> bool:
    """``_numbers`` on a freshly dumped JSON tree, rewriting its values where they are (no copy
    of every dict and list). Returns ``_orjson_writes_the_same`` of the result, found on the way
    (the tree is walked once for both)."""
    same = True
    is_dict = type(data) is dict
    items: Any = data.items() if is_dict else enumerate(data)  # type: ignore[union-attr]
    for k, v in items:
        if is_dict and type(k) is not str:
            same = False
        t = type(v)
        if t is str or t is bool or v is None:
            continue
        if t is float:
            if v.is_integer() and abs(v) < 2**53:
                data[k] = int(v)
            elif not 1e-4 <= abs(v) < math.inf:
                same = False
        elif t is int:
            if not -_INT64 <= v < _INT64:
                same = False
        elif t is dict or t is list:
            if not _numbers_in_place(v):
                same = False
        else:  # anything unusual: the general rule, and the standard encoder
            data[k] = _numbers(v)
            same = False
    return same


def _normalised(
    inp: FootprintInput, version: str, boundary: str, gwp: str
) -> tuple[dict[str, Any], bool]:
    data: dict[str, Any] = inp.model_dump(mode="json", exclude_none=True)
    orjson_ok = _numbers_in_place(data)  # as _numbers(data), on the dump itself
    data["product"]["pcr_version"] = version
    data["boundary"] = boundary
    data["gwp_set"] = gwp
    return data, orjson_ok


def normalised_and_hash(
    inp: FootprintInput, version: str, boundary: str, gwp: str
) -> tuple[dict[str, Any], str]:
    """``(normalised(...), input_hash(normalised(...)))`` with one walk of the input."""
    data, orjson_ok = _normalised(inp, version, boundary, gwp)
    return data, hashlib.sha256(_canonical_bytes(data, orjson_ok)).hexdigest()


def normalised(inp: FootprintInput, version: str, boundary: str, gwp: str) -> dict[str, Any]:
    return _normalised(inp, version, boundary, gwp)[0]


class InputWalk:
    """What a calculation needs of its input's numbers and JSON, from one dump walked once.

    ``inp.model_dump(mode="python", exclude_none=True)`` (``dump``) is walked for:

    * ``bad_numbers``: whether ``check_numbers(dump)`` finds anything (``number_errors``);
    * the same tree as ``inp.model_dump(mode="json", exclude_none=True)`` after ``_numbers``:
      the python dump differs from the JSON one only by its enums (JSON: their values) and dates
      (JSON: ISO 8601); a value of any other type leaves the tree incomplete, and
      ``normalised_and_hash`` then takes pydantic's JSON dump, as ``normalised`` does;
    * whether orjson writes that tree as ``canonical_json`` does (``_orjson_writes_the_same``).

    The dump is pydantic's fresh copy (every dict and list of it is new, also below the
    free-form ``inputs``), so the walk rewrites it where it stands (enums, dates, integral
    floats) rather than building a second tree: ``tree`` is ``dump`` itself once walked. Those
    rewrites change no number (an integral float becomes the equal int), so ``number_errors``
    still reads ``dump``.

    ``normalised_and_hash`` equals ``normalised_and_hash(inp, ...)`` for an input without bad
    numbers (the calculation refuses the others first); ``tests/footprints/test_calc_cache.py``
    compares them."""

    def __init__(self, inp: FootprintInput, max_amount: float) -> None:
        self.inp = inp
        self.max_amount = max_amount
        self.dump = inp.model_dump(mode="python", exclude_none=True)
        self.bad_numbers = False
        self.orjson_ok = True
        self.complete = True  # False: a value the tree cannot hold (pydantic's JSON is used)
        self._walk(self.dump, self.dump.items())
        self.tree = self.dump

    def number_errors(self) -> list[FieldError]:
        return check_numbers(self.dump, self.max_amount) if self.bad_numbers else []

    def normalised_and_hash(
        self, version: str, boundary: str, gwp: str
    ) -> tuple[dict[str, Any], str]:
        if not self.complete or self.bad_numbers:
            return normalised_and_hash(self.inp, version, boundary, gwp)
        data = self.tree
        data["product"]["pcr_version"] = version
        data["boundary"] = boundary
        data["gwp_set"] = gwp
        return data, hashlib.sha256(_canonical_bytes(data, self.orjson_ok)).hexdigest()

    def _walk(self, container: Any, entries: Any) -> None:
        """Test and normalise the values of a dict (``entries``: its items) or a list
        (``entries``: enumerated) where they stand. Most values are strings, booleans, floats
        and containers: dispatched by exact type, in the loop."""
        max_amount = self.max_amount
        for k, v in entries:
            t = type(v)
            if t is str or t is bool or v is None:
                pass
            elif t is float:  # tested (as check_numbers) and normalised (as _numbers)
                a = abs(v)
                if not a <= max_amount or a == math.inf:
                    self.bad_numbers = True
                if v.is_integer() and a < 2**53:
                    container[k] = int(v)
                elif not 1e-4 <= a < math.inf:
                    self.orjson_ok = False
            elif t is dict:
                self._walk(v, v.items())
            elif t is list:
                self._walk(v, enumerate(v))
            elif t in _STR_ENUMS:
                container[k] = v._value_  # what .value returns, without the descriptor
            else:
                container[k] = self._other(v)
            if type(k) is not str and type(container) is dict:
                self.complete = False

    def _other(self, v: Any) -> Any:
        """A value of a rarer type: an int, an enum, a date; anything else is tested as
        ``check_numbers`` does and leaves the tree incomplete."""
        t = type(v)
        if t is int:
            if _is_bad(float(v), self.max_amount):
                self.bad_numbers = True
            if not -_INT64 <= v < _INT64:
                self.orjson_ok = False
            return v
        if isinstance(v, Enum) and isinstance(v, str):
            _STR_ENUMS.add(t)  # one entry per enum class of the schema
            return v.value
        if t is date:
            return v.isoformat()
        if _any_bad_number([v], self.max_amount):
            self.bad_numbers = True
        self.complete = False
        return v


# The str-enum classes met in inputs (a handful: the schema's), converted in ``InputWalk``'s loop.
_STR_ENUMS: set[type] = set()


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
    # The template holds every field (``_line_fields``' defaults for those not given here) and
    # has every field set, so the copy updated with the given fields alone is the same line.
    return _line_template().model_copy(update=kw)


@lru_cache(maxsize=1)
def _line_template() -> FootprintLine:
    """A generated line with every field set (``_line`` copies it with the entry's fields: the
    same line as ``model_construct`` would build, at a third of the cost)."""
    return FootprintLine.model_construct(
        **_line_fields({"name": "", "stage": Stage.raw_materials, "amount": 0.0, "unit": ""})
    )


def _line_fields(kw: dict[str, Any]) -> dict[str, Any]:
    """Every field of a generated line: the entry's, then the defaults."""
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
    return kw


def _in_kg(line: FootprintLine, at: str, errors: list[FieldError]) -> FootprintLine:
    """A line counted in pieces with the mass of one piece → the same line in kg (so the rule's
    material masses and end of life see it); its sub-assembly lines likewise."""
    update: dict[str, Any] = {}
    if line.lines:
        subs = [_in_kg(sub, f"{at}/lines/{i}", errors) for i, sub in enumerate(line.lines)]
        if any(new is not old for new, old in zip(subs, line.lines, strict=True)):
            update["lines"] = subs  # else the line as it is (a copy would be equal)
    pm = line.piece_mass
    if pm is not None:
        try:
            per_piece = magnitude_in(pm.value, pm.unit, "kg")
            pieces = magnitude_in(line.amount, line.unit, "item")
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
            tkm = product_in(mass.value, mass.unit, leg.distance.value, leg.distance.unit, "t*km")
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


def _is_bad(v: float, max_amount: float) -> bool:
    return not abs(v) <= max_amount or abs(v) == math.inf  # also NaN


def _any_bad_number(data: Any, max_amount: float) -> bool:
    """Whether ``_bad_numbers`` would find anything: the same test without pointers (a request
    is almost always fine). Leaves are tested in the loop over their container, the common JSON
    types dispatched by exact type; only containers go on the stack."""
    if not isinstance(data, dict | list):
        return (
            not isinstance(data, bool)
            and isinstance(data, int | float)
            and _is_bad(float(data), max_amount)
        )
    stack: list[Any] = [data]
    while stack:
        x = stack.pop()
        for v in x.values() if isinstance(x, dict) else x:
            t = type(v)
            if t is str:
                continue
            if t is float:
                if not abs(v) <= max_amount or abs(v) == math.inf:
                    return True
            elif t is dict or t is list:
                stack.append(v)
            elif v is None or t is bool:
                continue
            elif t is int:
                if _is_bad(float(v), max_amount):
                    return True
            elif isinstance(v, bool):
                continue
            elif isinstance(v, int | float):
                if _is_bad(float(v), max_amount):
                    return True
            elif isinstance(v, dict | list):
                stack.append(v)
    return False


def check_numbers(raw: Any, max_amount: float) -> list[FieldError]:
    """NaN, infinite and out-of-bounds numbers anywhere in the request (JSON allows NaN and
    Infinity as Python reads it; pydantic's ``gt=0`` lets infinity through)."""
    out: list[FieldError] = []
    if not _any_bad_number(raw, max_amount):
        return out
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
