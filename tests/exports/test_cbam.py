"""CBAM: relevance of CN codes (Annex I today, the dated downstream list), the data pack of a
product (mass of steel and aluminium by CN code, precursors with supplier values), its XLSX in the
communication-template layout, and the separation from the footprint."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from app.exports.cbam import relevance
from app.exports.cbam.xlsx import PURCH_PREC_HEADERS, SUMMARY_PRODUCT_HEADERS
from tests.exports.conftest import CAN, REFRIGERATOR, ExportApi
from tests.footprints.conftest import example


@pytest.mark.parametrize(
    ("code", "today", "sector"),
    [
        ("7318", True, "iron_steel"),
        ("73181500", True, "iron_steel"),
        ("7326", True, "iron_steel"),
        ("7308", True, "iron_steel"),
        ("7210", True, "iron_steel"),
        ("721070", True, "iron_steel"),
        ("7217", True, "iron_steel"),
        ("7204", False, None),  # ferrous scrap
        ("7312", False, None),  # steel cord
        ("7616", True, "aluminium"),
        ("761290", True, "aluminium"),
        ("7602", False, None),
        ("7615", False, None),
        ("4011", False, None),
        ("2203", False, None),
        ("841821", False, None),
    ],
)
def test_relevance_today(code: str, today: bool, sector: str | None) -> None:
    r = relevance.check(code)
    assert r.cbam_today is today and r.sector == sector
    assert r.proposed_downstream is False  # the list is empty until its content is sourced


def test_downstream_list_is_dated_empty_and_configurable(tmp_path: Path) -> None:
    lists = relevance.load_lists()
    assert lists.downstream.entries == ()
    assert lists.downstream.as_of and lists.downstream.meta["status"] == "proposal"
    custom = tmp_path / "lists.yaml"
    custom.write_text(
        "annex_i: {source: a, as_of: '2026-01-01', entries: [{cn: '7318', sector: iron_steel}]}\n"
        "proposed_downstream: {source: b, as_of: '2028-01-01', "
        "entries: [{cn: '8418', sector: iron_steel, label: refrigerators}]}\n"
    )
    own = relevance.load_lists(custom)
    fridge = relevance.check("841821", own)
    assert fridge.proposed_downstream and not fridge.cbam_today
    assert fridge.as_dict(own)["downstream_list"]["as_of"] == "2028-01-01"


def test_relevance_route(exp: ExportApi) -> None:
    r = exp.get("buyer", "/v1/cbam/relevance?cn_code=7318&cn_code=4011")
    assert r.status_code == 200
    body = r.json()
    assert [x["cbam_today"] for x in body] == [True, False]
    assert body[0]["downstream_list"]["entries"] == 0
    assert exp.get("buyer", "/v1/cbam/relevance?cn_code=73a").status_code == 422


SCREWS = f"/lines/{len(example(REFRIGERATOR)['lines'])}"


def _fridge_with_parts() -> dict[str, Any]:
    """The refrigerator example with CBAM-coded parts: fasteners (7318, pieces with a mass) and an
    aluminium evaporator (7616)."""
    body = example(REFRIGERATOR)
    body["lines"][1]["cn_code"] = "7616"
    body["lines"].append(
        {
            "ref": "screws",
            "name": "Steel screws",
            "stage": "raw_materials",
            "amount": 40,
            "unit": "item",
            "piece_mass": {"value": 5, "unit": "g"},
            "dataset": "factor:worldsteel_crude_steel_co2_intensity_2022",
            "material_group": "steel",
            "cn_code": "7318",
        }
    )
    return body


def test_data_pack_masses_relevance_and_missing_supplier_data(exp: ExportApi) -> None:
    fid = exp.footprint(REFRIGERATOR, body=_fridge_with_parts())
    r = exp.get("viewer", f"/v1/footprints/{fid}/cbam")
    assert r.status_code == 200, r.text
    pack = r.json()
    assert "not a product carbon footprint" in pack["notice"]
    steel = pack["mass_by_cn_code"]["iron_steel"]
    by_cn = {row["cn_code"]: row for row in steel["by_cn_code"]}
    assert by_cn["7210"]["mass_kg"] == pytest.approx(28) and by_cn["7210"]["cbam_today"]
    assert by_cn["7318"]["mass_kg"] == pytest.approx(0.2)  # 40 × 5 g
    assert steel["total_kg"] == pytest.approx(28.2)
    assert pack["mass_by_cn_code"]["aluminium"]["total_kg"] == pytest.approx(1.2)
    compressor = next(x for x in pack["lines_with_cn_code"] if x["cn_code"] == "841430")
    assert compressor["cbam_today"] is False
    missing = {p["pointer"] for p in pack["problems"] if p["code"] == "supplier_data_missing"}
    assert missing == {"/lines/0", "/lines/1", SCREWS}
    uncoded = {p["pointer"] for p in pack["problems"] if p["code"] == "cn_code_missing"}
    assert "/lines/8/lines/0" in uncoded  # compressor steel without a CN code
    assert all(p["values"] == "missing" for p in pack["precursors"])
    # never a footprint number in the CBAM pack
    fp = exp.get("viewer", f"/v1/footprints/{fid}").json()
    text = r.text
    assert "total_kgco2e" not in text and repr(fp["total_kgco2e"]) not in text
    assert exp.get("rival", f"/v1/footprints/{fid}/cbam").status_code == 404


def _supplier_data() -> dict[str, Any]:
    return {
        "product_cn_code": "841821",
        "installation": {"name": "Hefei plant", "city": "Hefei", "country": "CN"},
        "reporting_period": {"start": "2024-01-01", "end": "2024-12-31"},
        "precursors": [
            {
                "line": "/lines/0",
                "supplier": "Example Steel Co.",
                "installation": "Example mill No. 2",
                "country": "CN",
                "production_route": "BF-BOF",
                "see_direct": 2.1,
                "see_indirect": 0.35,
                "values": "actual",
                "verified": True,
                "electricity": {
                    "consumed_mwh_per_t": 0.6,
                    "ef_tco2_per_mwh": 0.58,
                    "ef_source": "public_grid_data",
                    "ef_source_reference": "MEE 2022 national grid factor",
                },
            },
            {
                "line": "screws",
                "supplier": "Fastener Works",
                "values": "default",
                "default_value_reference": "Commission default values, CN 7318",
                "see_direct": 2.5,
                "electricity": {"ef_tco2_per_mwh": 0.8, "ef_source": "default_commission"},
            },
        ],
        "goods": [
            {
                "name": "Steel screws M4",
                "cn_code": "7318",
                "production_process": "Cold forming",
                "aggregated_goods_category": "Iron or steel products",
                "see_direct": 2.7,
                "see_indirect": 0.4,
                "electricity": {"ef_tco2_per_mwh": 0.58, "ef_source": "ppa"},
                "qualifying_parameters": {"scrap share": 0.1},
                "monitoring": "calculation",
            }
        ],
        "carbon_price": {
            "instrument": "none",
            "amount_per_t": 0,
            "currency": "EUR",
            "share_covered": 0,
        },
    }


def test_supplier_data_round_trip_and_xlsx(exp: ExportApi) -> None:
    fid = exp.footprint(REFRIGERATOR, body=_fridge_with_parts())
    path = f"/v1/footprints/{fid}/cbam/supplier-data"
    assert exp.get("maker", path).status_code == 404
    r = exp.put("maker", path, json=_supplier_data())
    assert r.status_code == 200, r.text
    assert exp.get("viewer", path).json()["precursors"][0]["supplier"] == "Example Steel Co."
    assert exp.put("viewer", path, json=_supplier_data()).status_code == 403
    pack = exp.get("viewer", f"/v1/footprints/{fid}/cbam").json()
    by_line = {p["line"]: p for p in pack["precursors"]}
    sheet = by_line["/lines/0"]
    assert sheet["values"] == "actual" and sheet["production_route"] == "BF-BOF"
    assert sheet["embedded_direct_tco2e"] == pytest.approx(0.028 * 2.1)
    assert sheet["embedded_indirect_tco2e"] == pytest.approx(0.028 * 0.35)
    assert sheet["electricity"]["ef_source"] == "public_grid_data"
    screws = by_line[SCREWS]
    assert screws["values"] == "default" and screws["see_indirect_tco2e_per_t"] is None
    assert by_line["/lines/1"]["values"] == "missing"
    assert pack["product"]["relevance"]["cbam_today"] is False
    # the product's CN code becomes its PACT classification
    pf = exp.get("maker", f"/v1/footprints/{fid}/pact").json()
    assert "urn:pact:pcf-service.example:hs-code:841821" in pf["productClassifications"]

    x = exp.get("viewer", f"/v1/footprints/{fid}/cbam.xlsx")
    assert x.status_code == 200
    wb = load_workbook(io.BytesIO(x.content))
    assert wb.sheetnames[:2] == ["Summary_Communication", "E_PurchPrec"]
    summary = wb["Summary_Communication"]
    cells = {c.value for row in summary.iter_rows() for c in row if c.value is not None}
    assert {"Hefei plant", "Hefei", "CN", "Steel screws M4", "7318", 2.7, 0.4} <= cells
    assert set(SUMMARY_PRODUCT_HEADERS) <= cells
    assert "Power purchase agreement" in cells
    prec = wb["E_PurchPrec"]
    headers = [c.value for c in prec[3]]
    assert headers == list(PURCH_PREC_HEADERS)
    rows = [[c.value for c in row] for row in prec.iter_rows(min_row=4)]
    steel = next(r for r in rows if r[1] == "7210")
    assert steel[3] == pytest.approx(28) and steel[4] == "Example Steel Co."
    assert steel[8] == 2.1 and steel[9] == 0.35 and steel[14] == "actual"
    assert steel[12] == "Public grid data of the country of origin"


def test_supplier_data_errors(exp: ExportApi) -> None:
    fid = exp.footprint(CAN)
    path = f"/v1/footprints/{fid}/cbam/supplier-data"
    bad = _supplier_data()
    bad["precursors"][0]["line"] = "/lines/42"
    bad["precursors"][1]["line"] = "nope"
    r = exp.put("maker", path, json=bad)
    assert r.status_code == 422
    assert {e["pointer"] for e in r.json()["errors"]} == {
        "/precursors/0/line",
        "/precursors/1/line",
    }
    no_ref = _supplier_data()
    no_ref["precursors"] = [{**no_ref["precursors"][1], "line": "/lines/3"}]
    del no_ref["precursors"][0]["default_value_reference"]
    r = exp.put("maker", path, json=no_ref)
    assert r.status_code == 422
    wrong_source = _supplier_data()
    wrong_source["precursors"] = [{**wrong_source["precursors"][0], "line": "/lines/3"}]
    wrong_source["precursors"][0]["electricity"]["ef_source"] = "green_certificate"
    assert exp.put("maker", path, json=wrong_source).status_code == 422
    assert exp.put("rival", path, json=_supplier_data()).status_code == 404
