"""The service's default choices of background datasets, in one place.

* China's provinces → the regional grid they belong to (the NDRC/MEE regional-grid division,
  docs/domain.md §4.3-§4.4);
* transport modes → the t·km dataset of a leg without its own dataset;
* refrigerant gases → the dataset that emits 1 kg of the gas (GWP applied by the method);
* material groups × end-of-life routes → the treatment dataset (cut-off approach: recycling and
  energy recovery carry the burden of getting the material there, never a credit; §6.3).

Every choice here is a default: an input names its own dataset to override it. A default that is
not specific to the material is reported as a proxy in the footprint's warnings.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Container
from functools import lru_cache

# ----------------------------------------------------------------------------- grid regions
GRID_REGIONS: dict[str, str] = {
    "north": "North China grid (华北)",
    "northeast": "Northeast China grid (东北)",
    "east": "East China grid (华东)",
    "central": "Central China grid (华中)",
    "northwest": "Northwest China grid (西北)",
    "south": "South China grid (南方)",
    "southwest": "Southwest China grid (西南)",
}

# (ISO 3166-2 code, English name, Chinese name) → region.
_PROVINCES: tuple[tuple[str, str, str, str], ...] = (
    ("CN-BJ", "beijing", "北京", "north"),
    ("CN-TJ", "tianjin", "天津", "north"),
    ("CN-HE", "hebei", "河北", "north"),
    ("CN-SX", "shanxi", "山西", "north"),
    ("CN-SD", "shandong", "山东", "north"),
    ("CN-NM", "inner mongolia", "内蒙古", "north"),
    ("CN-LN", "liaoning", "辽宁", "northeast"),
    ("CN-JL", "jilin", "吉林", "northeast"),
    ("CN-HL", "heilongjiang", "黑龙江", "northeast"),
    ("CN-SH", "shanghai", "上海", "east"),
    ("CN-JS", "jiangsu", "江苏", "east"),
    ("CN-ZJ", "zhejiang", "浙江", "east"),
    ("CN-AH", "anhui", "安徽", "east"),
    ("CN-FJ", "fujian", "福建", "east"),
    ("CN-HA", "henan", "河南", "central"),
    ("CN-HB", "hubei", "湖北", "central"),
    ("CN-HN", "hunan", "湖南", "central"),
    ("CN-JX", "jiangxi", "江西", "central"),
    ("CN-SN", "shaanxi", "陕西", "northwest"),
    ("CN-GS", "gansu", "甘肃", "northwest"),
    ("CN-QH", "qinghai", "青海", "northwest"),
    ("CN-NX", "ningxia", "宁夏", "northwest"),
    ("CN-XJ", "xinjiang", "新疆", "northwest"),
    ("CN-GD", "guangdong", "广东", "south"),
    ("CN-GX", "guangxi", "广西", "south"),
    ("CN-YN", "yunnan", "云南", "south"),
    ("CN-GZ", "guizhou", "贵州", "south"),
    ("CN-HI", "hainan", "海南", "south"),
    ("CN-SC", "sichuan", "四川", "southwest"),
    ("CN-CQ", "chongqing", "重庆", "southwest"),
    ("CN-XZ", "tibet", "西藏", "southwest"),
)


def _fold(text: str) -> str:
    t = unicodedata.normalize("NFKC", text).casefold().strip()
    for suffix in (" province", "省", "市", "自治区", "壮族自治区", "回族自治区", "维吾尔自治区"):
        t = t.removesuffix(suffix)
    return t.strip()


_PROVINCE_INDEX: dict[str, tuple[str, str]] = {}
for _code, _en, _zh, _region in _PROVINCES:
    for _name in (_code, _en, _zh, _code.removeprefix("CN-")):
        _PROVINCE_INDEX[_fold(_name)] = (_code, _region)
_PROVINCE_INDEX[_fold("广西壮族自治区")] = ("CN-GX", "south")


def province_region(province: str) -> tuple[str, str] | None:
    """(ISO code, grid region key) of a province given by code, English or Chinese name."""
    return _PROVINCE_INDEX.get(_fold(province))


def known_provinces() -> list[str]:
    return [en.title() for _, en, _, _ in _PROVINCES]


# ----------------------------------------------------------------------------- transport
TRANSPORT_DATASETS: dict[str, str] = {
    "road": "desnz24:hgv_all_diesel_all_hgvs_average_laden_tkm",
    "road_refrigerated": "desnz24:hgv_refrigerated_all_diesel_all_hgvs_average_laden_tkm",
    "rail": "desnz24:rail_freight_train_tkm",
    "sea": "desnz24:cargo_ship_container_ship_average_tkm",
    "inland_water": "uslci-cn:099c3d09-08a3-3cac-9ffd-0558c12033b9",
    "air": "desnz24:freight_flights_long_haul_to_from_uk_with_rf_tkm",
}

# ----------------------------------------------------------------------------- refrigerants
REFRIGERANT_DATASETS: dict[str, str] = {
    "r600a": "desnz24:r600a_isobutane_kg",
    "r290": "desnz24:r290_propane_kg",
    "r134a": "desnz24:hfc_134a_kg",
    "r32": "desnz24:hfc_32_kg",
    "r410a": "desnz24:r410a_kg",
    "r1234yf": "desnz24:r1234yf_kg",
    "r1234ze": "desnz24:r1234ze_kg",
    "r404a": "desnz24:r404a_kg",
    "r407c": "desnz24:r407c_kg",
    "r22": "desnz24:hcfc_22_r22_chlorodifluoromethane_kg",
    "r601": "desnz24:r601_pentane_kg",
    "cyclopentane": "desnz24:r601_pentane_kg",
}


def refrigerant_dataset(gas: str) -> str | None:
    key = "".join(ch for ch in gas.casefold() if ch.isalnum())
    key = key.removeprefix("hfc")
    if not key.startswith("r") and key not in REFRIGERANT_DATASETS:
        key = "r" + key
    return REFRIGERANT_DATASETS.get(key)


# ----------------------------------------------------------------------------- end of life
# Route names of the rules, folded onto DESNZ treatment kinds.
_ROUTE_KIND: dict[str, str] = {
    "recycling": "recycling",
    "material_recovery": "recycling",
    "reuse": "recycling",
    "retreading": "recycling",
    "landfill": "landfill",
    "incineration": "combustion",
    "energy_recovery": "combustion",
}

# Material family → DESNZ waste stem; {stem}_{closed_loop|open_loop|landfill|combustion}_t.
_FAMILIES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("glass",), "desnz24:other_glass"),
    (("alumin",), "desnz24:metal_metal_aluminium_cans_and_foil_excl_forming"),
    (("steel", "iron", "copper", "metal", "brass", "zinc"), "desnz24:metal_metal_scrap_metal"),
    (("pet",), "desnz24:plastic_plastics_pet_incl_forming"),
    (("hdpe",), "desnz24:plastic_plastics_hdpe_incl_forming"),
    (("ldpe", "film"), "desnz24:plastic_plastics_average_plastic_film"),
    (("pp", "polyprop"), "desnz24:plastic_plastics_pp_incl_forming"),
    (("ps", "polystyr", "eps", "hips"), "desnz24:plastic_plastics_ps_incl_forming"),
    (("pvc",), "desnz24:plastic_plastics_pvc_incl_forming"),
    (
        ("plastic", "abs", "foam", "pu", "polyur", "resin"),
        "desnz24:plastic_plastics_average_plastics",
    ),
    (("paper", "board", "carton", "cardboard", "label"), "desnz24:paper_paper_and_board_mixed"),
    (("electronic", "pcb", "cable", "compressor", "motor"), "desnz24:electrical_items_weee_small"),
    (("concrete", "counterweight"), "desnz24:construction_concrete"),
)
_ROUTE_SUFFIX: dict[str, tuple[str, ...]] = {
    "recycling": ("closed_loop_t", "open_loop_t"),
    "landfill": ("landfill_t",),
    "combustion": ("combustion_t",),
}
# Material-agnostic stand-ins (reported as proxies): inert-material landfill, combustion and
# recycling transport from the DESNZ tables.
GENERIC_EOL: dict[str, str] = {
    "recycling": "desnz24:plastic_plastics_average_plastics_open_loop_t",
    "landfill": "desnz24:plastic_plastics_average_plastics_landfill_t",
    "combustion": "desnz24:plastic_plastics_average_plastics_combustion_t",
}
# Whole tyres (rubber): DESNZ has "tyres, closed loop"; other routes use the generic stand-ins.
_RUBBER = ("rubber", "tyre", "tire", "carbon_black", "silica", "textile", "cord", "bead")
TYRE_RECYCLING = "desnz24:construction_tyres_closed_loop_t"


def route_kind(route: str) -> str | None:
    return _ROUTE_KIND.get(route)


def eol_dataset(
    group: str, route: str, exists: Container[str] | None = None
) -> tuple[str, bool] | None:
    """(dataset, material-specific?) for ``group`` sent to ``route``; None for an unknown route.

    ``exists`` (the release's dataset ids) lets a family fall back to the generic stand-in when
    the release lacks the specific row.
    """
    candidates = _eol_candidates(group, route)
    if candidates is None:
        return None
    if isinstance(candidates, str):
        return candidates, True
    specific, generic = candidates
    for candidate in specific:
        if exists is None or candidate in exists:
            return candidate, True
    return generic, False


@lru_cache(maxsize=4096)
def _eol_candidates(group: str, route: str) -> str | tuple[tuple[str, ...], str] | None:
    """What ``eol_dataset`` chooses from, by the names alone (cached): None for an unknown
    route; the one dataset of whole tyres recycled; else (material-specific datasets in order of
    preference, generic stand-in), the release's datasets deciding among them."""
    kind = route_kind(route)
    if kind is None:
        return None
    g = group.casefold()
    if kind == "recycling" and any(w in g for w in _RUBBER):
        return TYRE_RECYCLING
    tokens = set(g.replace("-", "_").split("_"))
    specific: list[str] = []
    for words, stem in _FAMILIES:
        if any(w in tokens or (len(w) > 3 and w in g) for w in words):
            specific.extend(f"{stem}_{suffix}" for suffix in _ROUTE_SUFFIX[kind])
    return tuple(specific), GENERIC_EOL[kind]
