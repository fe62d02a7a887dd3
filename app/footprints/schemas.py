"""Request and response bodies of the footprint API.

The input *is* a bill of materials (``app.rules.bom.BomInput``) with what a footprint needs on
top: the product (rule, name, model, mass, period, production site), convenience sections for
manufacturing (electricity, fuels, steam, water, waste, refrigerant charging losses) and transport
legs, and optional end-of-life dataset choices. The sections are expanded into ordinary bill-of-
materials lines before the rule checks them (``app.footprints.normalise``), so every line — typed
in ``lines`` or generated from a section — is checked and calculated the same way.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.rules.bom import Amount, BomInput, BomLine, DatasetId, Dqr, Name, SupplierValue, Unit
from app.rules.schema import Stage

CODE_PATTERN = r"^[a-z][a-z0-9-]{1,63}$"
VERSION_PATTERN = r"^(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})$"

RuleCode = Annotated[str, StringConstraints(pattern=CODE_PATTERN)]
RuleVersion = Annotated[str, StringConstraints(pattern=VERSION_PATTERN)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
Key = Annotated[str, StringConstraints(pattern=r"^(\*|[a-z][a-z0-9_]{0,63})$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ============================================================================ input
class FootprintLine(BomLine):
    """A bill-of-materials line; a line counted in pieces on a dataset measured by mass gives
    the mass of one piece."""

    piece_mass: Amount | None = Field(
        None, description="mass of one piece (lines in item/pcs on a dataset measured in kg)"
    )
    lines: list[FootprintLine] | None = Field(  # type: ignore[assignment]
        None, description="sub-assembly: its own lines (amounts per one sub-assembly)"
    )


class ReferencePeriod(_In):
    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> ReferencePeriod:
        if self.end < self.start:
            raise ValueError("end is before start")
        return self


class ProductionSite(_In):
    """Where the product is made; the province decides its regional grid (华北, 华东, …)."""

    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = "CN"
    province: ShortText | None = Field(None, description="e.g. Shandong, 山东, CN-SD")
    name: ShortText | None = None


class Product(_In):
    pcr_code: RuleCode = Field(description="the product category rule, e.g. beer")
    pcr_version: RuleVersion | None = Field(
        None, description="the rule version (default: the latest published one)"
    )
    name: Name
    model: ShortText | None = Field(None, description="model name or number")
    sku: ShortText | None = None
    mass: Amount | None = Field(
        None,
        description="mass of one reference flow with its packaging (default mass of "
        "distribution legs)",
    )
    reference_period: ReferencePeriod | None = None
    production_site: ProductionSite | None = None


class Consumption(_In):
    """One fuel, steam, water or waste entry of the manufacturing site."""

    name: Name
    amount: float = Field(gt=0)
    unit: Unit
    dataset: DatasetId | None = None
    supplier_value: SupplierValue | None = None
    dqr: Dqr | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Consumption:
        if (self.dataset is None) == (self.supplier_value is None):
            raise ValueError("give exactly one of dataset or supplier_value")
        return self


class ElectricityUse(_In):
    """Electricity of the site: the grid (the rule's factor) or supplier-specific (primary data
    with its contractual instrument, where the rule allows it)."""

    name: Name = "Electricity"
    amount: float = Field(gt=0)
    unit: Unit = "kWh"
    supplier_value: SupplierValue | None = Field(
        None, description="kgCO2e/kWh of a contract (GEC, PPA, green tariff …)"
    )
    dqr: Dqr | None = None


class RefrigerantCharging(_In):
    """Refrigerant lost while charging the product in the factory."""

    gas: ShortText = Field(description="e.g. R-600a, R-32, R-134a, R-410A")
    amount: float = Field(gt=0)
    unit: Unit = "kg"
    dataset: DatasetId | None = Field(None, description="default: the gas's emission dataset")


class Manufacturing(_In):
    electricity: list[ElectricityUse] = Field(default_factory=list, max_length=100)
    fuels: list[Consumption] = Field(default_factory=list, max_length=100)
    steam: list[Consumption] = Field(default_factory=list, max_length=100)
    water: list[Consumption] = Field(default_factory=list, max_length=100)
    waste: list[Consumption] = Field(default_factory=list, max_length=100)
    refrigerant_losses: list[RefrigerantCharging] = Field(default_factory=list, max_length=100)


TransportMode = Literal["road", "road_refrigerated", "rail", "sea", "inland_water", "air"]


class TransportLeg(_In):
    """One transport leg: mass × distance = t·km on the mode's dataset."""

    name: Name | None = None
    leg: Literal["inbound", "distribution"] = Field(
        description="inbound (materials to the factory: raw-materials stage) or distribution"
    )
    mode: TransportMode
    distance: Amount = Field(description="e.g. {value: 800, unit: km}")
    mass: Amount | None = Field(
        None,
        description="mass carried per reference flow (default for distribution: the product mass)",
    )
    dataset: DatasetId | None = Field(None, description="default: the mode's dataset")


class FootprintInput(BomInput):
    """``POST /v1/footprints``: a bill of materials against a rule, and the product it is for."""

    product: Product
    lines: list[FootprintLine] = Field(min_length=1, max_length=5000)  # type: ignore[assignment]
    manufacturing: Manufacturing | None = None
    transport: list[TransportLeg] = Field(default_factory=list, max_length=200)
    eol_datasets: dict[Key, dict[Key, DatasetId]] = Field(
        default_factory=dict,
        description="end-of-life treatment dataset per material group and route (default: "
        "the service's table; '*' for every group)",
    )


# ============================================================================ other requests
class RecalculateIn(_In):
    pcr_version: RuleVersion | None = Field(
        None, description="the rule version (default: the latest published one)"
    )
    release_id: str | None = Field(
        None, description="the background release (default: the one the service runs on)"
    )


class Overrides(_In):
    """A scenario: the same input with changes."""

    set: dict[str, Any] = Field(
        default_factory=dict,
        description="JSON pointer into the input → new value, e.g. "
        '{"/lines/1/amount": 0.28, "/inputs/label_class": "A"}',
    )
    green_electricity: SupplierValue | None = Field(
        None,
        description="make every manufacturing electricity entry supplier-specific with this "
        "factor (with its contractual instrument)",
    )


class CompareIn(_In):
    a: uuid.UUID = Field(description="a footprint id")
    b: uuid.UUID | None = Field(None, description="a second footprint id")
    scenario: Overrides | None = Field(None, description="or: footprint a with these changes")

    @model_validator(mode="after")
    def _b_or_scenario(self) -> CompareIn:
        if (self.b is None) == (self.scenario is None):
            raise ValueError("give exactly one of b or scenario")
        return self


# ============================================================================ output
class StageResult(BaseModel):
    stage: Stage
    kgco2e: float
    share: float
    indicators: dict[str, float]


class PerUnit(BaseModel):
    key: str
    description: str
    amount: float
    unit: str
    kgco2e: float


class Contributor(BaseModel):
    pointer: str | None = None
    name: str
    stage: Stage
    kind: str
    dataset: str | None = None
    amount: float | None = None
    unit: str | None = None
    kgco2e: float
    share: float
    packaging: bool = False
    primary: bool = False
    dqr: float | None = None


class ProcessContributor(BaseModel):
    dataset: str | None = None
    name: str
    location: str | None = None
    kgco2e: float
    share: float


class Contributors(BaseModel):
    lines: list[Contributor]
    processes: list[ProcessContributor]


class DataQuality(BaseModel):
    dqr: float
    rating: str
    method: str
    relevant_contributors: int
    coverage: float
    primary_data_share: float
    max_dqr_of_rule: float


class Uncertainty(BaseModel):
    method: str
    iterations: int
    seed: int
    mean: float
    sd: float
    p2_5: float
    p50: float
    p97_5: float
    interval_95: list[float]


class Warning_(BaseModel):
    pointer: str | None = None
    code: str
    message: str


class Provenance(BaseModel):
    pcr_code: str
    pcr_version: str
    pcr_content_hash: str
    release_id: str
    impact_method: list[str]
    gwp_set: str
    boundary: str
    grid_region: dict[str, str] | None = Field(
        default=None,
        description="the production site's province and grid region, when given (shown; the "
        "rule's electricity factor decides)",
    )
    libraries: dict[str, str]
    input_hash: str
    calculated_at: datetime


class FootprintResult(BaseModel):
    """What a footprint says (stored; never changes)."""

    total_kgco2e: float
    unit: str = "kg CO2e"
    functional_unit: str
    per_unit: list[PerUnit]
    stages: list[StageResult]
    gases: dict[str, float]
    indicators: dict[str, float]
    packaging: dict[str, float]
    contributors: Contributors
    data_quality: DataQuality
    uncertainty: Uncertainty
    cut_off: dict[str, Any]
    inputs: dict[str, Any]
    warnings: list[Warning_]
    provenance: Provenance


class FootprintOut(FootprintResult):
    id: uuid.UUID
    product: dict[str, Any]
    recalculated_from: uuid.UUID | None = None
    created_at: datetime
    created_by: str


class FootprintSummary(BaseModel):
    id: uuid.UUID
    pcr_code: str
    pcr_version: str
    product_name: str
    product_model: str | None
    release_id: str
    total_kgco2e: float
    input_hash: str
    recalculated_from: uuid.UUID | None
    created_at: datetime


class FootprintPage(BaseModel):
    items: list[FootprintSummary]
    total: int
    page: int
    page_size: int


class StageDelta(BaseModel):
    stage: str
    a_kgco2e: float
    b_kgco2e: float
    delta_kgco2e: float
    delta_share: float | None


class CompareOut(BaseModel):
    a: dict[str, Any]
    b: dict[str, Any]
    same_rule: bool
    comparable: bool
    notes: list[str]
    total: StageDelta
    stages: list[StageDelta]
    indicators: dict[str, dict[str, float]]


__all__ = [
    "Consumption",
    "DatasetId",
    "ElectricityUse",
    "FootprintInput",
    "FootprintLine",
    "FootprintOut",
    "Manufacturing",
    "Product",
    "TransportLeg",
]
