"""Data-quality rules and the sourced-factor conversions, on real source rows."""

from __future__ import annotations

import pytest
from jsonld_fixture import BIO_RECORDS, CHARACTERIZED

from lca_data import SOURCES_DIR, rules
from lca_data.dq import score
from lca_data.factors import gas_exchanges, read_csv, refrigerant_exchanges, row_flags, row_profile
from lca_data.flowmap import BiosphereIndex

INDEX = BiosphereIndex.from_records(BIO_RECORDS, CHARACTERIZED)


def _row(row_id: str) -> dict[str, str]:
    rows = read_csv(SOURCES_DIR / "factors" / "sourced_factors.csv")
    return next(r for r in rows if r["id"] == row_id)


def test_uk_proxy_for_chinese_product() -> None:
    r = score("desnz_material", location="GB", reference_year=2024, flags=["second_hand"])
    assert {k: r["dq"][k] for k in ("TeR", "GeR", "TiR", "P")} == {
        "TeR": 3,
        "GeR": 4,
        "TiR": 1,
        "P": 3,
    }
    assert r["dq"]["DQR"] == pytest.approx((3 + 4 + 1 + 3) / 4)
    assert r["proxy"] is True
    assert "flag:second_hand" in r["dq"]["rules"]


def test_chinese_official_factor_and_time_bands() -> None:
    r = score("official_grid_lca", location="CN", reference_year=2024)
    assert (r["dq"]["GeR"], r["dq"]["TiR"], r["proxy"]) == (1, 1, False)
    assert score("official_grid_lca", location="CN-North", reference_year=2024)["dq"]["GeR"] == 1
    assert score("official_grid_lca", location="GLO", reference_year=2024)["dq"]["GeR"] == 3
    assert (
        score("official_grid_lca", location="CN", reference_year=2012)["dq"]["TiR"] == 4
    )  # age 13
    assert score("official_grid_lca", location="CN", reference_year=None)["dq"]["TiR"] == 5


def test_second_hand_and_low_confidence_worsen_precision() -> None:
    base = score("peer_reviewed", location="CN", reference_year=2021)["dq"]["P"]
    assert (
        score("peer_reviewed", location="CN", reference_year=2021, flags=["second_hand"])["dq"]["P"]
        == base + 1
    )
    assert (
        score("peer_reviewed", location="CN", reference_year=2021, flags=["low_confidence"])["dq"][
            "P"
        ]
        == 5
    )


def test_cut_off_share_bands() -> None:
    p = [
        score("uslci_unit_process", location="US", reference_year=2020, cut_off_share=s)["dq"]["P"]
        for s in (0.0, 0.1, 0.2, 0.5, 0.9)
    ]
    assert p == [2, 2, 3, 4, 5]


def test_row_flags_and_profiles_from_real_rows() -> None:
    cfg = rules.load("factor_rules")
    ipcc = _row("ipcc2006_carbon_black_furnace_process_scope1")
    assert {"second_hand", "partial_boundary"} <= set(row_flags(ipcc, cfg))
    assert row_profile(ipcc, cfg) == "ipcc_default"
    steel = _row("worldsteel_crude_steel_co2_intensity_2022")
    assert "co2_only" in row_flags(steel, cfg)
    glass = _row("desnz24_other_glass_primary_material_production_t")
    assert row_profile(glass, cfg) == "desnz_material"


def test_desnz_ar5_gas_columns_become_kg_of_gas_exactly() -> None:
    """Diesel (100% mineral), per litre, DESNZ 2024: CO2 2.62818, CH4 0.00029, N2O 0.03308 kg CO2e."""
    row = _row("desnz24_liquid_fuels_diesel_100_mineral_diesel_l")
    assert (row["co2_fossil"], row["ch4"], row["n2o"]) == ("2.62818", "0.00029", "0.03308")
    exs, info = gas_exchanges(row, "desnz24", rules.load("factor_rules"), INDEX)
    amounts = {e["input"][1]: e["amount"] for e in exs}
    assert amounts == {"co2-fossil": 2.62818, "ch4-fossil": 0.00029 / 28, "n2o": 0.03308 / 265}
    assert info["co2e_total_only"] is False


def test_total_only_row_is_one_flagged_fossil_co2_equivalent() -> None:
    row = _row("desnz24_other_glass_primary_material_production_t")
    exs, info = gas_exchanges(row, "desnz24", rules.load("factor_rules"), INDEX)
    assert [(e["input"][1], e["amount"]) for e in exs] == [
        ("co2-fossil", float(row["value_kgco2e_per_unit"]))
    ]
    assert info["co2e_total_only"] is True


def test_refrigerant_blend_written_as_component_gases() -> None:
    fm = rules.load("flow_mapping")
    rows = {r["id"]: r for r in read_csv(SOURCES_DIR / "factors" / "sourced_factors.csv")}
    values = {k: float(r["value_kgco2e_per_unit"]) for k, r in rows.items()}
    exs, info = refrigerant_exchanges(rows["desnz24_r410a_kg"], fm, INDEX, values)
    assert sorted((e["input"][1], e["amount"]) for e in exs) == [("hfc125", 0.5), ("hfc32", 0.5)]
    # the ASHRAE composition reproduces DESNZ's published AR5 blend GWP (0.5*677 + 0.5*3170 = 1923.5)
    assert info["ar5_check"]["composition_x_component_gwp"] == pytest.approx(1923.5)
    assert info["ar5_check"]["published_blend_gwp"] == pytest.approx(1924.0)
    for blend in fm["refrigerant_blends"]:
        comp = fm["refrigerant_blends"][blend]
        assert sum(comp.values()) == pytest.approx(1.0)
        recon = sum(f * values[c] for c, f in comp.items())
        assert recon == pytest.approx(values[blend], rel=0.005), blend


def test_a_placeholder_row_is_a_poor_proxy() -> None:
    """A source row that says it only stands in for a specific material (the generic synthetic
    rubber comparator used for SBR/BR) gets the `placeholder` flag, TeR +2, P 5 and proxy."""
    from lca_data import dq as _dq
    from lca_data import rules as _rules
    from lca_data.factors import row_flags

    row = {
        "id": "synthetic_rubber_generic_fermentation2021",
        "note": "Not SBR/BR-specific; generic comparator. Use only as placeholder until ...",
        "citation": "Fermentation 7(4):204",
        "source": "Ben-Iwo et al. (2021)",
        "scope": "cradle-to-gate",
        "name": "Synthetic rubber",
    }
    flags = row_flags(row, _rules.load("factor_rules"))
    assert "placeholder" in flags
    plain = _dq.score("peer_reviewed", location="GLO", reference_year=2021, flags=())
    marked = _dq.score("peer_reviewed", location="GLO", reference_year=2021, flags=iter(flags))
    assert marked["dq"]["TeR"] == min(5, plain["dq"]["TeR"] + 2)
    assert marked["dq"]["P"] == 5
    assert marked["proxy"] is True and plain["proxy"] is False
    assert marked["dq"]["DQR"] > plain["dq"]["DQR"]
