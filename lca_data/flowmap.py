"""USLCI elementary flows -> biosphere3, by the explicit rules in rules/flow_mapping.yaml."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from . import rules as _rules

_SPACES = re.compile(r"\s+")


def normalize_name(name: str) -> str:
    """Strip and collapse whitespace ("Carbon dioxide, fossil " -> "Carbon dioxide, fossil")."""
    return _SPACES.sub(" ", name).strip()


@dataclass(frozen=True)
class BioFlow:
    code: str
    name: str
    categories: tuple[str, ...]


@dataclass
class BiosphereIndex:
    """biosphere3 flows by (name, categories), plus the names characterized by our climate methods."""

    flows: dict[tuple[str, tuple[str, ...]], BioFlow]
    characterized_codes: set[str] = field(default_factory=set)

    @classmethod
    def from_records(
        cls, records: Iterable[dict[str, Any]], characterized_codes: Iterable[str] = ()
    ) -> BiosphereIndex:
        flows = {}
        for r in records:
            cats = tuple(r["categories"])
            flows[(r["name"], cats)] = BioFlow(r["code"], r["name"], cats)
        return cls(flows, set(characterized_codes))

    def get(self, name: str, categories: tuple[str, ...]) -> tuple[BioFlow | None, bool]:
        """Exact compartment, else the top-level compartment (second value True = fallback used)."""
        f = self.flows.get((name, categories))
        if f is not None:
            return f, False
        if len(categories) > 1:
            f = self.flows.get((name, categories[:1]))
            if f is not None:
                return f, True
        return None, False

    def characterized(self, flow: BioFlow | None) -> bool:
        return flow is not None and flow.code in self.characterized_codes


@dataclass(frozen=True)
class Decision:
    name: str  # normalized USLCI name
    category: str  # reduced USLCI category path
    kind: str  # emission | resource | other
    rule: str
    flow: BioFlow | None
    ghg: bool  # GHG-relevant
    characterized: bool  # target has a CF in one of our climate methods
    note: str = ""

    @property
    def keep(self) -> bool:
        """Written to Brightway: flows resolving to a biosphere3 flow characterized by our climate methods."""
        return self.flow is not None and self.characterized

    @property
    def unmapped_ghg(self) -> bool:
        return self.ghg and (self.flow is None or not self.characterized)


class FlowMapper:
    def __init__(self, index: BiosphereIndex, config: dict[str, Any] | None = None):
        cfg = config if config is not None else _rules.load("flow_mapping")
        self.index = index
        self.prefixes = list(cfg["category_prefixes_dropped"])
        self.compartments = {k: list(v) for k, v in cfg["compartments"].items()}
        self.ghg_patterns = [re.compile(p, re.I) for p in cfg["ghg_name_patterns"]]
        self.name_rules: dict[tuple[str, str], dict[str, Any]] = {}
        for r in cfg["name_rules"]:
            key = (normalize_name(r["uslci"]), r["kind"])
            if key in self.name_rules:
                raise ValueError(f"duplicate flow-mapping rule for {key}")
            self.name_rules[key] = r

    def reduce_category(self, path: str) -> str:
        for p in self.prefixes:
            if path.startswith(p):
                return path[len(p) :]
        return "" if path == "Elementary Flows" else path

    def compartment(self, category: str, is_input: bool) -> tuple[str, tuple[str, ...]]:
        spec = self.compartments.get(category)
        if spec is None:
            return "other", ()
        kind, cats = spec[0], tuple(spec[1:])
        if kind == "by-direction":
            return ("resource", ("natural resource",)) if is_input else ("emission", cats)
        return kind, cats

    def is_ghg_name(self, name: str) -> bool:
        return any(p.search(name) for p in self.ghg_patterns)

    def map(self, name: str, category_path: str, is_input: bool) -> Decision:
        n = normalize_name(name)
        cat = self.reduce_category(category_path)
        kind, cats = self.compartment(cat, is_input)
        if kind == "other":
            return Decision(n, cat, kind, "compartment-not-climate", None, False, False)
        rule = self.name_rules.get((n, kind))
        if rule is not None:
            target = rule["bio3"]
            if rule.get("categories"):
                cats = tuple(rule["categories"])
            rule_id, note = rule["id"], " ".join(str(rule.get("note", "")).split())
        else:
            target, rule_id, note = n, "identity", ""
        flow, fell_back = self.index.get(target, cats)
        if fell_back:
            rule_id += "+compartment-fallback"
        characterized = self.index.characterized(flow)
        ghg = characterized or self.is_ghg_name(n) or rule is not None
        if flow is None:
            rule_id = rule_id + "+no-biosphere3-flow" if rule is not None else "unmapped"
        return Decision(n, cat, kind, rule_id, flow, ghg, characterized, note)
