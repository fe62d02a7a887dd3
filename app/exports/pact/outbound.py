"""Calls the service makes to a PACT recipient's host before it sends it events: where they may go
(``check_public``: no loopback, private or link-local addresses in prod, against SSRF) and the
bearer token to send (``TokenSource``: PACT Action Authenticate with the client credentials that
host issued to the owner; OpenID discovery of the token endpoint, else ``/auth/token``).
Delivery itself is ``events.DeliveryWorker``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from app.exports.schemas import secure_url


class TargetRefused(Exception):
    """An outgoing call would reach a non-public address (the message says which)."""


def check_public(url: str) -> None:
    """Refuse a URL whose host resolves to a loopback, private, link-local, shared, reserved or
    multicast address: a URL someone registered must not make the server call into its own
    network (SSRF). Resolved here and again by the HTTP client; the window between the two is
    small, and redirects are never followed."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        raise TargetRefused(f"{url}: no host")
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise TargetRefused(f"{host}: cannot be resolved ({exc})") from exc
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global:
            raise TargetRefused(
                f"{host} resolves to {address}, not a public address: refused "
                "(PCF_PACT_PRIVATE_TARGETS allows it)"
            )


@dataclass(frozen=True)
class Credentials:
    """The client credentials a recipient's PACT host issued to us, and where to use them."""

    auth_base: str
    client_id: str
    client_secret: str = field(repr=False)

    @property
    def cache_key(self) -> tuple[str, str, str]:
        """A token belongs to these exact credentials (two organisations may hold the same
        client id at one host with different secrets: neither gets the other's token)."""
        digest = hashlib.sha256(self.client_secret.encode()).hexdigest()
        return (self.auth_base, self.client_id, digest)


class AuthFailed(Exception):
    """No token from the recipient's host (the message goes to the event's ``last_error``)."""


def auth_base_of(events_url: str) -> str:
    """PACT: every action but Authenticate sits under one base URL, so by default the auth base
    is the events URL without its ``/3/events`` (or ``/2/events``)."""
    for suffix in ("/3/events", "/2/events"):
        if events_url.rstrip("/").endswith(suffix):
            return events_url.rstrip("/")[: -len(suffix)]
    parts = urlsplit(events_url)
    return f"{parts.scheme}://{parts.netloc}"


class TokenSource:
    """Access tokens for recipients' hosts (PACT Action Authenticate), kept until they expire.

    The token endpoint comes from ``{auth base}/.well-known/openid-configuration`` when the host
    publishes one (PACT: SHOULD), else ``{auth base}/auth/token``; the request is OAuth2 client
    credentials with HTTP Basic and a form body. Credentials only go to HTTPS endpoints (or
    plain HTTP on the loopback interface). Thread-safe.
    """

    DISCOVERY_TTL = 3600.0
    DEFAULT_EXPIRES_IN = 300.0  # when the host does not say (expires_in is only RECOMMENDED)

    def __init__(
        self,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        private_targets: bool = False,
    ):
        self.timeout = timeout
        self.clock = clock
        self.private_targets = private_targets
        self._tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._endpoints: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def token(self, cred: Credentials) -> str:
        key = cred.cache_key
        with self._lock:
            hit = self._tokens.get(key)
        if hit is not None and hit[1] > self.clock():
            return hit[0]
        token, lifetime = self._fetch(cred)
        with self._lock:
            self._tokens[key] = (token, self.clock() + lifetime - min(60.0, lifetime / 2))
        return token

    def forget(self, cred: Credentials) -> None:
        """Drop the cached token (the host refused it: expired or revoked early)."""
        with self._lock:
            self._tokens.pop(cred.cache_key, None)

    def token_endpoint(self, auth_base: str) -> str:
        with self._lock:
            hit = self._endpoints.get(auth_base)
        if hit is not None and hit[1] > self.clock():
            return hit[0]
        endpoint = f"{auth_base.rstrip('/')}/auth/token"
        try:
            self._check(auth_base)
            r = httpx.get(
                f"{auth_base.rstrip('/')}/.well-known/openid-configuration",
                timeout=self.timeout,
                follow_redirects=False,
            )
            if r.status_code == 200:
                found = r.json().get("token_endpoint")
                if isinstance(found, str) and found.startswith(("https://", "http://")):
                    endpoint = found
        except (httpx.HTTPError, ValueError, AttributeError, TargetRefused):
            pass  # discovery is optional: the PACT default path (checked again when used)
        with self._lock:
            self._endpoints[auth_base] = (endpoint, self.clock() + self.DISCOVERY_TTL)
        return endpoint

    def _check(self, url: str) -> None:
        if not self.private_targets:
            check_public(url)

    def _fetch(self, cred: Credentials) -> tuple[str, float]:
        endpoint = self.token_endpoint(cred.auth_base)
        if not secure_url(endpoint):
            raise AuthFailed(f"auth: token endpoint {endpoint} is not HTTPS; credentials not sent")
        try:
            self._check(endpoint)
        except TargetRefused as exc:
            raise AuthFailed(f"auth: {exc}") from exc
        try:
            r = httpx.post(
                endpoint,
                auth=(cred.client_id, cred.client_secret),
                data={"grant_type": "client_credentials"},
                headers={"Accept": "application/json"},
                timeout=self.timeout,
                follow_redirects=False,
            )
        except httpx.HTTPError as exc:
            raise AuthFailed(f"auth: {type(exc).__name__}: {exc} ({endpoint})") from exc
        try:
            body = r.json()
        except ValueError:
            body = None
        if r.status_code != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else None
            raise AuthFailed(
                f"auth: HTTP {r.status_code}{f' {error}' if error else ''} from {endpoint}"
            )
        token, kind = body.get("access_token"), str(body.get("token_type") or "Bearer")
        if not isinstance(token, str) or not token or kind.lower() != "bearer":
            raise AuthFailed(f"auth: no bearer access_token in the answer of {endpoint}")
        expires = body.get("expires_in")
        lifetime = (
            float(expires)
            if isinstance(expires, int | float) and expires > 0
            else self.DEFAULT_EXPIRES_IN
        )
        return token, lifetime
