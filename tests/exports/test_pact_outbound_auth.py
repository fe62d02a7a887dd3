"""Events we send to a recipient's PACT host carry a bearer token from that host (PACT Action
Authenticate: OpenID discovery of the token endpoint, else ``/auth/token``; OAuth2 client
credentials), the credentials it issued to us stored encrypted; and our own host publishes its
discovery document. The recipient here is a local PACT-like host on 127.0.0.1 that refuses
events without a valid token."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import pytest
from sqlalchemy import text

from app.accounts.principal import OrgKind, Role
from app.core.database import Database
from app.core.secretbox import SecretUnreadable, open_sealed, seal
from app.core.settings import DEFAULT_SECRET, Settings
from app.exports.pact.outbound import TargetRefused, auth_base_of, check_public
from tests.accounts.accounts_helpers import bearer, make_org_and_client, mint
from tests.exports.conftest import CAN, GLASS, ExportApi
from tests.exports.pact_helpers import fast_delivery, outbound, wait_for

ISSUED_ID, ISSUED_SECRET = "pcf-service-at-buyer", "s3cret-" + secrets.token_hex(8)


class RecipientHost:
    """A PACT host's Authenticate and Events actions: tokens for one client, events only with
    a valid one. ``discovery``: publish /.well-known/openid-configuration (pointing at a
    non-default token path, so using it is visible)."""

    def __init__(self, discovery: bool) -> None:
        self.discovery = discovery
        self.valid: set[str] = set()
        self.token_requests: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.refused_events = 0
        host = self

        class Handler(BaseHTTPRequestHandler):
            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration" and host.discovery:
                    self._json(200, {"token_endpoint": f"{host.base}/oauth2/issue"})
                else:
                    self._json(404, {"code": "NotFound", "message": "no such resource"})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                token_path = "/oauth2/issue" if host.discovery else "/auth/token"
                if self.path == token_path:
                    scheme, _, value = (self.headers.get("Authorization") or "").partition(" ")
                    user = base64.b64decode(value).decode() if scheme == "Basic" else ""
                    form = dict(parse_qsl(body.decode()))
                    host.token_requests.append({"basic": user, "form": form})
                    if user != f"{ISSUED_ID}:{ISSUED_SECRET}":
                        self._json(401, {"error": "invalid_client"})
                        return
                    token = secrets.token_hex(8)
                    host.valid.add(token)
                    self._json(
                        200, {"access_token": token, "token_type": "bearer", "expires_in": 3600}
                    )
                elif self.path == "/3/events":
                    scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
                    if scheme != "Bearer" or token not in host.valid:
                        host.refused_events += 1
                        self._json(401, {"code": "TokenExpired", "message": "invalid token"})
                        return
                    host.events.append(json.loads(body))
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self._json(404, {"code": "NotFound", "message": "no such resource"})

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recipient_host() -> Iterator[Callable[[bool], RecipientHost]]:
    made: list[RecipientHost] = []

    def make(discovery: bool) -> RecipientHost:
        made.append(RecipientHost(discovery))
        return made[-1]

    yield make
    for h in made:
        h.close()


def _register(exp: ExportApi, host: RecipientHost, secret: str = ISSUED_SECRET) -> Any:
    buyer = exp.creds["buyer"].client_id
    return exp.put(
        "maker",
        f"/v1/pact/recipients/{buyer}",
        json={
            "events_url": f"{host.base}/3/events",
            "auth": {"client_id": ISSUED_ID, "client_secret": secret},
        },
    )


def _share(exp: ExportApi, name: str) -> str:
    fp = exp.footprint(name)
    exp.share(fp)
    return fp


def test_events_carry_a_token_from_the_host_found_by_discovery(
    exp: ExportApi, recipient_host: Callable[[bool], RecipientHost]
) -> None:
    fast_delivery(exp)
    host = recipient_host(True)
    r = _register(exp, host)
    assert r.status_code == 200, r.text
    assert r.json()["auth"] == {"client_id": ISSUED_ID, "auth_url": None, "client_secret": "stored"}
    can = _share(exp, CAN)
    wait_for(lambda: len(host.events) == 1)
    assert host.events[0]["data"] == {"pfIds": [can]}
    assert host.refused_events == 0
    # the token came from the discovered endpoint, by client credentials with HTTP Basic
    assert host.token_requests == [
        {"basic": f"{ISSUED_ID}:{ISSUED_SECRET}", "form": {"grant_type": "client_credentials"}}
    ]
    wait_for(lambda: [e.status for e in outbound(exp)] == ["delivered"])
    # a second event reuses the token
    _share(exp, GLASS)
    wait_for(lambda: len(host.events) == 2)
    assert len(host.token_requests) == 1
    # the secret is never shown, never audited, and stored only encrypted
    listed = exp.get("viewer", "/v1/pact/recipients").json()
    assert ISSUED_SECRET not in json.dumps(listed) and listed[0]["auth"]["client_id"] == ISSUED_ID
    db = Database(exp.db_url)
    try:
        with db.engine.connect() as c:
            stored = c.execute(text("SELECT auth_secret_sealed FROM pact_recipient")).scalar_one()
            audit = c.execute(text("SELECT * FROM audit_entry")).all()
    finally:
        db.dispose()
    assert stored and ISSUED_SECRET not in stored
    assert ISSUED_SECRET not in repr(audit)


def test_without_discovery_the_pact_default_token_path_is_used_and_a_refused_token_renewed(
    exp: ExportApi, recipient_host: Callable[[bool], RecipientHost]
) -> None:
    fast_delivery(exp)
    host = recipient_host(False)
    assert _register(exp, host).status_code == 200
    _share(exp, CAN)
    wait_for(lambda: len(host.events) == 1)
    assert len(host.token_requests) == 1
    host.valid.clear()  # the host revokes its tokens before they expire
    _share(exp, GLASS)
    wait_for(lambda: len(host.events) == 2)
    assert host.refused_events == 1 and len(host.token_requests) == 2
    wait_for(lambda: sorted(e.status for e in outbound(exp)) == ["delivered", "delivered"])
    assert [e.attempts for e in outbound(exp)] == [1, 1]  # renewed within the same attempt


def test_wrong_credentials_are_recorded_and_fixing_them_delivers_the_pending_event(
    exp: ExportApi, recipient_host: Callable[[bool], RecipientHost]
) -> None:
    fast_delivery(exp, max_attempts=200, max_delay=0.1)
    host = recipient_host(False)
    assert _register(exp, host, secret="not-the-secret").status_code == 200
    _share(exp, CAN)
    wait_for(lambda: any(e.attempts >= 2 for e in outbound(exp)))
    (row,) = outbound(exp)
    assert row.status == "pending"
    assert row.last_error == f"auth: HTTP 401 invalid_client from {host.base}/auth/token"
    assert host.events == [] and host.refused_events == 0  # no event sent without a token
    assert _register(exp, host).status_code == 200  # the right secret: read at the next attempt
    wait_for(lambda: len(host.events) == 1)
    wait_for(lambda: [e.status for e in outbound(exp)] == ["delivered"])


def test_credentials_travel_only_over_https(exp: ExportApi) -> None:
    buyer = exp.creds["buyer"].client_id
    auth = {"client_id": ISSUED_ID, "client_secret": ISSUED_SECRET}
    plain = {"events_url": "http://buyer.example/3/events", "auth": auth}
    r = exp.put("maker", f"/v1/pact/recipients/{buyer}", json=plain)
    assert r.status_code == 422 and "only sent over HTTPS" in r.text
    auth_plain = {**auth, "auth_url": "http://login.buyer.example"}
    tls = {"events_url": "https://buyer.example/3/events", "auth": auth_plain}
    assert exp.put("maker", f"/v1/pact/recipients/{buyer}", json=tls).status_code == 422
    ok = {"events_url": "https://buyer.example/3/events", "auth": auth}
    assert exp.put("maker", f"/v1/pact/recipients/{buyer}", json=ok).status_code == 200
    # without credentials a plain-HTTP endpoint is still accepted (nothing secret goes there)
    no_auth = {"events_url": "http://buyer.example/3/events"}
    r = exp.put("maker", f"/v1/pact/recipients/{buyer}", json=no_auth)
    assert r.status_code == 200 and r.json()["auth"] is None


def test_our_host_publishes_its_token_endpoint(exp: ExportApi) -> None:
    r = exp.client.get("/.well-known/openid-configuration")
    assert r.status_code == 200
    doc = r.json()
    assert doc["token_endpoint"] == "http://testserver/auth/token"
    assert doc["grant_types_supported"] == ["client_credentials"]
    got = exp.client.post(
        doc["token_endpoint"],
        data={"grant_type": "client_credentials"},
        auth=exp.creds["buyer"].basic,
    )
    assert got.status_code == 200 and got.json()["access_token"]


def test_sealed_secrets() -> None:
    key = secrets.token_urlsafe(48)
    a, b = seal(key, "hunter2"), seal(key, "hunter2")
    assert a != b and "hunter2" not in a  # a fresh IV each time
    assert open_sealed(key, a) == "hunter2" == open_sealed(key, b)
    with pytest.raises(SecretUnreadable):
        open_sealed(secrets.token_urlsafe(48), a)  # PCF_SECRET_KEY changed
    with pytest.raises(SecretUnreadable):
        open_sealed(key, a[:-4] + ("AAAA" if not a.endswith("AAAA") else "BBBB"))


def test_auth_base_defaults_to_the_events_base_url() -> None:
    assert (
        auth_base_of("https://pact.buyer.example/api/3/events") == "https://pact.buyer.example/api"
    )
    assert auth_base_of("https://pact.buyer.example/2/events/") == "https://pact.buyer.example"
    assert auth_base_of("https://hooks.buyer.example/pcf") == "https://hooks.buyer.example"


# ---------------------------------------------------------------------------- SSRF
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/3/events",
        "http://localhost/3/events",
        "https://10.1.2.3/3/events",
        "https://192.168.0.10/3/events",
        "http://169.254.169.254/latest/meta-data/",
        "https://[::1]/3/events",
        "https://100.64.0.1/3/events",
        "https://0.0.0.0/3/events",
    ],
)
def test_non_public_targets_are_refused(url: str) -> None:
    with pytest.raises(TargetRefused, match="not a public address"):
        check_public(url)


def test_a_public_address_passes() -> None:
    check_public("https://93.184.215.14/3/events")  # an address literal: no DNS needed


def test_private_targets_are_allowed_outside_prod_only() -> None:
    assert Settings(env="dev").private_targets_allowed
    assert Settings(env="test").private_targets_allowed
    prod = Settings(env="prod", secret_key="k" * 40)
    assert not prod.private_targets_allowed
    assert Settings(
        env="prod", secret_key="k" * 40, pact_private_targets=True
    ).private_targets_allowed


def test_events_to_a_private_address_are_not_sent_when_refused(
    exp: ExportApi, recipient_host: Callable[[bool], RecipientHost]
) -> None:
    app = exp.client.app
    app.state.settings = app.state.settings.model_copy(  # type: ignore[attr-defined]
        update={"pact_private_targets": False}
    )
    fast_delivery(exp, max_attempts=2)
    host = recipient_host(True)
    r = _register(exp, host)  # refused at registration already
    assert r.status_code == 422 and r.json()["code"] == "target_not_public", r.text
    assert r.json()["errors"][0]["pointer"] == "/events_url"
    # one registered before the setting changed: checked again at delivery
    app.state.settings = app.state.settings.model_copy(update={"pact_private_targets": True})
    assert _register(exp, host).status_code == 200
    app.state.settings = app.state.settings.model_copy(update={"pact_private_targets": False})
    _share(exp, CAN)
    wait_for(lambda: [e.status for e in outbound(exp)] == ["failed"])
    (row,) = outbound(exp)
    assert row.last_error is not None and "not a public address" in row.last_error
    assert host.events == [] and host.token_requests == []  # nothing reached it


def test_a_reply_for_several_owners_uses_an_owners_credentials(
    exp: ExportApi, recipient_host: Callable[[bool], RecipientHost]
) -> None:
    """Two manufacturers share with the buyer and registered its host with the right
    credentials; a third registered the same host later with wrong ones and shares nothing. The
    reply to a request that finds both owners' footprints is sent with an owner's credentials,
    never the third organisation's."""
    fast_delivery(exp, max_attempts=3)
    host = recipient_host(False)
    buyer = exp.creds["buyer"].client_id
    third = make_org_and_client(exp.db_url, "Third", OrgKind.manufacturer, Role.manufacturer)
    exp.headers["third"] = bearer(mint(third, key=DEFAULT_SECRET))
    ids = []
    for who in ("maker", "rival"):
        assert _register_as(exp, who, host, ISSUED_SECRET).status_code == 200
        fp = exp.footprint(CAN, who=who)
        r = exp.post(who, f"/v1/footprints/{fp}/pact/shares", json={"client_id": buyer})
        assert r.status_code == 201, r.text
        ids.append(fp)
    wait_for(lambda: len(host.events) == 2)  # the two PublishedEvents
    assert _register_as(exp, "third", host, "wrong-secret").status_code == 200
    docs = exp.get("buyer", "/3/footprints").json()["data"]
    assert sorted(d["id"] for d in docs) == sorted(ids)
    request = {
        "type": "org.wbcsd.pact.ProductFootprint.RequestCreatedEvent.3",
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "//buyer.example/3/events",
        "time": "2025-03-05T17:31:00Z",
        "data": {"productId": sorted({d["productIds"][0] for d in docs})},
    }
    r = exp.post(
        "buyer", "/3/events", json=request, headers={"Content-Type": "application/cloudevents+json"}
    )
    assert r.status_code == 200, r.text
    wait_for(lambda: len(host.events) == 3)
    reply = host.events[-1]
    assert reply["type"].endswith("RequestFulfilledEvent.3")
    assert sorted(pf["id"] for pf in reply["data"]["pfs"]) == sorted(ids)
    assert all(t["basic"] == f"{ISSUED_ID}:{ISSUED_SECRET}" for t in host.token_requests)


def _register_as(exp: ExportApi, who: str, host: RecipientHost, secret: str) -> Any:
    return exp.put(
        who,
        f"/v1/pact/recipients/{exp.creds['buyer'].client_id}",
        json={
            "events_url": f"{host.base}/3/events",
            "auth": {"client_id": ISSUED_ID, "client_secret": secret},
        },
    )
