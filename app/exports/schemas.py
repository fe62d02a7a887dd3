"""Request and response bodies of the export routes (PACT sharing, CBAM supplier data)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

ClientId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]
CnCode = Annotated[str, StringConstraints(pattern=r"^\d{4}(\d{2}){0,3}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
LongText = Annotated[str, StringConstraints(min_length=1, max_length=2000, strip_whitespace=True)]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ============================================================================ PACT sharing
class ShareIn(_In):
    client_id: ClientId = Field(description="the API client (of any organisation) that may read it")


class ShareOut(BaseModel):
    footprint_id: uuid.UUID
    client_id: str
    created_at: datetime
    created_by: str


Url = Annotated[str, StringConstraints(max_length=500, pattern=r"^https?://[^\s/]+(/\S*)?$")]


class RecipientAuthIn(_In):
    """Credentials the recipient's PACT host issued to you (OAuth2 client credentials)."""

    client_id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    client_secret: Annotated[str, StringConstraints(min_length=1, max_length=500)] = Field(
        description="stored encrypted; never returned"
    )
    auth_url: Url | None = Field(
        None,
        description="the recipient host's auth base URL, where `/.well-known/openid-configuration`"
        " (if it publishes one) or `/auth/token` live; default: the events URL without "
        "`/3/events` (PACT: every action but Authenticate under one base URL)",
    )


class RecipientIn(_In):
    events_url: Url = Field(
        description="the recipient's PACT Action Events endpoint (https://…/3/events) where "
        "replies to its requests and published notifications are sent",
    )
    auth: RecipientAuthIn | None = Field(
        None,
        description="how to authenticate there (PACT hosts require a bearer token on /3/events);"
        " without it events are sent unauthenticated. Credentials only travel over HTTPS (or "
        "plain HTTP to this machine's loopback address).",
    )

    @model_validator(mode="after")
    def _credentials_over_https(self) -> RecipientIn:
        if self.auth is not None:
            for url in (self.events_url, self.auth.auth_url):
                if url is not None and not secure_url(url):
                    raise ValueError(
                        f"{url}: credentials are only sent over HTTPS (plain HTTP only to "
                        "127.0.0.1, ::1 or localhost)"
                    )
        return self


def secure_url(url: str) -> bool:
    """HTTPS, or plain HTTP to the loopback interface (tests, a local proxy)."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and (parts.hostname or "") in LOOPBACK


LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


class RecipientAuthOut(BaseModel):
    client_id: str
    auth_url: str | None
    client_secret: Literal["stored"] = "stored"


class RecipientOut(BaseModel):
    client_id: str
    events_url: str
    auth: RecipientAuthOut | None = None
    created_at: datetime


class PactEventOut(BaseModel):
    id: uuid.UUID
    direction: str
    event_id: str
    type: str
    client_id: str
    status: str
    attempts: int
    last_error: str | None
    target_url: str | None
    created_at: datetime
    updated_at: datetime


# ============================================================================ CBAM
EfSource = Literal["default_commission", "public_grid_data", "direct_link", "ppa"]
ValueType = Literal["actual", "default"]


class ReportingPeriod(_In):
    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> ReportingPeriod:
        if self.end < self.start:
            raise ValueError("end is before start")
        return self


class Installation(_In):
    name: Text
    city: Text | None = None
    country: Country
    address: Text | None = None
    unlocode: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}[A-Z0-9]{3}$")] | None = None
    economic_activity: Text | None = None


class Electricity(_In):
    """Electricity behind the indirect emissions of a good: consumption, factor and its source
    type (exports.md §1.6)."""

    consumed_mwh_per_t: float | None = Field(None, ge=0, description="MWh per tonne of good")
    ef_tco2_per_mwh: float = Field(ge=0, description="emission factor, tCO2/MWh")
    ef_source: EfSource
    ef_source_reference: Text | None = Field(None, description="where the factor comes from")


class Precursor(_In):
    """A purchased precursor (steel or aluminium) from one supplier installation: the BOM line it
    is, and the supplier's specific embedded emissions."""

    line: Annotated[str, StringConstraints(max_length=300)] = Field(
        description="the BOM line: its JSON pointer (e.g. /lines/0) or its ref"
    )
    supplier: Text
    installation: Text | None = None
    country: Country | None = None
    production_route: Text | None = Field(None, description="e.g. BF-BOF, EAF, primary, secondary")
    see_direct: float | None = Field(None, ge=0, description="tCO2e per tonne, direct")
    see_indirect: float | None = Field(None, ge=0, description="tCO2e per tonne, indirect")
    values: ValueType = Field(
        description="actual (the supplier's verified values) or default (Commission default values)"
    )
    default_value_reference: Text | None = Field(
        None, description="with values=default: which Commission table the values come from"
    )
    verified: bool | None = None
    electricity: Electricity | None = None
    cn_code: CnCode | None = Field(None, description="default: the line's cn_code")

    @model_validator(mode="after")
    def _default_needs_reference(self) -> Precursor:
        if self.values == "default" and self.default_value_reference is None:
            raise ValueError("default values need default_value_reference (which table)")
        return self


class Good(_In):
    """A CBAM good produced by the installation (e.g. screws or brackets it forms itself), with
    its own specific embedded emissions as the installation's monitoring gives them."""

    name: Text
    cn_code: CnCode
    production_process: Text | None = None
    aggregated_goods_category: Text | None = None
    production_route: Text | None = None
    see_direct: float | None = Field(None, ge=0)
    see_indirect: float | None = Field(None, ge=0)
    values: ValueType = "actual"
    electricity: Electricity | None = None
    qualifying_parameters: dict[str, Text | float] = Field(default_factory=dict)
    monitoring: Literal["measurement", "calculation", "other"] | None = None


class CarbonPrice(_In):
    instrument: Text = Field(description="e.g. China national ETS, or none")
    amount_per_t: float = Field(ge=0)
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    share_covered: float = Field(ge=0, le=1, description="share of embedded emissions covered")
    rebates: float = Field(0, ge=0)
    effective_per_t: float | None = Field(
        None, ge=0, description="effective carbon price due per tonne, as the operator states it"
    )


class CbamInput(_In):
    """The CBAM data of one footprint's bill of materials (``PUT`` replaces it)."""

    product_cn_code: CnCode | None = Field(None, description="the product's own CN code")
    installation: Installation | None = None
    reporting_period: ReportingPeriod | None = None
    precursors: list[Precursor] = Field(default_factory=list, max_length=500)
    goods: list[Good] = Field(default_factory=list, max_length=100)
    carbon_price: CarbonPrice | None = None
    verifier: Text | None = None


class CbamInputOut(CbamInput):
    footprint_id: uuid.UUID
    updated_at: datetime
    updated_by: str


class RelevanceOut(BaseModel):
    cn_code: str
    cbam_today: bool
    sector: str | None
    annex_entry: str | None
    proposed_downstream: bool
    downstream_list: dict[str, Any]
