"""A tiny openLCA 1.5 JSON-LD folder, shaped like USLCI FY18, for importer tests.

Processes (amounts chosen so expected values can be worked out by hand):
  GRID  "Electricity, at Grid, Test, 2010": 1 kWh out; 0.5 kg "Carbon dioxide, fossil " (trailing space)
  A     "Product A, at plant": 2 kg A out (reference); in: 3.6 MJ electricity (= 1 kWh), 500 g B,
        1 kg "CUTOFF Thing" (no provider -> cut-off); out: 1 kg CO2 fossil, 0.01 kg bare "Methane",
        1 kg "Sulfur dioxide" (non-GHG), 0.2 kg waste flow (no treatment -> cut-off)
  B     "Product B, at plant": 1 kg B (reference) + 3 kg B2 co-product, both Mass, no factors
        -> allocation by mass 25 % / 75 %; out 4 kg CO2 fossil
  D     "Product D, at plant": 1 kg D (reference) + 1 kg D2, PHYSICAL factor D2 = 0.3 -> D 0.7;
        out 10 kg CO2 fossil
  E     "Resin E, at plant": 1 kg E (reference) + 5 MJ "Recovered energy" (Mass + Energy, no factors)
        -> 100 % to E, no dataset for the recovered energy; out 2 kg "Carbon dioxide, biogenic"
        to the root "Elementary Flows" category; in 3 kg "Carbon dioxide, in air" (resource)
"""

from __future__ import annotations

import json
from pathlib import Path

MASS_G, ENERGY_G = "ug-mass", "ug-energy"
MASS, ENERGY = "fp-mass", "fp-energy"
KG, G, MJ, KWH = "u-kg", "u-g", "u-mj", "u-kwh"
UNIT_NAMES = {KG: "kg", G: "g", MJ: "MJ", KWH: "kWh"}
PROP_OF_UNIT = {KG: MASS, G: MASS, MJ: ENERGY, KWH: ENERGY}


def _w(root: Path, folder: str, obj: dict) -> None:
    d = root / folder
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{obj['@id']}.json").write_text(json.dumps(obj), encoding="utf-8")


def _flow(
    root: Path, fid: str, name: str, ftype: str, prop: str, category: str | None = None
) -> None:
    obj = {
        "@type": "Flow",
        "@id": fid,
        "name": name,
        "flowType": ftype,
        "flowProperties": [
            {"referenceFlowProperty": True, "flowProperty": {"@id": prop}, "conversionFactor": 1.0}
        ],
    }
    if category:
        obj["category"] = {"@id": category}
    _w(root, "flows", obj)


def _ex(
    fid: str, name: str, ftype: str, amount: float, unit: str, is_input: bool, qref: bool = False
) -> dict:
    e = {
        "@type": "Exchange",
        "input": is_input,
        "amount": amount,
        "avoidedProduct": False,
        "flow": {"@id": fid, "name": name, "flowType": ftype},
        "unit": {"@id": unit, "name": UNIT_NAMES[unit]},
        "flowProperty": {"@id": PROP_OF_UNIT[unit]},
    }
    if qref:
        e["quantitativeReference"] = True
    return e


def _proc(
    root: Path,
    pid: str,
    name: str,
    exchanges: list,
    factors: list | None = None,
    year: str = "2010",
) -> None:
    obj = {
        "@type": "Process",
        "@id": pid,
        "name": name,
        "location": {"name": "US"},
        "category": {"@id": "cat-proc"},
        "processDocumentation": {"validFrom": f"{year}-01-01T00:00:00-07:00"},
        "exchanges": exchanges,
    }
    if factors:
        obj["allocationFactors"] = factors
    _w(root, "processes", obj)


def write_fixture(root: Path) -> Path:
    _w(
        root,
        "unit_groups",
        {
            "@id": MASS_G,
            "name": "Units of mass",
            "units": [
                {"@id": KG, "name": "kg", "conversionFactor": 1.0, "referenceUnit": True},
                {"@id": G, "name": "g", "conversionFactor": 0.001},
            ],
        },
    )
    _w(
        root,
        "unit_groups",
        {
            "@id": ENERGY_G,
            "name": "Units of energy",
            "units": [
                {"@id": MJ, "name": "MJ", "conversionFactor": 1.0, "referenceUnit": True},
                {"@id": KWH, "name": "kWh", "conversionFactor": 3.6},
            ],
        },
    )
    _w(root, "flow_properties", {"@id": MASS, "name": "Mass", "unitGroup": {"@id": MASS_G}})
    _w(root, "flow_properties", {"@id": ENERGY, "name": "Energy", "unitGroup": {"@id": ENERGY_G}})
    for cid, name, parent in [
        ("cat-ef", "Elementary Flows", None),
        ("cat-air", "air", None),
        ("cat-air-u", "unspecified", "cat-air"),
        ("cat-res", "resource", None),
        ("cat-res-air", "in air", "cat-res"),
        ("cat-proc", "Test processes", None),
    ]:
        obj = {"@id": cid, "name": name}
        if parent:
            obj["category"] = {"@id": parent}
        _w(root, "categories", obj)
    P, EL, W = "PRODUCT_FLOW", "ELEMENTARY_FLOW", "WASTE_FLOW"
    flows = {
        "f-elec": ("Electricity, at Grid, Test, 2010", P, ENERGY, None),
        "f-a": ("Product A, at plant", P, MASS, None),
        "f-b": ("Product B, at plant", P, MASS, None),
        "f-b2": ("Product B2, co-product", P, MASS, None),
        "f-d": ("Product D, at plant", P, MASS, None),
        "f-d2": ("Product D2, co-product", P, MASS, None),
        "f-e": ("Resin E, at plant", P, MASS, None),
        "f-rec": ("Recovered energy", P, ENERGY, None),
        "f-cut": ("CUTOFF Thing", P, MASS, None),
        "f-waste": ("Solid waste", W, MASS, None),
        "f-co2": ("Carbon dioxide, fossil ", EL, MASS, "cat-air-u"),
        "f-ch4": ("Methane", EL, MASS, "cat-air-u"),
        "f-so2": ("Sulfur dioxide", EL, MASS, "cat-air-u"),
        "f-co2bio": ("Carbon dioxide, biogenic", EL, MASS, "cat-ef"),
        "f-co2air": ("Carbon dioxide, in air", EL, MASS, "cat-res-air"),
    }
    for fid, (name, ftype, prop, cat) in flows.items():
        _flow(root, fid, name, ftype, prop, cat)

    def ex(fid, amount, unit, is_input, qref=False):
        name, ftype, _, _ = flows[fid]
        return _ex(fid, name, ftype, amount, unit, is_input, qref)

    _proc(
        root,
        "p-grid",
        "Electricity, at Grid, Test, 2010",
        [ex("f-elec", 1.0, KWH, False, True), ex("f-co2", 0.5, KG, False)],
    )
    _proc(
        root,
        "p-a",
        "Product A, at plant",
        [
            ex("f-a", 2.0, KG, False, True),
            ex("f-elec", 3.6, MJ, True),
            ex("f-b", 500.0, G, True),
            ex("f-cut", 1.0, KG, True),
            ex("f-co2", 1.0, KG, False),
            ex("f-ch4", 0.01, KG, False),
            ex("f-so2", 1.0, KG, False),
            ex("f-waste", 0.2, KG, False),
        ],
    )
    _proc(
        root,
        "p-b",
        "Product B, at plant",
        [ex("f-b", 1.0, KG, False, True), ex("f-b2", 3.0, KG, False), ex("f-co2", 4.0, KG, False)],
    )
    _proc(
        root,
        "p-d",
        "Product D, at plant",
        [ex("f-d", 1.0, KG, False, True), ex("f-d2", 1.0, KG, False), ex("f-co2", 10.0, KG, False)],
        factors=[
            {"allocationType": "PHYSICAL_ALLOCATION", "product": {"@id": "f-d2"}, "value": 0.3},
            {"allocationType": "CAUSAL_ALLOCATION", "value": 0.0},
        ],
    )
    _proc(
        root,
        "p-e",
        "Resin E, at plant",
        [
            ex("f-e", 1.0, KG, False, True),
            ex("f-rec", 5.0, MJ, False),
            ex("f-co2bio", 2.0, KG, False),
            ex("f-co2air", 3.0, KG, True),
        ],
    )
    return root


# A hand-made biosphere3 subset: (name, categories) -> code; all characterized.
BIO_RECORDS = [
    {"name": "Carbon dioxide, fossil", "categories": ("air",), "code": "co2-fossil"},
    {"name": "Methane, fossil", "categories": ("air",), "code": "ch4-fossil"},
    {"name": "Methane, non-fossil", "categories": ("air",), "code": "ch4-nonfossil"},
    {"name": "Carbon dioxide, non-fossil", "categories": ("air",), "code": "co2-nonfossil"},
    {
        "name": "Carbon dioxide, non-fossil",
        "categories": ("air", "urban air close to ground"),
        "code": "co2-nonfossil-urban",
    },
    {
        "name": "Carbon dioxide, in air",
        "categories": ("natural resource", "in air"),
        "code": "co2-in-air",
    },
    {"name": "Dinitrogen monoxide", "categories": ("air",), "code": "n2o"},
    {"name": "Sulfur hexafluoride", "categories": ("air",), "code": "sf6"},
    {"name": "Ethane, 1,1,1,2-tetrafluoro-, HFC-134a", "categories": ("air",), "code": "hfc134a"},
    {"name": "Methane, difluoro-, HFC-32", "categories": ("air",), "code": "hfc32"},
    {"name": "Ethane, pentafluoro-, HFC-125", "categories": ("air",), "code": "hfc125"},
    {"name": "Methane, tetrafluoro-, R-14", "categories": ("air",), "code": "r14"},
    {"name": "Sulfur dioxide", "categories": ("air",), "code": "so2"},
]
CHARACTERIZED = {r["code"] for r in BIO_RECORDS if r["code"] != "so2"}
