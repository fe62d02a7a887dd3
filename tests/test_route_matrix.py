"""Every route × every role × own/other organisation, on SQLite and PostgreSQL.

Each route of ``create_app()`` (docs, OpenAPI and health probes aside) needs one entry in
``MATRIX``: which roles may call it (``PUBLIC`` for none), how to build a request against a
resource of a given organisation, the success status, and whether the resource belongs to an
organisation (``tenancy="org"``: another organisation's resource must answer 404, exactly like a
missing one). A route without an entry, or an entry whose roles differ from what the route
declares with ``require(...)``, fails.

Adding a route: add one line to ``MATRIX``. For an organisation-owned resource, write a builder
that creates it in the given organisation (``w.session(org)`` is a session bound to that
organisation) and returns the ``Call`` that reads or changes it.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.accounts import service
from app.accounts.openapi import api_routes, route_roles
from app.accounts.principal import OrgKind, Role
from app.core.database import Database
from app.core.tenancy import bind_tenant, unscoped
from app.main import create_app
from tests.accounts.accounts_helpers import Creds, bearer, make_org_and_client, mint

PUBLIC: frozenset[Role] = frozenset()
ALL = frozenset(Role)
ADMIN = frozenset({Role.admin})
EXCLUDED_PATHS = {
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/healthz",
    "/readyz",
}


@dataclass(frozen=True)
class Org:
    id: uuid.UUID
    name: str
    kind: OrgKind


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    json: Any = None
    data: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    auth: tuple[str, str] | None = None


@dataclass
class World:
    """Organisations of every kind, two of each (own and other), and a caller per role."""

    db_url: str
    orgs: dict[str, Org]
    callers: dict[Role, Creds]
    own: dict[Role, str]
    other: dict[Role, str]
    _n: Iterator[int] = field(default_factory=itertools.count)

    def unique(self, prefix: str) -> str:
        return f"{prefix}-{next(self._n)}-{uuid.uuid4().hex[:6]}"

    @contextmanager
    def session(self, org: Org | None = None) -> Iterator[Session]:
        """A committed unit of work, bound to ``org`` (or cross-organisation if None)."""
        db = Database(self.db_url)
        try:
            with db.session() as s:
                if org is None:
                    unscoped(s)
                else:
                    bind_tenant(s, org.id)
                yield s
        finally:
            db.dispose()

    def new_client(self, org: Org, role: Role = Role.viewer) -> str:
        with self.session() as s:
            client, _ = service.create_client(
                s, None, org=service.get_organisation(s, org.id), role=role, actor="test"
            )
            return client.client_id


Builder = Callable[[World, Org], Call]


@dataclass(frozen=True)
class Entry:
    roles: frozenset[Role]  # PUBLIC: no token needed
    build: Builder
    ok: int = 200
    tenancy: Literal["global", "org"] = "global"
    cross_org: frozenset[Role] = frozenset()  # roles that may reach other organisations'


def static(method: str, path: str, **kw: Any) -> Builder:
    """A request that does not depend on the organisation."""
    return lambda w, org: Call(method, path, **kw)


def _token_call(w: World, org: Org) -> Call:
    c = w.callers[Role.admin]
    return Call("POST", "/auth/token", data={"grant_type": "client_credentials"}, auth=c.basic)


def _new_org(w: World, org: Org) -> Call:
    return Call("POST", "/v1/organisations", json={"name": w.unique("org"), "kind": "manufacturer"})


def _rotate(w: World, org: Org) -> Call:
    return Call("POST", f"/v1/clients/{w.new_client(org)}/rotate")


def _revoke(w: World, org: Org) -> Call:
    return Call("POST", f"/v1/clients/{w.new_client(org)}/revoke")


MATRIX: dict[tuple[str, str], Entry] = {
    # accounts (app/accounts/routes.py)
    ("POST", "/auth/token"): Entry(PUBLIC, _token_call),
    ("GET", "/v1/me"): Entry(ALL, static("GET", "/v1/me")),
    ("POST", "/v1/organisations"): Entry(ADMIN, _new_org, ok=201),
    ("GET", "/v1/organisations"): Entry(ADMIN, static("GET", "/v1/organisations")),
    ("GET", "/v1/organisations/{org_id}"): Entry(
        ALL,
        lambda w, org: Call("GET", f"/v1/organisations/{org.id}"),
        tenancy="org",
        cross_org=ADMIN,
    ),
    ("GET", "/v1/organisations/{org_id}/clients"): Entry(
        ADMIN, lambda w, org: Call("GET", f"/v1/organisations/{org.id}/clients")
    ),
    ("POST", "/v1/organisations/{org_id}/clients"): Entry(
        ADMIN,
        lambda w, org: Call("POST", f"/v1/organisations/{org.id}/clients", json={"role": "viewer"}),
        ok=201,
    ),
    ("POST", "/v1/clients/{client_id}/rotate"): Entry(ADMIN, _rotate),
    ("POST", "/v1/clients/{client_id}/revoke"): Entry(ADMIN, _revoke),
    ("GET", "/v1/audit"): Entry(ADMIN, static("GET", "/v1/audit")),
}


def _served_routes() -> set[tuple[str, str]]:
    out = set()
    for r in api_routes(create_app()):
        if r.path in EXCLUDED_PATHS:
            continue
        out |= {(m, r.path) for m in r.methods if m not in {"HEAD", "OPTIONS"}}
    return out


def test_every_route_has_an_entry_and_every_entry_a_route() -> None:
    served = _served_routes()
    missing = sorted(served - MATRIX.keys())
    stale = sorted(MATRIX.keys() - served)
    assert not missing, f"routes without an entry in tests/test_route_matrix.py MATRIX: {missing}"
    assert not stale, f"MATRIX entries for routes that do not exist: {stale}"


def test_declared_roles_match_the_matrix() -> None:
    wrong = []
    for r in api_routes(create_app()):
        for m in r.methods:
            entry = MATRIX.get((m, r.path))
            if entry is None:
                continue
            declared = route_roles(r) or PUBLIC
            if declared != entry.roles:
                wrong.append((m, r.path, sorted(declared), sorted(entry.roles)))
    assert not wrong, f"require(...) and MATRIX disagree (route, declared, matrix): {wrong}"


def _world(db_url: str) -> World:
    specs = {
        "operator-own": (OrgKind.operator, ()),
        "operator-other": (OrgKind.operator, ()),
        "association-own": (OrgKind.association, ("beer", "refrigerator")),
        "association-other": (OrgKind.association, ("passenger-car-tyre",)),
        "manufacturer-own": (OrgKind.manufacturer, ()),
        "manufacturer-other": (OrgKind.manufacturer, ()),
    }
    orgs: dict[str, Org] = {}
    db = Database(db_url)
    with db.session() as s:
        unscoped(s)
        for name, (kind, fams) in specs.items():
            o = service.create_organisation(s, None, name=name, kind=kind, families=fams)
            orgs[name] = Org(o.id, o.name, kind)
    db.dispose()
    home = {
        Role.admin: "operator",
        Role.association: "association",
        Role.manufacturer: "manufacturer",
        Role.viewer: "manufacturer",
    }
    callers = {
        role: make_org_and_client(db_url, f"{home[role]}-own", OrgKind(home[role]), role)
        for role in Role
    }
    return World(
        db_url,
        orgs,
        callers,
        own={r: f"{k}-own" for r, k in home.items()},
        other={r: f"{k}-other" for r, k in home.items()},
    )


def _send(client: TestClient, call: Call, token: str | None) -> Any:
    headers = dict(call.headers)
    if token:
        headers.update(bearer(token))
    return client.request(
        call.method,
        call.path,
        json=call.json,
        data=call.data,
        headers=headers,
        auth=call.auth,  # type: ignore[arg-type]
    )


def test_route_role_tenancy_matrix(
    db_url: str,
    client_factory: Callable[..., TestClient],
    empty_data_dir: Path,
) -> None:
    client = client_factory(empty_data_dir, rate_limit_per_minute=0)
    w = _world(db_url)
    tokens = {role: mint(c) for role, c in w.callers.items()}
    failures: list[str] = []

    def expect(label: str, response: Any, status: int, code: str | None = None) -> None:
        if response.status_code != status:
            failures.append(f"{label}: {response.status_code} != {status}: {response.text[:200]}")
        elif code is not None and response.json().get("code") != code:
            failures.append(f"{label}: code {response.json().get('code')} != {code}")

    for (method, path), entry in sorted(MATRIX.items()):
        route = f"{method} {path}"
        own_of_admin = w.orgs[w.own[Role.admin]]
        if entry.roles == PUBLIC:
            call = entry.build(w, own_of_admin)
            expect(f"{route} anonymous", _send(client, call, None), entry.ok)
            continue
        expect(
            f"{route} anonymous",
            _send(client, entry.build(w, own_of_admin), None),
            401,
            "unauthorized",
        )
        for role in Role:
            own = w.orgs[w.own[role]]
            other = w.orgs[w.other[role]]
            if role not in entry.roles:
                r = _send(client, entry.build(w, own), tokens[role])
                expect(f"{route} as {role}", r, 403, "forbidden_role")
                continue
            expect(
                f"{route} as {role}, own org",
                _send(client, entry.build(w, own), tokens[role]),
                entry.ok,
            )
            if entry.tenancy == "org":
                r = _send(client, entry.build(w, other), tokens[role])
                if role in entry.cross_org:
                    expect(f"{route} as {role}, other org", r, entry.ok)
                else:
                    expect(f"{route} as {role}, other org", r, 404, "not_found")
    assert not failures, "\n".join(failures)
