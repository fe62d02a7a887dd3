"""Fixtures for the footprint tests: the loaded background (with its engine), the examples, and
the app on a seeded database with callers of two organisations."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.accounts.principal import OrgKind, Role
from app.background.loader import BackgroundData, load_background
from app.background.release import current_release
from app.core.settings import DEFAULT_SECRET, PROJECT_ROOT
from app.rules.seed import seed_rules
from tests.accounts.accounts_helpers import bearer, make_org_and_client, mint

EXAMPLES = PROJECT_ROOT / "examples"


@pytest.fixture(scope="session")
def background(data_dir: Path) -> BackgroundData:
    """The release's background with its engine (the engine arrays are part of the build)."""
    release = current_release(data_dir)
    assert release is not None
    if not (release.path / "engine" / "index.json").is_file():
        pytest.skip(
            f"release {release.release_id} has no engine arrays: rebuild it (pcf data build)"
        )
    bg = load_background(data_dir)
    assert bg is not None
    bg.engine.factorization()
    return bg


def example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return data


def all_examples() -> list[str]:
    return sorted(p.name for p in EXAMPLES.glob("*.json"))


def count_footprints(api: FootprintApi) -> int:
    """Rows in the footprint table (every organisation)."""
    from sqlalchemy import text

    from app.core.database import Database

    db = Database(api.db_url)
    try:
        with db.engine.connect() as c:
            return int(c.execute(text("SELECT count(*) FROM footprint")).scalar_one())
    finally:
        db.dispose()


@dataclass
class FootprintApi:
    client: TestClient
    headers: dict[str, dict[str, str]]
    db_url: str

    def get(self, who: str, path: str, **kw: Any) -> Any:
        return self.client.get(path, headers=self.headers[who], **kw)

    def post(self, who: str, path: str, **kw: Any) -> Any:
        headers = {**self.headers[who], **kw.pop("headers", {})}
        return self.client.post(path, headers=headers, **kw)


@pytest.fixture
def fp_api(
    db_url: str,
    data_dir: Path,
    background: BackgroundData,
    client_factory: Callable[..., TestClient],
) -> FootprintApi:
    """Callers: ``maker`` and ``viewer`` (Acme), ``rival`` (another manufacturer), ``assoc``."""
    seed_rules(db_url)
    client = client_factory(data_dir, rate_limit_per_minute=0)
    client.app.state.background = background  # type: ignore[attr-defined]
    callers = {
        "maker": make_org_and_client(db_url, "Acme", OrgKind.manufacturer, Role.manufacturer),
        "viewer": make_org_and_client(db_url, "Acme", OrgKind.manufacturer, Role.viewer),
        "rival": make_org_and_client(db_url, "Rival", OrgKind.manufacturer, Role.manufacturer),
        "assoc": make_org_and_client(
            db_url, "Brewers", OrgKind.association, Role.association, ("beer",)
        ),
    }
    headers = {who: bearer(mint(c, key=DEFAULT_SECRET)) for who, c in callers.items()}
    headers["anonymous"] = {}
    return FootprintApi(client, headers, db_url)
