"""API shapes of the background data: datasets and releases."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class DataQuality(BaseModel):
    TeR: float = Field(description="Technological representativeness, 1 (best) to 5")
    GeR: float = Field(description="Geographical representativeness, 1 (best) to 5")
    TiR: float = Field(description="Time-related representativeness, 1 (best) to 5")
    P: float = Field(description="Precision, 1 (best) to 5")
    DQR: float = Field(description="(TeR + GeR + TiR + P) / 4 (EU PEF 3.0)")
    rules: list[str] = Field(default_factory=list, description="The written rules that set them")


class BrightwayRef(BaseModel):
    project: str = "pcf"
    database: str
    code: str


class Dataset(BaseModel):
    id: str = Field(description="Stable dataset id (use it in bills of materials)")
    name: str
    name_zh: str | None = None
    unit: str = Field(description="The unit one amount of this dataset refers to")
    category: str | None = None
    geography: str | None = None
    reference_year: int | None = None
    kind: str | None = Field(None, description="unit_process or aggregated_factor")
    variant: str = Field(description="original, or the China-grid variant it belongs to")
    factor_type: str | None = None
    source: str
    citation: str | None = None
    licence: str
    proxy: bool = False
    second_hand: bool = False
    flags: list[str] = Field(default_factory=list)
    data_quality: DataQuality
    uncertainty: dict[str, Any] | None = None
    completeness: dict[str, Any] | None = None
    values: dict[str, float] = Field(
        description="Cradle-to-gate value per unit for each indicator (kg CO2e or kg CO2)"
    )
    brightway: BrightwayRef

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "id": "cn-elec:lca-national-2024",
                    "name": "Electricity carbon footprint factor, China national average",
                    "name_zh": "全国电力平均碳足迹因子 (2024)",
                    "unit": "kWh",
                    "category": "energy/electricity",
                    "geography": "CN",
                    "reference_year": 2024,
                    "variant": "original",
                    "source": "MEE, NBS & NEA, 关于发布2024年电力碳足迹因子数据的公告 (Oct 2025)",
                    "licence": "Chinese official notice (PRC Copyright Law art. 5)",
                    "data_quality": {"TeR": 1, "GeR": 1, "TiR": 1, "P": 3, "DQR": 1.5},
                    "values": {"gwp100_total": 0.5777},
                    "brightway": {
                        "project": "pcf",
                        "database": "cn_electricity",
                        "code": "lca-national-2024",
                    },
                }
            ]
        }
    }


class MissingMaterial(BaseModel):
    key: str
    material: str
    status: str = Field(description="missing or partial: no sourced open value exists yet")
    note: str | None = None
    datasets: list[str] = Field(default_factory=list)


class DatasetPage(BaseModel):
    release_id: str
    items: list[Dataset]
    total: int
    page: int
    page_size: int
    missing: list[MissingMaterial] = Field(
        default_factory=list,
        description="Known gaps matching the search: materials with no (or only a partial) "
        "sourced dataset. Supply these as primary data.",
    )


class Release(BaseModel):
    id: str
    current: bool
    content_hash: str | None = None
    created_at: str | None = None
    manifest: dict[str, Any]
