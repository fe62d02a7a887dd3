"""HTTP routes of the rule registry: read rules, the association workflow, diff and validate.

Everyone authenticated reads published (and deprecated) versions; drafts are visible to, and
changed by, the association that owns the product family only. A published version never
changes: every attempt is a 409.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from app.accounts.deps import AnyRole, require
from app.accounts.idempotency import Idempotent
from app.accounts.principal import Principal, Role
from app.core.deps import DbSession
from app.core.errors import BadRequest, FieldError, ValidationFailed
from app.core.limits import check_bom_limits
from app.rules import services
from app.rules.bom import BomInput
from app.rules.interpreter import describe_models
from app.rules.schemas import (
    CODE_PATTERN,
    VERSION_PATTERN,
    ChangeOut,
    DeprecateIn,
    DiffOut,
    DraftCreate,
    DraftList,
    DraftOut,
    ModelInfo,
    Problem,
    PublishIn,
    RuleList,
    RuleRef,
    RuleSummary,
    ValidationReport,
    VersionInfo,
    VersionList,
    VersionOut,
)

router = APIRouter(prefix="/v1", tags=["product category rules"])

Association = Annotated[Principal, Depends(require(Role.association))]
Writer = Annotated[Principal, Depends(require(Role.association, Role.admin))]
Code = Annotated[str, Path(pattern=CODE_PATTERN, description="the product family, e.g. beer")]
Version = Annotated[str, Path(pattern=VERSION_PATTERN, description="MAJOR.MINOR.PATCH")]
DraftId = Annotated[uuid.UUID, Path(description="the draft's id")]

Responses = dict[int | str, dict[str, Any]]
_404: Responses = {404: {"description": "No such rule, version or draft."}}
_409: Responses = {409: {"description": "A published version never changes."}}

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


# ---------------------------------------------------------------------------- reading
@router.get("/pcrs", response_model=RuleList, summary="List the product category rules")
def list_rules(principal: AnyRole, session: DbSession) -> RuleList:
    data = [RuleSummary.of(r, vs) for r, vs in services.list_rules(session)]
    return RuleList(data=data, count=len(data))


@router.get(
    "/pcr-models",
    response_model=list[ModelInfo],
    summary="The named use-phase and end-of-life models a rule can select",
)
def list_models(principal: AnyRole) -> list[ModelInfo]:
    return [ModelInfo(**m) for m in describe_models()]


@router.get(
    "/pcrs/{code}",
    response_model=VersionOut,
    summary="The latest published version of a rule",
    responses=_404,
)
def get_latest(code: Code, principal: AnyRole, session: DbSession) -> VersionOut:
    return VersionOut.of(services.latest_published(session, code))


@router.get(
    "/pcrs/{code}/versions",
    response_model=VersionList,
    summary="Every published or deprecated version of a rule, newest first",
    responses=_404,
)
def list_versions(code: Code, principal: AnyRole, session: DbSession) -> VersionList:
    data = [VersionInfo.of(v) for v in services.list_versions(session, code)]
    return VersionList(code=code, data=data, count=len(data))


@router.get(
    "/pcrs/{code}/versions/{version}",
    response_model=VersionOut,
    summary="One version of a rule (deprecated versions stay readable)",
    responses=_404,
)
def get_version(code: Code, version: Version, principal: AnyRole, session: DbSession) -> VersionOut:
    return VersionOut.of(services.get_version(session, code, version))


@router.patch(
    "/pcrs/{code}/versions/{version}",
    status_code=409,
    summary="Refused: a published version never changes (409)",
    responses={**_404, **_409},
)
def change_version(code: Code, version: Version, principal: Writer, session: DbSession) -> None:
    services.refuse_change(session, code, version)


@router.delete(
    "/pcrs/{code}/versions/{version}",
    status_code=409,
    summary="Refused: a published version is never deleted (409)",
    responses={**_404, **_409},
)
def delete_version(code: Code, version: Version, principal: Writer, session: DbSession) -> None:
    services.refuse_change(session, code, version)


@router.post(
    "/pcrs/{code}/versions/{version}/deprecate",
    response_model=VersionInfo,
    summary="Deprecate a version (it stays readable; new footprints use it only by version)",
    responses={**_404, 409: {"description": "Already deprecated."}},
)
def deprecate(
    code: Code, version: Version, body: DeprecateIn, principal: Association, session: DbSession
) -> VersionInfo:
    return VersionInfo.of(services.deprecate(session, principal, code, version, body.reason))


@router.get(
    "/pcrs/{code}/diff",
    response_model=DiffOut,
    summary="Field-by-field difference between two versions (or a version and your draft)",
    responses=_404,
)
def diff(
    code: Code,
    principal: AnyRole,
    session: DbSession,
    from_: Annotated[str, Query(alias="from", max_length=64, description="version or draft id")],
    to: Annotated[str, Query(max_length=64, description="version or draft id")],
) -> DiffOut:
    d = services.diff_versions(session, principal, code, from_, to)
    return DiffOut(
        code=code,
        **{"from": d.from_ref},
        to=d.to_ref,
        count=len(d.changes),
        changes=[ChangeOut(**c.as_dict()) for c in d.changes],
        text=[c.text() for c in d.changes],
    )


# ---------------------------------------------------------------------------- drafts
@router.post(
    "/pcrs/{code}/drafts",
    status_code=201,
    response_model=DraftOut,
    summary="Start a draft from the latest (or a given) version",
    responses=_404,
)
def create_draft(
    code: Code,
    principal: Association,
    session: DbSession,
    idem: Idempotent,
    body: DraftCreate | None = None,
) -> JSONResponse:
    from_version = body.from_version if body else None
    return idem.respond(
        201, lambda: DraftOut.of(services.create_draft(session, principal, code, from_version))
    )


@router.get(
    "/pcrs/{code}/drafts",
    response_model=DraftList,
    summary="Your association's drafts of a rule",
    responses=_404,
)
def list_drafts(code: Code, principal: Association, session: DbSession) -> DraftList:
    data = [DraftOut.of(d) for d in services.list_drafts(session, principal, code)]
    return DraftList(code=code, data=data, count=len(data))


@router.get(
    "/pcrs/{code}/drafts/{draft_id}",
    response_model=DraftOut,
    summary="One of your association's drafts",
    responses=_404,
)
def get_draft(
    code: Code, draft_id: DraftId, principal: Association, session: DbSession
) -> DraftOut:
    return DraftOut.of(services.get_draft(session, principal, code, draft_id))


_PATCH_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A JSON merge patch (RFC 7396, `application/merge-patch+json` or "
        "`application/json`) or a JSON Patch (RFC 6902, `application/json-patch+json`) of the "
        "rule document.",
        "content": {
            MERGE_PATCH: {"schema": {"type": "object"}},
            "application/json": {"schema": {"type": "object"}},
            JSON_PATCH: {"schema": {"type": "array", "items": {"type": "object"}}},
        },
    }
}


async def _patch_body(request: Request) -> tuple[Any, services.PatchKind]:
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if ctype not in (MERGE_PATCH, JSON_PATCH, "application/json"):
        raise BadRequest(
            f"Send {MERGE_PATCH} or {JSON_PATCH}, not {ctype}.", code="unsupported_media_type"
        )
    try:
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            "The body is not JSON.", errors=[FieldError("", "json_invalid", str(exc))]
        ) from None
    return body, ("json_patch" if ctype == JSON_PATCH else "merge")


PatchBody = Annotated[tuple[Any, services.PatchKind], Depends(_patch_body)]


@router.patch(
    "/pcrs/{code}/drafts/{draft_id}",
    response_model=DraftOut,
    summary="Edit a draft; the result is checked against the rule schema (every problem listed)",
    responses={**_404, **_409},
    openapi_extra=_PATCH_BODY,
)
def update_draft(
    code: Code,
    draft_id: DraftId,
    principal: Association,
    session: DbSession,
    patch: PatchBody,
) -> DraftOut:
    body, kind = patch
    return DraftOut.of(services.update_draft(session, principal, code, draft_id, body, kind))


@router.delete(
    "/pcrs/{code}/drafts/{draft_id}",
    status_code=204,
    summary="Discard a draft",
    responses={**_404, **_409},
)
def delete_draft(
    code: Code, draft_id: DraftId, principal: Association, session: DbSession
) -> Response:
    services.delete_draft(session, principal, code, draft_id)
    return Response(status_code=204)


@router.post(
    "/pcrs/{code}/drafts/{draft_id}/publish",
    status_code=201,
    response_model=VersionOut,
    summary="Publish a draft as a new semantic version (minor by default)",
    responses={
        **_404,
        409: {"description": "Already published, a newer version appeared, or no change."},
    },
)
def publish(
    code: Code,
    draft_id: DraftId,
    principal: Association,
    session: DbSession,
    idem: Idempotent,
    body: PublishIn | None = None,
) -> JSONResponse:
    req = body or PublishIn()
    return idem.respond(
        201,
        lambda: VersionOut.of(
            services.publish(session, principal, code, draft_id, req.bump, req.note)
        ),
    )


# ---------------------------------------------------------------------------- validate
@router.post(
    "/pcrs/{code}/validate",
    response_model=ValidationReport,
    summary="Check a bill of materials against a rule, without calculating",
    description="Lists, all at once, every missing required input, stage mismatch, unit "
    "problem and cut-off effect (JSON pointers into your request). `valid` is false when "
    "`errors` is not empty. Uses the latest published version unless `version` is given "
    "(deprecated versions only when asked for).",
    responses=_404,
)
def validate(
    code: Code,
    bom: BomInput,
    request: Request,
    principal: AnyRole,
    session: DbSession,
    version: Annotated[str | None, Query(pattern=VERSION_PATTERN)] = None,
) -> ValidationReport:
    settings = request.app.state.settings
    check_bom_limits(
        bom.lines,
        max_lines=settings.max_bom_lines,
        max_depth=settings.max_bom_depth,
        child_key="lines",
    )
    v, report = services.validate_bom(session, code, version, bom)
    rule = services.compiled(v)
    return ValidationReport(
        valid=report.valid,
        rule=RuleRef(code=code, version=v.version or "", status=v.status),
        boundary=report.boundary.value,
        gwp_set=report.gwp_set.value,
        errors=[Problem(pointer=e.pointer, code=e.code, message=e.message) for e in report.errors],
        warnings=[
            Problem(pointer=e.pointer, code=e.code, message=e.message) for e in report.warnings
        ],
        inputs={k: r.as_dict() for k, r in report.inputs.items()},
        cut_off=report.cut_off,
        reporting_units=rule.reporting_factors(report.inputs),
    )
