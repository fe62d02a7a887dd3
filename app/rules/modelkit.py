"""The registry of named calculation models a rule can select (use phase, end of life).

A model is a pure function from resolved inputs to *quantities* — kWh of electricity, MJ of fuel,
kg of a named gas emitted, kg of material sent to a treatment route — never kg CO2e: the footprint
engine turns quantities into CO2e with background datasets and the rule's GWP set. A rule selects a
model by name and binds each model argument to one of its inputs::

    use_phase:
      - model: appliance_label_energy
        bind: {consumption_per_day: label_energy_per_day, service_life: service_life, ...}

so a new product family reuses every model here without new code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pint
from pydantic import BaseModel, ConfigDict

from app.rules.schema import InputSpec, InputType, Stage


@dataclass(frozen=True)
class FactorValue:
    """An emission factor: a background dataset (by ``pcf_id``) or a literal value per unit."""

    dataset: str | None = None
    value: float | None = None
    unit: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.dataset is not None:
            out["dataset"] = self.dataset
        if self.value is not None:
            out["value"] = self.value
        if self.unit is not None:
            out["unit"] = self.unit
        return out


@dataclass(frozen=True)
class MaterialMass:
    """Mass of one material group in the product (per reference flow), packaging kept apart."""

    group: str
    packaging: bool
    kg: float


@dataclass(frozen=True)
class ModelContext:
    reference_amount: pint.Quantity
    materials: tuple[MaterialMass, ...] = ()
    routes: tuple[str, ...] = ()


@dataclass(slots=True)
class ModelOutput:
    """One quantity a model produced, in the stage it belongs to (read-only by convention: not
    frozen, because a bill of materials yields dozens per request and a frozen dataclass costs
    five times as much to build)."""

    stage: Stage
    flow: str
    kind: str  # electricity | fuel | emission | waste
    amount: float
    unit: str
    factor: FactorValue | None = None
    gas: str | None = None
    packaging: bool = False
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "stage": self.stage.value,
            "flow": self.flow,
            "kind": self.kind,
            "amount": self.amount,
            "unit": self.unit,
        }
        if self.factor is not None:
            out["factor"] = self.factor.as_dict()
        if self.gas is not None:
            out["gas"] = self.gas
        if self.packaging:
            out["packaging"] = True
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass(frozen=True)
class ModelProblem:
    """A problem found by a model; ``param`` names the argument (the interpreter maps it to the
    bound rule input), ``sub`` an optional key below it (e.g. a material group)."""

    param: str | None
    code: str
    message: str
    sub: str | None = None


@dataclass(frozen=True)
class Param:
    name: str
    kind: InputType
    unit: str | None = None  # reference unit: a bound input must be compatible with it
    required: bool = True
    description: str = ""


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


Args = Mapping[str, Any]
RunFn = Callable[[Args, Any, ModelContext], list[ModelOutput]]
CheckFn = Callable[[Args, Any, ModelContext], list[ModelProblem]]
RuleCheckFn = Callable[[Mapping[str, InputSpec], Any], list[ModelProblem]]


def _no_problems(*_: Any) -> list[ModelProblem]:
    return []


@dataclass(frozen=True)
class ModelDef:
    name: str
    title: str
    formula: str
    stages: tuple[Stage, ...]
    params: tuple[Param, ...]
    run: RunFn
    options: type[BaseModel] = NoOptions
    check: CheckFn = _no_problems
    check_rule: RuleCheckFn = _no_problems
    exactly_one_of: tuple[tuple[str, ...], ...] = ()
    needs: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (param, params it needs bound too)

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "formula": self.formula,
            "stages": [s.value for s in self.stages],
            "params": [
                {
                    "name": p.name,
                    "type": p.kind.value,
                    "unit": p.unit,
                    "required": p.required,
                    "description": p.description,
                }
                for p in self.params
            ],
            "options": self.options.model_json_schema(),
        }


_REGISTRY: dict[str, ModelDef] = {}


def register(model: ModelDef) -> ModelDef:
    if model.name in _REGISTRY:
        raise ValueError(f"model {model.name} registered twice")
    _REGISTRY[model.name] = model
    return model


def get_model(name: str) -> ModelDef | None:
    _load_builtin()
    return _REGISTRY.get(name)


def all_models() -> list[ModelDef]:
    _load_builtin()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def _load_builtin() -> None:
    # The built-in models register themselves on import.
    from app.rules import endoflife, usephase  # noqa: F401
