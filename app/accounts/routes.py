"""HTTP routes: the token endpoint, who-am-I, organisations, API clients and the audit log."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import JSONResponse

from app.accounts import audit, service
from app.accounts.deps import TOKEN_URL, AdminP, AnyRole, rate_limiter
from app.accounts.idempotency import Idempotent
from app.accounts.principal import OrgKind, Role
from app.accounts.schemas import (
    TEXT_PATTERN,
    AuditEntryOut,
    AuditPage,
    ClientCreate,
    ClientCredentials,
    ClientList,
    ClientOut,
    Me,
    OrganisationCreate,
    OrganisationList,
    OrganisationOut,
    TokenResponse,
)
from app.core.deps import DbSession
from app.core.errors import BadRequest, FieldError, NotFound, Unauthorized, ValidationFailed
from app.core.security import issue_token

ClientIdPath = Annotated[str, Path(max_length=64, pattern=TEXT_PATTERN)]

auth_router = APIRouter(tags=["auth"])
router = APIRouter(prefix="/v1", tags=["accounts"])


# ---------------------------------------------------------------------------- token


def _invalid_client() -> Unauthorized:
    # One answer for an unknown client, a wrong secret and a revoked client.
    return Unauthorized(
        "Client authentication failed.",
        code="invalid_client",
        headers={"WWW-Authenticate": 'Basic realm="pcf"'},
        error="invalid_client",
        error_description="Client authentication failed.",
    )


def _basic_credentials(request: Request) -> tuple[str, str]:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not value:
        raise _invalid_client()
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _invalid_client() from None
    client_id, sep, secret = decoded.partition(":")
    if not sep or not client_id or not secret or len(client_id) > 64 or len(secret) > 256:
        raise _invalid_client()
    return client_id, secret


@auth_router.post(
    TOKEN_URL,
    summary="Get an access token (OAuth2 client credentials)",
    description="HTTP Basic with the client id and secret, form body "
    "`grant_type=client_credentials`. Any failure to authenticate is one 401 `invalid_client` "
    "that does not say which part was wrong.",
    response_model=TokenResponse,
    responses={
        400: {"description": "`grant_type` missing or not `client_credentials`."},
        401: {"description": "Client authentication failed."},
    },
)
def token(
    request: Request,
    session: DbSession,
    grant_type: Annotated[
        str | None, Form(description="Must be `client_credentials`.", max_length=64)
    ] = None,
    scope: Annotated[
        str | None, Form(description="Ignored: a client's role is fixed.", max_length=1000)
    ] = None,
) -> JSONResponse:
    client_id, secret = _basic_credentials(request)
    limiter = rate_limiter(request)
    if limiter is not None:
        limiter.check("token:" + client_id)
    if grant_type != "client_credentials":
        code = "invalid_request" if not grant_type else "unsupported_grant_type"
        raise BadRequest(
            "grant_type must be client_credentials.",
            code=code,
            error=code,
            error_description="grant_type must be client_credentials.",
        )
    try:
        client = service.authenticate_client(session, client_id, secret)
    except service.InvalidCredentials:
        raise _invalid_client() from None
    settings = request.app.state.settings
    access = issue_token(
        settings.secret_key,
        client_id=client.client_id,
        org_id=client.org_id,
        role=client.role,
        secret_version=client.secret_version,
        ttl_seconds=settings.token_ttl_seconds,
    )
    body = TokenResponse(access_token=access, expires_in=settings.token_ttl_seconds)
    return JSONResponse(
        body.model_dump(), headers={"Cache-Control": "no-store", "Pragma": "no-cache"}
    )


# ---------------------------------------------------------------------------- me


@router.get("/me", response_model=Me, summary="Who am I: the calling client and organisation")
def me(principal: AnyRole) -> Me:
    return Me(
        client_id=principal.client_id,
        org_id=principal.org_id,
        org_name=principal.org_name,
        org_kind=OrgKind(principal.org_kind),
        role=principal.role,
        families=sorted(principal.families),
    )


# ---------------------------------------------------------------------------- organisations


@router.post(
    "/organisations",
    status_code=201,
    response_model=OrganisationOut,
    summary="Create an organisation",
    responses={409: {"description": "An organisation with this name exists."}},
)
def create_organisation(
    body: OrganisationCreate, principal: AdminP, session: DbSession, idem: Idempotent
) -> JSONResponse:
    return idem.respond(
        201,
        lambda: OrganisationOut.model_validate(
            service.create_organisation(
                session,
                principal,
                name=body.name,
                kind=body.kind,
                families=[f.value for f in body.families],
            )
        ),
    )


@router.get("/organisations", response_model=OrganisationList, summary="List organisations")
def list_organisations(principal: AdminP, session: DbSession) -> OrganisationList:
    return OrganisationList(
        data=[OrganisationOut.model_validate(o) for o in service.list_organisations(session)]
    )


@router.get(
    "/organisations/{org_id}",
    response_model=OrganisationOut,
    summary="One organisation (admins: any; others: their own)",
)
def get_organisation(org_id: uuid.UUID, principal: AnyRole, session: DbSession) -> OrganisationOut:
    if principal.role is not Role.admin and org_id != principal.org_id:
        raise NotFound(f"No organisation with id {org_id}.")
    return OrganisationOut.model_validate(service.get_organisation(session, org_id))


# ---------------------------------------------------------------------------- clients


@router.get(
    "/organisations/{org_id}/clients",
    response_model=ClientList,
    summary="List an organisation's API clients",
)
def list_clients(org_id: uuid.UUID, principal: AdminP, session: DbSession) -> ClientList:
    service.get_organisation(session, org_id)
    return ClientList(
        data=[ClientOut.model_validate(c) for c in service.list_clients(session, org_id)]
    )


@router.post(
    "/organisations/{org_id}/clients",
    status_code=201,
    response_model=ClientCredentials,
    summary="Create an API client; the secret is in this response only",
)
def create_client(
    org_id: uuid.UUID,
    body: ClientCreate,
    principal: AdminP,
    session: DbSession,
    idem: Idempotent,
) -> JSONResponse:
    def create() -> ClientCredentials:
        org = service.get_organisation(session, org_id)
        client, secret = service.create_client(
            session, principal, org=org, role=body.role, description=body.description
        )
        return ClientCredentials(
            **ClientOut.model_validate(client).model_dump(), client_secret=secret
        )

    return idem.respond(201, create, redact=("client_secret",))


@router.post(
    "/clients/{client_id}/rotate",
    response_model=ClientCredentials,
    summary="Rotate a client's secret; the old secret and its tokens stop working",
    responses={409: {"description": "The client is revoked."}},
)
def rotate_client(
    client_id: ClientIdPath,
    principal: AdminP,
    session: DbSession,
) -> ClientCredentials:
    client = service.get_client(session, client_id)
    secret = service.rotate_client(session, principal, client)
    return ClientCredentials(**ClientOut.model_validate(client).model_dump(), client_secret=secret)


@router.post(
    "/clients/{client_id}/revoke",
    response_model=ClientOut,
    summary="Revoke a client for good; its secret and tokens stop working at once",
)
def revoke_client(client_id: ClientIdPath, principal: AdminP, session: DbSession) -> ClientOut:
    client = service.get_client(session, client_id)
    return ClientOut.model_validate(service.revoke_client(session, principal, client))


# ---------------------------------------------------------------------------- audit


def _utc(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValidationFailed(
            f"{name} is out of range.",
            errors=[FieldError(f"/query:{name}", "out_of_range", "not a representable time")],
        ) from None


@router.get(
    "/audit",
    response_model=AuditPage,
    summary="Read the audit log (append-only), oldest first, with filters",
)
def read_audit(
    principal: AdminP,
    session: DbSession,
    org_id: Annotated[uuid.UUID | None, Query(description="Acting organisation.")] = None,
    client_id: Annotated[
        str | None, Query(description="Acting client.", max_length=64, pattern=TEXT_PATTERN)
    ] = None,
    resource: Annotated[str | None, Query(max_length=100, pattern=TEXT_PATTERN)] = None,
    resource_id: Annotated[str | None, Query(max_length=200, pattern=TEXT_PATTERN)] = None,
    action: Annotated[str | None, Query(max_length=50, pattern=TEXT_PATTERN)] = None,
    since: Annotated[datetime | None, Query(description="At or after (UTC if naive).")] = None,
    until: Annotated[datetime | None, Query(description="Before (UTC if naive).")] = None,
    cursor: Annotated[
        int | None, Query(ge=0, le=2**31 - 1, description="next_cursor of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPage:
    entries = audit.query(
        session,
        org_id=org_id,
        client_id=client_id,
        resource=resource,
        resource_id=resource_id,
        action=action,
        since=_utc(since, "since"),
        until=_utc(until, "until"),
        after_id=cursor,
        limit=limit,
    )
    return AuditPage(
        data=[AuditEntryOut.model_validate(e) for e in entries],
        next_cursor=entries[-1].id if len(entries) == limit else None,
    )
