"""The one interpreter of rule documents.

* ``parse_rule`` / ``check_rule`` — a document against the schema and against itself (units,
  defaults, the bindings of the named models), every problem at once, as JSON-pointer errors;
* ``Rule`` — a checked document: resolves a manufacturer's inputs against the rule's defaults,
  checks a bill of materials (``check_bom``: missing inputs, stage mismatches, unit problems,
  cut-off effect — without calculating) and runs the selected use-phase and end-of-life models
  (``run_models``: quantities for the footprint engine).

Nothing here knows a product family: a seventh family is a new YAML file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import orjson
import pint
import yaml
from pydantic import BaseModel, ValidationError

from app.core.errors import FieldError
from app.rules.bom import BomInput, BomLine
from app.rules.modelkit import (
    FactorValue,
    MaterialMass,
    ModelContext,
    ModelDef,
    ModelOutput,
    ModelProblem,
    all_models,
    get_model,
)
from app.rules.schema import (
    Boundary,
    Confidence,
    GwpSet,
    InputSpec,
    InputType,
    LineCategory,
    LineMatch,
    ModelSpec,
    RuleDocument,
    Stage,
)
from app.rules.units import (
    UnitProblem,
    compatible,
    magnitude_in,
    magnitude_of,
    parse_unit,
    quantity,
    ratio,
    same_dimension,
    unit_text,
)

PROJECT_RULES_DIR = Path(__file__).resolve().parents[2] / "product_rules"
CO2E_UNIT = "kgCO2e"

# Which units make sense for a bill-of-materials line of each category (by dimension).
_CATEGORY_UNITS: dict[LineCategory, tuple[str, ...]] = {
    LineCategory.material: ("kg", "L", "item", "m", "m**2"),
    LineCategory.electricity: ("kWh",),
    LineCategory.fuel: ("kWh", "kg", "L"),
    LineCategory.heat: ("kWh",),
    LineCategory.transport: ("t*km",),
    LineCategory.water: ("L", "kg"),
    LineCategory.waste: ("kg",),
    LineCategory.other: (),
}


# The plain string of each stage (an enum member's ``.value`` is a descriptor call).
_STAGE_VALUE: dict[Stage, str] = {s: s.value for s in Stage}
# Enum members compared for every line or input, as module constants (``Stage.use`` is a
# look-up through the enum's metaclass, ten times slower than a global).
_RAW_MATERIALS, _ELECTRICITY = Stage.raw_materials, LineCategory.electricity
_QUANTITY, _CHOICE, _FACTOR = InputType.quantity, InputType.choice, InputType.factor


# ============================================================================ pointers
def ptr(*parts: object) -> str:
    """RFC 6901 pointer from parts (escaping ``~`` and ``/``)."""
    out = ""
    for p in parts:
        text = p if type(p) is str else str(p)
        if "~" in text or "/" in text:
            text = text.replace("~", "~0").replace("/", "~1")
        out += "/" + text
    return out


def _pyd_errors(exc: ValidationError, base: str = "") -> list[FieldError]:
    out = []
    for e in exc.errors():
        loc = [
            p for p in e.get("loc", ()) if not (isinstance(p, str) and p.startswith("function-"))
        ]
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        out.append(FieldError(base + ptr(*loc), str(e.get("type", "invalid")), msg))
    return out


# ============================================================================ values
@dataclass(frozen=True)
class ResolvedInput:
    key: str
    stage: Stage
    spec: InputSpec
    value: Any  # pint Quantity | str | FactorValue | dict
    origin: str  # supplied | default
    source: str | None = None
    confidence: Confidence | None = None

    def as_dict(self) -> dict[str, Any]:
        if self.origin == "default":  # a rule's default is shared by every request: worded once
            words = self._default_words
            if type(words) is bytes:
                fresh: dict[str, Any] = orjson.loads(words)
                return fresh
            return _json_copy(words)
        return self._as_dict()

    @cached_property
    def _default_words(self) -> bytes | dict[str, Any]:
        """``_as_dict()`` of a default (the same for every request, so worded once per rule) as
        the JSON bytes that ``orjson.loads`` turns back into an equal fresh tree, same types and
        same floats (checked here); anything JSON would not give back as it is (a NaN, a tuple,
        an int beyond 64 bits) keeps the tree itself, copied by ``_json_copy`` instead."""
        words = self._as_dict()
        try:
            data = orjson.dumps(words)
        except TypeError:
            return words
        return data if _same_json(orjson.loads(data), words) else words

    def _as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"stage": _STAGE_VALUE[self.stage], "origin": self.origin}
        unit = self.spec.unit
        if unit and isinstance(self.value, pint.Quantity):
            # in the rule's own unit, as the rule spells it
            out["value"] = magnitude_of(self.value, unit)
            out["unit"] = unit
        else:
            out.update(value_json(self.value))
        if self.source:
            out["source"] = self.source
        if self.confidence:
            out["confidence"] = self.confidence.value
        return out


def value_json(value: Any) -> dict[str, Any]:
    if isinstance(value, pint.Quantity):
        return {"value": float(value.magnitude), "unit": _unit_text(value)}
    if isinstance(value, FactorValue):
        return {"value": value.as_dict()}
    return {"value": _json_copy(value)}


def _json_copy(value: Any) -> Any:
    """A fresh copy of a JSON-like value (a default's shares are shared by every request)."""
    if isinstance(value, dict):
        return {k: _json_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_copy(v) for v in value]
    return value


def _same_json(a: Any, b: Any) -> bool:
    """``a == b`` with the same types everywhere (1 is not 1.0, True is not 1) and the same
    float bits (-0.0 is not 0.0; NaN never is the same)."""
    if type(a) is not type(b):
        return False
    if type(a) is dict:
        return list(a) == list(b) and all(_same_json(a[k], b[k]) for k in a)
    if type(a) is list:
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is float:
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return bool(a == b)


def _unit_text(q: pint.Quantity) -> str:
    return unit_text(q._units)


def _is_number(v: Any) -> bool:
    t = type(v)
    if t is float or t is int:  # the common case, without the isinstance checks
        return math.isfinite(v)
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def read_value(spec: InputSpec, raw: Any, at: str) -> tuple[Any, list[FieldError]]:
    """A raw input value (from a request or a default) → its typed value, or the problems."""
    kind = spec.type
    if kind is _QUANTITY:
        return _read_quantity(spec, raw, at)
    if kind is _CHOICE:
        if not isinstance(raw, str) or raw not in (spec.choices or []):
            choices = ", ".join(spec.choices or [])
            return None, [FieldError(at, "invalid_choice", f"must be one of: {choices}")]
        return raw, []
    if kind is _FACTOR:
        return _read_factor(spec, raw, at)
    return _read_shares(raw, at)


def _read_quantity(spec: InputSpec, raw: Any, at: str) -> tuple[Any, list[FieldError]]:
    unit = spec.unit or ""
    if _is_number(raw):
        if not compatible(unit or "dimensionless", "dimensionless"):
            return None, [
                FieldError(at, "unit_missing", f"give {{value, unit}}; the unit is in {unit}")
            ]
        value, given = float(raw), unit or "dimensionless"
    elif isinstance(raw, Mapping) and _is_number(raw.get("value")):
        value, given = float(raw["value"]), str(raw.get("unit") or "dimensionless")
        extra = set(raw) - {"value", "unit"}
        if extra:
            return None, [FieldError(at, "extra_forbidden", f"unexpected {sorted(extra)}")]
    else:
        return None, [FieldError(at, "quantity_expected", "expected {value: number, unit: text}")]
    target = unit or "dimensionless"
    try:
        same = same_dimension(given, target)
    except UnitProblem as exc:
        return None, [FieldError(at + "/unit", "unit_unknown", str(exc))]
    if not same:
        return None, [
            FieldError(
                at + "/unit",
                "unit_mismatch",
                f"'{given}' is not compatible with the rule's unit '{unit}'",
            )
        ]
    magnitude = magnitude_in(value, given, target)  # as quantity(value, given).to(target)
    q = quantity(value, given)
    problems = []
    if spec.minimum is not None and magnitude < spec.minimum:
        problems.append(FieldError(at, "too_small", f"must be at least {spec.minimum:g} {unit}"))
    if spec.maximum is not None and magnitude > spec.maximum:
        problems.append(FieldError(at, "too_large", f"must be at most {spec.maximum:g} {unit}"))
    return (q if not problems else None), problems


def _read_factor(spec: InputSpec, raw: Any, at: str) -> tuple[Any, list[FieldError]]:
    if not isinstance(raw, Mapping) or not ({"dataset", "value"} & set(raw)):
        return None, [
            FieldError(at, "factor_expected", "expected {dataset: pcf_id} or {value, unit}")
        ]
    extra = set(raw) - {"dataset", "value", "unit"}
    if extra:
        return None, [FieldError(at, "extra_forbidden", f"unexpected {sorted(extra)}")]
    problems: list[FieldError] = []
    dataset = raw.get("dataset")
    if dataset is not None:
        if not isinstance(dataset, str) or not dataset:
            problems.append(FieldError(at + "/dataset", "string_type", "a pcf_id is expected"))
        elif spec.datasets and dataset not in spec.datasets:
            problems.append(
                FieldError(
                    at + "/dataset",
                    "dataset_not_allowed",
                    f"the rule allows: {', '.join(spec.datasets)}",
                )
            )
    value, unit = raw.get("value"), raw.get("unit")
    if value is not None:
        if not _is_number(value) or value < 0:
            problems.append(FieldError(at + "/value", "number_expected", "a number ≥ 0"))
        if not isinstance(unit, str):
            problems.append(FieldError(at + "/unit", "unit_missing", "a factor value needs a unit"))
        elif spec.unit and not compatible(unit, spec.unit):
            problems.append(
                FieldError(
                    at + "/unit",
                    "unit_mismatch",
                    f"'{unit}' is not compatible with the rule's unit '{spec.unit}'",
                )
            )
    elif dataset is None:
        problems.append(FieldError(at, "factor_expected", "expected a dataset or a value"))
    if problems:
        return None, problems
    num = float(value) if value is not None else None
    return FactorValue(dataset=dataset, value=num, unit=unit if num is not None else None), []


def _read_shares(raw: Any, at: str) -> tuple[Any, list[FieldError]]:
    if not isinstance(raw, Mapping) or not raw:
        expected = "expected {material_group: {route: share}}"
        return None, [FieldError(at, "shares_expected", expected)]
    problems: list[FieldError] = []
    out: dict[str, dict[str, float]] = {}
    for group, split in raw.items():
        if not isinstance(split, Mapping) or not split:
            problems.append(FieldError(at + ptr(group), "shares_expected", "{route: share}"))
            continue
        out[str(group)] = {}
        for route, share in split.items():
            if not _is_number(share) or not 0 <= share <= 1:
                problems.append(
                    FieldError(at + ptr(group, route), "share_range", "a share between 0 and 1")
                )
            else:
                out[str(group)][str(route)] = float(share)
    return (out if not problems else None), problems


def _same_as_default(spec: InputSpec, raw: Any) -> bool:
    """True when a supplied value restates the default (e.g. 120 months for 10 years)."""
    given, problems = read_value(spec, raw, "")
    default, _ = read_value(spec, _default_raw(spec), "")
    if problems or given is None or default is None:
        return False
    if isinstance(given, pint.Quantity) and isinstance(default, pint.Quantity):
        return math.isclose(
            float(given.to(default.units).magnitude), float(default.magnitude), rel_tol=1e-9
        )
    return bool(given == default)


def _default_raw(spec: InputSpec) -> Any:
    d = spec.default
    assert d is not None
    if spec.type is InputType.quantity:
        return {"value": d.value, "unit": d.unit} if d.unit else d.value
    if spec.type is InputType.factor:
        raw: dict[str, Any] = {}
        if d.dataset:
            raw["dataset"] = d.dataset
        if _is_number(d.value):
            raw["value"] = d.value
            raw["unit"] = d.unit
        return raw
    return d.value


# ============================================================================ rule checks
def parse_rule(data: Any) -> tuple[RuleDocument | None, list[FieldError]]:
    """A document → (rule, []) or (None, every problem found), structure first, then meaning."""
    try:
        doc = RuleDocument.model_validate(data)
    except ValidationError as exc:
        return None, _pyd_errors(exc)
    problems = check_rule(doc)
    return (doc if not problems else None), problems


def check_rule(doc: RuleDocument) -> list[FieldError]:
    """Everything that makes a structurally valid document meaningless, all at once."""
    errs: list[FieldError] = []
    add = errs.append

    def unit_ok(text: str | None, at: str) -> bool:
        if text is None:
            return False
        try:
            parse_unit(text)
            return True
        except UnitProblem as exc:
            add(FieldError(at, "unit_unknown", str(exc)))
            return False

    # Units of the functional unit, declared unit, reference flow: the same kind of thing.
    fu_ok = unit_ok(doc.functional_unit.unit, "/functional_unit/unit")
    for name in ("declared_unit", "reference_flow"):
        part = getattr(doc, name)
        if (
            unit_ok(part.unit, f"/{name}/unit")
            and fu_ok
            and not compatible(part.unit, doc.functional_unit.unit)
        ):
            add(
                FieldError(
                    f"/{name}/unit",
                    "unit_mismatch",
                    f"'{part.unit}' does not measure the same as the functional unit "
                    f"'{doc.functional_unit.unit}'",
                )
            )

    # Boundary and stages.
    if doc.boundary.default not in doc.boundary.options:
        add(FieldError("/boundary/default", "not_an_option", "the default must be an option"))
    seen_stages: set[Stage] = set()
    for i, st in enumerate(doc.stages):
        if st.stage in seen_stages:
            add(FieldError(ptr("stages", i, "stage"), "duplicate", f"stage {st.stage} twice"))
        seen_stages.add(st.stage)
        for j, b in enumerate(st.included_in):
            if b not in doc.boundary.options:
                add(
                    FieldError(
                        ptr("stages", i, "included_in", j),
                        "not_an_option",
                        f"{b} is not one of the rule's boundary options",
                    )
                )
    for b in doc.boundary.options:
        if not any(b in st.included_in for st in doc.stages):
            add(FieldError("/boundary/options", "empty_boundary", f"{b} includes no stage"))

    # Inputs: unique keys, units, defaults checked by the same reader as a manufacturer's value.
    specs: dict[str, InputSpec] = {}
    for i, st in enumerate(doc.stages):
        for j, spec in enumerate(st.inputs):
            at = ptr("stages", i, "inputs", j)
            if spec.key in specs:
                add(FieldError(at + "/key", "duplicate", f"input {spec.key} is defined twice"))
            specs[spec.key] = spec
            errs.extend(_check_input_spec(spec, at))

    if doc.functional_unit.service_life_input and (
        doc.functional_unit.service_life_input not in specs
    ):
        add(
            FieldError(
                "/functional_unit/service_life_input",
                "unknown_input",
                f"no input {doc.functional_unit.service_life_input}",
            )
        )
    for i, ru in enumerate(doc.reporting_units):
        at = ptr("reporting_units", i)
        if not unit_ok(ru.unit, at + "/unit"):
            continue
        if ru.per_input:
            basis = specs.get(ru.per_input)
            if basis is None or basis.type is not InputType.quantity:
                add(FieldError(at + "/per_input", "unknown_input", "needs a quantity input"))
            elif basis.unit and not compatible(basis.unit, ru.unit):
                add(FieldError(at + "/unit", "unit_mismatch", f"not compatible with {basis.unit}"))
        elif not compatible(ru.unit, doc.reference_flow.unit):
            add(FieldError(at + "/unit", "unit_mismatch", "not compatible with the reference flow"))

    # Named models and their bindings.
    for i, ms in enumerate(doc.use_phase):
        errs.extend(_check_model_spec(ms, specs, seen_stages, ptr("use_phase", i)))
    errs.extend(_check_model_spec(doc.end_of_life.model, specs, seen_stages, "/end_of_life/model"))
    if doc.end_of_life.default_method not in doc.end_of_life.allowed_methods:
        add(FieldError("/end_of_life/default_method", "not_allowed", "must be an allowed method"))

    # GWP, electricity, data quality, line requirements.
    if doc.gwp.default not in doc.gwp.allowed:
        add(FieldError("/gwp/default", "not_allowed", "the default GWP set must be allowed"))
    for gas, d in doc.gwp.supplementary.items():
        if not _is_number(d.value):
            add(FieldError(ptr("gwp", "supplementary", gas, "value"), "number_expected", "GWP100"))
    fi = specs.get(doc.electricity.factor_input)
    if fi is None or fi.type is not InputType.factor:
        add(
            FieldError(
                "/electricity/factor_input", "unknown_input", "must name an input of type factor"
            )
        )
    elif fi.default is None:
        add(
            FieldError(
                "/electricity/factor_input",
                "default_missing",
                "location-based electricity needs a default factor",
            )
        )
    for j, s in enumerate(doc.data_quality.primary_data_stages):
        if s not in seen_stages:
            add(FieldError(ptr("data_quality", "primary_data_stages", j), "unknown_stage", s))
    for i, req in enumerate(doc.line_requirements):
        for j, s in enumerate(req.when.stage or []):
            if s not in seen_stages:
                add(FieldError(ptr("line_requirements", i, "when", "stage", j), "unknown_stage", s))
    return errs


def _check_input_spec(spec: InputSpec, at: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if spec.type in (InputType.quantity, InputType.factor):
        if spec.unit is None and spec.type is InputType.factor:
            errs.append(FieldError(at + "/unit", "unit_missing", "a factor input needs a unit"))
        elif spec.unit is not None:
            try:
                parse_unit(spec.unit)
            except UnitProblem as exc:
                errs.append(FieldError(at + "/unit", "unit_unknown", str(exc)))
                return errs
            if spec.type is InputType.factor and (
                parse_unit(spec.unit).dimensionality.get("[co2e]") != 1
            ):
                errs.append(FieldError(at + "/unit", "unit_mismatch", "kgCO2e per something"))
    if spec.type is InputType.choice and not spec.choices:
        errs.append(FieldError(at + "/choices", "missing", "a choice input needs choices"))
    if spec.minimum is not None and spec.maximum is not None and spec.minimum > spec.maximum:
        errs.append(FieldError(at + "/minimum", "range", "minimum is above maximum"))
    if spec.default is not None:
        if spec.required:
            errs.append(
                FieldError(
                    at + "/required",
                    "required_with_default",
                    "an input with a default is not required; remove one",
                )
            )
        if spec.default.confidence is Confidence.not_found:
            errs.append(
                FieldError(
                    at + "/default/confidence",
                    "default_not_found",
                    "a value the reference marks not found cannot be a default: make the input "
                    "required",
                )
            )
        _, problems = read_value(spec, _default_raw(spec), at + "/default")
        errs.extend(problems)
    elif not spec.overridable:
        errs.append(
            FieldError(at + "/overridable", "default_missing", "only a default can be fixed")
        )
    return errs


def _check_model_spec(
    ms: ModelSpec, specs: Mapping[str, InputSpec], stages: set[Stage], at: str
) -> list[FieldError]:
    model = get_model(ms.model)
    if model is None:
        known = ", ".join(m.name for m in all_models())
        return [FieldError(at + "/model", "unknown_model", f"no model {ms.model}; known: {known}")]
    errs: list[FieldError] = []
    options: BaseModel | None = None
    try:
        options = model.options.model_validate(ms.set)
    except ValidationError as exc:
        errs.extend(_pyd_errors(exc, at + "/set"))
    for s in model.stages:
        if s not in stages:
            errs.append(FieldError(at + "/model", "unknown_stage", f"the rule has no stage {s}"))
    bound: dict[str, InputSpec] = {}
    for name, key in ms.bind.items():
        bat = at + ptr("bind", name)
        param = model.param(name)
        if param is None:
            known = ", ".join(p.name for p in model.params)
            msg = f"{ms.model} has no {name}; it has {known}"
            errs.append(FieldError(bat, "unknown_param", msg))
            continue
        spec = specs.get(key)
        if spec is None:
            errs.append(FieldError(bat, "unknown_input", f"the rule has no input {key}"))
            continue
        if spec.type is not param.kind:
            errs.append(
                FieldError(
                    bat,
                    "type_mismatch",
                    f"{name} needs a {param.kind} input, {key} is a {spec.type}",
                )
            )
            continue
        if param.unit and spec.unit and not compatible(spec.unit, param.unit):
            msg = f"{name} needs {param.unit}; {key} is in {spec.unit}"
            errs.append(FieldError(bat, "unit_mismatch", msg))
            continue
        if param.required and not spec.required and spec.default is None:
            errs.append(
                FieldError(
                    bat,
                    "binding_optional",
                    f"{name} is needed by the model: {key} must be required or have a default",
                )
            )
        bound[name] = spec
    for p in model.params:
        if p.required and p.name not in ms.bind:
            errs.append(FieldError(at + "/bind", "missing_binding", f"{ms.model} needs {p.name}"))
    for group in model.exactly_one_of:
        if sum(1 for g in group if g in ms.bind) != 1:
            errs.append(
                FieldError(at + "/bind", "exactly_one", f"bind exactly one of {', '.join(group)}")
            )
    for name, needed in model.needs:
        if name in ms.bind:
            for n in needed:
                if n not in ms.bind:
                    errs.append(FieldError(at + "/bind", "missing_binding", f"{name} needs {n}"))
    if options is not None:
        for mp in model.check_rule(bound, options):
            errs.append(FieldError(at + ptr("bind", mp.param or ""), mp.code, mp.message))
    return errs


def load_rule_file(path: Path) -> RuleDocument:
    """A YAML rule file → a checked document (ValueError listing every problem otherwise)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc, problems = parse_rule(data)
    if doc is None:
        lines = "; ".join(f"{p.pointer}: {p.message}" for p in problems)
        raise ValueError(f"{path.name}: {len(problems)} problem(s): {lines}")
    return doc


def load_reference_rules(directory: Path = PROJECT_RULES_DIR) -> dict[str, RuleDocument]:
    """Every ``*.yaml`` rule of a directory, by code (a file's name must be its code)."""
    out: dict[str, RuleDocument] = {}
    for path in sorted(directory.glob("*.yaml")):
        doc = load_rule_file(path)
        if doc.code != path.stem:
            raise ValueError(f"{path.name}: code {doc.code} does not match the file name")
        out[doc.code] = doc
    return out


# ============================================================================ the rule at work
@dataclass
class CheckReport:
    """What ``check_bom`` found: errors (blocking), warnings, and what it resolved."""

    boundary: Boundary
    gwp_set: GwpSet
    errors: list[FieldError] = field(default_factory=list)
    warnings: list[FieldError] = field(default_factory=list)
    inputs: dict[str, ResolvedInput] = field(default_factory=dict)
    cut_off: dict[str, Any] = field(default_factory=dict)
    materials: tuple[MaterialMass, ...] = ()
    reference_amount: pint.Quantity | None = None

    @property
    def valid(self) -> bool:
        return not self.errors


# A line of a bill of materials as ``_walk`` finds it: the line, its pointer, the product of
# its parents' amounts, its depth (0 at the top) and its parent line (None at the top).
_Walked = tuple[BomLine, str, float, int, BomLine | None]


def _walk(lines: Sequence[BomLine]) -> list[_Walked]:
    """Every line of a bill of materials, depth first (a line before its sub-assembly lines)."""
    out: list[_Walked] = []
    append = out.append

    def walk(lines: Sequence[BomLine], base: str, mult: float, depth: int, parent: Any) -> None:
        for i, line in enumerate(lines):
            at = f"{base}/lines/{i}"
            append((line, at, mult, depth, parent))
            if line.lines:
                walk(line.lines, at, mult * line.amount, depth + 1, line)

    walk(lines, "", 1.0, 0, None)
    return out


@lru_cache(maxsize=4096)
def _suits_category(unit: str, category: LineCategory) -> bool:
    """A line unit measures what its category allows (any unit for a category without units).
    The unit must parse (UnitProblem otherwise, not cached)."""
    allowed = _CATEGORY_UNITS[category]
    return not allowed or any(same_dimension(unit, u) for u in allowed)


@lru_cache(maxsize=4096)
def _gives_co2e(per_unit: str, line_unit: str) -> bool:
    """A supplier value in ``per_unit`` times an amount in ``line_unit`` is a mass of CO2e."""
    per, unit = parse_unit(per_unit), parse_unit(line_unit)
    return bool((per * unit).dimensionality == parse_unit(CO2E_UNIT).dimensionality)


# Line fields that describe a line's own material: a sub-assembly's come from its lines (its
# end of life is theirs, ``_materials``), so a rule requiring one never asks it of the parent.
_OWN_LINES_ONLY = frozenset({"material_group"})


def _materials(walked: Sequence[_Walked]) -> tuple[MaterialMass, ...]:
    """``Rule.materials`` of the walked lines of a bill of materials."""
    totals: dict[tuple[str, bool], float] = {}
    for line, _, multiplier, _, _ in walked:
        if line.lines or line.excluded or line.stage is not _RAW_MATERIALS:
            continue
        try:
            if not same_dimension(line.unit, "kg"):
                continue
        except UnitProblem:
            continue
        kg = magnitude_in(line.amount * multiplier, line.unit, "kg")
        if line.reusable and line.trips:
            kg /= line.trips
        key = (line.material_group or "unspecified", line.packaging)
        totals[key] = totals.get(key, 0.0) + kg
    return tuple(MaterialMass(g, p, kg) for (g, p), kg in sorted(totals.items()))


def _matches(m: LineMatch, line: BomLine) -> bool:
    return (
        (m.stage is None or line.stage in m.stage)
        and (m.category is None or line.category in m.category)
        and (m.packaging is None or line.packaging == m.packaging)
        and (m.reusable is None or line.reusable == m.reusable)
        and (
            m.supplier_specific is None or (line.supplier_value is not None) == m.supplier_specific
        )
    )


@dataclass(frozen=True)
class Resolved:
    """What ``Rule.resolve`` found for ``supplied`` inputs under ``boundary``; ``check_bom`` and
    ``run_models`` take it to skip resolving the same inputs again."""

    supplied: Mapping[str, Any]
    boundary: Boundary
    inputs: dict[str, ResolvedInput]
    errors: list[FieldError]
    warnings: list[FieldError]

    def is_for(self, supplied: Mapping[str, Any], boundary: Boundary) -> bool:
        return self.supplied is supplied and self.boundary is boundary


@dataclass(frozen=True)
class _PlannedModel:
    """A model the rule selects, looked up and its options validated once per rule."""

    spec: ModelSpec
    model: ModelDef
    options: BaseModel


class Rule:
    """A checked rule document, ready to resolve inputs, check a BOM and run its models.

    A rule never changes once compiled (the service caches it by content hash), so what depends
    on the document alone is worked out once and kept on the rule: the stages of each boundary,
    the resolved defaults, the selected models with their validated options, the reference flow
    and its ratios to the functional and declared units. Those shared values are read-only."""

    def __init__(self, doc: RuleDocument) -> None:
        self.doc = doc
        self.stages = {s.stage: s for s in doc.stages}
        self.specs: dict[str, tuple[Stage, InputSpec]] = {
            spec.key: (st.stage, spec) for st in doc.stages for spec in st.inputs
        }
        self._stages_in: dict[Boundary, frozenset[Stage]] = {}
        self._defaults: dict[str, ResolvedInput] = {}
        self._plan: list[_PlannedModel] | None = None

    @classmethod
    def from_data(cls, data: Any) -> Rule:
        doc, problems = parse_rule(data)
        if doc is None:
            raise ValueError("; ".join(f"{p.pointer}: {p.message}" for p in problems))
        return cls(doc)

    # ------------------------------------------------------------------ boundary & inputs
    def stages_in(self, boundary: Boundary) -> frozenset[Stage]:
        got = self._stages_in.get(boundary)
        if got is None:
            got = frozenset(s.stage for s in self.doc.stages if boundary in s.included_in)
            self._stages_in[boundary] = got
        return got

    @cached_property
    def reference_flow(self) -> pint.Quantity:
        """The reference flow as a quantity (shared: never modify it)."""
        rf = self.doc.reference_flow
        return quantity(rf.amount, rf.unit)

    @cached_property
    def to_functional_unit(self) -> float:
        """Functional unit per reference flow: multiply a per-reference-flow result by it."""
        fu = self.doc.functional_unit
        return ratio(quantity(fu.amount, fu.unit), self.reference_flow)

    @cached_property
    def to_declared_unit(self) -> float:
        """Declared unit per reference flow."""
        du = self.doc.declared_unit
        return ratio(quantity(du.amount, du.unit), self.reference_flow)

    def _default_input(self, key: str, stage: Stage, spec: InputSpec) -> ResolvedInput:
        """The default of an input, read once per rule (shared by every request: read-only)."""
        r = self._defaults.get(key)
        if r is None:
            assert spec.default is not None
            value, _ = read_value(spec, _default_raw(spec), "")
            d = spec.default
            r = ResolvedInput(key, stage, spec, value, "default", d.source, d.confidence)
            self._defaults[key] = r
        return r

    def resolve(
        self, supplied: Mapping[str, Any], boundary: Boundary, at: str = "/inputs"
    ) -> Resolved:
        """``resolve_inputs`` kept with what it was for (to hand to ``check_bom``)."""
        inputs, errors, warnings = self.resolve_inputs(supplied, boundary, at)
        return Resolved(supplied, boundary, inputs, errors, warnings)

    def resolve_inputs(
        self, supplied: Mapping[str, Any], boundary: Boundary, at: str = "/inputs"
    ) -> tuple[dict[str, ResolvedInput], list[FieldError], list[FieldError]]:
        """(resolved inputs, errors, warnings): defaults filled in, every missing input named."""
        errors: list[FieldError] = []
        warnings: list[FieldError] = []
        active = self.stages_in(boundary)
        for key in supplied:
            if key not in self.specs:
                errors.append(
                    FieldError(at + ptr(key), "unknown_input", f"the rule has no input {key}")
                )
        out: dict[str, ResolvedInput] = {}
        for key, (stage, spec) in self.specs.items():
            if stage not in active:
                if key in supplied:
                    warnings.append(
                        FieldError(
                            at + ptr(key),
                            "outside_boundary",
                            f"ignored: stage {stage} is outside {boundary}",
                        )
                    )
                continue
            if key in supplied:
                kat = at + ptr(key)
                if (
                    spec.default is not None
                    and not spec.overridable
                    and not _same_as_default(spec, supplied[key])
                ):
                    errors.append(
                        FieldError(
                            kat,
                            "not_overridable",
                            f"the rule fixes {key} at {spec.default.value}"
                            f"{' ' + spec.default.unit if spec.default.unit else ''}",
                        )
                    )
                    continue
                value, problems = read_value(spec, supplied[key], kat)
                errors.extend(problems)
                if value is not None:
                    out[key] = ResolvedInput(key, stage, spec, value, "supplied")
            elif spec.default is not None:
                out[key] = self._default_input(key, stage, spec)
            elif spec.required:
                why = f" ({spec.source})" if spec.source else ""
                errors.append(
                    FieldError(
                        at + ptr(key),
                        "missing_input",
                        f"{spec.label} is required by the rule and has no default{why}",
                    )
                )
        return out, errors, warnings

    # ------------------------------------------------------------------ the BOM
    def check_bom(self, bom: BomInput, resolved: Resolved | None = None) -> CheckReport:
        """Every problem of a bill of materials against this rule, without calculating.

        ``resolved``: the caller's ``resolve(bom.inputs, boundary)``, used when it is for the
        boundary the check ends up with (resolved again otherwise)."""
        return self._check_bom(bom, resolved)[0]

    def _check_bom(
        self, bom: BomInput, resolved: Resolved | None
    ) -> tuple[CheckReport, ModelContext, list[tuple[_PlannedModel, dict[str, Any]]]]:
        """``check_bom``, with what ``run_models`` then needs: the models' context and each
        model of the boundary with its arguments (``_check_models``)."""
        doc = self.doc
        boundary = bom.boundary or doc.boundary.default
        gwp = bom.gwp_set or doc.gwp.default
        report = CheckReport(boundary=boundary, gwp_set=gwp)
        errors, warnings = report.errors, report.warnings
        if boundary not in doc.boundary.options:
            errors.append(
                FieldError(
                    "/boundary",
                    "boundary_not_allowed",
                    f"the rule allows {', '.join(b.value for b in doc.boundary.options)}",
                )
            )
            boundary = report.boundary = doc.boundary.default
        if gwp not in doc.gwp.allowed:
            errors.append(
                FieldError(
                    "/gwp_set",
                    "gwp_set_not_allowed",
                    f"the rule allows {', '.join(g.value for g in doc.gwp.allowed)}",
                )
            )
        ref = self._reference_amount(bom, errors)
        report.reference_amount = ref
        if resolved is not None and resolved.is_for(bom.inputs, boundary):
            inputs, ierr, iwarn = resolved.inputs, resolved.errors, resolved.warnings
        else:
            inputs, ierr, iwarn = self.resolve_inputs(bom.inputs, boundary)
        report.inputs = inputs
        errors.extend(ierr)
        warnings.extend(iwarn)
        walked = _walk(bom.lines)  # walked once for the checks and the materials
        self._check_lines(walked, boundary, report)
        report.materials = _materials(walked)
        ctx, models = self._check_models(boundary, report)
        return report, ctx, models

    def _reference_amount(self, bom: BomInput, errors: list[FieldError]) -> pint.Quantity:
        rf = self.doc.reference_flow
        default = self.reference_flow
        if bom.reference_amount is None:
            return default
        try:
            q = quantity(bom.reference_amount.value, bom.reference_amount.unit)
        except UnitProblem as exc:
            errors.append(FieldError("/reference_amount/unit", "unit_unknown", str(exc)))
            return default
        if q.dimensionality != default.dimensionality:
            errors.append(
                FieldError(
                    "/reference_amount/unit",
                    "unit_mismatch",
                    f"the rule's reference flow is in {rf.unit} ({rf.description})",
                )
            )
            return default
        return q

    def _check_lines(
        self, walked: Sequence[_Walked], boundary: Boundary, report: CheckReport
    ) -> None:
        doc = self.doc
        errors, warnings = report.errors, report.warnings
        active = self.stages_in(boundary)
        elec = doc.electricity.supplier_specific
        excluded_share = 0.0
        excluded: list[dict[str, Any]] = []
        stages_with_lines: set[Stage] = set()
        requirements = doc.line_requirements
        for line, at, _, _, parent in walked:
            if not line.excluded:
                stages_with_lines.add(line.stage)
            # Stage
            if line.stage not in self.stages:
                msg = f"the rule has no stage {line.stage}"
                errors.append(FieldError(at + "/stage", "stage_unknown", msg))
            elif line.stage not in active:
                errors.append(
                    FieldError(
                        at + "/stage",
                        "stage_outside_boundary",
                        f"stage {line.stage} is outside the {boundary} boundary",
                    )
                )
            if parent is not None and line.stage != parent.stage:
                errors.append(
                    FieldError(
                        at + "/stage",
                        "stage_mismatch",
                        f"a sub-assembly line must be in its parent's stage ({parent.stage})",
                    )
                )
            # Units
            self._check_line_units(line, at, errors)
            # Requirements of the rule on lines
            for req in () if line.excluded else requirements:
                if not _matches(req.when, line):
                    continue
                for fname in req.require:
                    if getattr(line, fname) is None and not (
                        line.lines and fname in _OWN_LINES_ONLY
                    ):
                        errors.append(FieldError(at + "/" + fname, "missing_field", req.message))
            # Electricity rule
            if line.category is _ELECTRICITY and line.supplier_value is not None:
                if not elec.allowed:
                    errors.append(
                        FieldError(
                            at + "/supplier_value",
                            "supplier_specific_not_allowed",
                            "the rule allows only the location-based grid factor",
                        )
                    )
                elif (
                    elec.contractual_instrument_required
                    and line.supplier_value.contractual_instrument is None
                ):
                    errors.append(
                        FieldError(
                            at + "/supplier_value/contractual_instrument",
                            "contractual_instrument_required",
                            "a supplier-specific electricity factor needs a contractual "
                            "instrument (" + ", ".join(elec.instruments) + ")",
                        )
                    )
            if line.reusable and not line.packaging:
                warnings.append(
                    FieldError(at + "/reusable", "reusable_not_packaging", "only packaging reuses")
                )
            # Data quality
            if line.dqr is not None and line.dqr.value > doc.data_quality.max_dqr:
                warnings.append(
                    FieldError(
                        at + "/dqr",
                        "dqr_above_minimum",
                        f"DQR {line.dqr.value:.2f} is worse than the rule's "
                        f"{doc.data_quality.max_dqr:g}",
                    )
                )
            # Cut-off
            if line.excluded:
                share = line.estimated_share
                if share is None:
                    errors.append(
                        FieldError(
                            at + "/estimated_share",
                            "cutoff_share_missing",
                            "an excluded line needs its estimated share of the life-cycle "
                            "emissions",
                        )
                    )
                    continue
                excluded_share += share
                excluded.append({"pointer": at, "name": line.name, "estimated_share": share})
                if share > doc.cut_off.per_item_max:
                    errors.append(
                        FieldError(
                            at + "/estimated_share",
                            "cutoff_item_exceeds",
                            f"{share:.2%} is above the rule's per-item cut-off "
                            f"{doc.cut_off.per_item_max:.0%}: include this line",
                        )
                    )
        for st in doc.stages:
            if st.lines_required and st.stage in active and st.stage not in stages_with_lines:
                errors.append(
                    FieldError(
                        "/lines",
                        "stage_missing_lines",
                        f"the rule needs lines in stage {st.stage}: "
                        + "; ".join(st.expected_lines or [st.description]),
                    )
                )
        coverage = 1 - excluded_share
        cut_ok = coverage + 1e-12 >= doc.cut_off.min_coverage
        if not cut_ok:
            errors.append(
                FieldError(
                    "/lines",
                    "cutoff_coverage",
                    f"excluded lines add up to {excluded_share:.2%}: coverage {coverage:.2%} is "
                    f"below the rule's {doc.cut_off.min_coverage:.0%}",
                )
            )
        report.cut_off = {
            "per_item_max": doc.cut_off.per_item_max,
            "min_coverage": doc.cut_off.min_coverage,
            "excluded": excluded,
            "excluded_share": excluded_share,
            "coverage": coverage,
            "ok": cut_ok
            and all(e["estimated_share"] <= doc.cut_off.per_item_max for e in excluded),
        }

    @staticmethod
    def _check_line_units(line: BomLine, at: str, errors: list[FieldError]) -> None:
        try:
            parse_unit(line.unit)
        except UnitProblem as exc:
            errors.append(FieldError(at + "/unit", "unit_unknown", str(exc)))
            return
        if not _suits_category(line.unit, line.category):
            allowed = _CATEGORY_UNITS[line.category]
            errors.append(
                FieldError(
                    at + "/unit",
                    "unit_mismatch",
                    f"a {line.category} line is measured in units like {', '.join(allowed)}, "
                    f"not {line.unit}",
                )
            )
        sv = line.supplier_value
        if sv is not None:
            try:
                parse_unit(sv.unit)
            except UnitProblem as exc:
                errors.append(FieldError(at + "/supplier_value/unit", "unit_unknown", str(exc)))
                return
            if not _gives_co2e(sv.unit, line.unit):
                errors.append(
                    FieldError(
                        at + "/supplier_value/unit",
                        "unit_mismatch",
                        f"a supplier value for a line in {line.unit} is in kgCO2e/{line.unit}",
                    )
                )

    def _check_models(
        self, boundary: Boundary, report: CheckReport
    ) -> tuple[ModelContext, list[tuple[_PlannedModel, dict[str, Any]]]]:
        """Each model of the boundary checks its arguments; returns the models' context and
        every model of the boundary with its arguments, in order (for ``run_models``)."""
        active = self.stages_in(boundary)
        ref = report.reference_amount
        assert ref is not None
        ctx = ModelContext(ref, report.materials, self._eol_routes)
        models: list[tuple[_PlannedModel, dict[str, Any]]] = []
        for planned in self._planned_models():
            spec, model = planned.spec, planned.model
            if active.isdisjoint(model.stages):
                continue
            args, missing = self._args(spec, model, report.inputs)
            models.append((planned, args))
            if missing:
                continue  # the missing inputs are already reported
            for p in model.check(args, planned.options, ctx):
                key = spec.bind.get(p.param or "", "")
                where = "/inputs" + (ptr(key) if key else "") + (ptr(p.sub) if p.sub else "")
                report.errors.append(FieldError(where, p.code, p.message))
        return ctx, models

    @cached_property
    def _eol_routes(self) -> tuple[str, ...]:
        return tuple(self.doc.end_of_life.routes)

    def _model_specs(self) -> list[tuple[ModelSpec, str]]:
        specs = [(m, ptr("use_phase", i)) for i, m in enumerate(self.doc.use_phase)]
        specs.append((self.doc.end_of_life.model, "/end_of_life/model"))
        return specs

    def _planned_models(self) -> list[_PlannedModel]:
        """The selected models in order (use phase, then end of life), built once per rule."""
        plan = self._plan
        if plan is None:
            plan = []
            for spec, _ in self._model_specs():
                model = get_model(spec.model)
                assert model is not None
                plan.append(_PlannedModel(spec, model, model.options.model_validate(spec.set)))
            self._plan = plan
        return plan

    @staticmethod
    def _args(
        spec: ModelSpec, model: ModelDef, inputs: Mapping[str, ResolvedInput]
    ) -> tuple[dict[str, Any], list[str]]:
        args: dict[str, Any] = {}
        missing: list[str] = []
        for name, key in spec.bind.items():
            r = inputs.get(key)
            if r is not None:
                args[name] = r.value
            elif (p := model.param(name)) is not None and p.required:
                missing.append(name)
        return args, missing

    # ------------------------------------------------------------------ materials & models
    def materials(self, bom: BomInput) -> tuple[MaterialMass, ...]:
        """Mass per material group (packaging apart) of the product's raw-material lines, per
        reference flow; reusable packaging divided by its trips; excluded lines left out."""
        return _materials(_walk(bom.lines))

    def run_models(
        self, bom: BomInput, resolved: Resolved | None = None
    ) -> tuple[list[ModelOutput], CheckReport]:
        """Check the BOM, then run every model whose stages are inside the boundary
        (``resolved``: as for ``check_bom``)."""
        report, ctx, models = self._check_bom(bom, resolved)
        if not report.valid:
            return [], report
        # the check's context and arguments: the same report, so the same values
        active = self.stages_in(report.boundary)
        outputs: list[ModelOutput] = []
        for planned, args in models:
            outputs.extend(
                o for o in planned.model.run(args, planned.options, ctx) if o.stage in active
            )
        return outputs, report

    def reporting_factors(self, inputs: Mapping[str, ResolvedInput]) -> dict[str, float]:
        """Multiply a per-reference-flow result by these to report it per each reporting unit."""
        out: dict[str, float] = {}
        for ru, target, per_reference_flow in self._reporting_units:
            if ru.per_input:
                r = inputs.get(ru.per_input)
                if r is None or not isinstance(r.value, pint.Quantity):
                    continue
                out[ru.key] = ratio(target, r.value)
            else:
                out[ru.key] = per_reference_flow
        return out

    @cached_property
    def _reporting_units(self) -> list[tuple[Any, pint.Quantity, float]]:
        """Each reporting unit with its amount as a quantity and, for one that is not per an
        input, its ratio to the reference flow (constant per rule)."""
        out = []
        for ru in self.doc.reporting_units:
            target = quantity(ru.amount, ru.unit)
            out.append((ru, target, 0.0 if ru.per_input else ratio(target, self.reference_flow)))
        return out


def describe_models() -> list[dict[str, Any]]:
    return [m.describe() for m in all_models()]


__all__ = [
    "CheckReport",
    "ModelDef",
    "ModelProblem",
    "ResolvedInput",
    "Rule",
    "check_rule",
    "load_reference_rules",
    "load_rule_file",
    "parse_rule",
    "read_value",
]
