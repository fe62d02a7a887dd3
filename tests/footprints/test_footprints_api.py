"""POST / GET / list footprints, errors (every problem at once, nothing stored), immutability,
recalculation, comparison, upload and templates — on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import io
import math
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from app.core.database import Database
from app.footprints import upload
from tests.footprints.conftest import FootprintApi, count_footprints, example

GLASS = "beer-lager-640ml-returnable-glass.json"
CAN = "beer-lager-500ml-aluminium-can.json"


def _post(api: FootprintApi, body: Any, who: str = "maker") -> Any:
    return api.post(who, "/v1/footprints", json=body)


def test_create_get_list(fp_api: FootprintApi) -> None:
    r = _post(fp_api, example(GLASS))
    assert r.status_code == 201, r.text
    fp = r.json()
    for name in (
        "total_kgco2e",
        "per_unit",
        "stages",
        "gases",
        "indicators",
        "contributors",
        "data_quality",
        "uncertainty",
        "warnings",
        "provenance",
    ):
        assert name in fp
    assert [s["stage"] for s in fp["stages"]] == [
        "raw_materials",
        "manufacturing",
        "distribution",
        "use",
        "end_of_life",
    ]
    assert math.isclose(sum(s["kgco2e"] for s in fp["stages"]), fp["total_kgco2e"], rel_tol=1e-9)
    assert fp["indicators"]["gwp100_total"] == pytest.approx(fp["total_kgco2e"])
    assert fp["indicators"]["biogenic_co2_removal"] >= 0  # never netted into the total
    prov = fp["provenance"]
    assert prov["pcr_code"] == "beer" and prov["pcr_version"] == "1.0.0"
    assert prov["release_id"] and len(prov["input_hash"]) == 64
    assert prov["impact_method"][0] == "IPCC 2021"
    assert "bw2calc" in prov["libraries"]
    lo, hi = fp["uncertainty"]["interval_95"]
    assert lo <= fp["total_kgco2e"] <= hi
    assert fp["contributors"]["lines"] and fp["contributors"]["processes"]
    assert 1 <= fp["data_quality"]["dqr"] <= 5
    codes = {w["code"] for w in fp["warnings"]}
    assert {"proxy_dataset", "default_applied", "grid_region_not_used"} <= codes

    got = fp_api.get("viewer", f"/v1/footprints/{fp['id']}")
    assert got.status_code == 200
    assert got.json()["total_kgco2e"] == fp["total_kgco2e"]
    assert fp_api.get("rival", f"/v1/footprints/{fp['id']}").status_code == 404

    assert _post(fp_api, example(CAN)).status_code == 201
    page = fp_api.get("viewer", "/v1/footprints", params={"pcr_code": "beer"}).json()
    assert page["total"] == 2
    page = fp_api.get("viewer", "/v1/footprints", params={"product": "aluminium"}).json()
    assert page["total"] == 1 and page["items"][0]["product_model"].startswith("500 mL")
    page = fp_api.get("viewer", "/v1/footprints", params={"page_size": 1, "page": 2}).json()
    assert page["total"] == 2 and len(page["items"]) == 1
    assert fp_api.get("rival", "/v1/footprints").json()["total"] == 0
    assert (
        fp_api.get("viewer", "/v1/footprints", params={"created_to": "2000-01-01"}).json()["total"]
        == 0
    )


def test_roles(fp_api: FootprintApi) -> None:
    assert _post(fp_api, example(GLASS), "viewer").status_code == 403
    assert _post(fp_api, example(GLASS), "assoc").status_code == 403
    assert _post(fp_api, example(GLASS), "anonymous").status_code == 401


def test_every_problem_at_once_and_nothing_stored(fp_api: FootprintApi) -> None:
    body = example(GLASS)
    body["lines"][0]["dataset"] = "factor:malt_barley_zevero"  # unknown
    body["lines"][1]["amount"] = -1  # negative
    body["lines"][3]["unit"] = "kWh"  # bottle in kWh: not a mass nor a piece
    body["manufacturing"]["fuels"][0]["dataset"] = "desnz24:no_such_fuel"
    body["transport"][0]["distance"]["value"] = 1e12  # beyond the bounds
    r = _post(fp_api, body)
    assert r.status_code == 422, r.text
    p = r.json()
    assert p["code"] == "validation_failed"
    by_pointer = {e["pointer"]: e for e in p["errors"]}
    assert by_pointer["/lines/0/dataset"]["code"] == "dataset_unknown"
    assert "factor:malt_barley_zevero_secondhand" in by_pointer["/lines/0/dataset"]["closest"]
    assert "/lines/1/amount" in by_pointer
    assert "/manufacturing/fuels/0/dataset" in by_pointer
    assert by_pointer["/transport/0/distance/value"]["code"] == "out_of_bounds"
    assert count_footprints(fp_api) == 0


def test_incompatible_units_name_both(fp_api: FootprintApi) -> None:
    body = example(GLASS)
    body["lines"][0]["unit"] = "item"  # malt in pieces, on a dataset in kg, no piece mass
    body["manufacturing"]["electricity"][0]["unit"] = "kg"
    r = _post(fp_api, body)
    assert r.status_code == 422
    errs = {e["pointer"]: e for e in r.json()["errors"]}
    e = errs["/lines/0/unit"]
    assert e["code"] == "unit_incompatible"
    assert e["line_unit"] == "item" and e["dataset_unit"] == "kg"
    assert "item" in e["message"] and "kg" in e["message"]
    assert "/manufacturing/electricity/0/unit" in errs
    assert count_footprints(fp_api) == 0


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nan_and_infinite(fp_api: FootprintApi, bad: float) -> None:
    body = example(GLASS)
    body["lines"][0]["amount"] = bad
    body["inputs"]["retail_storage_days"]["value"] = bad
    import json as _json

    raw = _json.dumps(body)  # Python writes NaN / Infinity, as a careless client would
    r = fp_api.post(
        "maker", "/v1/footprints", content=raw, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422
    pointers = {e["pointer"] for e in r.json()["errors"]}
    assert "/lines/0/amount" in pointers
    assert "/inputs/retail_storage_days/value" in pointers
    assert count_footprints(fp_api) == 0


def test_limits_named(fp_api: FootprintApi) -> None:
    body = example(GLASS)
    line = body["lines"][0]
    body["lines"] = [copy.deepcopy(line) for _ in range(2001)]
    r = _post(fp_api, body)
    assert r.status_code == 422
    assert r.json()["code"] == "limit_bom_lines" and r.json()["limit"] == "PCF_MAX_BOM_LINES"

    deep: dict[str, Any] = copy.deepcopy(line)
    node = deep
    for _ in range(10):
        child = copy.deepcopy(line)
        node.pop("dataset", None)
        node["lines"] = [child]
        node = child
    body = example(GLASS)
    body["lines"].append(deep)
    r = _post(fp_api, body)
    assert r.status_code == 422
    assert r.json()["code"] == "limit_bom_depth" and r.json()["limit"] == "PCF_MAX_BOM_DEPTH"
    assert count_footprints(fp_api) == 0


def test_rule_problems_and_unknown_rule(fp_api: FootprintApi) -> None:
    body = example(GLASS)
    del body["inputs"]["home_storage_days"]
    body["manufacturing"]["electricity"][0]["supplier_value"] = {
        "value": 0.03,
        "unit": "kgCO2e/kWh",
        "source": "green tariff",
    }
    r = _post(fp_api, body)
    assert r.status_code == 422
    errs = {e["pointer"]: e["code"] for e in r.json()["errors"]}
    assert errs["/inputs/home_storage_days"] == "missing_input"
    assert (
        errs["/manufacturing/electricity/0/supplier_value/contractual_instrument"]
        == "contractual_instrument_required"
    )
    body = example(GLASS)
    body["product"]["pcr_code"] = "wine"
    r = _post(fp_api, body)
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"] == "/product/pcr_code"


def test_stored_footprint_never_changes(fp_api: FootprintApi) -> None:
    fp = _post(fp_api, example(GLASS)).json()
    db = Database(fp_api.db_url)
    try:
        for stmt in (
            "UPDATE footprint SET total_kgco2e = 0",
            "DELETE FROM footprint",
        ):
            with pytest.raises(Exception), db.engine.begin() as c:  # noqa: B017
                c.execute(text(stmt))
    finally:
        db.dispose()
    again = fp_api.get("maker", f"/v1/footprints/{fp['id']}").json()
    assert again["total_kgco2e"] == fp["total_kgco2e"]


def test_recalculate_links_and_reproduces(fp_api: FootprintApi) -> None:
    fp = _post(fp_api, example(GLASS)).json()
    r = fp_api.post("maker", f"/v1/footprints/{fp['id']}/recalculate", json={})
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["id"] != fp["id"] and new["recalculated_from"] == fp["id"]
    assert new["total_kgco2e"] == fp["total_kgco2e"]  # same rule, same release: same numbers
    assert new["stages"] == fp["stages"]
    assert new["uncertainty"] == fp["uncertainty"]
    assert new["provenance"]["input_hash"] == fp["provenance"]["input_hash"]
    r = fp_api.post(
        "maker", f"/v1/footprints/{fp['id']}/recalculate", json={"release_id": "bg-nope"}
    )
    assert r.status_code == 422 and r.json()["code"] == "release_unavailable"
    r = fp_api.post("rival", f"/v1/footprints/{fp['id']}/recalculate", json={})
    assert r.status_code == 404


def test_same_input_same_hash(fp_api: FootprintApi) -> None:
    a = _post(fp_api, example(GLASS)).json()
    b = _post(fp_api, example(GLASS)).json()
    assert a["provenance"]["input_hash"] == b["provenance"]["input_hash"]
    assert a["total_kgco2e"] == b["total_kgco2e"]
    changed = example(GLASS)
    changed["lines"][0]["amount"] = 15
    c = _post(fp_api, changed).json()
    assert c["provenance"]["input_hash"] != a["provenance"]["input_hash"]


def test_compare_two_and_scenarios(fp_api: FootprintApi) -> None:
    glass = _post(fp_api, example(GLASS)).json()
    can = _post(fp_api, example(CAN)).json()
    r = fp_api.post("viewer", "/v1/footprints/compare", json={"a": glass["id"], "b": can["id"]})
    assert r.status_code == 200, r.text
    cmp = r.json()
    assert cmp["comparable"] is True
    assert next(s["stage"] for s in cmp["stages"]) == "raw_materials"
    assert cmp["total"]["delta_kgco2e"] == pytest.approx(
        can["total_kgco2e"] - glass["total_kgco2e"]
    )
    # green electricity: manufacturing goes down, nothing else changes
    green = {
        "value": 0.0336,
        "unit": "kgCO2e/kWh",
        "source": "Wind PPA 2024",
        "contractual_instrument": {"type": "ppa", "reference": "PPA-QD-2024-01"},
    }
    r = fp_api.post(
        "viewer",
        "/v1/footprints/compare",
        json={"a": glass["id"], "scenario": {"green_electricity": green}},
    )
    assert r.status_code == 200, r.text
    stages = {s["stage"]: s for s in r.json()["stages"]}
    assert stages["manufacturing"]["delta_kgco2e"] == pytest.approx((0.0336 - 0.5777) * 9, rel=1e-3)
    assert stages["raw_materials"]["delta_kgco2e"] == pytest.approx(0, abs=1e-9)
    # a lighter bottle (450 g → 380 g)
    r = fp_api.post(
        "viewer",
        "/v1/footprints/compare",
        json={
            "a": glass["id"],
            "scenario": {"set": {"/lines/3/piece_mass/value": 380}},
        },
    )
    assert r.status_code == 200
    assert r.json()["stages"][0]["delta_kgco2e"] < 0
    # a bad pointer
    r = fp_api.post(
        "viewer",
        "/v1/footprints/compare",
        json={"a": glass["id"], "scenario": {"set": {"/x/y": 1}}},
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"] == "/scenario/set/~1x~1y"
    assert count_footprints(fp_api) == 2  # scenarios are never stored
    r = fp_api.post("rival", "/v1/footprints/compare", json={"a": glass["id"], "b": can["id"]})
    assert r.status_code == 404


def test_better_label_class_scenario(fp_api: FootprintApi) -> None:
    tyre = _post(fp_api, example("passenger-car-tyre-205-55r16.json")).json()
    r = fp_api.post(
        "maker",
        "/v1/footprints/compare",
        json={"a": tyre["id"], "scenario": {"set": {"/inputs/label_class": "A"}}},
    )
    assert r.status_code == 200, r.text
    use = next(s for s in r.json()["stages"] if s["stage"] == "use")
    # class C stands for RRC 9.0 kg/t, class A for 6.5: use phase × 6.5/9.0
    assert use["b_kgco2e"] == pytest.approx(use["a_kgco2e"] * 6.5 / 9.0, rel=1e-9)


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_upload_matches_json(fp_api: FootprintApi, fmt: str) -> None:
    direct = _post(fp_api, example(GLASS)).json()
    if fmt == "xlsx":
        t = fp_api.get("viewer", "/v1/templates/beer.xlsx")
        assert t.status_code == 200
        assert t.headers["content-type"].startswith(upload.XLSX)
        files = {"file": ("lager.xlsx", t.content, upload.XLSX)}
    else:
        files = {"file": ("lager.csv", upload.template_csv("beer").encode(), "text/csv")}
    r = fp_api.post("maker", "/v1/footprints/upload", files=files)
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["provenance"]["input_hash"] == direct["provenance"]["input_hash"]
    assert got["total_kgco2e"] == direct["total_kgco2e"]


def test_upload_errors_name_rows(fp_api: FootprintApi) -> None:
    text_csv = upload.template_csv("beer")
    lines = text_csv.splitlines()
    # row 2 is the first data row; break a line's dataset
    idx = next(i for i, ln in enumerate(lines) if ln.startswith("line,malt"))
    lines[idx] = lines[idx].replace("factor:malt_barley_zevero_secondhand", "factor:malt")
    r = fp_api.post(
        "maker",
        "/v1/footprints/upload",
        files={"file": ("x.csv", "\n".join(lines).encode(), "text/csv")},
    )
    assert r.status_code == 422
    err = next(e for e in r.json()["errors"] if e["pointer"] == "/lines/0/dataset")
    assert err["row"] == idx + 1
    r = fp_api.post(
        "maker", "/v1/footprints/upload", files={"file": ("x.txt", io.BytesIO(b"hi"), "text/plain")}
    )
    assert r.status_code == 422 and r.json()["code"] == "unsupported_file"
    assert count_footprints(fp_api) == 0


def test_examples_and_templates(fp_api: FootprintApi) -> None:
    r = fp_api.get("viewer", "/v1/examples/refrigerator")
    assert r.status_code == 200 and r.json()["product"]["pcr_code"] == "refrigerator"
    assert fp_api.get("viewer", "/v1/examples/wine").status_code == 404
    assert fp_api.get("viewer", "/v1/templates/wine.xlsx").status_code == 404
    assert fp_api.get("viewer", f"/v1/footprints/{uuid.uuid4()}").status_code == 404
