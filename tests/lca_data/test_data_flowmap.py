"""Elementary-flow mapping rules (rules/flow_mapping.yaml) on hand-made cases."""

from __future__ import annotations

import pytest
from jsonld_fixture import BIO_RECORDS, CHARACTERIZED

from lca_data.flowmap import BiosphereIndex, FlowMapper, normalize_name


@pytest.fixture(scope="module")
def mapper() -> FlowMapper:
    return FlowMapper(BiosphereIndex.from_records(BIO_RECORDS, CHARACTERIZED))


def test_trailing_space_is_stripped_and_mapped(mapper: FlowMapper) -> None:
    assert normalize_name("Carbon dioxide, fossil ") == "Carbon dioxide, fossil"
    d = mapper.map("Carbon dioxide, fossil ", "air/unspecified", is_input=False)
    assert d.flow is not None and d.flow.code == "co2-fossil"
    assert d.rule == "co2-fossil" and d.keep and d.ghg


def test_bare_methane_is_fossil_by_explicit_rule(mapper: FlowMapper) -> None:
    d = mapper.map(
        "Methane", "Elementary Flows/NETL Coal Elementary Flows/air/unspecified", is_input=False
    )
    assert d.rule == "ch4-bare"
    assert d.flow.code == "ch4-fossil"
    assert "fossil" in d.note


def test_biogenic_flows(mapper: FlowMapper) -> None:
    ch4 = mapper.map("Methane, biogenic", "Elementary Flows", is_input=False)  # root folder only
    assert ch4.flow.code == "ch4-nonfossil" and ch4.kind == "emission"
    co2 = mapper.map("Carbon dioxide, biogenic", "air/high population density", is_input=False)
    assert co2.flow.code == "co2-nonfossil-urban"


def test_compartment_fallback_is_visible(mapper: FlowMapper) -> None:
    d = mapper.map("Carbon dioxide, fossil", "air/stratosphere", is_input=False)
    assert d.flow.code == "co2-fossil"  # no stratosphere flow in the small index
    assert d.rule.endswith("+compartment-fallback")


def test_uptake_is_a_resource(mapper: FlowMapper) -> None:
    for cat in ("resource/in air", "resource/renewable", "resource/biotic"):
        d = mapper.map("Carbon dioxide, in air", cat, is_input=True)
        assert d.kind == "resource" and d.flow.code == "co2-in-air", cat
    d = mapper.map("Carbon dioxide", "resource/in air", is_input=True)
    assert d.rule == "co2-uptake-bare" and d.flow.code == "co2-in-air"


@pytest.mark.parametrize(
    "name,code,rule",
    [
        ("Dinitrogen monoxide", "n2o", "n2o"),
        ("Nitrous oxide", "n2o", "n2o-synonym"),
        ("Sulfur hexafluoride", "sf6", "sf6"),
        ("Ethane, 1,1,1,2-tetrafluoro-, HFC-134a", "hfc134a", "hfc-134a"),
        ("Methane, tetrafluoro-, FC-14", "r14", "fc-14b"),
        ("Carbon dioxide", "co2-fossil", "co2-bare"),
    ],
)
def test_ghg_rules(mapper: FlowMapper, name: str, code: str, rule: str) -> None:
    d = mapper.map(name, "air/unspecified", is_input=False)
    assert (d.flow.code, d.rule, d.keep) == (code, rule, True)


def test_unmapped_ghg_is_reported_not_dropped_silently(mapper: FlowMapper) -> None:
    d = mapper.map("1,1,1,3,3-Pentafluoropropane, HFC-245fa", "air/unspecified", is_input=False)
    assert d.ghg and d.unmapped_ghg and not d.keep and d.rule == "unmapped"
    d = mapper.map("PFC (perfluorocarbons)", "air/unspecified", is_input=False)
    assert d.unmapped_ghg


def test_non_ghg_and_non_air_are_dropped(mapper: FlowMapper) -> None:
    so2 = mapper.map("Sulfur dioxide", "air/unspecified", is_input=False)
    assert so2.flow is not None and not so2.ghg and not so2.keep and not so2.unmapped_ghg
    water = mapper.map("Methane, fossil", "water/unspecified", is_input=False)
    assert water.kind == "other" and not water.keep and not water.ghg


def test_every_rule_targets_a_real_biosphere3_name() -> None:
    """The rule file must not point at names that do not exist in bw2io's biosphere3 (checked in the
    release: the build report lists each rule's target)."""
    import yaml

    from lca_data import RULES_DIR

    cfg = yaml.safe_load((RULES_DIR / "flow_mapping.yaml").read_text(encoding="utf-8"))
    ids = [r["id"] for r in cfg["name_rules"]]
    assert len(ids) == len(set(ids))
    keys = [(normalize_name(r["uslci"]), r["kind"]) for r in cfg["name_rules"]]
    assert len(keys) == len(set(keys))
