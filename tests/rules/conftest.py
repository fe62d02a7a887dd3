"""Fixtures for the rule tests: the reference rules, a seeded API and callers of every kind."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.accounts.principal import OrgKind, Role
from app.rules.interpreter import load_reference_rules
from app.rules.schema import RuleDocument
from app.rules.seed import seed_rules
from tests.accounts.accounts_helpers import bearer, make_org_and_client, mint


@pytest.fixture(scope="session")
def reference_rules() -> dict[str, RuleDocument]:
    return load_reference_rules()


@dataclass
class RulesApi:
    """The app on a seeded database, with a token header per caller."""

    client: TestClient
    headers: dict[str, dict[str, str]]
    db_url: str

    def get(self, who: str, path: str, **kw: Any) -> Any:
        return self.client.get(path, headers=self.headers[who], **kw)

    def post(self, who: str, path: str, **kw: Any) -> Any:
        return self.client.post(path, headers=self.headers[who], **kw)

    def patch(self, who: str, path: str, **kw: Any) -> Any:
        headers = {**self.headers[who], **kw.pop("headers", {})}
        return self.client.patch(path, headers=headers, **kw)

    def delete(self, who: str, path: str, **kw: Any) -> Any:
        return self.client.delete(path, headers=self.headers[who], **kw)


@pytest.fixture
def rules_api(
    db_url: str, client_factory: Callable[..., TestClient], empty_data_dir: Path
) -> RulesApi:
    """Callers: ``beer_assoc`` (owns beer and refrigerator), ``tyre_assoc`` (owns the tyre
    rules), ``maker`` (manufacturer), ``viewer`` and ``admin``."""
    assert seed_rules(db_url)  # version 1.0.0 of the six reference rules
    client = client_factory(empty_data_dir, rate_limit_per_minute=0)
    callers = {
        "beer_assoc": make_org_and_client(
            db_url, "Brewers", OrgKind.association, Role.association, ("beer", "refrigerator")
        ),
        "tyre_assoc": make_org_and_client(
            db_url,
            "Tyre makers",
            OrgKind.association,
            Role.association,
            ("passenger-car-tyre", "truck-bus-tyre"),
        ),
        "maker": make_org_and_client(db_url, "Acme", OrgKind.manufacturer, Role.manufacturer),
        "viewer": make_org_and_client(db_url, "Acme", OrgKind.manufacturer, Role.viewer),
        "admin": make_org_and_client(db_url, "Operator", OrgKind.operator, Role.admin),
    }
    headers = {who: bearer(mint(c)) for who, c in callers.items()}
    headers["anonymous"] = {}
    return RulesApi(client, headers, db_url)
