"""Request and response bodies of the rule registry API.

The bill-of-materials body of ``POST /v1/pcrs/{code}/validate`` (and of a footprint) is
``app.rules.bom.BomInput``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.rules.bom import BomInput, BomLine
from app.rules.models import PcrRule, PcrVersion

VERSION_PATTERN = r"^(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})$"
CODE_PATTERN = r"^[a-z][a-z0-9-]{1,63}$"

__all__ = ["BomInput", "BomLine"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DraftCreate(_In):
    from_version: Annotated[str, StringConstraints(pattern=VERSION_PATTERN)] | None = Field(
        None, description="start from this version (default: the latest published one)"
    )


class PublishIn(_In):
    bump: Literal["major", "minor", "patch"] = Field(
        "minor", description="which part of the semantic version to raise"
    )
    note: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = Field(
        None, description="what changed, for the version history"
    )


class DeprecateIn(_In):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class VersionInfo(BaseModel):
    code: str
    version: str
    status: Literal["published", "deprecated"]
    based_on: str | None
    published_at: datetime | None
    published_by: str | None
    note: str | None
    deprecated_at: datetime | None
    deprecation_reason: str | None
    content_hash: str

    @classmethod
    def of(cls, v: PcrVersion) -> VersionInfo:
        return cls(
            code=v.rule_code,
            version=v.version or "",
            status=v.status,
            based_on=v.based_on,
            published_at=v.published_at,
            published_by=v.published_by,
            note=v.note,
            deprecated_at=v.deprecated_at,
            deprecation_reason=v.deprecation_reason,
            content_hash=v.content_hash,
        )


class VersionOut(VersionInfo):
    document: dict[str, Any]

    @classmethod
    def of(cls, v: PcrVersion) -> VersionOut:
        return cls(**VersionInfo.of(v).model_dump(), document=v.document)


class VersionList(BaseModel):
    code: str
    data: list[VersionInfo]
    count: int


class RuleSummary(BaseModel):
    code: str
    name: str
    product_group: str
    latest_version: str | None = Field(description="newest published, not deprecated")
    versions: list[str] = Field(description="every published or deprecated version, newest first")
    deprecated: list[str]

    @classmethod
    def of(cls, rule: PcrRule, versions: list[PcrVersion]) -> RuleSummary:
        latest = next((v.version for v in versions if v.status == "published"), None)
        return cls(
            code=rule.code,
            name=rule.name,
            product_group=rule.product_group,
            latest_version=latest,
            versions=[v.version for v in versions if v.version],
            deprecated=[v.version for v in versions if v.version and v.status == "deprecated"],
        )


class RuleList(BaseModel):
    data: list[RuleSummary]
    count: int


class DraftOut(BaseModel):
    id: uuid.UUID
    code: str
    status: Literal["draft"] = "draft"
    based_on: str | None
    created_at: datetime
    updated_at: datetime
    created_by: str
    content_hash: str
    document: dict[str, Any]

    @classmethod
    def of(cls, v: PcrVersion) -> DraftOut:
        return cls(
            id=v.id,
            code=v.rule_code,
            based_on=v.based_on,
            created_at=v.created_at,
            updated_at=v.updated_at,
            created_by=v.created_by,
            content_hash=v.content_hash,
            document=v.document,
        )


class DraftList(BaseModel):
    code: str
    data: list[DraftOut]
    count: int


class ChangeOut(BaseModel):
    path: str = Field(description="readable: stages[use].inputs[service_life].default.value")
    pointer: str = Field(description="JSON pointer into the newer document")
    change: Literal["added", "removed", "changed"]
    before: Any = None
    after: Any = None


class DiffOut(BaseModel):
    code: str
    from_: str = Field(alias="from")
    to: str
    count: int
    changes: list[ChangeOut]
    text: list[str] = Field(description="one readable line per change")

    model_config = ConfigDict(populate_by_name=True)


class Problem(BaseModel):
    pointer: str
    code: str
    message: str


class RuleRef(BaseModel):
    code: str
    version: str
    status: str


class ValidationReport(BaseModel):
    """What a bill of materials lacks or gets wrong against a rule — nothing is calculated."""

    valid: bool
    rule: RuleRef
    boundary: str
    gwp_set: str
    errors: list[Problem] = Field(description="every blocking problem, each with a JSON pointer")
    warnings: list[Problem]
    inputs: dict[str, dict[str, Any]] = Field(
        description="each rule input in the boundary: its value, unit and whether it was "
        "supplied or is the rule's default (with source and confidence)"
    )
    cut_off: dict[str, Any]
    reporting_units: dict[str, float] = Field(
        description="multiply a result per reference flow by these for each reporting unit"
    )


class ModelInfo(BaseModel):
    name: str
    title: str
    formula: str
    stages: list[str]
    params: list[dict[str, Any]]
    options: dict[str, Any]
