"""Export routes of an organisation's own footprints: PACT sharing and preview, CBAM supplier data
and data pack (JSON, XLSX), the CBAM relevance check, and the footprint report (HTML, PDF).
The PACT host itself (``/3/…``) is ``app.exports.pact.host``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlmodel import col, select

from app.accounts.deps import AnyRole, require
from app.accounts.idempotency import Idempotent
from app.accounts.principal import Principal, Role
from app.core.deps import DbSession
from app.exports import services
from app.exports.cbam import relevance
from app.exports.cbam.xlsx import to_xlsx
from app.exports.models import PactEvent
from app.exports.pact import host
from app.exports.pact.mapping import Catalogue
from app.exports.report import render
from app.exports.schemas import (
    CbamInput,
    CbamInputOut,
    CnCode,
    PactEventOut,
    RecipientAuthOut,
    RecipientIn,
    RecipientOut,
    RelevanceOut,
    ShareIn,
    ShareOut,
)

router = APIRouter(prefix="/v1", tags=["exports"])

Maker = Annotated[Principal, Depends(require(Role.manufacturer))]
Reader = Annotated[Principal, Depends(require(Role.manufacturer, Role.viewer))]
FootprintId = Annotated[uuid.UUID, Path(description="the footprint's id")]
ClientPath = Annotated[str, Path(max_length=64, pattern=r"^[\x21-\x7e]+$")]
_404: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such footprint in your organisation."}
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def catalogue(request: Request) -> Catalogue | None:
    bg = getattr(request.app.state, "background", None)
    return getattr(bg, "catalogue", None)


def _share_out(row: Any) -> ShareOut:
    return ShareOut(
        footprint_id=row.footprint_id,
        client_id=row.client_id,
        created_at=row.created_at,
        created_by=row.created_by,
    )


# ============================================================================ PACT
@router.get(
    "/footprints/{footprint_id}/pact",
    summary="The footprint as a PACT v3 (or v2.3) ProductFootprint",
    description="What a recipient reads on `GET /3/footprints/{id}` once the footprint is shared: "
    "the cradle-to-gate PCF per declared unit, decimal strings, version chain. `spec=2.3` gives "
    "the same footprint as a PACT v2.3 ProductFootprint for recipients whose tools still use "
    "PACT v2 (deprecated, both the deprecated and the new field names filled).",
    responses={
        **_404,
        422: {"description": "The footprint cannot be written as PACT (or `spec` is invalid)."},
    },
)
def pact_preview(
    footprint_id: FootprintId,
    request: Request,
    principal: Reader,
    session: DbSession,
    spec: Annotated[
        Literal["3.0", "2.3"],
        Query(description="PACT Technical Specifications version: 3.0 (default) or 2.3"),
    ] = "3.0",
) -> dict[str, Any]:
    return services.pact_preview(session, principal, footprint_id, catalogue(request), spec)


@router.post(
    "/footprints/{footprint_id}/pact/shares",
    status_code=201,
    response_model=ShareOut,
    summary="Share a footprint over PACT with one API client",
    description="From now on the client sees this footprint on `/3/footprints`. If the client "
    "registered an events endpoint with you, it gets a `PublishedEvent`.",
    responses={**_404, 409: {"description": "Already shared with this client."}},
)
def create_share(
    footprint_id: FootprintId,
    body: ShareIn,
    request: Request,
    tasks: BackgroundTasks,
    principal: Maker,
    session: DbSession,
    idem: Idempotent,
) -> JSONResponse:
    def create() -> ShareOut:
        row = services.share(session, principal, footprint_id, body.client_id, catalogue(request))
        fp = services.get_footprint(session, principal, footprint_id)
        host.publish(session, request, tasks, fp, body.client_id)
        return _share_out(row)

    return idem.respond(201, create)


@router.get(
    "/footprints/{footprint_id}/pact/shares",
    response_model=list[ShareOut],
    summary="Who a footprint is shared with over PACT",
    responses=_404,
)
def list_shares(footprint_id: FootprintId, principal: Reader, session: DbSession) -> list[ShareOut]:
    return [_share_out(r) for r in services.list_shares(session, principal, footprint_id)]


@router.delete(
    "/footprints/{footprint_id}/pact/shares/{client_id}",
    status_code=204,
    summary="Stop sharing a footprint with a client",
    responses=_404,
)
def delete_share(
    footprint_id: FootprintId, client_id: ClientPath, principal: Maker, session: DbSession
) -> Response:
    services.unshare(session, principal, footprint_id, client_id)
    return Response(status_code=204)


@router.put(
    "/pact/recipients/{client_id}",
    response_model=RecipientOut,
    summary="Register a recipient client's PACT events endpoint",
    description="Where replies to the client's `RequestCreatedEvent`s and `PublishedEvent`s for "
    "your footprints are sent, and the credentials its host issued to you: before sending, the "
    "service gets a token there (OpenID discovery of the token endpoint, else `/auth/token`; "
    "OAuth2 client credentials) and sends it as a bearer token, as PACT hosts require. The "
    "secret is stored encrypted and never returned.",
)
def put_recipient(
    request: Request,
    client_id: ClientPath,
    body: RecipientIn,
    principal: Maker,
    session: DbSession,
) -> RecipientOut:
    settings = request.app.state.settings
    row = services.put_recipient(
        session, principal, client_id, body, settings.secret_key, settings.private_targets_allowed
    )
    return _recipient_out(row)


def _recipient_out(row: Any) -> RecipientOut:
    auth = (
        RecipientAuthOut(client_id=row.auth_client_id, auth_url=row.auth_url)
        if row.auth_client_id is not None
        else None
    )
    return RecipientOut(
        client_id=row.client_id, events_url=row.events_url, auth=auth, created_at=row.created_at
    )


@router.get(
    "/pact/recipients",
    response_model=list[RecipientOut],
    summary="Registered recipient events endpoints",
)
def list_recipients(principal: Reader, session: DbSession) -> list[RecipientOut]:
    return [_recipient_out(r) for r in services.list_recipients(session, principal)]


@router.delete(
    "/pact/recipients/{client_id}",
    status_code=204,
    summary="Forget a recipient's events endpoint",
    responses={404: {"description": "None registered for this client."}},
)
def delete_recipient(client_id: ClientPath, principal: Maker, session: DbSession) -> Response:
    services.delete_recipient(session, principal, client_id)
    return Response(status_code=204)


@router.get(
    "/pact/events",
    response_model=list[PactEventOut],
    summary="PACT events sent on your behalf, with their delivery state",
)
def list_events(
    principal: Reader,
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[PactEventOut]:
    rows = session.exec(
        select(PactEvent)
        .where(PactEvent.owner_org_id == principal.org_id, PactEvent.direction == "out")
        .order_by(col(PactEvent.created_at).desc())
        .limit(limit)
    ).all()
    return [PactEventOut.model_validate(r, from_attributes=True) for r in rows]


# ============================================================================ CBAM
@router.get(
    "/cbam/relevance",
    response_model=list[RelevanceOut],
    summary="Are these CN codes CBAM goods today, or on the proposed downstream list?",
)
def cbam_relevance(
    principal: AnyRole,
    cn_code: Annotated[list[CnCode], Query(min_length=1, max_length=200)],
) -> list[RelevanceOut]:
    lists = relevance.load_lists()
    return [RelevanceOut(**relevance.check(c, lists).as_dict(lists)) for c in cn_code]


@router.put(
    "/footprints/{footprint_id}/cbam/supplier-data",
    response_model=CbamInputOut,
    summary="Set the CBAM supplier data of a footprint's bill of materials",
    description="Installation, reporting period, precursor suppliers with their specific "
    "embedded emissions (actual or default values) and electricity factor, the installation's "
    "own CBAM goods, carbon price. Replaces what was there; the footprint does not change.",
    responses={**_404, 422: {"description": "Every problem at once (unknown BOM lines …)."}},
)
def put_cbam(
    footprint_id: FootprintId, body: CbamInput, principal: Maker, session: DbSession
) -> CbamInputOut:
    row = services.put_cbam(session, principal, footprint_id, body)
    return CbamInputOut(
        footprint_id=row.footprint_id,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
        **row.data,
    )


@router.get(
    "/footprints/{footprint_id}/cbam/supplier-data",
    response_model=CbamInputOut,
    response_model_exclude_none=True,
    summary="The CBAM supplier data of a footprint",
    responses={404: {"description": "No such footprint, or no CBAM data yet."}},
)
def get_cbam(footprint_id: FootprintId, principal: Reader, session: DbSession) -> CbamInputOut:
    row = services.get_cbam(session, principal, footprint_id)
    return CbamInputOut(
        footprint_id=row.footprint_id,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
        **row.data,
    )


@router.get(
    "/footprints/{footprint_id}/cbam",
    summary="The CBAM data pack of a product (JSON)",
    description="Bill-of-materials lines with CN codes and their CBAM relevance (Annex I today; "
    "the dated proposed downstream list), mass of iron and steel and of aluminium by CN code, "
    "precursors with supplier, route and specific embedded emissions (actual, default or "
    "missing), electricity factor and source type, open problems. Never a footprint number.",
    responses=_404,
)
def cbam_pack(footprint_id: FootprintId, principal: Reader, session: DbSession) -> dict[str, Any]:
    return services.cbam_pack(session, principal, footprint_id)


@router.get(
    "/footprints/{footprint_id}/cbam.xlsx",
    summary="The CBAM data pack as XLSX (Summary_Communication, E_PurchPrec)",
    response_class=Response,
    responses={**_404, 200: {"content": {XLSX: {}}, "description": "An XLSX workbook."}},
)
def cbam_xlsx(footprint_id: FootprintId, principal: Reader, session: DbSession) -> Response:
    pack = services.cbam_pack(session, principal, footprint_id)
    return Response(
        to_xlsx(pack),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="cbam-{footprint_id}.xlsx"'},
    )


# ============================================================================ report
@router.get(
    "/footprints/{footprint_id}/report",
    summary="The footprint report (HTML, or PDF), in English or Chinese",
    description="Product and rule, functional unit, boundary, results by stage and by gas with "
    "charts, hotspots, data quality, uncertainty, data sources and licences, cut-offs and "
    "assumptions, and the ISO 14067 / GB/T 24067 reporting checklist. `format=pdf` needs "
    "Chromium on the server (503 `pdf_renderer_missing` otherwise).",
    response_class=HTMLResponse,
    responses={
        **_404,
        200: {"content": {"text/html": {}, "application/pdf": {}}},
        503: {"description": "format=pdf and no Chromium on the server."},
    },
)
def report(
    footprint_id: FootprintId,
    request: Request,
    principal: Reader,
    session: DbSession,
    format: Annotated[Literal["html", "pdf"], Query()] = "html",
    lang: Annotated[Literal["en", "zh"], Query()] = "en",
) -> Response:
    fp = services.get_footprint(session, principal, footprint_id)
    html = render.report_html(session, fp, principal.org_name, lang, catalogue(request))
    if format == "pdf":
        pdf = render.to_pdf(html)
        return Response(
            pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="footprint-{footprint_id}.pdf"'},
        )
    return HTMLResponse(html)
