"""The bill of materials a manufacturer posts: checked by ``POST /v1/pcrs/{code}/validate`` and
(issue 7) the input of a footprint.

Each line is one input to one life-cycle stage: an amount with a unit, and *either* a background
dataset (``dataset``: a ``pcf_id``), *or* a supplier-specific value (kg CO2e per unit, with its
source), *or* sub-assembly ``lines`` (amounts per one sub-assembly). A line left out under the
rule's cut-off says so (``excluded``) with its estimated share of the life-cycle emissions.
Values for the rule's inputs (label energy, mileage, end-of-life shares, …) go in ``inputs``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.rules.schema import Boundary, GwpSet, LineCategory, Stage

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Unit = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]
Group = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
DatasetId = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Amount(_In):
    value: float = Field(gt=0)
    unit: Unit


class ContractualInstrument(_In):
    """The contract behind a supplier-specific electricity factor (GEC, PPA, green tariff …)."""

    type: Literal["gec", "i_rec", "ppa", "green_tariff", "other"]
    reference: Name


class SupplierValue(_In):
    """A supplier-specific emission factor for this line: ``value`` kg CO2e per ``unit``."""

    value: float = Field(ge=0, description="kg CO2e per unit")
    unit: Unit = Field(description="e.g. kgCO2e/kg, kgCO2e/kWh")
    source: Name
    contractual_instrument: ContractualInstrument | None = None


class Dqr(_In):
    """PEF data-quality criteria, each 1 (best) to 5: DQR = (TeR + GeR + TiR + P) / 4."""

    ter: float = Field(ge=1, le=5)
    ger: float = Field(ge=1, le=5)
    tir: float = Field(ge=1, le=5)
    p: float = Field(ge=1, le=5)

    @property
    def value(self) -> float:
        return (self.ter + self.ger + self.tir + self.p) / 4


class BomLine(_In):
    ref: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        None, description="your own id for the line"
    )
    name: Name
    stage: Stage
    category: LineCategory = LineCategory.material
    amount: float = Field(gt=0, description="per reference flow (or per parent sub-assembly)")
    unit: Unit
    dataset: DatasetId | None = Field(None, description="background dataset pcf_id")
    supplier_value: SupplierValue | None = None
    lines: list[BomLine] | None = Field(None, description="sub-assembly: its own lines")
    cn_code: Annotated[str, StringConstraints(pattern=r"^\d{4}(\d{2}){0,3}$")] | None = None
    material_group: Group | None = None
    packaging: bool = False
    reusable: bool = False
    trips: float | None = Field(None, ge=1, description="reuse rate: uses per reusable item")
    excluded: bool = Field(False, description="left out under the rule's cut-off")
    estimated_share: float | None = Field(
        None, ge=0, le=1, description="excluded line: estimated share of life-cycle emissions"
    )
    dqr: Dqr | None = None

    @model_validator(mode="after")
    def _one_source(self) -> BomLine:
        given = [n for n in ("dataset", "supplier_value", "lines") if getattr(self, n) is not None]
        if len(given) > 1:
            raise ValueError(f"give only one of dataset, supplier_value, lines (got {given})")
        if not given and not self.excluded:
            raise ValueError("give one of dataset, supplier_value or lines (or mark it excluded)")
        if self.lines is not None and not self.lines:
            raise ValueError("a sub-assembly needs at least one line")
        return self


class BomInput(_In):
    """A bill of materials against a rule; the body of validate (and of a footprint)."""

    boundary: Boundary | None = Field(None, description="default: the rule's default boundary")
    gwp_set: GwpSet | None = Field(None, description="default: the rule's default GWP set")
    reference_amount: Amount | None = Field(
        None, description="what the lines are per; default: the rule's reference flow"
    )
    inputs: dict[str, Any] = Field(default_factory=dict, description="values for rule inputs")
    lines: list[BomLine] = Field(
        min_length=1, description="PCF_MAX_BOM_LINES and PCF_MAX_BOM_DEPTH apply"
    )
