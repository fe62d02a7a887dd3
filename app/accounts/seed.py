"""Dev seeding: a demo operator (admin), association (all six families) and manufacturer.

Run by ``pcf serve`` in ``PCF_ENV=dev`` only. Organisations are created once; the demo clients
get fresh secrets on every start (secrets are stored hashed, so the only way to print working
credentials again is to issue new ones).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from app.accounts import service
from app.accounts.families import PRODUCT_FAMILIES
from app.accounts.models import ApiClient
from app.accounts.principal import OrgKind, Role
from app.core.database import Database
from app.core.settings import Env, Settings
from app.core.tenancy import unscoped

SEED_ACTOR = "dev-seed"
SEED_DESCRIPTION = "demo client (dev seed)"

DEMO = (
    ("demo-operator", OrgKind.operator, (), Role.admin),
    ("demo-association", OrgKind.association, PRODUCT_FAMILIES, Role.association),
    ("demo-manufacturer", OrgKind.manufacturer, (), Role.manufacturer),
)


@dataclass(frozen=True)
class SeededClient:
    org_name: str
    role: str
    client_id: str
    client_secret: str


def seed_demo(session: Session) -> list[SeededClient]:
    """Ensure the demo organisations and one client each; return fresh credentials."""
    out: list[SeededClient] = []
    for name, kind, families, role in DEMO:
        org = service.find_organisation(session, name)
        if org is None:
            org = service.create_organisation(
                session, None, name=name, kind=kind, families=families, actor=SEED_ACTOR
            )
        client = session.exec(
            select(ApiClient).where(
                ApiClient.org_id == org.id,
                ApiClient.role == role.value,
                ApiClient.description == SEED_DESCRIPTION,
                ApiClient.revoked_at == None,  # noqa: E711 - SQL IS NULL
            )
        ).first()
        if client is None:
            client, secret = service.create_client(
                session, None, org=org, role=role, description=SEED_DESCRIPTION, actor=SEED_ACTOR
            )
        else:
            secret = service.rotate_client(session, None, client, actor=SEED_ACTOR)
        out.append(SeededClient(name, role.value, client.client_id, secret))
    return out


def seed_dev(settings: Settings) -> list[SeededClient]:
    """Seed in ``dev``; nothing anywhere else."""
    if settings.env is not Env.dev:
        return []
    db = Database(settings.database_url)
    try:
        with db.session() as s:
            return seed_demo(unscoped(s))
    finally:
        db.dispose()


def credentials_text(seeded: list[SeededClient], base_url: str) -> str:
    lines = ["pcf: dev mode: demo clients (new secrets on every start; never in prod):"]
    for c in seeded:
        lines.append(
            f"  {c.org_name:<18} {c.role:<12} client_id={c.client_id}  "
            f"client_secret={c.client_secret}"
        )
    if seeded:
        m = next((c for c in seeded if c.role == Role.manufacturer.value), seeded[0])
        lines += [
            "  try:",
            f"    TOKEN=$(curl -s -u '{m.client_id}:{m.client_secret}' "
            f"-d grant_type=client_credentials {base_url}/auth/token "
            "| python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')",
            f'    curl -s -H "Authorization: Bearer $TOKEN" {base_url}/v1/me',
        ]
    return "\n".join(lines)
