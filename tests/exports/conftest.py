"""Fixtures for the export tests: the app on a seeded database with the loaded background (fewer
Monte Carlo iterations: the exports do not depend on them), a manufacturer with footprints, and
PACT recipient clients of another organisation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.accounts.principal import OrgKind, Role
from app.background.loader import BackgroundData
from app.core.settings import DEFAULT_SECRET
from app.rules.seed import seed_rules
from tests.accounts.accounts_helpers import Creds, bearer, make_org_and_client, mint
from tests.footprints.conftest import background, example

__all__ = ["background"]

REFRIGERATOR = "refrigerator-300l-two-door.json"
CAN = "beer-lager-500ml-aluminium-can.json"
GLASS = "beer-lager-640ml-returnable-glass.json"
TYRE = "passenger-car-tyre-205-55r16.json"


@dataclass
class ExportApi:
    client: TestClient
    creds: dict[str, Creds]
    headers: dict[str, dict[str, str]]
    db_url: str
    cache: dict[str, str] = field(default_factory=dict)

    def get(self, who: str, path: str, **kw: Any) -> Any:
        headers = {**self.headers[who], **kw.pop("headers", {})}
        return self.client.get(path, headers=headers, **kw)

    def post(self, who: str, path: str, **kw: Any) -> Any:
        headers = {**self.headers[who], **kw.pop("headers", {})}
        return self.client.post(path, headers=headers, **kw)

    def put(self, who: str, path: str, **kw: Any) -> Any:
        headers = {**self.headers[who], **kw.pop("headers", {})}
        return self.client.put(path, headers=headers, **kw)

    def delete(self, who: str, path: str, **kw: Any) -> Any:
        headers = {**self.headers[who], **kw.pop("headers", {})}
        return self.client.delete(path, headers=headers, **kw)

    def footprint(self, name: str, who: str = "maker", body: dict[str, Any] | None = None) -> str:
        """A stored footprint of ``who``'s organisation from an example (or ``body``)."""
        r = self.post(who, "/v1/footprints", json=body or example(name))
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def share(self, footprint_id: str, recipient: str = "buyer") -> Any:
        r = self.post(
            "maker",
            f"/v1/footprints/{footprint_id}/pact/shares",
            json={"client_id": self.creds[recipient].client_id},
        )
        assert r.status_code == 201, r.text
        return r.json()


@pytest.fixture
def exp(
    db_url: str,
    data_dir: Path,
    background: BackgroundData,
    client_factory: Callable[..., TestClient],
) -> ExportApi:
    """Callers: ``maker``/``viewer`` (Acme), ``rival`` (another manufacturer), ``buyer`` and
    ``stranger`` (clients of a customer organisation: PACT recipients)."""
    seed_rules(db_url)
    client = client_factory(data_dir, rate_limit_per_minute=0, footprint_mc_iterations=20)
    client.app.state.background = background  # type: ignore[attr-defined]
    creds = {
        "maker": make_org_and_client(db_url, "Acme", OrgKind.manufacturer, Role.manufacturer),
        "viewer": make_org_and_client(db_url, "Acme", OrgKind.manufacturer, Role.viewer),
        "rival": make_org_and_client(db_url, "Rival", OrgKind.manufacturer, Role.manufacturer),
        "buyer": make_org_and_client(db_url, "Buyer GmbH", OrgKind.manufacturer, Role.viewer),
        "stranger": make_org_and_client(db_url, "Buyer GmbH", OrgKind.manufacturer, Role.viewer),
    }
    headers = {who: bearer(mint(c, key=DEFAULT_SECRET)) for who, c in creds.items()}
    headers["anonymous"] = {}
    return ExportApi(client, creds, headers, db_url)
