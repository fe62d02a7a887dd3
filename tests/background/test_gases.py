"""Gas and origin of biosphere3 flows: halocarbons named after methane are not CH4."""

from __future__ import annotations

import pytest

from app.background.gases import classify, label


@pytest.mark.parametrize(
    ("name", "categories", "gas", "origin", "text"),
    [
        ("Methane, fossil", ("air",), "CH4", "fossil", "CH4 (fossil)"),
        ("Methane, non-fossil", ("air",), "CH4", "biogenic", "CH4 (biogenic)"),
        (
            "Methane, from soil or biomass stock",
            ("air",),
            "CH4",
            "land_use",
            "CH4 (land-use change)",
        ),
        ("Methane, difluoro-, HFC-32", ("air",), "HFC-32", None, "HFC-32"),
        ("Methane, chlorodifluoro-, HCFC-22", ("air",), "HCFC-22", None, "HCFC-22"),
        ("Methane, trichlorofluoro-, CFC-11", ("air",), "CFC-11", None, "CFC-11"),
        ("Methane, bromotrifluoro-, Halon 1301", ("air",), "Halon 1301", None, "Halon 1301"),
        ("Methane, tetrafluoro-, R-14", ("air",), "R-14", None, "R-14"),
        ("Ethane, 1,1,1,2-tetrafluoro-, HFC-134a", ("air",), "HFC-134a", None, "HFC-134a"),
        ("Carbon dioxide, fossil", ("air",), "CO2", "fossil", "CO2 (fossil)"),
        ("Carbon dioxide, non-fossil", ("air",), "CO2", "biogenic", "CO2 (biogenic)"),
        ("Carbon dioxide, in air", ("natural resource", "in air"), "CO2", "uptake", "CO2 (uptake)"),
        (
            "Carbon dioxide, from soil or biomass stock",
            ("air",),
            "CO2",
            "land_use",
            "CO2 (land-use change)",
        ),
        ("Dinitrogen monoxide", ("air",), "N2O", None, "N2O"),
        ("Sulfur hexafluoride", ("air",), "SF6", None, "SF6"),
        ("Nitrogen fluoride", ("air",), "NF3", None, "NF3"),
        ("Chloroform", ("air",), None, None, "Chloroform"),
    ],
)
def test_classify(
    name: str, categories: tuple[str, ...], gas: str | None, origin: str | None, text: str
) -> None:
    assert classify(name, categories) == (gas, origin)
    assert label(name, categories) == text
