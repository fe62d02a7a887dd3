"""A stored footprint as flat tables (CSV per table, one XLSX workbook): the same numbers as its
JSON, every table, Chinese names readable, only the caller's organisation."""

from __future__ import annotations

import csv
import io
from typing import Any, get_args

import pytest
from openpyxl import load_workbook

from app.footprints import resulttables
from app.footprints.routes import TableName
from tests.footprints.conftest import FootprintApi, example

FRIDGE = "refrigerator-300l-two-door.json"


def _csv(api: FootprintApi, fp_id: str, table: str, who: str = "viewer") -> list[dict[str, str]]:
    r = api.get(who, f"/v1/footprints/{fp_id}/tables/{table}.csv")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")  # BOM: spreadsheet programs read UTF-8
    return list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))


@pytest.fixture
def fridge(fp_api: FootprintApi) -> dict[str, Any]:
    r = fp_api.post("maker", "/v1/footprints", json=example(FRIDGE))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def test_every_table_has_the_numbers_of_the_json(
    fp_api: FootprintApi, fridge: dict[str, Any]
) -> None:
    fp_id = fridge["id"]
    stages = _csv(fp_api, fp_id, "stages")
    assert [r["stage"] for r in stages] == [s["stage"] for s in fridge["stages"]]
    for row, s in zip(stages, fridge["stages"], strict=True):
        assert float(row["kgco2e"]) == s["kgco2e"]  # full precision, no rounding
        assert float(row["gwp100_fossil"]) == s["indicators"]["gwp100_fossil"]
    gases = _csv(fp_api, fp_id, "gases")
    assert {r["gas"]: float(r["kgco2e"]) for r in gases} == fridge["gases"]
    lines = _csv(fp_api, fp_id, "lines")
    assert len(lines) == len(fridge["contributors"]["lines"])
    assert [float(r["kgco2e"]) for r in lines] == [
        c["kgco2e"] for c in fridge["contributors"]["lines"]
    ]
    processes = _csv(fp_api, fp_id, "processes")
    assert [r["dataset"] for r in processes] == [
        p["dataset"] for p in fridge["contributors"]["processes"]
    ]
    assert any("全国" in r["name"] for r in processes)  # the China grid factor's Chinese name
    summary = {r["field"]: r["value"] for r in _csv(fp_api, fp_id, "summary")}
    assert float(summary["total_kgco2e"]) == fridge["total_kgco2e"]
    assert summary["id"] == fp_id
    assert summary["provenance.release_id"] == fridge["provenance"]["release_id"]
    assert float(summary["data_quality.dqr"]) == fridge["data_quality"]["dqr"]
    assert float(summary["uncertainty.p97_5"]) == fridge["uncertainty"]["p97_5"]
    inputs = {r["input"]: r for r in _csv(fp_api, fp_id, "inputs")}
    assert inputs.keys() == fridge["inputs"].keys()
    grid = inputs["grid_electricity"]
    assert (grid["dataset"], float(grid["value"])) == ("cn-elec:lca-national-2024", 0.5777)
    warnings = _csv(fp_api, fp_id, "warnings")
    assert [(w["pointer"], w["code"]) for w in warnings] == [
        (w["pointer"], w["code"]) for w in fridge["warnings"]
    ]
    per_unit = _csv(fp_api, fp_id, "per_unit")
    assert [float(u["kgco2e"]) for u in per_unit] == [u["kgco2e"] for u in fridge["per_unit"]]


def test_the_workbook_has_a_sheet_per_table(fp_api: FootprintApi, fridge: dict[str, Any]) -> None:
    r = fp_api.get("viewer", f"/v1/footprints/{fridge['id']}/tables.xlsx")
    assert r.status_code == 200
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == list(resulttables.TABLES)
    rows = list(wb["stages"].iter_rows(values_only=True))
    assert rows[0][:2] == ("stage", "kgco2e")
    assert [x[0] for x in rows[1:]] == [s["stage"] for s in fridge["stages"]]
    # a spreadsheet number holds 15 significant digits (the XLSX format's precision)
    for x, s in zip(rows[1:], fridge["stages"], strict=True):
        assert x[1] == pytest.approx(s["kgco2e"], rel=1e-14)
    for name in resulttables.TABLES:  # the same cells as the CSV of that table
        csv_rows = _csv(fp_api, fridge["id"], name)
        sheet = list(wb[name].iter_rows(values_only=True))
        assert len(sheet) == len(csv_rows) + 1, name


def test_unknown_table_and_other_organisations(
    fp_api: FootprintApi, fridge: dict[str, Any]
) -> None:
    assert (
        fp_api.get("viewer", f"/v1/footprints/{fridge['id']}/tables/bogus.csv").status_code == 422
    )
    for path in ("tables/stages.csv", "tables.xlsx"):
        r = fp_api.get("rival", f"/v1/footprints/{fridge['id']}/{path}")
        assert r.status_code == 404
    assert fp_api.get("anonymous", f"/v1/footprints/{fridge['id']}/tables.xlsx").status_code == 401


def test_the_route_names_every_table() -> None:
    assert set(get_args(TableName)) == set(resulttables.TABLES)
