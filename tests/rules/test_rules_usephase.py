"""The use-phase and end-of-life models against hand calculations written out here.

Each test states the arithmetic it checks; the worked examples are those of docs/domain.md
§3.3.4 (appliances) and §3.4.4 (tyres).
"""

from __future__ import annotations

import pytest

from app.rules.endoflife import route_masses
from app.rules.modelkit import MaterialMass, get_model
from app.rules.units import quantity as q
from app.rules.usephase import (
    RrcRange,
    annual_label_energy,
    beer_cooling,
    lifetime_electricity,
    refrigerant_loss,
    rrc_for_class,
    tyre_rolling_resistance,
)

C1 = {
    "A": RrcRange(max=6.5),
    "B": RrcRange(min=6.6, max=7.7),
    "C": RrcRange(min=7.8, max=9.0),
    "D": RrcRange(min=9.1, max=10.5),
    "E": RrcRange(min=10.6),
}


def test_refrigerator_label_energy_worked_example() -> None:
    # domain.md §3.3.4: 0.8 kWh/24h × 365 = 292 kWh/yr; × 10 yr = 2 920 kWh;
    # × 0.5777 kgCO2e/kWh = 1 686.9 kg CO2e (the engine applies the factor; checked here by hand)
    annual = annual_label_energy(per_day=q(0.8, "kWh/day"))
    assert annual.to("kWh/year").magnitude == pytest.approx(292.0)
    total = lifetime_electricity(annual, q(10, "year"))
    assert total.to("kWh").magnitude == pytest.approx(2920.0)
    assert total.magnitude * 0.5777 == pytest.approx(1686.884)


def test_label_energy_accepts_other_units_explicitly() -> None:
    # 800 Wh per day is 0.8 kWh/24h: same 292 kWh/yr (the label's 365 days, not 365.25)
    assert annual_label_energy(per_day=q(800, "Wh/day")).magnitude == pytest.approx(292.0)
    # a service life given in months: 120 months = 10 years
    total = lifetime_electricity(q(292, "kWh/year"), q(120, "month"))
    assert total.magnitude == pytest.approx(2920.0)


def test_room_air_conditioner_worked_example() -> None:
    # domain.md §3.3.4: 800 kWh/yr × 10 yr = 8 000 kWh → × 0.5777 = 4 621.6 kg CO2e
    total = lifetime_electricity(annual_label_energy(per_year=q(800, "kWh/year")), q(10, "year"))
    assert total.magnitude == pytest.approx(8000.0)
    assert total.magnitude * 0.5777 == pytest.approx(4621.6)
    # R-32 charge 0.9 kg; 3 %/yr × 10 yr = 0.27 kg leaked in use; 30 % at EoL = 0.27 kg;
    # 0.54 kg × GWP 771 (AR6) = 416.3 kg CO2e
    loss = refrigerant_loss(
        charge=q(0.9, "kg"),
        annual_leak_rate=q(3, "%/year"),
        service_life=q(10, "year"),
        eol_loss=q(30, "%"),
    )
    assert loss.use_kg == pytest.approx(0.27)
    assert loss.eol_kg == pytest.approx(0.27)
    assert (loss.use_kg + loss.eol_kg) * 771 == pytest.approx(416.34)


def test_washing_machine_per_cycle() -> None:
    # 0.9 kWh/cycle × 220 cycles/yr = 198 kWh/yr; × 8 yr = 1 584 kWh
    annual = annual_label_energy(
        per_cycle=q(0.9, "kWh/cycle"), cycles_per_year=q(220, "cycle/year")
    )
    assert annual.magnitude == pytest.approx(198.0)
    assert lifetime_electricity(annual, q(8, "year")).magnitude == pytest.approx(1584.0)


def test_label_energy_needs_exactly_one_basis() -> None:
    with pytest.raises(ValueError):
        annual_label_energy()
    with pytest.raises(ValueError):
        annual_label_energy(per_day=q(1, "kWh/day"), per_year=q(300, "kWh/year"))
    with pytest.raises(ValueError):
        annual_label_energy(per_cycle=q(1, "kWh"))


def test_tyre_rolling_resistance_worked_example() -> None:
    # domain.md §3.4.4: RRC 8.0 kg/t, 1 400 kg car, 4 tyres, 40 000 km, η = 0.22
    # F = 0.008 × 1400 kg × 9.80665 m/s² / 4 = 27.4586 N
    # E_wheel = 27.4586 N × 40 000 000 m = 1.098345e9 J = 1 098.345 MJ
    # E_fuel = 1 098.345 / 0.22 = 4 992.48 MJ; × 0.09 kgCO2e/MJ = 449.3 kg CO2e (≈450 in §3.4.4)
    rr = tyre_rolling_resistance(
        rrc=q(8.0, "kg/t"),
        vehicle_mass=q(1400, "kg"),
        tyres_per_vehicle=q(4, "dimensionless"),
        mileage=q(40000, "km"),
        drivetrain_efficiency=q(0.22, "dimensionless"),
    )
    assert rr.force_n == pytest.approx(27.45862)
    assert rr.wheel_energy_mj == pytest.approx(1098.345, rel=1e-6)
    assert rr.fuel_energy_mj == pytest.approx(4992.48, rel=1e-5)
    assert rr.fuel_energy_mj * 0.09 == pytest.approx(449.3, abs=0.1)


def test_tyre_label_class_maps_to_its_rrc_range() -> None:
    # conservative: a class stands for its upper bound (C1 class C: 7.8–9.0 → 9.0 kg/t)
    assert rrc_for_class("C", C1).to("kg/t").magnitude == pytest.approx(9.0)
    assert rrc_for_class("A", C1).to("kg/t").magnitude == pytest.approx(6.5)
    assert rrc_for_class("C", C1, "midpoint").to("kg/t").magnitude == pytest.approx(8.4)
    with pytest.raises(ValueError, match="no upper"):
        rrc_for_class("E", C1)  # the worst class has no bound: the measured RRC is needed
    with pytest.raises(ValueError, match="unknown"):
        rrc_for_class("F", C1)  # F and G were removed in 2021


def test_beer_cooling() -> None:
    # 1 hL = 100 L; retail 0.002 kWh/(L·day) × 10 days = 2 kWh; home 0.001 × 5 days = 0.5 kWh
    c = beer_cooling(
        volume=q(1, "hL"),
        retail_cooling=q(0.002, "kWh/L/day"),
        retail_days=q(10, "day"),
        home_cooling=q(0.001, "kWh/L/day"),
        home_days=q(5, "day"),
    )
    assert c.retail_kwh == pytest.approx(2.0)
    assert c.home_kwh == pytest.approx(0.5)


def test_end_of_life_route_masses() -> None:
    # steel 30 kg: 80 % recycled = 24 kg, 20 % landfilled = 6 kg; paper (packaging) 2 kg by "*"
    materials = (MaterialMass("steel", False, 30.0), MaterialMass("paper", True, 2.0))
    shares = {"steel": {"recycling": 0.8, "landfill": 0.2}, "*": {"incineration": 1.0}}
    out = {(m.group, r): kg for m, r, kg in route_masses(materials, shares)}
    assert out == {
        ("steel", "recycling"): pytest.approx(24.0),
        ("steel", "landfill"): pytest.approx(6.0),
        ("paper", "incineration"): pytest.approx(2.0),
    }


def test_models_are_registered_by_name() -> None:
    for name in (
        "appliance_label_energy",
        "refrigerant_leakage",
        "tyre_rolling_resistance",
        "beer_cooling",
        "eol_route_shares",
    ):
        model = get_model(name)
        assert model is not None and model.formula
    assert get_model("no_such_model") is None
