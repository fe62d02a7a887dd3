"""HTTP routes of footprints: create (JSON or a CSV/XLSX file), read, list, recalculate, compare,
and the input templates. Routes parse, call a service and shape the answer.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile as StarletteUploadFile

from app.accounts.deps import AnyRole, require
from app.accounts.idempotency import Idempotent
from app.accounts.principal import Principal, Role
from app.background.services import require_background
from app.core import jsonio
from app.core.deps import DbSession
from app.core.errors import FieldError, ValidationFailed
from app.core.jsonio import FastJSONResponse
from app.footprints import resulttables, services, upload
from app.footprints.models import Footprint, StoredFootprint
from app.footprints.schemas import (
    CODE_PATTERN,
    CompareIn,
    CompareOut,
    FootprintInput,
    FootprintOut,
    FootprintPage,
    FootprintSummary,
    RecalculateIn,
)

router = APIRouter(prefix="/v1", tags=["footprints"])

Maker = Annotated[Principal, Depends(require(Role.manufacturer))]
Reader = Annotated[Principal, Depends(require(Role.manufacturer, Role.viewer))]
FootprintId = Annotated[uuid.UUID, Path(description="the footprint's id")]
PcrCode = Annotated[str, Path(pattern=CODE_PATTERN, description="the rule, e.g. beer")]

Responses = dict[int | str, dict[str, Any]]
_422: Responses = {
    422: {
        "description": "Every problem of the input at once, each with a JSON pointer: unknown "
        "datasets (with the closest matches), incompatible units (naming both), bad numbers, "
        "limits (named), missing rule inputs. Nothing is stored."
    }
}
_404: Responses = {404: {"description": "No such footprint in your organisation."}}
_INPUT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/FootprintInput"}}
        },
    }
}


def out(fp: Footprint | StoredFootprint) -> dict[str, Any]:
    """A stored footprint as the JSON body of ``FootprintOut``.

    Built from the stored result as is rather than validated into the model and dumped again
    (two walks over ~20 kB per request): the stored result is what the calculation wrote, and
    tests check that every example's body validates against ``FootprintOut`` unchanged.
    """
    return {
        "id": fp.id,
        "product": fp.normalised_input.get("product", {}),
        "recalculated_from": fp.recalculated_from,
        "created_at": _utc(fp.created_at),
        "created_by": fp.created_by,
        **fp.result,
    }


def _utc(dt: datetime) -> datetime:
    """Stored times are UTC; SQLite hands them back without a zone."""
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def summary(fp: Footprint) -> FootprintSummary:
    return FootprintSummary(
        id=fp.id,
        pcr_code=fp.pcr_code,
        pcr_version=fp.pcr_version,
        product_name=fp.product_name,
        product_model=fp.product_model,
        release_id=fp.release_id,
        total_kgco2e=fp.total_kgco2e,
        input_hash=fp.input_hash,
        recalculated_from=fp.recalculated_from,
        created_at=_utc(fp.created_at),
    )


async def _json_body(request: Request) -> Any:
    body = await request.body()
    try:
        return jsonio.loads(body)
    except ValueError:
        pass  # not strict JSON: maybe NaN / Infinity, which the number checks name with pointers
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            "The body is not valid JSON.",
            code="invalid_json",
            errors=[FieldError("", "invalid_json", str(exc))],
        ) from exc


@router.post(
    "/footprints",
    status_code=201,
    response_model=FootprintOut,
    summary="Calculate and store a footprint",
    description="A bill of materials against a product category rule in, an ISO 14067 / "
    "GB/T 24067 footprint out (by stage, by gas, fossil / biogenic / land-use change apart, "
    "contributors, data quality, 95 % interval, warnings, provenance). The body is a "
    "`FootprintInput` (examples: `GET /v1/examples/{pcr_code}`). Stored once; never changes.",
    responses=_422,
    openapi_extra=_INPUT_BODY,
)
async def create_footprint(
    request: Request, principal: Maker, session: DbSession, idem: Idempotent
) -> JSONResponse:
    raw = await _json_body(request)
    bg = require_background(request)
    settings = request.app.state.settings

    async def create() -> dict[str, Any]:
        return out(await services.create(session, principal, raw, bg, settings))

    return await idem.respond_async(201, create)


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "a .csv or .xlsx file in the template",
                        }
                    },
                }
            }
        },
    }
}


@router.post(
    "/footprints/upload",
    status_code=201,
    response_model=FootprintOut,
    summary="Calculate a footprint from a CSV or XLSX file",
    description="The same input as a file in the template of `GET /v1/templates/{pcr_code}.xlsx` "
    "(CSV: the same columns, UTF-8), as multipart field `file`. Problems point into the JSON the "
    "file stands for and name the row.",
    responses=_422,
    openapi_extra=_UPLOAD_BODY,
)
async def upload_footprint(
    request: Request, principal: Maker, session: DbSession, idem: Idempotent
) -> JSONResponse:
    # The Idempotency-Key dependency has read (and cached) the raw body; parse the form from it.
    form = await request.form()
    file = form.get("file")
    if not isinstance(file, StarletteUploadFile):
        raise ValidationFailed(
            "Send the file as multipart/form-data field 'file'.",
            code="file_missing",
            errors=[FieldError("/file", "missing", "a .csv or .xlsx file is required")],
        )
    data = await file.read()
    parsed = upload.read_upload(
        file.filename or "",
        file.content_type or "",
        data,
        request.app.state.settings.footprint_max_upload_rows,
    )
    bg = require_background(request)
    settings = request.app.state.settings

    async def create() -> dict[str, Any]:
        try:
            return out(await services.create(session, principal, parsed.data, bg, settings))
        except ValidationFailed as exc:
            raise parsed.with_rows(exc) from None

    return await idem.respond_async(201, create)


@router.get(
    "/footprints",
    response_model=FootprintPage,
    summary="Footprints of your organisation",
    description="Newest first; filter by rule, product (name or model, substring) and creation "
    "date.",
)
def list_footprints(
    principal: Reader,
    session: DbSession,
    pcr_code: Annotated[str | None, Query(pattern=CODE_PATTERN)] = None,
    product: Annotated[str | None, Query(max_length=200)] = None,
    created_from: Annotated[date | None, Query(description="YYYY-MM-DD, inclusive")] = None,
    created_to: Annotated[date | None, Query(description="YYYY-MM-DD, inclusive")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> FootprintPage:
    rows, total = services.list_footprints(
        session,
        principal,
        pcr_code=pcr_code,
        product=product,
        created_from=created_from,
        created_to=created_to,
        page=page,
        page_size=page_size,
    )
    return FootprintPage(
        items=[summary(r) for r in rows], total=total, page=page, page_size=page_size
    )


@router.get(
    "/footprints/{footprint_id}",
    response_model=FootprintOut,
    summary="One footprint",
    responses=_404,
)
def get_footprint(footprint_id: FootprintId, principal: Reader, session: DbSession) -> Response:
    return FastJSONResponse(out(services.get(session, principal, footprint_id)))


TableName = Literal[
    "summary", "stages", "gases", "lines", "processes", "inputs", "per_unit", "warnings"
]
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _tabular(fp: Footprint | StoredFootprint) -> dict[str, Any]:
    return {
        "id": fp.id,
        "product": fp.normalised_input.get("product", {}),
        "created_at": _utc(fp.created_at),
        "created_by": fp.created_by,
        "recalculated_from": fp.recalculated_from,
        "result": fp.result,
    }


@router.get(
    "/footprints/{footprint_id}/tables/{table}.csv",
    summary="One table of a footprint, as CSV",
    description="The stored footprint as a flat table, the same numbers as the JSON at full "
    "precision: `summary` (headline figures, data quality, uncertainty, provenance as "
    "field/value rows), `stages`, `gases`, `lines` (contributions of the bill-of-materials lines "
    "and rule inputs), `processes` (upstream background processes), `inputs` (the rule inputs "
    "used, with origin and source), `per_unit`, `warnings`. UTF-8 with a byte-order mark, so "
    "spreadsheet programs read Chinese names.",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, **_404},
)
def footprint_table(
    footprint_id: FootprintId,
    table: Annotated[TableName, Path(description="which table")],
    principal: Reader,
    session: DbSession,
) -> Response:
    fp = services.get(session, principal, footprint_id)
    return Response(
        resulttables.to_csv(_tabular(fp), table),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{footprint_id}-{table}.csv"'},
    )


@router.get(
    "/footprints/{footprint_id}/tables.xlsx",
    summary="All tables of a footprint, as one XLSX workbook",
    description="A sheet per table of `GET /v1/footprints/{id}/tables/{table}.csv`.",
    response_class=Response,
    responses={200: {"content": {_XLSX: {}}}, **_404},
)
def footprint_workbook(
    footprint_id: FootprintId, principal: Reader, session: DbSession
) -> Response:
    fp = services.get(session, principal, footprint_id)
    return Response(
        resulttables.to_xlsx(_tabular(fp)),
        media_type=_XLSX,
        headers={"Content-Disposition": f'attachment; filename="{footprint_id}.xlsx"'},
    )


@router.post(
    "/footprints/{footprint_id}/recalculate",
    status_code=201,
    response_model=FootprintOut,
    summary="Recalculate a footprint on a newer rule version or release",
    description="The stored input, calculated again (with the rule version asked for, else the "
    "latest published one, on the release the service runs on): a new footprint whose "
    "`recalculated_from` is the old one. The old one never changes.",
    responses={**_404, **_422},
)
def recalculate_footprint(
    footprint_id: FootprintId,
    request: Request,
    principal: Maker,
    session: DbSession,
    idem: Idempotent,
    body: RecalculateIn | None = None,
) -> JSONResponse:
    bg = require_background(request)
    settings = request.app.state.settings
    return idem.respond(
        201,
        lambda: out(
            services.recalculate(
                session, principal, footprint_id, body or RecalculateIn(), bg, settings
            )
        ),
    )


@router.post(
    "/footprints/compare",
    response_model=CompareOut,
    summary="Compare two footprints, or a footprint and a scenario, stage by stage",
    description="`b`: a second footprint; or `scenario`: footprint `a`'s input with overrides "
    "(JSON pointers, or green electricity for every manufacturing electricity entry) — "
    "calculated, not stored.",
    responses={**_404, **_422},
)
def compare_footprints(
    body: CompareIn, request: Request, principal: Reader, session: DbSession
) -> dict[str, Any]:
    bg = require_background(request) if body.scenario is not None else None
    return services.compare(session, principal, body, bg, request.app.state.settings)


@router.get(
    "/templates/{pcr_code}.xlsx",
    summary="The upload template of a rule, filled with its example",
    response_class=Response,
    responses={
        200: {
            "content": {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}},
            "description": "An XLSX workbook: sheet `footprint` (the example) and `README`.",
        },
        404: {"description": "No example for this rule."},
    },
)
def template(pcr_code: PcrCode, principal: AnyRole) -> Response:
    data = upload.template_xlsx(pcr_code)
    return Response(
        data,
        media_type=_XLSX,
        headers={"Content-Disposition": f'attachment; filename="{pcr_code}.xlsx"'},
    )


@router.get(
    "/examples/{pcr_code}",
    response_model=FootprintInput,
    response_model_exclude_none=True,
    summary="A realistic footprint input for a rule (from examples/)",
    responses={404: {"description": "No example for this rule."}},
)
def example(pcr_code: PcrCode, principal: AnyRole) -> FootprintInput:
    return upload.example_input(pcr_code)
