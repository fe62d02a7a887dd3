"""The PACT v3 host: ``GET /3/footprints``, ``GET /3/footprints/{id}``, ``POST /3/events``.

Authentication is the service's OAuth2 client-credentials flow (``POST /auth/token``). A client
sees exactly the footprints organisations have shared with it (``pact_share``), whatever its own
organisation and role. Every error here is a PACT error body ``{"code", "message"}`` (BadRequest,
AccessDenied, TokenExpired, NotFound, NotImplemented, InternalError), not problem+json.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, BackgroundTasks, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.accounts import service
from app.accounts.deps import TOKEN_URL
from app.accounts.principal import Principal
from app.core.errors import AppError
from app.core.security import InvalidToken, verify_token
from app.core.tenancy import unscoped
from app.exports import services
from app.exports.models import PactEvent, PactRecipient
from app.exports.pact import events
from app.exports.pact.mapping import Catalogue, NotMappable
from app.footprints.models import Footprint

log = logging.getLogger("pcf.pact")

MAX_LIMIT = 100
DEFAULT_LIMIT = 50
ASOF_PARAM = "x-pcf-asof"  # host-specific parameters must be prefixed x-<identifier>-
FILTERS = ("productId", "companyId", "geography", "classification", "status")
DATE_FILTERS = ("validOn", "validAfter", "validBefore")


class PactError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def pact_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


_BY_STATUS = {
    400: "BadRequest",
    401: "TokenExpired",
    403: "AccessDenied",
    404: "NotFound",
    405: "BadRequest",
    413: "BadRequest",
    415: "BadRequest",
    422: "BadRequest",
    429: "BadRequest",
    501: "NotImplemented",
}


class PactRoute(APIRoute):
    """Answers every error of the route (dependencies included) as a PACT error body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except PactError as exc:
                return pact_error(exc.status, exc.code, exc.message, exc.headers)
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {}
                where = ".".join(str(p) for p in first.get("loc", ()))
                return pact_error(400, "BadRequest", f"{where}: {first.get('msg', 'invalid')}")
            except AppError as exc:
                code = _BY_STATUS.get(exc.status, "InternalError")
                return pact_error(
                    exc.status if exc.status < 500 else 500, code, exc.detail, exc.headers
                )
            except StarletteHTTPException as exc:
                code = _BY_STATUS.get(exc.status_code, "InternalError")
                return pact_error(exc.status_code, code, str(exc.detail))

        return route


router = APIRouter(tags=["pact"], route_class=PactRoute)


def _token_expired() -> PactError:
    return PactError(
        401,
        "TokenExpired",
        "The access token is missing, invalid or expired.",
        {"WWW-Authenticate": 'Bearer realm="pcf"'},
    )


def _principal(request: Request, session: Session) -> Principal:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _token_expired()
    try:
        claims = verify_token(request.app.state.settings.secret_key, token.strip())
    except InvalidToken:
        raise _token_expired() from None
    principal = service.principal_for(session, claims)
    if principal is None:
        raise _token_expired()
    limiter = getattr(request.app.state, "rate_limiter", None)
    if limiter is not None:
        try:
            limiter.check(principal.client_id)
        except AppError as exc:
            raise PactError(429, "BadRequest", exc.detail, exc.headers) from None
    return principal


def _session(request: Request) -> Any:
    return request.app.state.db.session()


def _catalogue(request: Request) -> Catalogue | None:
    bg = getattr(request.app.state, "background", None)
    return getattr(bg, "catalogue", None)


# ============================================================================ filtering
def _dt(value: str, name: str) -> datetime:
    try:
        v = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise PactError(400, "BadRequest", f"{name} must be an RFC 3339 date-time") from None
    return v if v.tzinfo else v.replace(tzinfo=UTC)


def _criteria(multi: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """Filter criteria from query parameters or a RequestCreated event's data (names are
    case-insensitive; repeated values of one criterion are OR'd)."""
    crit: dict[str, Any] = {}
    lower = {k.lower(): k for k in FILTERS + DATE_FILTERS}
    for key, values in multi.items():
        name = lower.get(key.lower())
        if name is None:
            continue
        vals = [v for v in values if isinstance(v, str) and v != ""]
        if not vals:
            continue
        if name in DATE_FILTERS:
            crit[name] = _dt(vals[-1], name)
        elif name == "status":
            st = {v.lower() for v in vals}
            if not st <= {"active", "deprecated"}:
                raise PactError(400, "BadRequest", "status must be Active or Deprecated")
            crit[name] = st
        else:
            crit.setdefault(name, set()).update(v.lower() for v in vals)
    return crit


def _matches(pf: Mapping[str, Any], crit: Mapping[str, Any]) -> bool:
    pcf = pf.get("pcf") or {}
    if "productId" in crit and not crit["productId"] & {v.lower() for v in pf["productIds"]}:
        return False
    if "companyId" in crit and not crit["companyId"] & {v.lower() for v in pf["companyIds"]}:
        return False
    if "classification" in crit and not crit["classification"] & {
        v.lower() for v in pf.get("productClassifications") or []
    }:
        return False
    if "geography" in crit:
        geo = {
            str(pcf[k]).lower()
            for k in (
                "geographyCountry",
                "geographyCountrySubdivision",
                "geographyRegionOrSubregion",
            )
            if k in pcf
        }
        if not crit["geography"] & geo:
            return False
    if "status" in crit and pf["status"].lower() not in crit["status"]:
        return False
    start = _dt(pf.get("validityPeriodStart") or pcf["referencePeriodEnd"], "validityPeriodStart")
    end = _dt(pf.get("validityPeriodEnd") or pcf["referencePeriodEnd"], "validityPeriodEnd")
    if "validOn" in crit and not (start <= crit["validOn"] <= end):
        return False
    if "validAfter" in crit and not (start > crit["validAfter"]):
        return False
    return not ("validBefore" in crit and not (end < crit["validBefore"]))


def visible(
    session: Session,
    client_id: str,
    crit: Mapping[str, Any],
    catalogue: Catalogue | None,
    as_of: datetime | None = None,
) -> list[dict[str, Any]]:
    rows = services.shared_with(session, client_id, as_of)
    fps = [fp for fp, _ in rows]
    names = {fp.org_id: name for fp, name in rows}
    out = []
    for fp in fps:
        try:
            pf = services.pact_documents(session, [fp], names, catalogue)[0]
        except (NotMappable, ValueError):
            log.warning("shared footprint not exportable", extra={"footprint": str(fp.id)})
            continue
        if _matches(pf, crit):
            out.append(pf)
    return out


# ============================================================================ routes
_ERR = {
    "description": "PACT error body",
    "content": {"application/json": {"example": {"code": "BadRequest", "message": "…"}}},
}


@router.get(
    "/.well-known/openid-configuration",
    summary="PACT Authenticate: OpenID discovery",
    description="Where to get an access token (PACT: a host SHOULD publish this; clients use "
    "its `token_endpoint`): the client-credentials endpoint `/auth/token` with HTTP Basic.",
)
def openid_configuration(request: Request) -> JSONResponse:
    base = str(request.base_url).rstrip("/")
    return JSONResponse(
        {
            "issuer": base,
            "token_endpoint": base + TOKEN_URL,
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "response_types_supported": ["token"],
        }
    )


@router.get(
    "/3/footprints",
    summary="PACT v3 ListFootprints",
    description="The footprints shared with the calling client, filtered by the PACT v3 "
    "parameters (`productId`, `companyId`, `geography`, `classification`, `validOn`, "
    "`validAfter`, `validBefore`, `status`; values of one parameter OR'd, parameters AND'd, "
    "case-insensitive) and paginated: `limit` (at most 100) and an RFC 8288 "
    '`Link: <…>; rel="next"` header while more remain. Pagination links are stable: they '
    "carry the moment of the first page (`x-pcf-asof`).",
    responses={400: _ERR, 401: _ERR},
)
def list_footprints(request: Request) -> Response:
    params = request.query_params
    limit_raw = params.get("limit")
    try:
        limit = int(limit_raw) if limit_raw not in (None, "") else DEFAULT_LIMIT
        offset = int(params.get("offset") or 0)
    except ValueError:
        raise PactError(400, "BadRequest", "limit and offset must be integers") from None
    if limit < 1 or offset < 0:
        raise PactError(400, "BadRequest", "limit must be a positive integer, offset >= 0")
    limit = min(limit, MAX_LIMIT)
    as_of = _dt(params[ASOF_PARAM], ASOF_PARAM) if params.get(ASOF_PARAM) else datetime.now(UTC)
    multi = {k: params.getlist(k) for k in params}
    crit = _criteria(multi)
    with _session(request) as s:
        principal = _principal(request, s)
        session = unscoped(s)
        found = visible(session, principal.client_id, crit, _catalogue(request), as_of)
    page = found[offset : offset + limit]
    headers: dict[str, str] = {}
    if offset + limit < len(found):
        keep = [(k, v) for k, v in params.multi_items() if k not in {"limit", "offset", ASOF_PARAM}]
        keep += [
            ("limit", str(limit)),
            ("offset", str(offset + limit)),
            (ASOF_PARAM, as_of.strftime("%Y-%m-%dT%H:%M:%S.%fZ")),
        ]
        url = request.url.replace(query=urlencode(keep))
        headers["Link"] = f'<{url}>; rel="next"'
    return JSONResponse({"data": page}, headers=headers)


@router.get(
    "/3/footprints/{id}",
    summary="PACT v3 GetFootprint",
    description="One footprint shared with the calling client (deprecated ones too); 404 "
    "`NotFound` for an unknown id or one not shared with the client.",
    responses={400: _ERR, 401: _ERR, 404: _ERR},
)
def get_footprint(id: str, request: Request) -> Response:
    with _session(request) as s:
        principal = _principal(request, s)
        try:
            pf_id = uuid.UUID(id)
        except ValueError:
            raise PactError(400, "BadRequest", "id must be a UUID") from None
        session = unscoped(s)
        rows = [
            (fp, n)
            for fp, n in services.shared_with(session, principal.client_id)
            if fp.id == pf_id
        ]
        if not rows:
            raise PactError(404, "NotFound", "The requested footprint could not be found.")
        fp, name = rows[0]
        try:
            pf = services.pact_documents(session, [fp], {fp.org_id: name}, _catalogue(request))[0]
        except (NotMappable, ValueError):
            raise PactError(500, "InternalError", "The footprint could not be exported.") from None
    return JSONResponse({"data": pf})


def _source(request: Request) -> str:
    return f"//{request.url.netloc}/3/events"


def _recipient(
    session: Session, client_id: str, owners: Sequence[uuid.UUID]
) -> PactRecipient | None:
    """The events endpoint one of ``owners`` registered for ``client_id`` (the newest). Its
    organisation is the event's owner: delivery uses that organisation's credentials only."""
    stmt = select(PactRecipient).where(PactRecipient.client_id == client_id)
    if owners:
        stmt = stmt.where(col(PactRecipient.org_id).in_(list(owners)))
    return session.exec(stmt.order_by(col(PactRecipient.created_at).desc())).first()


def outbox(
    session: Session,
    *,
    event: dict[str, Any],
    client_id: str,
    owner: uuid.UUID | None,
    url: str,
) -> PactEvent:
    row = PactEvent(
        direction="out",
        event_id=event["id"],
        type=event["type"],
        client_id=client_id,
        owner_org_id=owner,
        body=event,
        status="pending",
        target_url=url,
    )
    session.add(row)
    session.flush()
    return row


@router.post(
    "/3/events",
    summary="PACT v3 Action Events",
    description="A CloudEvent in structured mode (`application/cloudevents+json`). "
    "`RequestCreatedEvent`: accepted (200) and answered asynchronously with a "
    "`RequestFulfilledEvent` (the matching footprints shared with the caller) or a "
    "`RequestRejectedEvent`, sent to the caller's registered events endpoint with retries. "
    "`PublishedEvent`, `RequestFulfilledEvent`, `RequestRejectedEvent`: checked and recorded. "
    "An invalid event is 400 `BadRequest`.",
    status_code=200,
    responses={400: _ERR, 401: _ERR},
)
async def post_event(request: Request, tasks: BackgroundTasks) -> Response:
    raw = await request.body()
    reply_id = await run_in_threadpool(_handle_event, request, raw)  # the database is blocking
    if reply_id is not None:  # after the commit: the worker reads the row
        tasks.add_task(events.worker_of(request.app).submit, reply_id)
    return Response(status_code=200)


def _handle_event(request: Request, raw: bytes) -> uuid.UUID | None:
    """Check, record and (RequestCreated) answer an event; the id of the reply to deliver."""
    with _session(request) as s:
        principal = _principal(request, s)
        session = unscoped(s)
        try:
            body = events.check_event(json.loads(raw))
        except (ValueError, UnicodeDecodeError) as exc:
            raise PactError(400, "BadRequest", f"Invalid event: {exc}") from None
        session.add(
            PactEvent(
                direction="in",
                event_id=body["id"],
                type=body["type"],
                client_id=principal.client_id,
                body=body,
                status="received",
            )
        )
        reply: PactEvent | None = None
        if body["type"] == events.REQUEST_CREATED:
            data = body["data"]
            crit = _criteria({k: v if isinstance(v, list) else [v] for k, v in data.items()})
            found = visible(session, principal.client_id, crit, _catalogue(request))
            owners = list(
                dict.fromkeys(
                    uuid.UUID(pf["companyIds"][0].removeprefix("urn:uuid:")) for pf in found
                )
            ) or [fp.org_id for fp, _ in services.shared_with(session, principal.client_id)]
            recipient = _recipient(session, principal.client_id, owners)
            if recipient is None:
                raise PactError(
                    400,
                    "BadRequest",
                    "No events endpoint is registered for this client: the request cannot be "
                    "answered.",
                )
            if found:
                event = events.cloud_event(
                    events.REQUEST_FULFILLED,
                    _source(request),
                    {"requestEventId": body["id"], "pfs": found},
                )
            else:
                event = events.cloud_event(
                    events.REQUEST_REJECTED,
                    _source(request),
                    {
                        "requestEventId": body["id"],
                        "error": {
                            "code": "NotFound",
                            "message": "No footprint shared with you matches the request.",
                        },
                    },
                )
            reply = outbox(
                session,
                event=event,
                client_id=principal.client_id,
                owner=recipient.org_id,
                url=recipient.events_url,
            )
        reply_id = reply.id if reply is not None else None
    return reply_id


def publish(
    session: Session,
    request: Request,
    tasks: BackgroundTasks,
    fp: Footprint,
    client_id: str,
) -> None:
    """Notify ``client_id`` (if it registered an events endpoint with the owner) that ``fp`` is
    published to it."""
    recipient = _recipient(session, client_id, [fp.org_id])
    if recipient is None:
        return
    event = events.cloud_event(events.PUBLISHED, _source(request), {"pfIds": [str(fp.id)]})
    row = outbox(
        session, event=event, client_id=client_id, owner=recipient.org_id, url=recipient.events_url
    )
    tasks.add_task(events.worker_of(request.app).submit, row.id)


# ============================================================================ OpenAPI
PACT_ERROR_SCHEMA: dict[str, Any] = {
    "title": "PactError",
    "description": "PACT v3 error body (spec/openapi.yaml components/schemas/Error).",
    "type": "object",
    "required": ["code", "message"],
    "properties": {
        "code": {
            "type": "string",
            "enum": [
                "BadRequest",
                "AccessDenied",
                "TokenExpired",
                "NotFound",
                "InternalError",
                "NotImplemented",
            ],
        },
        "message": {"type": "string"},
    },
}


def install_openapi(app: Any) -> None:
    """Document the ``/3/…`` operations with PACT error bodies (``application/json``) instead of
    the service's problem+json, and the bearer token they need. Call after
    ``app.accounts.openapi.install_openapi``."""
    generate = app.openapi
    done: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        if done and app.openapi_schema is done[0]:
            return done[0]
        schema: dict[str, Any] = generate()
        schema.setdefault("components", {}).setdefault("schemas", {})["PactError"] = (
            PACT_ERROR_SCHEMA
        )
        ref = {"$ref": "#/components/schemas/PactError"}
        for path, ops in schema.get("paths", {}).items():
            if not path.startswith("/3/"):
                continue
            for op in ops.values():
                responses = op.setdefault("responses", {})
                responses.setdefault("401", {"description": "Invalid or expired token."})
                responses.pop("422", None)
                for status, resp in list(responses.items()):
                    if status == "default" or (status.isdigit() and int(status) >= 400):
                        responses[status] = {
                            "description": resp.get("description") or "PACT error.",
                            "content": {"application/json": {"schema": ref}},
                        }
                op["security"] = [{"OAuth2ClientCredentials": []}]
        app.openapi_schema = schema
        done[:] = [schema]
        return schema

    app.openapi = openapi
