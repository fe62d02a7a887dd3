"""The schema of a Product Category Rule (PCR) document.

A rule is data: the YAML files in ``product_rules/`` and every version in the database are
documents of this shape, read by one interpreter (``app.rules.interpreter``). Structure is checked
here (pydantic, every problem at once); cross-references — units, bindings of the named use-phase
and end-of-life models, defaults against their inputs — are checked by
``app.rules.interpreter.check_rule``.

Every default carries its value, unit, source and confidence (the tags of
``docs/domain.md``: ``source``, ``derived``; a value the reference marks *not found* is never a
default: the rule makes it a required input instead).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


class Stage(StrEnum):
    raw_materials = "raw_materials"
    manufacturing = "manufacturing"
    distribution = "distribution"
    use = "use"
    end_of_life = "end_of_life"


STAGE_ORDER: tuple[Stage, ...] = tuple(Stage)


class Boundary(StrEnum):
    cradle_to_gate = "cradle_to_gate"
    cradle_to_grave = "cradle_to_grave"


class Confidence(StrEnum):
    """The tags of the domain reference: seen in a source, or derived (inference, arithmetic)."""

    source = "source"
    derived = "derived"
    not_found = "not_found"


class GwpSet(StrEnum):
    AR5 = "AR5"
    AR6 = "AR6"


class InputType(StrEnum):
    quantity = "quantity"  # a number with a unit: {value, unit}
    choice = "choice"  # one of `choices`
    factor = "factor"  # an emission factor: {dataset: pcf_id} or {value, unit: kgCO2e/...}
    shares = "shares"  # {material_group or "*": {route: fraction}} (end-of-life routes)


class EolMethod(StrEnum):
    cut_off = "cut_off"
    circular_footprint_formula = "circular_footprint_formula"


class ElectricityApproach(StrEnum):
    location_based = "location_based"
    supplier_specific = "supplier_specific"


class LineCategory(StrEnum):
    """What a bill-of-materials line is; decides which units make sense for it."""

    material = "material"
    electricity = "electricity"
    fuel = "fuel"
    heat = "heat"
    transport = "transport"
    water = "water"
    waste = "waste"
    other = "other"


Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{1,63}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=4000)]
UnitText = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Fraction = Annotated[float, Field(ge=0, le=1)]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=False)


class Sourced(_Doc):
    """Where a statement comes from and how sure we are (domain.md tags)."""

    source: Text
    confidence: Confidence


class DefaultValue(Sourced):
    """A default: value and unit, with its source and confidence."""

    value: float | str | dict[str, Any]
    unit: UnitText | None = None
    dataset: Text | None = Field(
        None, description="factor: the background dataset (pcf_id) the value stands for"
    )
    note: Text | None = None


class InputSpec(_Doc):
    """One input a stage needs: required from the manufacturer, or with a sourced default."""

    key: Key
    label: Text
    type: InputType = InputType.quantity
    unit: UnitText | None = Field(None, description="quantity: unit; factor: kgCO2e per ...")
    choices: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] | None = None
    datasets: list[Text] | None = Field(
        None, description="factor: the background datasets (pcf_id) allowed; none = any"
    )
    required: bool = False
    default: DefaultValue | None = None
    overridable: bool = Field(True, description="false: the rule fixes the default")
    minimum: float | None = None
    maximum: float | None = None
    source: Text | None = Field(None, description="why the input exists or has no default")
    note: Text | None = None


class UnitAmount(_Doc):
    description: Text
    amount: float = Field(gt=0)
    unit: UnitText


class FunctionalUnit(UnitAmount, Sourced):
    service_life_input: Key | None = Field(
        None, description="the input holding the reference service life (years or km)"
    )


class ReportingUnit(_Doc):
    """A further unit the result is also reported in (per litre, per 1 000 km)."""

    key: Key
    description: Text
    amount: float = Field(gt=0)
    unit: UnitText
    per_input: Key | None = Field(
        None,
        description="scale by amount ÷ this input (e.g. 1000 km ÷ mileage); none: by amount ÷ "
        "reference flow",
    )


class BoundarySpec(_Doc):
    options: list[Boundary] = Field(min_length=1)
    default: Boundary


class StageSpec(_Doc):
    stage: Stage
    description: Text
    included_in: list[Boundary] = Field(min_length=1)
    primary_data_required: bool = False
    lines_required: bool = Field(
        False, description="a bill of materials must have lines in this stage"
    )
    expected_lines: list[Text] = Field(
        default_factory=list, description="what the bill of materials lists in this stage"
    )
    inputs: list[InputSpec] = Field(default_factory=list)


class PackagingSpec(Sourced):
    separate_line: bool = True
    description: Text


class LineMatch(_Doc):
    """Which bill-of-materials lines a requirement applies to (all given fields must match)."""

    stage: list[Stage] | None = None
    category: list[LineCategory] | None = None
    packaging: bool | None = None
    reusable: bool | None = None
    supplier_specific: bool | None = None


LineField = Literal["trips", "material_group", "cn_code", "dqr", "estimated_share"]


class LineRequirement(Sourced):
    when: LineMatch
    require: list[LineField] = Field(min_length=1)
    message: Text


class ModelSpec(_Doc):
    """A named calculation model: model arguments bound to rule inputs, options set literally."""

    model: Key
    bind: dict[str, Key] = Field(default_factory=dict)
    set: dict[str, Any] = Field(default_factory=dict)
    description: Text | None = None


class CutOffRule(Sourced):
    per_item_max: float = Field(gt=0, le=0.2)
    min_coverage: float = Field(ge=0.5, le=1)
    basis: Literal["anticipated_emissions", "mass"] = "anticipated_emissions"


class AllocationRule(Sourced):
    hierarchy: list[Literal["subdivision", "system_expansion", "physical", "economic"]] = Field(
        min_length=1
    )
    physical_basis: Literal["mass", "energy", "volume", "economic"] = "mass"
    notes: list[Text] = Field(default_factory=list)


class GwpRule(Sourced):
    default: GwpSet
    allowed: list[GwpSet] = Field(min_length=1)
    supplementary: dict[str, DefaultValue] = Field(
        default_factory=dict, description="GWP100 of gases the IPCC set has no value for"
    )


class SupplierSpecificElectricity(Sourced):
    allowed: bool
    contractual_instrument_required: bool = True
    instruments: list[Text] = Field(default_factory=list)
    reported_separately: bool = True


class ElectricityRule(Sourced):
    default_approach: ElectricityApproach = ElectricityApproach.location_based
    factor_input: Key = Field(description="the input (type factor) holding the grid factor")
    supplier_specific: SupplierSpecificElectricity
    regional_co2_factors_allowed: bool = False


class EndOfLifeRule(Sourced):
    default_method: EolMethod = EolMethod.cut_off
    allowed_methods: list[EolMethod] = Field(min_length=1)
    routes: list[Key] = Field(min_length=1)
    model: ModelSpec
    cff_parameters: dict[str, DefaultValue] = Field(default_factory=dict)


class DataQualityRule(Sourced):
    formula: Text = "DQR = (TeR + GeR + TiR + P) / 4"
    max_dqr: float = Field(ge=1, le=5)
    primary_data_stages: list[Stage] = Field(default_factory=list)


class RuleDocument(_Doc):
    """One Product Category Rule (the content of one version)."""

    schema_version: Literal[1] = 1
    code: Code = Field(description="the product family (PCR code); associations own codes")
    product_group: Key = Field(description="grouping for display: beer, appliances, tyres …")
    name: Text
    description: Text
    standards: list[Text] = Field(min_length=1)
    references: list[Text] = Field(default_factory=list)
    functional_unit: FunctionalUnit
    declared_unit: UnitAmount
    reference_flow: UnitAmount
    reporting_units: list[ReportingUnit] = Field(default_factory=list)
    boundary: BoundarySpec
    stages: list[StageSpec] = Field(min_length=1)
    packaging: PackagingSpec
    line_requirements: list[LineRequirement] = Field(default_factory=list)
    use_phase: list[ModelSpec] = Field(default_factory=list)
    end_of_life: EndOfLifeRule
    cut_off: CutOffRule
    allocation: AllocationRule
    gwp: GwpRule
    electricity: ElectricityRule
    data_quality: DataQualityRule
    notes: list[Text] = Field(default_factory=list)
