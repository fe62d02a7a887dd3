"""Fixtures for the accounts tests: organisations, clients and tokens on both backends."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.accounts.principal import OrgKind, Role
from tests.accounts.accounts_helpers import Creds, make_org_and_client


@pytest.fixture
def creds_factory(db_url: str) -> Callable[..., Creds]:
    def make(
        org_name: str,
        kind: OrgKind | str,
        role: Role | str,
        families: tuple[str, ...] = (),
    ) -> Creds:
        return make_org_and_client(db_url, org_name, kind, role, families)

    return make


@pytest.fixture
def api(client_factory: Any, empty_data_dir: Path) -> TestClient:
    """The app on the test database, default limits."""
    return client_factory(empty_data_dir)  # type: ignore[no-any-return]


@pytest.fixture
def admin(creds_factory: Callable[..., Creds]) -> Creds:
    return creds_factory("operator", OrgKind.operator, Role.admin)
