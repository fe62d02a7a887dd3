"""The impact indicators every footprint reports, and the Brightway methods behind them.

This is the one place that names them. The data build writes these methods into each release's
Brightway project; the engine precomputes one characterized cradle-to-gate vector per indicator.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Indicator:
    key: str
    label: str
    method: tuple[str, ...]
    description: str


GWP100_TOTAL = Indicator(
    key="gwp100_total",
    label="Climate change, GWP100 (IPCC AR6), total",
    method=("IPCC 2021", "climate change", "global warming potential (GWP100)"),
    description=(
        "All greenhouse gases with IPCC AR6 100-year GWPs; biogenic CO2 counted as 0 (0/0)."
    ),
)
GWP100_FOSSIL = Indicator(
    key="gwp100_fossil",
    label="Climate change, GWP100, fossil",
    method=("IPCC 2021", "climate change: fossil", "global warming potential (GWP100)"),
    description="Fossil greenhouse-gas emissions.",
)
GWP100_BIOGENIC_CH4 = Indicator(
    key="gwp100_biogenic_ch4",
    label="Climate change, GWP100, biogenic methane",
    method=("IPCC 2021", "climate change: biogenic", "global warming potential (GWP100)"),
    description="Biogenic (non-fossil) methane and other biogenic non-CO2 gases.",
)
GWP100_LAND_USE = Indicator(
    key="gwp100_land_use",
    label="Climate change, GWP100, land use and land-use change",
    method=("IPCC 2021", "climate change: land use", "global warming potential (GWP100)"),
    description="Emissions from land transformation (dLUC).",
)
BIOGENIC_CO2_EMISSION = Indicator(
    key="biogenic_co2_emission",
    label="Biogenic CO2 emissions (kg CO2)",
    method=("PCF Service", "biogenic CO2", "emission"),
    description="Mass of non-fossil CO2 emitted; reported separately, never in the total.",
)
BIOGENIC_CO2_REMOVAL = Indicator(
    key="biogenic_co2_removal",
    label="Biogenic CO2 removals (kg CO2, positive = removed)",
    method=("PCF Service", "biogenic CO2", "removal"),
    description="Mass of CO2 taken up from air by biomass; reported separately, never netted.",
)

INDICATORS: tuple[Indicator, ...] = (
    GWP100_TOTAL,
    GWP100_FOSSIL,
    GWP100_BIOGENIC_CH4,
    GWP100_LAND_USE,
    BIOGENIC_CO2_EMISSION,
    BIOGENIC_CO2_REMOVAL,
)
INDICATOR_KEYS: tuple[str, ...] = tuple(i.key for i in INDICATORS)
PRIMARY = GWP100_TOTAL
