"""Every example in ``examples/`` against a hand calculation written out from the factor values,
and against the published ranges of docs/domain.md §3; one independent bw2calc LCA.

Factor values (kg CO2e per unit) are the catalogue's published values. Where a DESNZ factor is
stored as its per-gas split, the release characterises the split with AR6 GWPs (CH4 29.8,
N2O 273) instead of DESNZ's AR5: e.g. road freight 0.09752 → 0.0975663, natural gas per m3
2.04542 → 2.04565, steam 0.17965 → 0.17974 (≤ 0.05 %); HFC-32 is 771 (AR6, domain.md §2), not
DESNZ's 677. The tolerances below cover those differences and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from app.background.loader import BackgroundData
from app.footprints.calculator import CalcConfig, Calculation, RuleRef, calculate
from app.footprints.engine_port import engine_view
from app.footprints.services import parse_input
from app.rules.interpreter import Rule, load_reference_rules
from app.rules.schema import Stage
from tests.footprints.conftest import all_examples, example

REL = 2e-3
GRID = 0.5777  # cn-elec:lca-national-2024, kg CO2e/kWh (domain.md §4.2)
HGV = 0.09601 + 7.142857e-7 * 29.8 + 5.622642e-6 * 273  # DESNZ HGV average laden, AR6 split
RECYCLE = 6.41061e-3  # DESNZ cut-off recycling / combustion: transport to the facility, per kg
LANDFILL = 8.88386e-3  # DESNZ landfill of inert material, per kg
PAPER_LANDFILL = 1.16439015  # per kg
STEEL = 1.910  # worldsteel crude steel, per kg
AL = 15.947  # China primary aluminium ingot, per kg
CU = 3.090  # China refined copper 2017, per kg
PS, PP, ABS, LDPE = 4.36744048, 2.56858892, 3.46, 2.95931834
BOARD, GLASS = 1.19396586, 1.40276667
ELEC_SMALL = 5.64794563
NG_M3 = 2.04542

CFG = CalcConfig(max_lines=2000, max_depth=8, max_amount=1e9, mc_iterations=200, mc_seed=7)


@pytest.fixture(scope="module")
def rules() -> dict[str, Rule]:
    return {code: Rule(doc) for code, doc in load_reference_rules().items()}


@pytest.fixture(scope="module")
def run(background: BackgroundData, rules: dict[str, Rule]) -> Callable[[str], Calculation]:
    def go(name: str) -> Calculation:
        inp = parse_input(example(name), background, CFG)
        code = inp.product.pcr_code
        ref = RuleRef(code, "1.0.0", "test")
        return calculate(inp, rules[code], ref, background, engine_view(background), CFG)

    return go


def stages(calc: Calculation) -> dict[str, float]:
    return {s["stage"]: s["kgco2e"] for s in calc.result["stages"]}


def use_share(calc: Calculation) -> float:
    return stages(calc)["use"] / calc.result["total_kgco2e"]


def check(calc: Calculation, expected: dict[str, float], rel: float = REL) -> None:
    got = stages(calc)
    for stage, value in expected.items():
        assert got[stage] == pytest.approx(value, rel=rel, abs=1e-6), stage
    assert calc.result["total_kgco2e"] == pytest.approx(sum(expected.values()), rel=rel)


# ============================================================================ beer
def beer_common(elec_kwh: float) -> dict[str, float]:
    raw = 16 * 0.77 + 0.150 * 4.2 + 0.5 * 0.15311  # malt, hops, water (m3)
    manufacturing = elec_kwh * GRID + 30 * 0.20264 + 30 * 0.03347 + 0.35 * 0.18574
    cooling = 100 * 0.002 * 7 * GRID  # retail: 100 L × kWh/(L·day) × days (distribution)
    use = 100 * 0.0015 * 3 * GRID  # home cooling
    # end of life: the packaging only (the rule's eol model, materials: packaging); the malt and
    # hops are drunk as beer and never reach an end-of-life route
    return {
        "raw": raw,
        "manufacturing": manufacturing,
        "cooling": cooling,
        "use": use,
        "eol": 0.0,
    }


def test_beer_glass_returnable(run: Callable[[str], Calculation]) -> None:
    calc = run("beer-lager-640ml-returnable-glass.json")
    c = beer_common(9)
    bottles = 100 / 0.64  # 156.25 per hL
    glass_kg = bottles * 0.450 / 20  # 20 trips
    crate_kg = 20.833 / 30  # 30 trips
    raw = (
        c["raw"]
        + glass_kg * GLASS
        + bottles * 0.0022 * 2.85491851  # crown corks, steel cans primary
        + bottles * 0.001 * 1.33931834  # labels, paper primary
        + crate_kg * 3.08639038  # HDPE crate
    )
    tkm = 0.192 * 300 + 0.091 * 300  # full (product mass) and empty return leg
    eol = (
        c["eol"]
        + glass_kg * (0.7 * RECYCLE + 0.3 * LANDFILL)
        + bottles * 0.0022 * (0.5 * RECYCLE + 0.5 * LANDFILL)
        + bottles * 0.001 * (0.3 * RECYCLE + 0.5 * PAPER_LANDFILL + 0.2 * RECYCLE)
        + crate_kg * (0.9 * RECYCLE + 0.1 * LANDFILL)
    )
    expected = {
        "raw_materials": raw,
        "manufacturing": c["manufacturing"],
        "distribution": tkm * HGV + c["cooling"],
        "use": c["use"],
        "end_of_life": eol,
    }
    check(calc, expected)
    per_litre = next(u for u in calc.result["per_unit"] if u["key"] == "per_litre")["kgco2e"]
    assert per_litre == pytest.approx(sum(expected.values()) / 100, rel=REL)
    assert 0.3 <= per_litre <= 1.0  # domain.md §3.2.4 plausible range


def test_beer_aluminium_can(run: Callable[[str], Calculation]) -> None:
    calc = run("beer-lager-500ml-aluminium-can.json")
    c = beer_common(8)
    al_kg = 200 * 0.0135
    raw = c["raw"] + al_kg * 9.10691851 + 1.0 * BOARD + 0.25 * LDPE
    eol = (
        c["eol"]
        + al_kg * (0.6 * RECYCLE + 0.4 * LANDFILL)
        + 1.0 * (0.5 * RECYCLE + 0.3 * PAPER_LANDFILL + 0.2 * RECYCLE)
        + 0.25 * (0.2 * RECYCLE + 0.5 * LANDFILL + 0.3 * RECYCLE)
    )
    expected = {
        "raw_materials": raw,
        "manufacturing": c["manufacturing"],
        "distribution": 0.105 * 300 * HGV + c["cooling"],
        "use": c["use"],
        "end_of_life": eol,
    }
    check(calc, expected)
    per_litre = calc.result["total_kgco2e"] / 100
    assert 0.3 <= per_litre <= 1.0
    # Packaging is 19–46 % of impacts in Amienyo & Azapagic (§3.2.4); this can lands at ≈ 48 %:
    # the only can dataset is DESNZ *primary* aluminium (no recycled content, no credit), where
    # real cans carry much recycled metal. Recorded in examples/README.md, inputs not tuned.
    pack = calc.result["packaging"]["share"]
    assert 0.46 < pack < 0.50


# ============================================================================ appliances
APPLIANCE_EOL_METAL = 0.9 * RECYCLE + 0.1 * LANDFILL
APPLIANCE_EOL_OTHER = 0.3 * RECYCLE + 0.5 * LANDFILL + 0.2 * RECYCLE
APPLIANCE_EOL_BOARD = 0.3 * RECYCLE + 0.5 * PAPER_LANDFILL + 0.2 * RECYCLE  # paper landfill


def test_refrigerator(run: Callable[[str], Calculation]) -> None:
    calc = run("refrigerator-300l-two-door.json")
    steel, al, cu = 28 + 6.5, 1.2 + 0.3, 1.0 + 1.3
    raw = (
        steel * STEEL
        + al * AL
        + cu * CU
        + 6 * PS
        + 3 * PP
        + 1.5 * ABS
        + 5 * 1.86175127  # PU foam: DESNZ construction insulation (proxy)
        + 3 * GLASS
        + 0.3 * ELEC_SMALL
        + 2.5 * BOARD
        + 0.8 * PS
        + 0.3 * LDPE
    )
    manufacturing = 45 * GRID + 8 * NG_M3 + 0.002 * 3  # + R-600a charging loss (GWP 3)
    kwh = 0.75 * 365 * 10  # label kWh/24h × 365 × RSL (domain.md §3.3.3)
    leak = 0.055 * 0.01 * 10 * 3  # charge × 1 %/yr × 10 yr × GWP(R-600a) 3
    other_kg = 6 + 3 + 1.5 + 5 + 3 + 0.3 + 0.8 + 0.3  # non-metal groups ('*' shares)
    eol = (steel + al + cu) * APPLIANCE_EOL_METAL + other_kg * APPLIANCE_EOL_OTHER
    eol += 2.5 * APPLIANCE_EOL_BOARD
    eol += 0.055 * 0.3 * 3  # refrigerant lost at end of life
    check(
        calc,
        {
            "raw_materials": raw,
            "manufacturing": manufacturing,
            "distribution": 0.065 * 1000 * HGV,
            "use": kwh * GRID + leak,
            "end_of_life": eol,
        },
    )
    # domain.md §3.3.4: 0.8 kWh/24h gives 1 687 kg use phase; use ≈ 85–90 % of the life cycle
    assert 0.85 <= use_share(calc) <= 0.90


def test_room_air_conditioner(run: Callable[[str], Calculation]) -> None:
    calc = run("room-air-conditioner-3-5kw-split.json")
    steel, cu, al = 20 + 8, 5 + 1, 4 + 0.3
    raw = (
        steel * STEEL + cu * CU + al * AL + 3 * ABS + 2 * PP + 1 * ELEC_SMALL + 3 * BOARD + 1.2 * PS
    )
    manufacturing = 60 * GRID + 0.010 * 771  # R-32 charging loss, AR6 GWP 771
    use = 850 * 10 * GRID + 0.9 * 0.03 * 10 * 771  # label kWh/yr × RSL; leak 3 %/yr
    other_kg = 3 + 2 + 1 + 1.2
    eol = (steel + cu + al) * APPLIANCE_EOL_METAL + other_kg * APPLIANCE_EOL_OTHER
    eol += 3 * APPLIANCE_EOL_BOARD
    eol += 0.9 * 0.3 * 771  # 30 % of the charge lost at end of life
    check(
        calc,
        {
            "raw_materials": raw,
            "manufacturing": manufacturing,
            "distribution": 0.050 * 1200 * HGV,
            "use": use,
            "end_of_life": eol,
        },
    )
    # domain.md §3.3.4 worked example: 4 622 electricity + 416 refrigerant; use phase dominates
    assert 0.85 <= use_share(calc) <= 0.95


def test_washing_machine(run: Callable[[str], Calculation]) -> None:
    calc = run("washing-machine-8kg-front-loader.json")
    steel, al, cu = 22 + 2.5, 0.5, 1.5
    raw = (
        steel * STEEL
        + 20 * 0.11875127  # concrete counterweight
        + 8 * PP
        + 2 * ABS
        + cu * CU
        + al * AL
        + 1 * 2.41  # synthetic rubber seal
        + 2.5 * GLASS
        + 0.5 * ELEC_SMALL
        + 3 * BOARD
        + 1 * PS
        + 0.3 * LDPE
    )
    kwh = 0.88 * 220 * 8  # kWh/cycle × cycles/yr × RSL 8 yr
    concrete = 20 * (0.3 * 0.98485e-3 + 0.5 * 1.23393e-3 + 0.2 * RECYCLE)  # no concrete combustion
    other_kg = 8 + 2 + 1 + 2.5 + 0.5 + 1 + 0.3
    eol = (steel + al + cu) * APPLIANCE_EOL_METAL + other_kg * APPLIANCE_EOL_OTHER + concrete
    eol += 3 * APPLIANCE_EOL_BOARD
    check(
        calc,
        {
            "raw_materials": raw,
            "manufacturing": 30 * GRID + 3 * NG_M3,
            "distribution": 0.075 * 1000 * HGV,
            "use": kwh * GRID,
            "end_of_life": eol,
        },
    )
    # no published range (domain.md §3.3.4 [not found]); appliances: use phase dominates
    assert 0.80 <= use_share(calc) <= 0.92


# ============================================================================ tyres
def tyre_raw(
    nr: float, sr: float, cb: float, si: float, steel: float, tex: float, oil: float
) -> float:
    return (
        nr * 0.700  # natural rubber TSR 20, no LUC
        + sr * 2.41  # synthetic rubber, generic
        + cb * 2.620  # carbon black, process CO2 only (a floor)
        + si * 1.4  # silica: the supplier's value (primary data)
        + steel * STEEL
        + tex * 1.1959
        + oil * 1.401
    )


def rolling_resistance_mj(rrc: float, mass: float, n: float, km: float, eta: float) -> float:
    force = rrc / 1000 * mass * 9.80665 / n  # N (domain.md §3.4.4)
    return force * km * 1000 / 1e6 / eta


def test_passenger_car_tyre(run: Callable[[str], Calculation]) -> None:
    calc = run("passenger-car-tyre-205-55r16.json")
    raw = tyre_raw(1.4, 2.0, 1.7, 1.0, 1.6, 0.4, 0.5) + 0.02 * 1.33931834
    manufacturing = 10 * GRID + 13 * 0.17965
    fuel_mj = rolling_resistance_mj(9.0, 1400, 4, 40000, 0.22)  # class C → 9.0 kg/t
    mass = 1.4 + 2.0 + 1.7 + 1.0 + 1.6 + 0.4 + 0.5  # chemicals excluded (cut-off)
    eol = mass * (0.4 * RECYCLE + 0.5 * RECYCLE + 0.1 * LANDFILL)
    eol += 0.02 * (0.4 * RECYCLE + 0.5 * RECYCLE + 0.1 * PAPER_LANDFILL)  # the paper label
    check(
        calc,
        {
            "raw_materials": raw,
            "manufacturing": manufacturing,
            "distribution": 0.0085 * 800 * HGV,
            "use": fuel_mj * 0.09,  # rule default petrol WtW 0.09 kg CO2e/MJ
            "end_of_life": eol,
        },
    )
    assert use_share(calc) >= 0.80  # domain.md §3.4.2: ≥ 80 % of life-cycle CO2 in use
    gate = next(u for u in calc.result["per_unit"] if u["key"] == "declared_unit")["kgco2e"]
    # §3.4.4 "typically ~30–40 kg cradle-to-gate": below, see examples/README.md (why)
    assert gate == pytest.approx(raw + manufacturing, rel=REL)
    cut = calc.result["cut_off"]
    assert cut["excluded_share"] == pytest.approx(0.004) and cut["ok"] is True


def test_truck_tyre(run: Callable[[str], Calculation]) -> None:
    calc = run("truck-bus-tyre-295-80r22-5.json")
    raw = tyre_raw(20, 8, 15, 3, 16, 0.5, 3)
    manufacturing = 75 * GRID + 110 * 0.17965
    fuel_mj = rolling_resistance_mj(6.0, 40000, 18, 150000, 0.36)  # C3 class C → 6.0 kg/t
    mass = 20 + 8 + 15 + 3 + 16 + 0.5 + 3
    eol = mass * (0.3 * RECYCLE + 0.3 * RECYCLE + 0.3 * RECYCLE + 0.1 * LANDFILL)
    check(
        calc,
        {
            "raw_materials": raw,
            "manufacturing": manufacturing,
            "distribution": 0.068 * 800 * HGV,
            "use": fuel_mj * 0.08773,  # rule default diesel WtW
            "end_of_life": eol,
        },
    )
    assert use_share(calc) >= 0.80  # no C3 range published; the C1 statement applies [derived]


# ============================================================================ all examples
@pytest.mark.parametrize("name", all_examples())
def test_every_example_is_consistent(run: Callable[[str], Calculation], name: str) -> None:
    r = run(name).result
    assert r["total_kgco2e"] == pytest.approx(sum(s["kgco2e"] for s in r["stages"]), rel=1e-12)
    lo, hi = r["uncertainty"]["interval_95"]
    assert lo < r["total_kgco2e"] < hi
    assert r["indicators"]["biogenic_co2_removal"] >= 0
    assert sum(r["gases"].values()) == pytest.approx(r["total_kgco2e"], rel=1e-6)
    # recomputation gives identical numbers
    again = run(name).result
    assert again["stages"] == r["stages"] and again["uncertainty"] == r["uncertainty"]


def test_matches_independent_bw2calc(run: Callable[[str], Calculation], background: Any) -> None:
    """Each stage's demand, solved by a fresh bw2calc LCA on the release's Brightway project,
    gives the stage results of the footprint (which come from the engine's arrays)."""
    bw2calc = pytest.importorskip("bw2calc")
    from lca_data.bw import use_release

    bd = use_release(background.release.path)
    calc = run("refrigerator-300l-two-door.json")  # no primary data: every number is background
    method = ("IPCC 2021", "climate change", "global warming potential (GWP100)")
    got = stages(calc)
    for stage, demand in calc.demand.items():
        fu = {bd.get_activity(key).id: amount for key, amount in demand.items()}
        lca = bw2calc.LCA(fu, method)
        lca.lci()
        lca.lcia()
        assert lca.score == pytest.approx(got[stage.value], rel=1e-6), stage
    assert set(calc.demand) == set(Stage)
