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

import asyncio
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
    files: dict[str, Any] | None = None


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


# ---- product category rules (app/rules/routes.py)
_BOM = {
    "boundary": "cradle_to_gate",
    "lines": [
        {"name": "steel", "stage": "raw_materials", "amount": 1, "unit": "kg", "dataset": "x"}
    ],
}


def _seeded(w: World) -> None:
    from app.rules.seed import seed_rules

    seed_rules(w.db_url)  # idempotent


def _pcr(method: str, tail: str = "", **kw: Any) -> Builder:
    def build(w: World, org: Org) -> Call:
        _seeded(w)
        return Call(method, f"/v1/pcrs{tail}", **kw)

    return build


def _rule_owner(w: World, org: Org) -> tuple[Org, Any, str]:
    """An association (``org`` if it is one) as a Principal, and a rule it owns."""
    from app.accounts.principal import Principal

    assoc = org if org.kind is OrgKind.association else w.orgs["association-own"]
    with w.session() as s:
        families = frozenset(service.get_organisation(s, assoc.id).families)
    p = Principal("matrix", assoc.id, assoc.name, "association", Role.association, families)
    return assoc, p, sorted(families)[0]


def _draft(w: World, org: Org, *, edited: bool = False) -> tuple[str, str]:
    from app.rules import services as pcr

    _seeded(w)
    assoc, p, code = _rule_owner(w, org)
    with w.session(assoc) as s:
        d = pcr.create_draft(s, p, code)
        if edited:
            pcr.update_draft(s, p, code, d.id, {"name": w.unique("rule")}, "merge")
        return code, str(d.id)


def _draft_call(method: str, suffix: str = "", *, edited: bool = False, **kw: Any) -> Builder:
    def build(w: World, org: Org) -> Call:
        code, draft_id = _draft(w, org, edited=edited)
        return Call(method, f"/v1/pcrs/{code}/drafts/{draft_id}{suffix}", **kw)

    return build


def _deprecate(w: World, org: Org) -> Call:
    from app.rules import services as pcr

    code, draft_id = _draft(w, org, edited=True)
    assoc, p, _ = _rule_owner(w, org)
    with w.session(assoc) as s:
        v = pcr.publish(s, p, code, uuid.UUID(draft_id))
    return Call("POST", f"/v1/pcrs/{code}/versions/{v.version}/deprecate", json={"reason": "x"})


# ---------------------------------------------------------------------------- footprints
MAKER = frozenset({Role.manufacturer})
READERS = frozenset({Role.manufacturer, Role.viewer})
_FP_BACKGROUND: list[Any] = []


def _fp_background() -> Any:
    import os

    from app.background.loader import load_background
    from app.core.settings import PROJECT_ROOT

    if not _FP_BACKGROUND:
        d = Path(os.environ.get("PCF_TEST_DATA_DIR", PROJECT_ROOT / "var" / "data"))
        _FP_BACKGROUND.append(load_background(d))
    return _FP_BACKGROUND[0]


def _footprint(w: World, org: Org) -> str:
    """A footprint of ``org`` (the beer example), stored through the service."""
    from app.accounts.principal import Principal
    from app.core.settings import get_settings
    from app.footprints import services as fps
    from app.footprints import upload

    _seeded(w)
    p = Principal("matrix", org.id, org.name, org.kind.value, Role.manufacturer)
    with w.session(org) as s:
        fp = asyncio.run(
            fps.create(s, p, upload.example_data("beer"), _fp_background(), get_settings())
        )
        return str(fp.id)


def _fp_create(w: World, org: Org) -> Call:
    from app.footprints import upload

    _seeded(w)
    return Call("POST", "/v1/footprints", json=upload.example_data("beer"))


def _fp_upload(w: World, org: Org) -> Call:
    from app.footprints import upload

    _seeded(w)
    csv = upload.template_csv("beer").encode()
    return Call("POST", "/v1/footprints/upload", files={"file": ("beer.csv", csv, "text/csv")})


def _fp_compare(w: World, org: Org) -> Call:
    fp = _footprint(w, org)
    return Call("POST", "/v1/footprints/compare", json={"a": fp, "b": fp})


# ---------------------------------------------------------------------------- exports
def _maker(org: Org) -> Any:
    from app.accounts.principal import Principal

    return Principal("matrix", org.id, org.name, org.kind.value, Role.manufacturer)


def _fp_path(suffix: str, method: str = "GET", **kw: Any) -> Builder:
    def build(w: World, org: Org) -> Call:
        return Call(method, f"/v1/footprints/{_footprint(w, org)}{suffix}", **kw)

    return build


def _share_create(w: World, org: Org) -> Call:
    body = {"client_id": w.callers[Role.viewer].client_id}
    return Call("POST", f"/v1/footprints/{_footprint(w, org)}/pact/shares", json=body)


def _share_delete(w: World, org: Org) -> Call:
    from app.exports import services as exports

    fp = _footprint(w, org)
    client = w.callers[Role.viewer].client_id
    with w.session(org) as s:
        exports.share(s, _maker(org), uuid.UUID(fp), client, None)
    return Call("DELETE", f"/v1/footprints/{fp}/pact/shares/{client}")


def _recipient_delete(w: World, org: Org) -> Call:
    from app.exports import services as exports
    from app.exports.schemas import RecipientIn

    client = w.new_client(org)
    with w.session(org) as s:
        body = RecipientIn(events_url="https://x.example/3/events")
        exports.put_recipient(s, _maker(org), client, body, "unused: no credentials", True)
    return Call("DELETE", f"/v1/pact/recipients/{client}")


_CBAM = {"product_cn_code": "2203", "precursors": []}


def _cbam_get(w: World, org: Org) -> Call:
    from app.exports import services as exports
    from app.exports.schemas import CbamInput

    fp = _footprint(w, org)
    with w.session(org) as s:
        exports.put_cbam(s, _maker(org), uuid.UUID(fp), CbamInput.model_validate(_CBAM))
    return Call("GET", f"/v1/footprints/{fp}/cbam/supplier-data")


def _pact_call(method: str, path: str, **kw: Any) -> Builder:
    """A PACT host request by a recipient client a manufacturer shared a footprint with."""

    def build(w: World, org: Org) -> Call:
        from app.exports import services as exports

        owner = w.orgs["manufacturer-own"]
        fp = _footprint(w, owner)
        client = w.new_client(org)
        with w.session(owner) as s:
            exports.share(s, _maker(owner), uuid.UUID(fp), client, None)
        token = mint(Creds(org.id, org.name, client, "", Role.viewer.value))
        args = dict(kw)
        if callable(args.get("json")):
            args["json"] = args["json"](fp)
        return Call(method, path.format(fp=fp), headers=bearer(token), **args)

    return build


def _published(fp: str) -> dict[str, Any]:
    return {
        "type": "org.wbcsd.pact.ProductFootprint.PublishedEvent.3",
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "//matrix.example/3/events",
        "time": "2025-01-01T00:00:00Z",
        "data": {"pfIds": [fp]},
    }


ASSOC = frozenset({Role.association})
WRITERS = frozenset({Role.association, Role.admin})

MATRIX: dict[tuple[str, str], Entry] = {
    # accounts (app/accounts/routes.py)
    ("POST", "/auth/token"): Entry(PUBLIC, _token_call),
    ("GET", "/.well-known/openid-configuration"): Entry(
        PUBLIC, static("GET", "/.well-known/openid-configuration")
    ),
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
    # background data (app/background/routes.py)
    ("GET", "/v1/datasets"): Entry(ALL, static("GET", "/v1/datasets?q=electricity")),
    ("GET", "/v1/datasets/{dataset_id}"): Entry(
        ALL, static("GET", "/v1/datasets/cn-elec:lca-national-2024")
    ),
    ("GET", "/v1/releases"): Entry(ALL, static("GET", "/v1/releases")),
    ("GET", "/v1/releases/current"): Entry(ALL, static("GET", "/v1/releases/current")),
    # product category rules (app/rules/routes.py)
    ("GET", "/v1/pcrs"): Entry(ALL, _pcr("GET")),
    ("GET", "/v1/pcr-models"): Entry(ALL, static("GET", "/v1/pcr-models")),
    ("GET", "/v1/pcrs/{code}"): Entry(ALL, _pcr("GET", "/beer")),
    ("GET", "/v1/pcrs/{code}/versions"): Entry(ALL, _pcr("GET", "/beer/versions")),
    ("GET", "/v1/pcrs/{code}/versions/{version}"): Entry(ALL, _pcr("GET", "/beer/versions/1.0.0")),
    ("PATCH", "/v1/pcrs/{code}/versions/{version}"): Entry(
        WRITERS, _pcr("PATCH", "/beer/versions/1.0.0", json={"name": "x"}), ok=409
    ),
    ("DELETE", "/v1/pcrs/{code}/versions/{version}"): Entry(
        WRITERS, _pcr("DELETE", "/beer/versions/1.0.0"), ok=409
    ),
    ("POST", "/v1/pcrs/{code}/versions/{version}/deprecate"): Entry(ASSOC, _deprecate),
    ("GET", "/v1/pcrs/{code}/diff"): Entry(ALL, _pcr("GET", "/beer/diff?from=1.0.0&to=1.0.0")),
    ("POST", "/v1/pcrs/{code}/validate"): Entry(ALL, _pcr("POST", "/beer/validate", json=_BOM)),
    ("POST", "/v1/pcrs/{code}/drafts"): Entry(ASSOC, _pcr("POST", "/beer/drafts"), ok=201),
    ("GET", "/v1/pcrs/{code}/drafts"): Entry(ASSOC, _pcr("GET", "/beer/drafts")),
    ("GET", "/v1/pcrs/{code}/drafts/{draft_id}"): Entry(ASSOC, _draft_call("GET"), tenancy="org"),
    ("PATCH", "/v1/pcrs/{code}/drafts/{draft_id}"): Entry(
        ASSOC, _draft_call("PATCH", json={"notes": ["matrix"]}), tenancy="org"
    ),
    ("DELETE", "/v1/pcrs/{code}/drafts/{draft_id}"): Entry(
        ASSOC, _draft_call("DELETE"), ok=204, tenancy="org"
    ),
    ("POST", "/v1/pcrs/{code}/drafts/{draft_id}/publish"): Entry(
        ASSOC, _draft_call("POST", "/publish", edited=True), ok=201, tenancy="org"
    ),
    # footprints (app/footprints/routes.py)
    ("POST", "/v1/footprints"): Entry(MAKER, _fp_create, ok=201),
    ("POST", "/v1/footprints/upload"): Entry(MAKER, _fp_upload, ok=201),
    ("GET", "/v1/footprints"): Entry(READERS, static("GET", "/v1/footprints?pcr_code=beer")),
    ("GET", "/v1/footprints/{footprint_id}"): Entry(
        READERS, lambda w, org: Call("GET", f"/v1/footprints/{_footprint(w, org)}"), tenancy="org"
    ),
    ("POST", "/v1/footprints/{footprint_id}/recalculate"): Entry(
        MAKER,
        lambda w, org: Call("POST", f"/v1/footprints/{_footprint(w, org)}/recalculate", json={}),
        ok=201,
        tenancy="org",
    ),
    ("POST", "/v1/footprints/compare"): Entry(READERS, _fp_compare, tenancy="org"),
    ("GET", "/v1/templates/{pcr_code}.xlsx"): Entry(ALL, static("GET", "/v1/templates/beer.xlsx")),
    ("GET", "/v1/examples/{pcr_code}"): Entry(ALL, static("GET", "/v1/examples/beer")),
    # exports (app/exports/routes.py, app/exports/pact/host.py)
    ("GET", "/v1/footprints/{footprint_id}/pact"): Entry(READERS, _fp_path("/pact"), tenancy="org"),
    ("GET", "/v1/footprints/{footprint_id}/tables/{table}.csv"): Entry(
        READERS, _fp_path("/tables/lines.csv"), tenancy="org"
    ),
    ("GET", "/v1/footprints/{footprint_id}/tables.xlsx"): Entry(
        READERS, _fp_path("/tables.xlsx"), tenancy="org"
    ),
    ("POST", "/v1/footprints/{footprint_id}/pact/shares"): Entry(
        MAKER, _share_create, ok=201, tenancy="org"
    ),
    ("GET", "/v1/footprints/{footprint_id}/pact/shares"): Entry(
        READERS, _fp_path("/pact/shares"), tenancy="org"
    ),
    ("DELETE", "/v1/footprints/{footprint_id}/pact/shares/{client_id}"): Entry(
        MAKER, _share_delete, ok=204, tenancy="org"
    ),
    ("PUT", "/v1/pact/recipients/{client_id}"): Entry(
        MAKER,
        lambda w, org: Call(
            "PUT",
            f"/v1/pact/recipients/{w.new_client(org)}",
            json={"events_url": "https://buyer.example/3/events"},
        ),
    ),
    ("GET", "/v1/pact/recipients"): Entry(READERS, static("GET", "/v1/pact/recipients")),
    ("DELETE", "/v1/pact/recipients/{client_id}"): Entry(
        MAKER, _recipient_delete, ok=204, tenancy="org"
    ),
    ("GET", "/v1/pact/events"): Entry(READERS, static("GET", "/v1/pact/events")),
    ("GET", "/v1/cbam/relevance"): Entry(ALL, static("GET", "/v1/cbam/relevance?cn_code=7318")),
    ("PUT", "/v1/footprints/{footprint_id}/cbam/supplier-data"): Entry(
        MAKER, _fp_path("/cbam/supplier-data", "PUT", json=_CBAM), tenancy="org"
    ),
    ("GET", "/v1/footprints/{footprint_id}/cbam/supplier-data"): Entry(
        READERS, _cbam_get, tenancy="org"
    ),
    ("GET", "/v1/footprints/{footprint_id}/cbam"): Entry(READERS, _fp_path("/cbam"), tenancy="org"),
    ("GET", "/v1/footprints/{footprint_id}/cbam.xlsx"): Entry(
        READERS, _fp_path("/cbam.xlsx"), tenancy="org"
    ),
    ("GET", "/v1/footprints/{footprint_id}/report"): Entry(
        READERS, _fp_path("/report?lang=zh"), tenancy="org"
    ),
    # the PACT host answers its own recipients (401 TokenExpired without a token, tested in
    # tests/exports/test_pact_host.py); here: a recipient client's token
    ("GET", "/3/footprints"): Entry(PUBLIC, _pact_call("GET", "/3/footprints")),
    ("GET", "/3/footprints/{id}"): Entry(PUBLIC, _pact_call("GET", "/3/footprints/{fp}")),
    ("POST", "/3/events"): Entry(PUBLIC, _pact_call("POST", "/3/events", json=_published)),
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


def test_every_create_route_accepts_an_idempotency_key() -> None:
    spec = create_app().openapi()
    missing = [
        f"{method.upper()} {path}"
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if "201" in op.get("responses", {})
        and "Idempotency-Key" not in {p["name"] for p in op.get("parameters", [])}
    ]
    assert not missing, (
        f"create routes (201) without an Idempotency-Key (app.accounts.idempotency): {missing}"
    )


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
        files=call.files,
    )


def test_route_role_tenancy_matrix(
    db_url: str,
    client_factory: Callable[..., TestClient],
    data_dir: Path,
) -> None:
    client = client_factory(data_dir, rate_limit_per_minute=0)
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
