"""USLCI importer on the small JSON-LD fixture: linking, cut-offs, units, allocation, variants."""

from __future__ import annotations

import pytest
from jsonld_fixture import BIO_RECORDS, CHARACTERIZED, write_fixture

from lca_data import rules
from lca_data.flowmap import BiosphereIndex, FlowMapper
from lca_data.uslci import UslciImport, make_variant


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> UslciImport:
    root = write_fixture(tmp_path_factory.mktemp("jsonld"))
    imp = UslciImport(
        root,
        FlowMapper(BiosphereIndex.from_records(BIO_RECORDS, CHARACTERIZED)),
        rules.load("uslci"),
    )
    imp.run()
    return imp


def _ds(imp: UslciImport, code: str) -> dict:
    return next(d for d in imp.datasets if d["code"] == code)


def _bio(ds: dict) -> dict[str, float]:
    out: dict[str, float] = {}
    for e in ds["exchanges"]:
        if e["type"] == "biosphere":
            out[e["input"][1]] = out.get(e["input"][1], 0.0) + e["amount"]
    return out


def _tech(ds: dict) -> dict[str, float]:
    return {e["input"][1]: e["amount"] for e in ds["exchanges"] if e["type"] == "technosphere"}


def test_cut_offs_are_counted_per_dataset(imported: UslciImport) -> None:
    a = _ds(imported, "p-a")
    c = a["completeness"]
    assert (c["technosphere_inputs"], c["cut_off_inputs"], c["waste_outputs_cut_off"]) == (3, 1, 1)
    assert c["cut_off_share"] == pytest.approx(1 / 3, abs=1e-4)
    assert "CUTOFF Thing" in c["cut_off_flows"]
    assert c["elementary_non_ghg_dropped"] == 1  # SO2
    # totals over the source processes
    assert imported.report["source_process_technosphere_inputs"] == 3
    assert imported.report["source_process_cut_off_inputs"] == 1


def test_units_converted_and_normalized_to_one_unit(imported: UslciImport) -> None:
    a = _ds(imported, "p-a")
    tech = _tech(a)
    # 3.6 MJ of electricity per 2 kg A = 1 kWh / 2 kg -> 0.5 kWh per kg (provider unit kWh)
    assert tech["p-grid"] == pytest.approx(0.5)
    # 500 g B per 2 kg A -> 0.25 kg per kg
    assert tech["p-b"] == pytest.approx(0.25)
    bio = _bio(a)
    assert bio["co2-fossil"] == pytest.approx(0.5)
    assert bio["ch4-fossil"] == pytest.approx(0.005)  # bare "Methane" -> fossil
    assert [e["amount"] for e in a["exchanges"] if e["type"] == "production"] == [1.0]
    assert a["unit"] == "kg" and _ds(imported, "p-grid")["unit"] == "kWh"


def test_allocation_by_mass_without_factors(imported: UslciImport) -> None:
    b, b2 = _ds(imported, "p-b"), _ds(imported, "p-b.f-b2")
    assert b["allocation"] == {"factor": pytest.approx(0.25), "method": "by_property"}
    assert _bio(b)["co2-fossil"] == pytest.approx(4 * 0.25 / 1)
    assert _bio(b2)["co2-fossil"] == pytest.approx(4 * 0.75 / 3)
    assert b2["pcf_id"] == "uslci:p-b.f-b2"


def test_allocation_with_physical_factors(imported: UslciImport) -> None:
    d, d2 = _ds(imported, "p-d"), _ds(imported, "p-d.f-d2")
    assert d["allocation"]["method"] == "physical_factors"
    assert _bio(d)["co2-fossil"] == pytest.approx(10 * 0.7)
    assert _bio(d2)["co2-fossil"] == pytest.approx(10 * 0.3)
    rep = imported.report["allocation"]["physical_factors"][0]
    assert rep["causal_factors_unused"] == 1


def test_mixed_properties_all_to_reference_product(imported: UslciImport) -> None:
    e = _ds(imported, "p-e")
    assert e["allocation"]["method"] == "reference_product_100pct"
    assert not any(d["code"].startswith("p-e.") for d in imported.datasets)
    rep = imported.report["allocation"]["reference_product_100pct"]
    assert rep[0]["co_products_no_dataset"] == ["Recovered energy"]
    bio = _bio(e)
    assert bio["co2-nonfossil"] == pytest.approx(2.0)  # root-folder flow read as emission to air
    assert bio["co2-in-air"] == pytest.approx(3.0)  # resource input: positive = removal


def test_unit_process_dq_follows_cut_off_rule(imported: UslciImport) -> None:
    # profile uslci_unit_process: TeR 2, P 2; US -> GeR 4; 2010 vs 2025 -> age 15 -> TiR 4;
    # cut-off share 1/3 in (0.30, 0.60] -> P + 2 = 4
    assert _ds(imported, "p-a")["dq"] | {"rules": None} == {
        "TeR": 2,
        "GeR": 4,
        "TiR": 4,
        "P": 4,
        "DQR": 3.5,
        "rules": None,
    }
    # no cut-offs: P stays 2
    assert _ds(imported, "p-b")["dq"]["P"] == 2


def test_variant_relinks_grid_electricity_only(imported: UslciImport) -> None:
    grid = {
        "pcf_id": "cn-elec:lca-national-2024",
        "database": "cn_electricity",
        "code": "lca-national-2024",
        "citation": "test",
    }
    v = {
        "variant": "cn-grid-national",
        "database": "uslci_cn_grid_national",
        "pcf_prefix": "uslci-cn",
    }
    out, rep = make_variant(
        imported.datasets,
        v,
        grid,
        rules.load("uslci")["grid_provider_regex"],
        {"ug-energy": 1 / 3.6},
    )
    a = next(d for d in out if d["code"] == "p-a")
    tech = {e["input"]: e["amount"] for e in a["exchanges"] if e["type"] == "technosphere"}
    assert tech == {
        ("cn_electricity", "lca-national-2024"): pytest.approx(0.5),
        ("uslci_cn_grid_national", "p-b"): pytest.approx(0.25),
    }
    assert (
        a["variant"] == "cn-grid-national"
        and a["pcf_id"] == "uslci-cn:p-a"
        and a["variant_of"] == "uslci:p-a"
    )
    assert a["relinked_electricity"]["kwh_per_unit"] == pytest.approx(0.5)
    assert a["dq"]["GeR"] == 3
    grid_copy = next(d for d in out if d["code"] == "p-grid")
    assert _bio(grid_copy) == _bio(_ds(imported, "p-grid"))  # grid mix itself untouched
    assert rep["electricity_inputs_relinked"] == 1
