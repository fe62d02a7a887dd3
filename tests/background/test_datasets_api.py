"""The background-data API against the real built release: search, one dataset, releases."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.accounts.principal import OrgKind, Role
from app.background.release import current_release
from tests.accounts.accounts_helpers import bearer, make_org_and_client, mint


@pytest.fixture
def api(
    db_url: str, client_factory: Callable[..., TestClient], data_dir: Path
) -> tuple[TestClient, dict[str, str]]:
    client = client_factory(data_dir, rate_limit_per_minute=0)
    viewer = make_org_and_client(db_url, "reader", OrgKind.manufacturer, Role.viewer)
    return client, bearer(mint(viewer))


def _catalogue(data_dir: Path) -> list[dict[str, Any]]:
    ref = current_release(data_dir)
    assert ref is not None
    return json.loads((ref.path / "catalogue.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_readyz_reports_the_loaded_release(api: Any, data_dir: Path) -> None:
    client, _ = api
    r = client.get("/readyz")
    assert r.status_code == 200
    ref = current_release(data_dir)
    assert ref is not None
    assert r.json()["checks"]["background_release"]["release_id"] == ref.release_id


def test_datasets_need_a_token(api: Any) -> None:
    client, _ = api
    assert client.get("/v1/datasets").status_code == 401


def test_china_lifecycle_electricity_factor_is_the_published_value(api: Any) -> None:
    client, auth = api
    r = client.get("/v1/datasets/cn-elec:lca-national-2024", headers=auth)
    assert r.status_code == 200, r.text
    d = r.json()
    # MEE/NBS/NEA 2024 life-cycle factor: 0.5777 kg CO2e/kWh, written as fossil CO2 (GWP 1).
    # Brightway stores exchange amounts at float32 precision (stats_arrays), hence 1e-7.
    assert d["unit"] == "kWh"
    assert d["values"]["gwp100_total"] == pytest.approx(0.5777, rel=1e-7)
    assert d["values"]["gwp100_fossil"] == pytest.approx(0.5777, rel=1e-7)
    assert d["values"]["biogenic_co2_removal"] == 0.0
    assert d["brightway"] == {
        "project": "pcf",
        "database": "cn_electricity",
        "code": "lca-national-2024",
    }
    dq = d["data_quality"]
    assert dq["DQR"] == pytest.approx((dq["TeR"] + dq["GeR"] + dq["TiR"] + dq["P"]) / 4)
    assert "Copyright" in d["licence"] and d["reference_year"] == 2024


def test_desnz_gas_split_is_characterized_with_ar6(api: Any, data_dir: Path) -> None:
    """DESNZ per-gas columns are kg CO2e with AR5 GWPs (CH4 28, N2O 265). The build turns them
    into kg of gas; the engine characterizes them with AR6 (CH4 fossil 29.8, N2O 273)."""
    client, auth = api
    rows = [
        c
        for c in _catalogue(data_dir)
        if (c.get("gas_basis") or {}).get("basis") == "gas_split"
        and c["gas_basis"].get("ch4_origin") == "fossil"
        and c["variant"] == "original"
    ]
    assert len(rows) > 100
    for rec in rows[:25]:
        g = rec["gas_basis"]
        # Hand calculation from the published AR5 columns back to AR6.
        ch4_ar5_co2e = g["ch4_kg"] * 28
        n2o_ar5_co2e = g["n2o_kg"] * 265
        expected = g["co2_fossil_kg"] + ch4_ar5_co2e / 28 * 29.8 + n2o_ar5_co2e / 265 * 273
        assert g["sum_of_gas_columns_kgco2e"] == pytest.approx(
            g["co2_fossil_kg"] + ch4_ar5_co2e + n2o_ar5_co2e, rel=1e-9
        )
        r = client.get(f"/v1/datasets/{rec['pcf_id']}", headers=auth)
        assert r.status_code == 200
        assert r.json()["values"]["gwp100_total"] == pytest.approx(expected, rel=1e-6), rec[
            "pcf_id"
        ]


def test_search_in_english_and_chinese_with_filters(api: Any) -> None:
    client, auth = api
    en = client.get(
        "/v1/datasets", params={"q": "electricity national", "geography": "CN"}, headers=auth
    )
    assert en.status_code == 200
    ids = {d["id"] for d in en.json()["items"]}
    assert "cn-elec:lca-national-2024" in ids
    zh = client.get("/v1/datasets", params={"q": "碳足迹因子"}, headers=auth).json()
    assert "cn-elec:lca-national-2024" in {d["id"] for d in zh["items"]}
    assert all(d["geography"] == "CN" for d in en.json()["items"])
    variant = client.get(
        "/v1/datasets", params={"variant": "cn-grid-national", "page_size": 5}, headers=auth
    ).json()
    assert variant["total"] > 0 and all(
        d["variant"] == "cn-grid-national" for d in variant["items"]
    )


def test_paging_is_consistent(api: Any) -> None:
    client, auth = api
    p1 = client.get("/v1/datasets", params={"page_size": 7, "page": 1}, headers=auth).json()
    p2 = client.get("/v1/datasets", params={"page_size": 7, "page": 2}, headers=auth).json()
    assert p1["total"] == p2["total"] > 14
    assert not {d["id"] for d in p1["items"]} & {d["id"] for d in p2["items"]}


def test_a_gap_material_is_reported_missing(api: Any) -> None:
    client, auth = api
    r = client.get("/v1/datasets", params={"q": "SBR"}, headers=auth).json()
    assert any(m["key"] == "sbr" and m["status"] == "missing" for m in r["missing"])


def test_unknown_dataset_is_404_with_closest_matches(api: Any) -> None:
    client, auth = api
    r = client.get("/v1/datasets/cn-elec:lca-national-2025", headers=auth)
    assert r.status_code == 404
    body = r.json()
    assert body["code"] == "unknown_dataset"
    assert "cn-elec:lca-national-2024" in body["closest"]


def test_releases_and_manifest(api: Any, data_dir: Path) -> None:
    client, auth = api
    ref = current_release(data_dir)
    assert ref is not None
    cur = client.get("/v1/releases/current", headers=auth).json()
    assert cur["id"] == ref.release_id and cur["current"] is True
    assert cur["content_hash"].startswith(ref.release_id.removeprefix("bg-")[:12])
    listed = client.get("/v1/releases", headers=auth).json()
    assert [r["id"] for r in listed if r["current"]] == [ref.release_id]
