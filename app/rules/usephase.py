"""Use-phase models: pure functions from inputs to quantities (kWh, MJ, kg of a named gas).

Formulas (docs/domain.md):

* appliances, §3.3.3 — ``E_annual`` from the energy label (kWh/24 h × 365, kWh/year, or
  kWh/cycle × cycles/year); ``E_use = E_annual × RSL``; refrigerant
  ``charge × (leak_rate × RSL + EoL_loss)``, the EoL part reported in the end-of-life stage;
* tyres, §3.4.4 — ``F_RR = RRC/1000 × m_vehicle × g / n_tyres``, ``E_wheel = F_RR × D``,
  ``E_fuel = E_wheel / η``; the EU label class (§3.4.3) maps to its RRC range;
* beer, §3.2.3 — cooling in kWh per litre and day × litres × days (retail storage belongs to
  distribution, home storage to use).

Each public function takes and returns pint quantities and converts explicitly (``magnitude_of``:
pint's own conversion factor, cached per unit pair, so the same bits as ``q.to(unit).magnitude``);
the ``ModelDef`` adapters below make them selectable by name from a rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pint
from pydantic import BaseModel, ConfigDict, Field

from app.rules.modelkit import (
    Args,
    FactorValue,
    ModelContext,
    ModelDef,
    ModelOutput,
    ModelProblem,
    Param,
    register,
)
from app.rules.schema import InputSpec, InputType, Stage
from app.rules.units import magnitude_of, new_quantity, parse_unit

STANDARD_GRAVITY_M_S2 = 9.80665
LABEL_DAYS_PER_YEAR = 365  # the label convention: kWh/24 h × 365 (domain.md §3.3.3)


def _q(value: float, unit: str) -> pint.Quantity:
    """``ureg().Quantity(value, unit)`` (``new_quantity``: the same quantity, built directly)."""
    return new_quantity(value, parse_unit(unit)._units)


# ----------------------------------------------------------------------------- appliances
def annual_label_energy(
    *,
    per_day: pint.Quantity | None = None,
    per_year: pint.Quantity | None = None,
    per_cycle: pint.Quantity | None = None,
    cycles_per_year: pint.Quantity | None = None,
    days_per_year: int = LABEL_DAYS_PER_YEAR,
) -> pint.Quantity:
    """Annual electricity from the energy label, in kWh/year (exactly one basis given)."""
    given = [q for q in (per_day, per_year, per_cycle) if q is not None]
    if len(given) != 1:
        raise ValueError("give exactly one of per_day, per_year, per_cycle")
    if per_day is not None:
        return _q(magnitude_of(per_day, "kWh/day") * days_per_year, "kWh/year")
    if per_year is not None:
        return _q(magnitude_of(per_year, "kWh/year"), "kWh/year")
    if cycles_per_year is None or per_cycle is None:
        raise ValueError("kWh per cycle needs cycles per year")
    kwh_per_cycle = magnitude_of(per_cycle, "kWh/cycle")
    return _q(kwh_per_cycle * magnitude_of(cycles_per_year, "cycle/year"), "kWh/year")


def lifetime_electricity(annual: pint.Quantity, service_life: pint.Quantity) -> pint.Quantity:
    """E_use = E_annual × RSL, in kWh."""
    return _q(magnitude_of(annual, "kWh/year") * magnitude_of(service_life, "year"), "kWh")


@dataclass(frozen=True)
class RefrigerantLoss:
    use_kg: float  # leaked over the service life (use stage)
    eol_kg: float  # lost at end of life


def refrigerant_loss(
    *,
    charge: pint.Quantity,
    annual_leak_rate: pint.Quantity,
    service_life: pint.Quantity,
    eol_loss: pint.Quantity,
) -> RefrigerantLoss:
    """charge × leak_rate × RSL (use) and charge × EoL loss share (end of life), in kg of gas."""
    kg = magnitude_of(charge, "kg")
    rate = magnitude_of(annual_leak_rate, "1/year")
    years = magnitude_of(service_life, "year")
    eol = magnitude_of(eol_loss, "dimensionless")
    return RefrigerantLoss(use_kg=kg * rate * years, eol_kg=kg * eol)


# ----------------------------------------------------------------------------- tyres
class RrcRange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min: float | None = Field(None, ge=0, description="kg/t, inclusive")
    max: float | None = Field(None, ge=0, description="kg/t, inclusive")


def rrc_for_class(
    label_class: str,
    classes: Mapping[str, RrcRange],
    policy: Literal["upper_bound", "midpoint"] = "upper_bound",
) -> pint.Quantity:
    """The RRC (kg/t) a label class stands for: its upper bound (conservative) or midpoint.

    A class without an upper bound (the worst class) cannot stand for a value: give the measured
    RRC instead."""
    rng = classes.get(label_class)
    if rng is None:
        raise ValueError(f"unknown label class {label_class}")
    if rng.max is None:
        raise ValueError(f"label class {label_class} has no upper RRC bound")
    if policy == "midpoint" and rng.min is not None:
        return _q((rng.min + rng.max) / 2, "kg/t")
    return _q(rng.max, "kg/t")


@dataclass(frozen=True)
class RollingResistance:
    force_n: float
    wheel_energy_mj: float
    fuel_energy_mj: float


def tyre_rolling_resistance(
    *,
    rrc: pint.Quantity,
    vehicle_mass: pint.Quantity,
    tyres_per_vehicle: pint.Quantity,
    mileage: pint.Quantity,
    drivetrain_efficiency: pint.Quantity,
) -> RollingResistance:
    """F_RR = RRC × m × g ÷ n; E_wheel = F_RR × D; E_fuel = E_wheel ÷ η (per tyre)."""
    coefficient = magnitude_of(rrc, "dimensionless")  # kg/t → a pure ratio (8 kg/t = 0.008)
    mass_kg = magnitude_of(vehicle_mass, "kg")
    n = magnitude_of(tyres_per_vehicle, "dimensionless")
    distance_m = magnitude_of(mileage, "m")
    eta = magnitude_of(drivetrain_efficiency, "dimensionless")
    force = coefficient * mass_kg * STANDARD_GRAVITY_M_S2 / n
    wheel_mj = force * distance_m / 1e6
    return RollingResistance(force_n=force, wheel_energy_mj=wheel_mj, fuel_energy_mj=wheel_mj / eta)


# ----------------------------------------------------------------------------- beer
@dataclass(frozen=True)
class CoolingEnergy:
    retail_kwh: float
    home_kwh: float


def beer_cooling(
    *,
    volume: pint.Quantity,
    retail_cooling: pint.Quantity,
    retail_days: pint.Quantity,
    home_cooling: pint.Quantity,
    home_days: pint.Quantity,
) -> CoolingEnergy:
    """Cooling electricity: litres × kWh/(L·day) × days, for retail and for home storage."""
    litres = magnitude_of(volume, "L")
    retail = litres * magnitude_of(retail_cooling, "kWh/L/day") * magnitude_of(retail_days, "day")
    home = litres * magnitude_of(home_cooling, "kWh/L/day") * magnitude_of(home_days, "day")
    return CoolingEnergy(retail_kwh=retail, home_kwh=home)


# ============================================================================= registry adapters
def _factor(args: Args, name: str) -> FactorValue | None:
    value = args.get(name)
    return value if isinstance(value, FactorValue) else None


def _run_appliance(args: Args, opts: Any, ctx: ModelContext) -> list[ModelOutput]:
    annual = annual_label_energy(
        per_day=args.get("consumption_per_day"),
        per_year=args.get("consumption_per_year"),
        per_cycle=args.get("consumption_per_cycle"),
        cycles_per_year=args.get("cycles_per_year"),
    )
    total = lifetime_electricity(annual, args["service_life"])
    return [
        ModelOutput(
            stage=Stage.use,
            flow="electricity",
            kind="electricity",
            amount=float(total.magnitude),
            unit="kWh",
            factor=_factor(args, "electricity"),
            detail={
                "annual_kwh": float(annual.magnitude),
                "service_life_years": magnitude_of(args["service_life"], "year"),
            },
        )
    ]


def _check_appliance(args: Args, opts: Any, ctx: ModelContext) -> list[ModelProblem]:
    present = [
        n
        for n in ("consumption_per_day", "consumption_per_year", "consumption_per_cycle")
        if args.get(n) is not None
    ]
    if not present:
        return [ModelProblem(None, "missing_input", "the label energy consumption is missing")]
    if "consumption_per_cycle" in present and args.get("cycles_per_year") is None:
        return [
            ModelProblem("cycles_per_year", "missing_input", "kWh per cycle needs cycles per year")
        ]
    return []


APPLIANCE_LABEL_ENERGY = register(
    ModelDef(
        name="appliance_label_energy",
        title="Appliance electricity from the energy label",
        formula="E_use [kWh] = E_annual × RSL; E_annual = kWh/24h × 365 | kWh/year | "
        "kWh/cycle × cycles/year (docs/domain.md §3.3.3)",
        stages=(Stage.use,),
        params=(
            Param("consumption_per_day", InputType.quantity, "kWh/day", False, "label kWh/24 h"),
            Param("consumption_per_year", InputType.quantity, "kWh/year", False, "label kWh/year"),
            Param("consumption_per_cycle", InputType.quantity, "kWh", False, "label kWh/cycle"),
            Param("cycles_per_year", InputType.quantity, "1/year", False, "cycles per year"),
            Param("service_life", InputType.quantity, "year", True, "reference service life"),
            Param("electricity", InputType.factor, "kgCO2e/kWh", True, "grid electricity factor"),
        ),
        run=_run_appliance,
        check=_check_appliance,
        exactly_one_of=(("consumption_per_day", "consumption_per_year", "consumption_per_cycle"),),
        needs=(("consumption_per_cycle", ("cycles_per_year",)),),
    )
)


def _run_refrigerant(args: Args, opts: Any, ctx: ModelContext) -> list[ModelOutput]:
    loss = refrigerant_loss(
        charge=args["charge"],
        annual_leak_rate=args["annual_leak_rate"],
        service_life=args["service_life"],
        eol_loss=args["eol_loss"],
    )
    gas = str(args["gas"])
    return [
        ModelOutput(Stage.use, f"refrigerant:{gas}", "emission", loss.use_kg, "kg", gas=gas),
        ModelOutput(
            Stage.end_of_life, f"refrigerant:{gas}", "emission", loss.eol_kg, "kg", gas=gas
        ),
    ]


REFRIGERANT_LEAKAGE = register(
    ModelDef(
        name="refrigerant_leakage",
        title="Refrigerant leakage over the service life and loss at end of life",
        formula="use: charge × annual leak rate × RSL; end of life: charge × EoL loss share; "
        "kg of the named gas, × GWP by the engine (docs/domain.md §3.3.3)",
        stages=(Stage.use, Stage.end_of_life),
        params=(
            Param("gas", InputType.choice, None, True, "refrigerant, e.g. R-600a"),
            Param("charge", InputType.quantity, "kg", True, "refrigerant charge"),
            Param("annual_leak_rate", InputType.quantity, "1/year", True, "share lost per year"),
            Param("service_life", InputType.quantity, "year", True, "reference service life"),
            Param("eol_loss", InputType.quantity, "dimensionless", True, "share lost at EoL"),
        ),
        run=_run_refrigerant,
    )
)


class TyreOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label_classes: dict[str, RrcRange] = Field(min_length=1, description="class → RRC kg/t")
    class_value: Literal["upper_bound", "midpoint"] = "upper_bound"
    energy_carrier: Literal["fuel", "electricity"] = "fuel"
    source: str | None = None


def _tyre_rrc(args: Args, opts: TyreOptions) -> tuple[pint.Quantity, dict[str, Any]]:
    if args.get("rrc") is not None:
        rrc: pint.Quantity = args["rrc"]
        return rrc, {"rrc_basis": "measured"}
    cls = str(args["label_class"])
    rng = opts.label_classes[cls]
    value = rrc_for_class(cls, opts.label_classes, opts.class_value)
    return value, {
        "rrc_basis": f"label class {cls} ({opts.class_value})",
        "rrc_class_min": rng.min,
        "rrc_class_max": rng.max,
    }


def _run_tyre(args: Args, opts: Any, ctx: ModelContext) -> list[ModelOutput]:
    assert isinstance(opts, TyreOptions)
    rrc, basis = _tyre_rrc(args, opts)
    rr = tyre_rolling_resistance(
        rrc=rrc,
        vehicle_mass=args["vehicle_mass"],
        tyres_per_vehicle=args["tyres_per_vehicle"],
        mileage=args["mileage"],
        drivetrain_efficiency=args["drivetrain_efficiency"],
    )
    detail = {
        "rrc_kg_per_t": magnitude_of(rrc, "kg/t"),
        **basis,
        "force_n": rr.force_n,
        "wheel_energy_mj": rr.wheel_energy_mj,
        "mileage_km": magnitude_of(args["mileage"], "km"),
    }
    if opts.energy_carrier == "electricity":
        return [
            ModelOutput(
                Stage.use,
                "electricity",
                "electricity",
                rr.fuel_energy_mj / 3.6,
                "kWh",
                factor=_factor(args, "energy_factor"),
                detail=detail,
            )
        ]
    return [
        ModelOutput(
            Stage.use,
            "fuel",
            "fuel",
            rr.fuel_energy_mj,
            "MJ",
            factor=_factor(args, "energy_factor"),
            detail=detail,
        )
    ]


def _check_tyre(args: Args, opts: Any, ctx: ModelContext) -> list[ModelProblem]:
    assert isinstance(opts, TyreOptions)
    if args.get("rrc") is not None:
        return []
    cls = args.get("label_class")
    if cls is None:
        return [
            ModelProblem(
                "rrc",
                "missing_input",
                "give the measured rolling-resistance coefficient or the EU label class",
            )
        ]
    rng = opts.label_classes.get(str(cls))
    if rng is not None and rng.max is None:
        return [
            ModelProblem(
                "rrc",
                "missing_input",
                f"label class {cls} has no upper RRC bound: give the measured RRC",
            )
        ]
    return []


def _check_tyre_rule(specs: Mapping[str, InputSpec], opts: Any) -> list[ModelProblem]:
    assert isinstance(opts, TyreOptions)
    spec = specs.get("label_class")
    if spec is None:
        return []
    choices = set(spec.choices or [])
    if choices != set(opts.label_classes):
        return [
            ModelProblem(
                "label_class",
                "choices_mismatch",
                "the label-class input's choices must be the classes of label_classes "
                f"({', '.join(sorted(opts.label_classes))})",
            )
        ]
    return []


TYRE_ROLLING_RESISTANCE = register(
    ModelDef(
        name="tyre_rolling_resistance",
        title="Tyre rolling resistance: fuel (or electricity) over the tyre's service life",
        formula="F_RR [N] = RRC × m_vehicle × g ÷ n_tyres; E_wheel = F_RR × mileage; "
        "E_fuel = E_wheel ÷ η (per tyre; docs/domain.md §3.4.4); label class → RRC range §3.4.3",
        stages=(Stage.use,),
        params=(
            Param("rrc", InputType.quantity, "kg/t", False, "measured RRC"),
            Param("label_class", InputType.choice, None, False, "EU label fuel-efficiency class"),
            Param("vehicle_mass", InputType.quantity, "kg", True, "vehicle mass"),
            Param("tyres_per_vehicle", InputType.quantity, "dimensionless", True, "tyres"),
            Param("mileage", InputType.quantity, "km", True, "tyre service life in km"),
            Param("drivetrain_efficiency", InputType.quantity, "dimensionless", True, "η TtW"),
            Param("energy_factor", InputType.factor, "kgCO2e/MJ", True, "fuel factor, WtW"),
        ),
        run=_run_tyre,
        options=TyreOptions,
        check=_check_tyre,
        check_rule=_check_tyre_rule,
    )
)


def _run_beer(args: Args, opts: Any, ctx: ModelContext) -> list[ModelOutput]:
    cooling = beer_cooling(
        volume=ctx.reference_amount,
        retail_cooling=args["retail_cooling"],
        retail_days=args["retail_days"],
        home_cooling=args["home_cooling"],
        home_days=args["home_days"],
    )
    factor = _factor(args, "electricity")
    litres = magnitude_of(ctx.reference_amount, "L")
    return [
        ModelOutput(
            Stage.distribution,
            "electricity:retail_cooling",
            "electricity",
            cooling.retail_kwh,
            "kWh",
            factor=factor,
            detail={"litres": litres},
        ),
        ModelOutput(
            Stage.use,
            "electricity:home_cooling",
            "electricity",
            cooling.home_kwh,
            "kWh",
            factor=factor,
            detail={"litres": litres},
        ),
    ]


BEER_COOLING = register(
    ModelDef(
        name="beer_cooling",
        title="Retail and home cooling of packed beer",
        formula="E [kWh] = litres × kWh/(L·day) × days, retail (distribution stage) and home "
        "(use stage) (docs/domain.md §3.2.3)",
        stages=(Stage.distribution, Stage.use),
        params=(
            Param("retail_cooling", InputType.quantity, "kWh/L/day", True, "retail cooling"),
            Param("retail_days", InputType.quantity, "day", True, "retail storage time"),
            Param("home_cooling", InputType.quantity, "kWh/L/day", True, "home cooling"),
            Param("home_days", InputType.quantity, "day", True, "home storage time"),
            Param("electricity", InputType.factor, "kgCO2e/kWh", True, "grid electricity factor"),
        ),
        run=_run_beer,
    )
)
