"""PACT is HTTPS only: with PCF_REQUIRE_HTTPS (default in prod) plain HTTP is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.core.settings import Env, Settings
from app.main import create_app
from tests.conftest import make_settings


@pytest.mark.parametrize("path", ["/3/footprints", "/auth/token"])
def test_plain_http_is_refused_when_https_is_required(
    db_url: str, empty_data_dir: Path, path: str
) -> None:
    app = create_app(make_settings(db_url, empty_data_dir, require_https=True))
    with TestClient(app, base_url="http://testserver") as c:
        r = c.post(path) if path == "/auth/token" else c.get(path)
        assert r.status_code == 403
        assert r.json()["code"] == "AccessDenied" and r.json()["error"] == "invalid_request"
        assert c.get("/healthz").status_code == 200  # only PACT and the token endpoint
    with TestClient(app, base_url="https://testserver") as c:
        r = c.post(path) if path == "/auth/token" else c.get(path)
        assert r.status_code == 401  # reached the endpoint: no credentials


def test_forwarded_proto_from_a_trusted_proxy_counts(db_url: str, empty_data_dir: Path) -> None:
    """Behind a TLS-terminating proxy: uvicorn's proxy-headers middleware (as `pcf serve` runs
    it) turns X-Forwarded-Proto into the scheme the check sees."""
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    app = create_app(make_settings(db_url, empty_data_dir, require_https=True))
    proxied = ProxyHeadersMiddleware(app, trusted_hosts="*")
    with TestClient(proxied, base_url="http://testserver") as c:  # type: ignore[arg-type]
        assert c.get("/3/footprints").status_code == 403
        forwarded = c.get("/3/footprints", headers={"X-Forwarded-Proto": "https"})
        assert forwarded.status_code == 401


def test_default_is_on_in_prod_only(monkeypatch: Any) -> None:
    monkeypatch.setenv("PCF_SECRET_KEY", "x" * 40)
    assert Settings(env=Env.prod).https_required is True
    assert Settings(env=Env.dev).https_required is False
    assert Settings(env=Env.prod, require_https=False).https_required is False
