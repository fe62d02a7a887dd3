"""Organisations and API clients: create, rotate, revoke, authenticate. Every write is audited.

Functions take the session and the acting principal (None for the ``pcf`` command); they never
commit: the caller's unit of work does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.accounts import audit
from app.accounts.families import PRODUCT_FAMILIES
from app.accounts.models import ApiClient, Organisation, utcnow
from app.accounts.principal import ROLES_BY_KIND, OrgKind, Principal, Role
from app.accounts.principal_cache import notify_client_changed
from app.core.errors import Conflict, FieldError, NotFound, ValidationFailed
from app.core.security import (
    TokenClaims,
    hash_secret,
    new_client_id,
    new_client_secret,
    verify_secret,
)


class InvalidCredentials(Exception):
    """Unknown client, wrong secret or revoked client: deliberately one case."""


def org_state(org: Organisation) -> dict[str, Any]:
    return {
        "id": str(org.id),
        "name": org.name,
        "kind": org.kind,
        "families": sorted(org.families),
    }


def client_state(c: ApiClient) -> dict[str, Any]:
    # The secret hash is part of the state: a rotation changes the state hash.
    return {
        "client_id": c.client_id,
        "org_id": str(c.org_id),
        "role": c.role,
        "description": c.description,
        "secret_hash": c.secret_hash,
        "secret_version": c.secret_version,
        "revoked": c.revoked_at is not None,
    }


# ---------------------------------------------------------------------------- organisations


def create_organisation(
    session: Session,
    principal: Principal | None,
    *,
    name: str,
    kind: OrgKind | str,
    families: Iterable[str] = (),
    actor: str | None = None,
) -> Organisation:
    kind = OrgKind(kind)
    fams = list(dict.fromkeys(str(f) for f in families))
    errors = [
        FieldError(f"/families/{i}", "unknown_family", f"{f!r} is not one of {PRODUCT_FAMILIES}")
        for i, f in enumerate(fams)
        if f not in PRODUCT_FAMILIES
    ]
    if fams and kind is not OrgKind.association:
        errors.append(
            FieldError("/families", "families_need_association", "only associations own families")
        )
    if errors:
        raise ValidationFailed("The organisation is not valid.", errors=errors)
    if find_organisation(session, name) is not None:
        raise Conflict(
            f"An organisation named {name!r} exists.",
            code="organisation_exists",
            errors=[FieldError("/name", "duplicate", "organisation names are unique")],
        )
    org = Organisation(name=name, kind=kind.value, families=fams)
    session.add(org)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent create with the same name
        raise Conflict(
            f"An organisation named {name!r} exists.",
            code="organisation_exists",
            errors=[FieldError("/name", "duplicate", "organisation names are unique")],
        ) from exc
    audit.record(
        session,
        principal,
        resource="organisation",
        resource_id=str(org.id),
        action="create",
        before=None,
        after=org_state(org),
        actor=actor,
    )
    return org


def find_organisation(session: Session, name: str) -> Organisation | None:
    return session.exec(select(Organisation).where(Organisation.name == name)).first()


def get_organisation(session: Session, org_id: uuid.UUID) -> Organisation:
    org = session.get(Organisation, org_id)
    if org is None:
        raise NotFound(f"No organisation with id {org_id}.")
    return org


def list_organisations(session: Session) -> list[Organisation]:
    return list(session.exec(select(Organisation).order_by(col(Organisation.name))).all())


# ---------------------------------------------------------------------------- clients


def create_client(
    session: Session,
    principal: Principal | None,
    *,
    org: Organisation,
    role: Role | str,
    description: str = "",
    actor: str | None = None,
) -> tuple[ApiClient, str]:
    """A new client of ``org`` with ``role``; returns it and its secret (shown once)."""
    role = Role(role)
    allowed = ROLES_BY_KIND[OrgKind(org.kind)]
    if role not in allowed:
        raise ValidationFailed(
            f"A client of a {org.kind} organisation cannot have the role {role.value}.",
            errors=[
                FieldError(
                    "/role",
                    "role_not_allowed",
                    f"a {org.kind} organisation's clients may be: "
                    + ", ".join(sorted(r.value for r in allowed)),
                )
            ],
        )
    secret = new_client_secret()
    client = ApiClient(
        client_id=new_client_id(),
        org_id=org.id,
        role=role.value,
        description=description,
        secret_hash=hash_secret(secret),
    )
    session.add(client)
    session.flush()
    audit.record(
        session,
        principal,
        resource="api_client",
        resource_id=client.client_id,
        action="create",
        before=None,
        after=client_state(client),
        actor=actor,
    )
    return client, secret


def get_client(session: Session, client_id: str) -> ApiClient:
    client = session.exec(select(ApiClient).where(ApiClient.client_id == client_id)).first()
    if client is None:
        raise NotFound(f"No API client with id {client_id}.")
    return client


def list_clients(session: Session, org_id: uuid.UUID | None = None) -> list[ApiClient]:
    stmt = select(ApiClient).order_by(col(ApiClient.created_at), col(ApiClient.client_id))
    if org_id is not None:
        stmt = stmt.where(ApiClient.org_id == org_id)
    return list(session.exec(stmt).all())


def rotate_client(
    session: Session, principal: Principal | None, client: ApiClient, *, actor: str | None = None
) -> str:
    """A new secret; the old one and every token issued with it stop working."""
    if client.revoked_at is not None:
        raise Conflict(f"API client {client.client_id} is revoked.", code="client_revoked")
    before = client_state(client)
    secret = new_client_secret()
    client.secret_hash = hash_secret(secret)
    client.secret_version += 1
    client.rotated_at = utcnow()
    session.add(client)
    session.flush()
    notify_client_changed(session, client.client_id)
    audit.record(
        session,
        principal,
        resource="api_client",
        resource_id=client.client_id,
        action="rotate",
        before=before,
        after=client_state(client),
        actor=actor,
    )
    return secret


def revoke_client(
    session: Session, principal: Principal | None, client: ApiClient, *, actor: str | None = None
) -> ApiClient:
    """Revoke for good: the secret and every token stop working at once. Idempotent."""
    if client.revoked_at is not None:
        return client
    before = client_state(client)
    client.revoked_at = utcnow()
    session.add(client)
    session.flush()
    notify_client_changed(session, client.client_id)
    audit.record(
        session,
        principal,
        resource="api_client",
        resource_id=client.client_id,
        action="revoke",
        before=before,
        after=client_state(client),
        actor=actor,
    )
    return client


# ---------------------------------------------------------------------------- authentication


def authenticate_client(session: Session, client_id: str, secret: str) -> ApiClient:
    """The active client with this id and secret; ``InvalidCredentials`` otherwise.

    An unknown id costs the same argon2 verification as a wrong secret.
    """
    client = session.exec(select(ApiClient).where(ApiClient.client_id == client_id)).first()
    ok = verify_secret(client.secret_hash if client else None, secret)
    if client is None or not ok or client.revoked_at is not None:
        raise InvalidCredentials()
    return client


def principal_for(session: Session, claims: TokenClaims) -> Principal | None:
    """The principal a verified token stands for, if its client is still valid."""
    # One Core query of the columns needed (every request runs it: no ORM objects to build).
    row = session.connection().execute(_PRINCIPAL_QUERY, {"client_id": claims.client_id}).first()
    if row is None:
        return None
    if (
        row.revoked_at is not None
        or row.secret_version != claims.secret_version
        or row.client_org_id != claims.org_id
        or row.role != claims.role
    ):
        return None
    return Principal(
        client_id=row.client_id,
        org_id=row.org_id,
        org_name=row.org_name,
        org_kind=row.org_kind,
        role=Role(row.role),
        families=frozenset(row.families),
    )


def _principal_query() -> Any:
    clients = ApiClient.__table__  # type: ignore[attr-defined]
    orgs = Organisation.__table__  # type: ignore[attr-defined]
    c, o = clients.c, orgs.c
    return (
        sa_select(
            c.client_id,
            c.org_id.label("client_org_id"),
            c.role,
            c.secret_version,
            c.revoked_at,
            o.id.label("org_id"),
            o.name.label("org_name"),
            o.kind.label("org_kind"),
            o.families,
        )
        .select_from(clients.join(orgs, o.id == c.org_id))
        .where(c.client_id == bindparam("client_id"))
    )


_PRINCIPAL_QUERY = _principal_query()


def principal_of(client: ApiClient, org: Organisation) -> Principal:
    return Principal(
        client_id=client.client_id,
        org_id=org.id,
        org_name=org.name,
        org_kind=org.kind,
        role=Role(client.role),
        families=frozenset(org.families),
    )
