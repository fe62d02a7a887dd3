"""One Settings class for the whole service (environment prefix ``PCF_``)."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_VAR = PROJECT_ROOT / "var"
DEFAULT_SECRET = "dev-insecure-secret-change-me-not-for-prod"  # refused when PCF_ENV=prod


class Env(StrEnum):
    dev = "dev"
    test = "test"
    prod = "prod"


class Settings(BaseSettings):
    """Configuration, read from ``PCF_*`` environment variables (or a ``.env`` file)."""

    model_config = SettingsConfigDict(env_prefix="PCF_", env_file=".env", extra="ignore")

    env: Env = Field(Env.dev, description="dev, test or prod; prod refuses default secrets.")
    database_url: str = Field(
        f"sqlite:///{DEFAULT_VAR / 'pcf.sqlite3'}",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db.",
    )
    data_dir: Path = Field(
        DEFAULT_VAR / "data", description="Where background-data releases are built and read."
    )
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING, ERROR.")
    log_json: bool = Field(True, description="Structured JSON logs (false: plain text).")
    secret_key: str = Field(DEFAULT_SECRET, description="Signs access tokens.")
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    # Accounts and security (docs/security.md).
    token_ttl_seconds: int = Field(
        900, ge=60, le=86400, description="Lifetime of an access token, in seconds."
    )
    max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Largest request body accepted (413 above)."
    )
    max_bom_lines: int = Field(
        2000, ge=1, description="Most lines in one bill of materials, sub-assemblies included."
    )
    max_bom_depth: int = Field(8, ge=1, description="Deepest nesting of sub-assemblies in a BOM.")
    rate_limit_per_minute: int = Field(
        600, ge=0, description="Requests per minute and API client (0: no limit); 429 above."
    )
    idempotency_ttl_hours: int = Field(
        24, ge=1, description="How long an Idempotency-Key is remembered."
    )
    require_https: bool | None = Field(
        None,
        description="Refuse plain HTTP on /auth/token and the PACT API /3/… (behind a proxy, "
        "via X-Forwarded-Proto). Default: on in prod, off otherwise.",
    )
    pact_private_targets: bool | None = Field(
        None,
        description="Let outgoing PACT calls (events, token requests) reach loopback, private, "
        "link-local and other non-public addresses. Default: allowed in dev and test, refused in "
        "prod (a registered URL must not point the server at its own network).",
    )
    # Footprint calculation (docs/methodology.md).
    footprint_max_amount: float = Field(
        1e9, gt=0, description="Largest absolute number accepted anywhere in a footprint input."
    )
    footprint_mc_iterations: int = Field(
        500, ge=10, le=100_000, description="Monte Carlo iterations of the 95 % interval."
    )
    footprint_mc_seed: int = Field(20240101, ge=0, description="Seed of the Monte Carlo runs.")
    footprint_max_upload_rows: int = Field(
        5000, ge=1, description="Most rows of an uploaded CSV/XLSX."
    )

    @field_validator("database_url")
    @classmethod
    def _normalise_pg_driver(cls, v: str) -> str:
        # Accept the usual postgres:// and postgresql:// spellings; we always use psycopg 3.
        for prefix in ("postgres://", "postgresql://"):
            if v.startswith(prefix):
                return "postgresql+psycopg://" + v[len(prefix) :]
        if not (v.startswith("sqlite") or v.startswith("postgresql+psycopg://")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return v

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        v = v.upper()
        if v not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return v

    @model_validator(mode="after")
    def _prod_refuses_defaults(self) -> Settings:
        weak = self.secret_key == DEFAULT_SECRET or len(self.secret_key) < 32
        if self.env is Env.prod and weak:
            raise ValueError("PCF_SECRET_KEY: prod needs its own secret of at least 32 characters")
        return self

    @property
    def https_required(self) -> bool:
        """PACT endpoints (and the token endpoint) refuse plain HTTP: on by default in prod."""
        return self.env is Env.prod if self.require_https is None else self.require_https

    @property
    def private_targets_allowed(self) -> bool:
        """Outgoing PACT calls may reach non-public addresses: by default only outside prod."""
        return (
            self.env is not Env.prod
            if self.pact_private_targets is None
            else (self.pact_private_targets)
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
