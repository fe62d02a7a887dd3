"""``pcf orgs`` / ``pcf clients`` and the dev seeding (both backends)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app import cli
from app.accounts.families import PRODUCT_FAMILIES
from app.accounts.seed import credentials_text, seed_dev
from app.core.settings import Env, get_settings
from tests.conftest import make_settings

GRANT = {"grant_type": "client_credentials"}


@pytest.fixture
def pcf(db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> Iterator[Any]:
    """Run ``pcf ARGS…`` against the test database; returns (exit code, stdout, stderr)."""
    monkeypatch.setenv("PCF_DATABASE_URL", db_url)
    monkeypatch.setenv("PCF_ENV", "test")
    get_settings.cache_clear()

    def run(*args: str) -> tuple[int, str, str]:
        code = cli.main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    get_settings.cache_clear()


def _token(api: TestClient, client_id: str, secret: str) -> Any:
    return api.post("/auth/token", auth=(client_id, secret), data=GRANT)


def test_orgs_and_clients_from_the_command_line(pcf: Any, api: TestClient) -> None:
    code, out, _ = pcf("orgs", "create", "Brewers", "--kind", "association", "--families", "beer")
    assert code == 0 and "Brewers" in out and "beer" in out
    code, out, _ = pcf("clients", "create", "--org", "Brewers", "--role", "association", "--json")
    assert code == 0
    creds = json.loads(out)
    assert set(creds) == {"client_id", "client_secret"}
    r = _token(api, creds["client_id"], creds["client_secret"])
    assert r.status_code == 200

    code, out, _ = pcf("clients", "rotate", creds["client_id"], "--json")
    assert code == 0
    rotated = json.loads(out)
    assert rotated["client_id"] == creds["client_id"]
    assert _token(api, creds["client_id"], creds["client_secret"]).status_code == 401
    assert _token(api, creds["client_id"], rotated["client_secret"]).status_code == 200

    code, out, _ = pcf("clients", "list", "--org", "Brewers", "--json")
    assert json.loads(out)[0]["client_id"] == creds["client_id"]

    code, out, _ = pcf("clients", "revoke", creds["client_id"])
    assert code == 0 and "revoked" in out
    assert _token(api, creds["client_id"], rotated["client_secret"]).status_code == 401


def test_cli_errors_are_one_line_and_non_zero(pcf: Any) -> None:
    pcf("orgs", "create", "Dup", "--kind", "manufacturer")
    code, _, err = pcf("orgs", "create", "Dup", "--kind", "manufacturer")
    assert code == 1 and "exists" in err
    code, _, err = pcf("orgs", "create", "X", "--kind", "manufacturer", "--families", "beer")
    assert code == 1 and "associations" in err
    code, _, err = pcf("clients", "create", "--org", "Nope", "--role", "viewer")
    assert code == 1 and "no organisation" in err
    code, _, err = pcf("clients", "create", "--org", "Dup", "--role", "admin")
    assert code == 1 and "role" in err
    code, _, err = pcf("clients", "rotate", "pcf_missing")
    assert code == 1


def test_human_output_shows_the_secret_once(pcf: Any) -> None:
    pcf("orgs", "create", "Maker", "--kind", "manufacturer")
    code, out, _ = pcf("clients", "create", "--org", "Maker", "--role", "manufacturer")
    assert code == 0 and "client_id:" in out and "client_secret:" in out


def test_dev_seeds_demo_organisations_and_prints_working_credentials(
    db_url: str, empty_data_dir: Path, api: TestClient
) -> None:
    settings = make_settings(db_url, empty_data_dir).model_copy(update={"env": Env.dev})
    seeded = seed_dev(settings)
    assert {(c.org_name, c.role) for c in seeded} == {
        ("demo-operator", "admin"),
        ("demo-association", "association"),
        ("demo-manufacturer", "manufacturer"),
    }
    assoc = next(c for c in seeded if c.role == "association")
    token = _token(api, assoc.client_id, assoc.client_secret).json()["access_token"]
    me = api.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert sorted(me["families"]) == sorted(PRODUCT_FAMILIES)
    text = credentials_text(seeded, "http://127.0.0.1:8000")
    assert "curl" in text and assoc.client_secret in text

    # A restart keeps the organisations and clients, with fresh secrets.
    again = seed_dev(settings)
    assert [c.client_id for c in again] == [c.client_id for c in seeded]
    assert _token(api, assoc.client_id, assoc.client_secret).status_code == 401
    new = next(c for c in again if c.role == "association")
    assert _token(api, new.client_id, new.client_secret).status_code == 200


def test_nothing_is_seeded_outside_dev(db_url: str, empty_data_dir: Path) -> None:
    base = make_settings(db_url, empty_data_dir, secret_key="p" * 40)
    for env in (Env.prod, Env.test):
        assert seed_dev(base.model_copy(update={"env": env})) == []
