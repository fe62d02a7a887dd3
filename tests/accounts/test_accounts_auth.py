"""OAuth2 client credentials, tokens, roles, rotation and revocation (both backends)."""

from __future__ import annotations

import base64
import time
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import select

from app.accounts.models import ApiClient
from app.accounts.principal import OrgKind, Role
from app.core.database import Database
from app.core.tenancy import unscoped
from tests.accounts.accounts_helpers import Creds, bearer, mint

GRANT = {"grant_type": "client_credentials"}


def _token(api: TestClient, creds: Creds) -> Any:
    return api.post("/auth/token", auth=creds.basic, data=GRANT)


def _shape(r: Any) -> dict[str, Any]:
    """A 401 body without what legitimately differs per request."""
    body = dict(r.json())
    body.pop("request_id", None)
    return {"status": r.status_code, "www": r.headers.get("www-authenticate"), **body}


def test_client_credentials_flow_issues_a_bearer_token(api: TestClient, admin: Creds) -> None:
    r = _token(api, admin)
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert r.headers["cache-control"] == "no-store"
    me = api.get("/v1/me", headers=bearer(body["access_token"])).json()
    assert me["client_id"] == admin.client_id and me["role"] == "admin"
    assert me["org_name"] == "operator" and me["org_kind"] == "operator"


def test_token_carries_organisation_and_role(api: TestClient, creds_factory: Any) -> None:
    a = creds_factory("Brewers", OrgKind.association, Role.association, ("beer",))
    me = api.get("/v1/me", headers=bearer(_token(api, a).json()["access_token"])).json()
    assert me["org_id"] == str(a.org_id) and me["role"] == "association"
    assert me["families"] == ["beer"]


def test_client_authentication_failures_are_one_indistinguishable_401(
    api: TestClient, admin: Creds
) -> None:
    wrong_secret = api.post("/auth/token", auth=(admin.client_id, "nope"), data=GRANT)
    unknown = api.post("/auth/token", auth=("pcf_unknown", admin.secret), data=GRANT)
    no_auth = api.post("/auth/token", data=GRANT)
    garbage = api.post("/auth/token", data=GRANT, headers={"Authorization": "Basic !!!not-base64"})
    no_colon = api.post(
        "/auth/token",
        data=GRANT,
        headers={"Authorization": "Basic " + base64.b64encode(b"just-an-id").decode()},
    )
    shapes = [_shape(r) for r in (wrong_secret, unknown, no_auth, garbage, no_colon)]
    assert shapes[0]["status"] == 401 and shapes[0]["code"] == "invalid_client"
    assert shapes[0]["error"] == "invalid_client"  # PACT/RFC 6749 field, too
    assert wrong_secret.headers["content-type"].startswith("application/problem+json")
    assert all(s == shapes[0] for s in shapes), shapes


def test_grant_type_must_be_client_credentials(api: TestClient, admin: Creds) -> None:
    r = api.post("/auth/token", auth=admin.basic, data={"grant_type": "password"})
    assert r.status_code == 400 and r.json()["code"] == "unsupported_grant_type"
    r = api.post("/auth/token", auth=admin.basic)
    assert r.status_code == 400 and r.json()["code"] == "invalid_request"


def test_expired_forged_and_malformed_tokens_are_one_indistinguishable_401(
    api: TestClient, admin: Creds
) -> None:
    expired = mint(admin, now=time.time() - 3600)
    forged = mint(admin, key="another-secret-key-of-sufficient-length!!")
    good = mint(admin)
    header, payload, sig = good.split(".")
    tampered = ".".join([header, payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB"), sig])
    responses = [
        api.get("/v1/me", headers=bearer(t)) for t in (expired, forged, tampered, "garbage")
    ]
    responses.append(api.get("/v1/me"))
    responses.append(api.get("/v1/me", headers={"Authorization": "Basic abc"}))
    shapes = [_shape(r) for r in responses]
    assert shapes[0]["status"] == 401 and shapes[0]["code"] == "unauthorized"
    assert shapes[0]["www"] == 'Bearer realm="pcf"'
    assert all(s == shapes[0] for s in shapes), shapes
    assert api.get("/v1/me", headers=bearer(good)).status_code == 200


def test_wrong_role_is_403_naming_the_roles(api: TestClient, creds_factory: Any) -> None:
    m = creds_factory("Maker", OrgKind.manufacturer, Role.manufacturer)
    r = api.get("/v1/audit", headers=bearer(mint(m)))
    assert r.status_code == 403
    body = r.json()
    assert body["code"] == "forbidden_role" and body["required_roles"] == ["admin"]


def test_secrets_are_stored_as_argon2_hashes(db_url: str, admin: Creds) -> None:
    db = Database(db_url)
    with db.session() as s:
        unscoped(s)
        row = s.exec(select(ApiClient).where(ApiClient.client_id == admin.client_id)).one()
    db.dispose()
    assert row.secret_hash.startswith("$argon2id$")
    assert admin.secret not in row.secret_hash


def test_rotation_ends_the_old_secret_and_its_tokens(api: TestClient, admin: Creds) -> None:
    t_admin = _token(api, admin).json()["access_token"]
    target = api.post(
        f"/v1/organisations/{admin.org_id}/clients",
        headers=bearer(t_admin),
        json={"role": "viewer", "description": "ci"},
    ).json()
    old = Creds(admin.org_id, "operator", target["client_id"], target["client_secret"], "viewer")
    old_token = _token(api, old).json()["access_token"]
    assert api.get("/v1/me", headers=bearer(old_token)).status_code == 200

    r = api.post(f"/v1/clients/{old.client_id}/rotate", headers=bearer(t_admin))
    assert r.status_code == 200 and r.json()["secret_version"] == 2
    new_secret = r.json()["client_secret"]
    assert new_secret and new_secret != old.secret

    assert api.get("/v1/me", headers=bearer(old_token)).status_code == 401
    assert _token(api, old).status_code == 401
    new = Creds(admin.org_id, "operator", old.client_id, new_secret, "viewer", 2)
    assert api.get("/v1/me", headers=bearer(_token(api, new).json()["access_token"])).is_success


def test_revocation_ends_secret_and_tokens_at_once(api: TestClient, admin: Creds) -> None:
    t_admin = mint(admin)
    c = api.post(
        f"/v1/organisations/{admin.org_id}/clients",
        headers=bearer(t_admin),
        json={"role": "viewer"},
    ).json()
    creds = Creds(admin.org_id, "operator", c["client_id"], c["client_secret"], "viewer")
    token = _token(api, creds).json()["access_token"]
    r = api.post(f"/v1/clients/{creds.client_id}/revoke", headers=bearer(t_admin))
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    assert api.get("/v1/me", headers=bearer(token)).status_code == 401
    assert _token(api, creds).status_code == 401
    # Revoking again changes nothing; rotating a revoked client is a conflict.
    assert api.post(f"/v1/clients/{creds.client_id}/revoke", headers=bearer(t_admin)).is_success
    r = api.post(f"/v1/clients/{creds.client_id}/rotate", headers=bearer(t_admin))
    assert r.status_code == 409 and r.json()["code"] == "client_revoked"


def test_client_roles_must_fit_the_organisation_kind(api: TestClient, admin: Creds) -> None:
    t = mint(admin)
    maker = api.post(
        "/v1/organisations", headers=bearer(t), json={"name": "M", "kind": "manufacturer"}
    ).json()
    r = api.post(
        f"/v1/organisations/{maker['id']}/clients", headers=bearer(t), json={"role": "admin"}
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"] == "/role"


def test_families_are_known_and_for_associations_only(api: TestClient, admin: Creds) -> None:
    t = mint(admin)
    r = api.post(
        "/v1/organisations",
        headers=bearer(t),
        json={"name": "X", "kind": "association", "families": ["beer", "wine"]},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "/families/1"
    r = api.post(
        "/v1/organisations",
        headers=bearer(t),
        json={"name": "Y", "kind": "manufacturer", "families": ["beer"]},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "families_need_association"
    r = api.post(
        "/v1/organisations",
        headers=bearer(t),
        json={"name": "Z", "kind": "association", "families": ["beer", "truck-bus-tyre"]},
    )
    assert r.status_code == 201 and r.json()["families"] == ["beer", "truck-bus-tyre"]
    dup = api.post("/v1/organisations", headers=bearer(t), json={"name": "Z", "kind": "operator"})
    assert dup.status_code == 409 and dup.json()["errors"][0]["pointer"] == "/name"


def test_openapi_shows_what_each_route_needs(api: TestClient) -> None:
    spec = api.get("/openapi.json").json()
    op = spec["paths"]["/v1/audit"]["get"]
    assert op["x-required-roles"] == ["admin"]
    assert op["security"] == [{"OAuth2ClientCredentials": ["admin"]}]
    assert "Requires role" in op["description"]
    assert {"401", "403", "429", "default"} <= op["responses"].keys()
    scheme = spec["components"]["securitySchemes"]["OAuth2ClientCredentials"]
    assert scheme["flows"]["clientCredentials"]["tokenUrl"] == "/auth/token"
    assert "security" not in spec["paths"]["/auth/token"]["post"]
    # The accounts create routes accept an Idempotency-Key (every route: test_route_matrix).
    for path in ("/v1/organisations", "/v1/organisations/{org_id}/clients"):
        names = {p["name"] for p in spec["paths"][path]["post"]["parameters"]}
        assert "Idempotency-Key" in names, path


def test_a_remembered_token_still_expires_and_a_changed_one_is_verified_again(
    api: TestClient, admin: Creds, monkeypatch: Any
) -> None:
    from app.core import security

    token = mint(admin, ttl_seconds=60)
    assert api.get("/v1/me", headers=bearer(token)).status_code == 200
    assert api.get("/v1/me", headers=bearer(token)).status_code == 200  # remembered now
    head, payload, sig = token.split(".")
    forged = ".".join((head, payload, sig[:-2] + ("AA" if not sig.endswith("AA") else "BB")))
    assert api.get("/v1/me", headers=bearer(forged)).status_code == 401
    later = time.time() + 120
    monkeypatch.setattr(security.time, "time", lambda: later)
    assert api.get("/v1/me", headers=bearer(token)).status_code == 401
