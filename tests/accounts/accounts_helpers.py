"""Helpers for tests that need organisations, API clients and tokens (both backends)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.accounts import service
from app.accounts.principal import OrgKind, Role
from app.core.database import Database
from app.core.security import issue_token
from app.core.settings import DEFAULT_SECRET
from app.core.tenancy import unscoped


@dataclass(frozen=True)
class Creds:
    org_id: Any
    org_name: str
    client_id: str
    secret: str
    role: str
    secret_version: int = 1

    @property
    def basic(self) -> tuple[str, str]:
        return (self.client_id, self.secret)


def make_org_and_client(
    db_url: str,
    org_name: str,
    kind: OrgKind | str,
    role: Role | str,
    families: tuple[str, ...] = (),
) -> Creds:
    """An organisation (created if missing) and a new client of it, straight in the database."""
    db = Database(db_url)
    try:
        with db.session() as s:
            unscoped(s)
            org = service.find_organisation(s, org_name) or service.create_organisation(
                s, None, name=org_name, kind=kind, families=families, actor="test"
            )
            client, secret = service.create_client(s, None, org=org, role=role, actor="test")
            return Creds(org.id, org.name, client.client_id, secret, client.role)
    finally:
        db.dispose()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def mint(creds: Creds, key: str = DEFAULT_SECRET, **kw: Any) -> str:
    """A token as /auth/token would issue it (without paying argon2 in every test)."""
    return issue_token(
        key,
        client_id=creds.client_id,
        org_id=creds.org_id,
        role=creds.role,
        secret_version=kw.pop("secret_version", creds.secret_version),
        ttl_seconds=kw.pop("ttl_seconds", 900),
        **kw,
    )
