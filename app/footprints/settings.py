"""Settings of the footprint calculation (environment prefix ``PCF_FOOTPRINT_``)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class FootprintSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PCF_FOOTPRINT_", env_file=".env", extra="ignore")

    max_amount: float = Field(
        1e9, gt=0, description="Largest absolute number accepted anywhere in a footprint input."
    )
    mc_iterations: int = Field(
        500, ge=10, le=100_000, description="Monte Carlo iterations of the 95 % interval."
    )
    mc_seed: int = Field(20240101, ge=0, description="Seed of the Monte Carlo runs.")
    max_upload_rows: int = Field(5000, ge=1, description="Most rows of an uploaded CSV/XLSX.")


@lru_cache
def get_footprint_settings() -> FootprintSettings:
    return FootprintSettings()
