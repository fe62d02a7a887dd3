"""The footprint calculation: a checked bill of materials → demand on background activities →
Brightway results, with contributors, data quality, uncertainty, warnings and provenance.

Pipeline (``calculate``):

1. limits (lines, depth), numbers (NaN, infinite, out of bounds), the GWP set the release has;
2. the manufacturing and transport sections expand into lines (``normalise.expand``);
3. the rule checks the whole bill of materials and runs its use-phase and end-of-life models
   (``Rule.run_models``); every dataset must exist and every amount must convert to its dataset's
   unit — all problems are collected and raised at once (422, nothing stored);
4. every line on a background dataset, every model quantity (kWh, MJ, kg of a refrigerant, kg to a
   treatment route) becomes demand on an activity, per stage; the engine computes each stage's
   indicators (dot products of the demand with its cradle-to-gate vectors), the hotspots and the
   Monte Carlo interval; supplier-specific values (primary data) and literal factors of the rule
   are added with their own value and data quality;
5. the result is assembled as plain JSON (stored as is; never changes).
"""

from __future__ import annotations

import math
import threading
import weakref
from collections import defaultdict
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeGuard

import numpy as np
import pint

from app.background import gases, montecarlo
from app.background.indicators import INDICATOR_KEYS, PRIMARY
from app.core.errors import FieldError, ValidationFailed
from app.core.limits import check_bom_limits
from app.footprints import tables
from app.footprints.engine_port import ActivityKey, EngineView
from app.footprints.normalise import Expanded, InputWalk, expand
from app.footprints.schemas import FootprintInput, FootprintLine
from app.rules.interpreter import CheckReport, ResolvedInput, Rule, ptr
from app.rules.modelkit import FactorValue, ModelOutput
from app.rules.schema import STAGE_ORDER, Boundary, Confidence, GwpSet, LineCategory, Stage
from app.rules.units import (
    UnitProblem,
    magnitude_in,
    parse_unit,
    product_in,
    quantity,
    ratio,
    same_dimension,
)

TOTAL = PRIMARY.key  # gwp100_total
RELEVANT_COVERAGE = 0.8  # "most relevant" contributors: the largest ones up to 80 % of the total
TOP_LINES = 20
TOP_PROCESSES = 10
DQR_BANDS: tuple[tuple[float, str], ...] = (
    (1.5, "excellent"),
    (2.0, "very good"),
    (3.0, "good"),
    (4.0, "fair"),
    (5.0, "poor"),
)
# Literal factors of a rule (no dataset): data quality from the rule's confidence tag.
RULE_FACTOR_DQR = {Confidence.source: 2.5, Confidence.derived: 3.5}
SUPPLIER_DEFAULT_DQR = 3.0
# uncertainty of primary data and literal factors: lognormal sigma by DQR (as the background
# data build does, lca_data/rules/dq_rules.yaml uncertainty_by_dqr)
SIGMA_BY_DQR: tuple[tuple[float, float], ...] = (
    (1.5, 0.05),
    (2.0, 0.10),
    (3.0, 0.20),
    (4.0, 0.35),
    (5.0, 0.60),
)

# Dataset units as the catalogue writes them → units the registry reads.
_DATASET_UNITS = {
    "Item(s)": "item",
    "kWh_GCV": "kWh",
    "kWh_NCV": "kWh",
    "tkm": "t*km",
    "ML": "megaliter",
    "l": "L",
    "m3": "m**3",
    "m2": "m**2",
}


@dataclass(frozen=True)
class CalcConfig:
    max_lines: int
    max_depth: int
    max_amount: float
    mc_iterations: int
    mc_seed: int


@dataclass(frozen=True)
class RuleRef:
    code: str
    version: str
    content_hash: str


@dataclass(slots=True)
class Item:
    """One contribution: demand on a background activity, or a direct (primary / literal) value."""

    stage: Stage
    name: str
    kind: str  # material | energy | transport | use | end_of_life | supplier_specific | ...
    pointer: str | None
    amount: float  # in ``unit``, per reference flow
    unit: str
    dataset: str | None = None
    key: ActivityKey | None = None
    direct_kgco2e: float | None = None  # primary data or a literal factor
    dqr: float | None = None
    primary: bool = False
    packaging: bool = False
    # lognormal sigma of an aggregated factor (its one published value), sampled per line
    sigma: float | None = None
    kgco2e: float = 0.0  # GWP total, per reference flow (set by ``_Builder.compute``)


@dataclass
class Calculation:
    result: dict[str, Any]
    normalised_input: dict[str, Any]
    input_hash: str
    rule: RuleRef
    # demand on background activities per stage, per reference flow (for checks and tests)
    demand: dict[Stage, dict[ActivityKey, float]] = field(default_factory=dict)


def dataset_unit(unit: str) -> str:
    return _DATASET_UNITS.get(unit, unit)


@dataclass(frozen=True, slots=True)
class DatasetFacts:
    """What a calculation reads of a catalogue record, read once per dataset and release."""

    record: dict[str, Any]
    pcf_id: str
    unit: str  # as the catalogue writes it
    target_unit: str  # the same, as the unit registry reads it
    key: ActivityKey
    dqr: float  # the record's DQR (5 when it has none)
    sigma: float | None  # lognormal sigma of an aggregated factor (``_factor_sigma``)
    geography: str
    proxy: bool
    # country of the product -> the dataset's warning for it, (code, message) or None; countries
    # are ISO 3166 alpha-2 codes (``ProductionSite.country``), so at most 676 entries
    warnings: dict[str, tuple[str, str] | None] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, rec: dict[str, Any]) -> DatasetFacts:
        bw = rec["brightway"]
        unit = str(rec["unit"])
        return cls(
            record=rec,
            pcf_id=rec["pcf_id"],
            unit=unit,
            target_unit=dataset_unit(unit),
            key=(bw["database"], bw["code"]),
            dqr=float((rec.get("dq") or {}).get("DQR", 5.0)),
            sigma=_factor_sigma(rec),
            geography=str(rec.get("geography") or rec.get("location") or ""),
            proxy=bool(rec.get("proxy")),
        )

    def warning(self, country: str) -> tuple[str, str] | None:
        """What using the dataset for a product made in ``country`` is warned of: a proxy, or
        data of another geography; (code, message), worded once per country."""
        if country in self.warnings:
            return self.warnings[country]
        geo, pcf_id = self.geography, self.pcf_id
        local = geo.startswith(country) or geo in ("GLO", "")
        w: tuple[str, str] | None = None
        if self.proxy:
            w = (
                "proxy_dataset",
                f"{pcf_id} is a proxy ({geo} data"
                + ("" if local else f" for a product made in {country}")
                + f"; DQR {self.record.get('dq', {}).get('DQR')})",
            )
        elif not local:
            w = (
                "geography_mismatch",
                f"{pcf_id} represents {geo}; the product is made in {country}",
            )
        self.warnings[country] = w
        return w


class _ReleaseFacts:
    """What calculations read of one release's catalogue, worked out once and kept with it.

    A release's catalogue never changes once loaded, so what follows from its records alone is
    the same for every request:

    * ``datasets``: the ``DatasetFacts`` of each dataset a calculation used (at most one per
      dataset of the release: bounded by the catalogue);
    * ``eol``: the default treatment dataset of a (material group, route) (``tables.eol_dataset``
      on this catalogue). Material groups are the caller's words, so this map is bounded: it
      starts afresh beyond ``EOL_ENTRIES`` entries;
    * ``by_key``: the ``pcf_id`` of a background activity shown as a hotspot (None when the
      catalogue has no record of it); keys are the engine's activities, bounded by the release.

    Kept per catalogue in a ``WeakKeyDictionary`` (dropped with the catalogue, so with the
    release). Everything is filled on first use; a race between two requests only computes the
    same value twice. Nothing here holds the catalogue itself (that would keep it alive)."""

    EOL_ENTRIES = 4096

    __slots__ = ("__weakref__", "by_key", "datasets", "eol")

    def __init__(self) -> None:
        self.datasets: dict[str, DatasetFacts] = {}
        self.eol: dict[tuple[str, str], tuple[str, bool] | None] = {}
        self.by_key: dict[ActivityKey, str | None] = {}

    def eol_dataset(
        self, group: str, route: str, exists: Container[str]
    ) -> tuple[str, bool] | None:
        """``tables.eol_dataset(group, route, exists)``, ``exists`` being this catalogue."""
        key = (group, route)
        try:
            return self.eol[key]
        except KeyError:
            pass
        found = tables.eol_dataset(group, route, exists)
        if len(self.eol) >= self.EOL_ENTRIES:
            self.eol.clear()
        self.eol[key] = found
        return found

    def dataset_of(self, catalogue: Any, key: ActivityKey) -> str | None:
        """The ``pcf_id`` of the catalogue's record of a background activity (None if none)."""
        try:
            return self.by_key[key]
        except KeyError:
            pass
        rec = catalogue.by_brightway_key(*key)
        pcf_id: str | None = rec["pcf_id"] if rec else None
        self.by_key[key] = pcf_id
        return pcf_id


_RELEASES: weakref.WeakKeyDictionary[Any, _ReleaseFacts] = weakref.WeakKeyDictionary()
_RELEASES_LOCK = threading.Lock()


def _release_facts(catalogue: Any) -> _ReleaseFacts:
    """The ``_ReleaseFacts`` of a catalogue (a fresh one, used for one calculation only, for a
    catalogue that cannot be weakly referenced)."""
    try:
        facts = _RELEASES.get(catalogue)
        if facts is None:
            with _RELEASES_LOCK:
                facts = _RELEASES.setdefault(catalogue, _ReleaseFacts())
    except TypeError:
        return _ReleaseFacts()
    return facts


def dqr_rating(dqr: float) -> str:
    return next((name for limit, name in DQR_BANDS if dqr <= limit), "poor")


def sigma_for(dqr: float) -> float:
    return next((s for limit, s in SIGMA_BY_DQR if dqr <= limit), 0.6)


# ============================================================================ checks
def _limit_children(line: Any) -> Sequence[Any] | None:
    if type(line) is dict or isinstance(line, Mapping):  # a request's JSON: a dict, tested first
        value = line.get("lines")
    else:
        value = getattr(line, "lines", None)
    return value if value else None


def check_limits(raw_lines: Sequence[Any], cfg: CalcConfig) -> None:
    """Too many lines or too deep: a 422 naming the limit (raised before anything else)."""
    check_bom_limits(
        raw_lines,
        max_lines=cfg.max_lines,
        max_depth=cfg.max_depth,
        children=_limit_children,
        child_key="lines",
    )


def dataset_problems(raw: Any, bg: Any) -> list[FieldError]:
    """Unknown dataset ids anywhere in a (possibly invalid) request, with the closest matches.

    Every id of a request is looked at; a pointer is written only for an unknown one."""
    out: list[FieldError] = []
    catalogue = bg.catalogue

    def unknown(value: Any) -> TypeGuard[str]:
        return isinstance(value, str) and value != "" and value not in catalogue

    def report(value: str, at: str) -> None:
        closest = catalogue.closest(value)
        hint = f"; closest: {', '.join(closest)}" if closest else ""
        out.append(
            FieldError(
                at,
                "dataset_unknown",
                f"no dataset {value} in release {bg.release_id}{hint}",
                {"closest": closest},
            )
        )

    def lines(items: Any, at: str) -> None:
        if not isinstance(items, list):
            return
        for i, line in enumerate(items):
            if type(line) is dict or isinstance(line, Mapping):
                ds = line.get("dataset")
                if ds is not None and unknown(ds):
                    report(ds, f"{at}/{i}/dataset")
                sub = line.get("lines")
                if isinstance(sub, list):
                    lines(sub, f"{at}/{i}/lines")

    if not isinstance(raw, Mapping):
        return out
    lines(raw.get("lines"), "/lines")
    m = raw.get("manufacturing")
    if isinstance(m, Mapping):
        for section, entries in m.items():
            if isinstance(entries, list):
                for i, e in enumerate(entries):
                    if isinstance(e, Mapping) and unknown(ds := e.get("dataset")):
                        report(ds, ptr("manufacturing", section, i, "dataset"))
    legs = raw.get("transport")
    if isinstance(legs, list):
        for i, leg in enumerate(legs):
            if isinstance(leg, Mapping) and unknown(ds := leg.get("dataset")):
                report(ds, ptr("transport", i, "dataset"))
    eol = raw.get("eol_datasets")
    if isinstance(eol, Mapping):
        for group, routes in eol.items():
            if isinstance(routes, Mapping):
                for route, ds in routes.items():
                    if unknown(ds):
                        report(ds, ptr("eol_datasets", group, route))
    inputs = raw.get("inputs")
    if isinstance(inputs, Mapping):
        for key, value in inputs.items():
            if isinstance(value, Mapping) and unknown(ds := value.get("dataset")):
                report(ds, ptr("inputs", key, "dataset"))
    return out


# ============================================================================ the calculation
class _Builder:
    def __init__(
        self,
        inp: FootprintInput,
        rule: Rule,
        ref: RuleRef,
        bg: Any,
        engine: EngineView,
        cfg: CalcConfig,
    ) -> None:
        self.inp = inp
        self.rule = rule
        self.ref = ref
        self.bg = bg
        self.engine = engine
        self.cfg = cfg
        self.errors: list[FieldError] = []
        self.warnings: list[dict[str, Any]] = []  # as the result lists them
        self.items: list[Item] = []
        self.by_stage: dict[Stage, dict[ActivityKey, float]] = {}  # set by ``compute``
        self.exists: Container[str] = bg.catalogue
        self.release = _release_facts(bg.catalogue)
        self._facts = self.release.datasets
        self._warned: set[tuple[str, str]] = set()
        # datasets whose warning (``DatasetFacts.warning``) this calculation has given already
        self._dataset_warned: set[str] = set()
        site = inp.product.production_site
        self.country = site.country if site is not None else "CN"

    # ---------------------------------------------------------------- helpers
    def warn(self, pointer: str | None, code: str, message: str, once: str | None = None) -> None:
        if once is not None:
            if (code, once) in self._warned:
                return
            self._warned.add((code, once))
        self.warnings.append({"pointer": pointer or None, "code": code, "message": message})

    def record(self, pcf_id: str) -> dict[str, Any] | None:
        rec: dict[str, Any] | None = self.bg.catalogue.get(pcf_id)
        return rec

    def facts(self, pcf_id: str) -> DatasetFacts | None:
        """``DatasetFacts`` of a dataset of the release (None for an unknown id)."""
        f = self._facts.get(pcf_id)
        if f is None:
            rec = self.record(pcf_id)
            if rec is None:
                return None
            f = self._facts[pcf_id] = DatasetFacts.of(rec)
        return f

    def to_dataset_unit(
        self, amount: float, unit: str, rec: dict[str, Any], at: str, piece_mass: Any = None
    ) -> float | None:
        target_text = dataset_unit(str(rec["unit"]))
        try:
            target = parse_unit(target_text)
        except UnitProblem:
            self.errors.append(
                FieldError(
                    at + "/dataset",
                    "dataset_unit_unsupported",
                    f"dataset {rec['pcf_id']} is measured in {rec['unit']}, which a bill of "
                    "materials cannot use",
                )
            )
            return None
        try:
            parse_unit(unit)
        except UnitProblem as exc:
            self.errors.append(FieldError(at + "/unit", "unit_unknown", str(exc)))
            return None
        is_items = same_dimension(unit, "item")
        if not (is_items and piece_mass is not None):
            try:  # the common case: one multiplication by a cached pint factor (same bits)
                return magnitude_in(amount, unit, target_text)
            except pint.errors.DimensionalityError:
                pass  # reported below, as before
        q = quantity(amount, unit)
        if is_items and piece_mass is not None:
            try:
                q = q * quantity(piece_mass.value, piece_mass.unit) / quantity(1, "item")
            except UnitProblem as exc:
                self.errors.append(FieldError(at + "/piece_mass/unit", "unit_unknown", str(exc)))
                return None
        try:
            return float(q.to(target).magnitude)
        except pint.errors.DimensionalityError:
            hint = (
                "; give piece_mass (the mass of one piece)"
                if q.dimensionality == parse_unit("item").dimensionality
                else ""
            )
            self.errors.append(
                FieldError(
                    at + "/unit",
                    "unit_incompatible",
                    f"'{unit}' cannot be converted to '{rec['unit']}', the unit of dataset "
                    f"{rec['pcf_id']}{hint}",
                    {"line_unit": unit, "dataset_unit": rec["unit"]},
                )
            )
            return None

    def dataset_item(
        self,
        *,
        stage: Stage,
        name: str,
        kind: str,
        pointer: str | None,
        pcf_id: str,
        amount: float,
        unit: str,
        at: str,
        packaging: bool = False,
        piece_mass: Any = None,
        dqr: float | None = None,
    ) -> None:
        facts = self._facts.get(pcf_id) or self.facts(pcf_id)
        if facts is None:
            closest = self.bg.catalogue.closest(pcf_id)
            self.errors.append(
                FieldError(
                    at + "/dataset",
                    "dataset_unknown",
                    f"no dataset {pcf_id} in release {self.bg.release_id}"
                    + (f"; closest: {', '.join(closest)}" if closest else ""),
                    {"closest": closest},
                )
            )
            return
        converted: float | None = None
        if piece_mass is None:
            try:  # the common case: one multiplication by a cached pint factor (same bits)
                converted = magnitude_in(amount, unit, facts.target_unit)
            except (UnitProblem, pint.errors.DimensionalityError):
                converted = None  # to_dataset_unit says what is wrong
        if converted is None:
            converted = self.to_dataset_unit(amount, unit, facts.record, at, piece_mass)
            if converted is None:
                return
        self.items.append(
            Item(
                stage,
                name,
                kind,
                pointer,
                converted,
                facts.unit,
                pcf_id,
                facts.key,
                None,  # direct_kgco2e
                dqr if dqr is not None else facts.dqr,
                False,  # primary
                packaging,
                facts.sigma,
            )
        )
        if pcf_id not in self._dataset_warned:
            self._dataset_warnings(facts, pointer)

    def _dataset_warnings(self, facts: DatasetFacts, pointer: str | None) -> None:
        """The dataset's warning, at its first item (``warn(once=pcf_id)`` would drop it at
        every later one: those are not even looked at)."""
        self._dataset_warned.add(facts.pcf_id)
        w = facts.warning(self.country)
        if w is not None:
            self.warn(pointer, w[0], w[1], once=facts.pcf_id)

    def direct_item(
        self,
        *,
        stage: Stage,
        name: str,
        kind: str,
        pointer: str,
        amount: float,
        unit: str,
        value: float,
        value_unit: str,
        at: str,
        dqr: float,
        primary: bool,
        packaging: bool = False,
    ) -> None:
        try:
            kg = product_in(amount, unit, value, value_unit, "kgCO2e")
        except (UnitProblem, pint.errors.DimensionalityError):
            self.errors.append(
                FieldError(
                    at,
                    "unit_incompatible",
                    f"{value_unit} cannot be applied to an amount in {unit}",
                    {"line_unit": unit, "factor_unit": value_unit},
                )
            )
            return
        self.items.append(
            Item(
                stage=stage,
                name=name,
                kind=kind,
                pointer=pointer,
                amount=amount,
                unit=unit,
                direct_kgco2e=float(kg),
                dqr=dqr,
                primary=primary,
                packaging=packaging,
            )
        )

    # ---------------------------------------------------------------- lines
    def lines(self, exp: Expanded, scale: float) -> None:
        self._lines(exp.lines, exp, "", 1.0, False, scale)

    def _lines(
        self,
        lines: Sequence[FootprintLine],
        exp: Expanded,
        base: str,
        mult: float,
        packaging: bool,
        scale: float,
    ) -> None:
        """The items of ``lines`` (``base``: their parent's pointer, "" at the top, where
        generated lines point at the entry they came from; ``mult``: the parents' amounts)."""
        origins = exp.origin if base == "" else {}
        for i, line in enumerate(lines):
            at = f"{base}/lines/{i}"
            origin = origins.get(i)
            pointer = origin.pointer if origin is not None else at
            pack = packaging or line.packaging
            if line.excluded:
                continue
            if line.lines:
                self._lines(line.lines, exp, at, mult * line.amount, pack, scale)
                continue
            amount = line.amount * mult * scale
            if line.reusable and line.trips:
                amount /= line.trips
            if line.supplier_value is not None:
                sv = line.supplier_value
                dqr = line.dqr.value if line.dqr is not None else SUPPLIER_DEFAULT_DQR
                if line.dqr is None:
                    self.warn(
                        pointer + "/dqr",
                        "default_applied",
                        f"supplier-specific value without data-quality scores: DQR "
                        f"{SUPPLIER_DEFAULT_DQR:g} assumed",
                    )
                self.direct_item(
                    stage=line.stage,
                    name=line.name,
                    kind="supplier_specific",
                    pointer=pointer,
                    amount=amount,
                    unit=line.unit,
                    value=sv.value,
                    value_unit=sv.unit,
                    at=pointer + "/supplier_value/unit",
                    dqr=dqr,
                    primary=True,
                    packaging=pack,
                )
            elif line.dataset is not None:
                stage = line.stage
                self.dataset_item(
                    stage=stage,
                    name=line.name,
                    kind=_kind(stage, _CATEGORY_VALUE.get(line.category) or line.category.value),
                    pointer=pointer,
                    pcf_id=line.dataset,
                    amount=amount,
                    unit=line.unit,
                    at=pointer,
                    packaging=pack,
                    piece_mass=line.piece_mass,
                    dqr=line.dqr.value if line.dqr is not None else None,
                )
            elif origin is not None and origin.factor is not None:
                f = origin.factor
                self.direct_item(
                    stage=line.stage,
                    name=line.name,
                    kind="rule_factor",
                    pointer=pointer,
                    amount=amount,
                    unit=line.unit,
                    value=float(f.value or 0.0),
                    value_unit=f.unit or "kgCO2e/kWh",
                    at=pointer,
                    dqr=RULE_FACTOR_DQR[Confidence.derived],
                    primary=False,
                )
            if origin is not None and origin.detail.get("mass_defaulted"):
                self.warn(
                    pointer + "/mass",
                    "default_applied",
                    "distribution leg without a mass: the product mass is used",
                )

    # ---------------------------------------------------------------- model outputs
    def model_outputs(
        self, outputs: Sequence[ModelOutput], inputs: Mapping[str, ResolvedInput], scale: float
    ) -> None:
        eol_over = self.inp.eol_datasets
        key = _input_for(self.rule)
        factor_pointer = "/inputs" + (ptr(key) if key else "")
        release, exists = self.release, self.exists
        for o in outputs:
            amount = o.amount * scale
            if o.kind == "waste":  # most outputs: every material group x route
                d = o.detail
                group, route = d.get("material_group"), d.get("route")
                if type(group) is str and type(route) is str:
                    name, at, share_pointer = _waste_names(group, route, o.packaging)
                else:  # not what the end-of-life model writes: worded as it comes
                    name = _waste_name(group, route, o.packaging)
                    group = str(d.get("material_group", "unspecified"))
                    route = str(d.get("route", ""))
                    _, at, share_pointer = _waste_names(group, route, o.packaging)
                chosen = None
                if eol_over:
                    chosen = (eol_over.get(group) or {}).get(route) or (
                        eol_over.get("*") or {}
                    ).get(route)
                if chosen is None:
                    found = release.eol_dataset(group, route, exists)
                    if found is None:
                        self.errors.append(
                            FieldError(
                                at,
                                "eol_dataset_missing",
                                f"no default treatment dataset for route {route}: give one in "
                                "eol_datasets",
                            )
                        )
                        continue
                    chosen, specific = found
                    if not specific:
                        self.warn(
                            at,
                            "proxy_dataset",
                            f"no material-specific treatment dataset for {group} → {route}: "
                            f"{chosen} stands in",
                            once=f"{group}:{route}",
                        )
                self.dataset_item(
                    stage=o.stage,
                    name=name,
                    kind="end_of_life",
                    pointer=share_pointer,
                    pcf_id=chosen,
                    amount=amount,
                    unit=o.unit,
                    at=at,
                    packaging=o.packaging,
                )
                continue
            name = _output_name(o)
            pointer = "/inputs"
            if o.kind in ("electricity", "fuel"):
                f = o.factor or FactorValue()
                pointer = factor_pointer
                if f.dataset is not None:
                    self.dataset_item(
                        stage=o.stage,
                        name=name,
                        kind=_kind(o.stage, o.kind),
                        pointer=pointer,
                        pcf_id=f.dataset,
                        amount=amount,
                        unit=o.unit,
                        at=pointer,
                        packaging=o.packaging,
                    )
                elif f.value is not None and f.unit is not None:
                    r = inputs.get(key or "")
                    dqr = RULE_FACTOR_DQR.get(
                        r.confidence if r and r.confidence else Confidence.derived, 3.5
                    )
                    self.direct_item(
                        stage=o.stage,
                        name=name,
                        kind="rule_factor",
                        pointer=pointer,
                        amount=amount,
                        unit=o.unit,
                        value=f.value,
                        value_unit=f.unit,
                        at=pointer,
                        dqr=dqr if r and r.origin == "default" else SUPPLIER_DEFAULT_DQR,
                        primary=r is not None and r.origin == "supplied",
                    )
            elif o.kind == "emission":
                gas = o.gas or ""
                pcf_id = tables.refrigerant_dataset(gas)
                if pcf_id is None:
                    self.errors.append(
                        FieldError(
                            "/inputs", "refrigerant_unknown", f"no emission dataset for {gas}"
                        )
                    )
                    continue
                self.dataset_item(
                    stage=o.stage,
                    name=name,
                    kind="refrigerant",
                    pointer="/inputs/refrigerant",
                    pcf_id=pcf_id,
                    amount=amount,
                    unit=o.unit,
                    at="/inputs/refrigerant",
                )

    # ---------------------------------------------------------------- results
    def compute(self) -> dict[Stage, dict[str, float]]:
        """Every item's GWP (``kgco2e``) and each stage's indicators, per reference flow; keeps
        the demand per stage (``by_stage``) for the calculation's record."""
        items = self.items
        by_stage: dict[Stage, dict[ActivityKey, float]] = defaultdict(lambda: defaultdict(float))
        direct: dict[Stage, float] = defaultdict(float)
        for it in items:
            if it.key is not None:
                by_stage[it.stage][it.key] += it.amount
            else:
                direct[it.stage] += it.direct_kgco2e or 0.0
        self.by_stage = by_stage
        # Each stage's indicators and, for contributors and data quality, every item's GWP: one
        # engine call for all of them.
        with_demand = [st for st in STAGE_ORDER if by_stage.get(st)]
        stage_totals, unit_totals = self.engine.stage_totals([by_stage[st] for st in with_demand])
        totals = dict(zip(with_demand, stage_totals, strict=True))
        for it in items:
            if it.key is not None:
                it.kgco2e = it.amount * unit_totals[it.key]
            else:
                it.kgco2e = it.direct_kgco2e or 0.0
        stages: dict[Stage, dict[str, float]] = {}
        for st in STAGE_ORDER:
            values = dict(totals[st]) if st in totals else dict.fromkeys(INDICATOR_KEYS, 0.0)
            values[TOTAL] = values.get(TOTAL, 0.0) + direct.get(st, 0)
            stages[st] = values
        return stages


def _factor_sigma(rec: Mapping[str, Any]) -> float | None:
    """The lognormal sigma of an aggregated factor (one published value, so no exchange
    uncertainty in the Monte Carlo bank: the data build's sigma by DQR); None otherwise."""
    if rec.get("kind") != "aggregated_factor":
        return None
    unc = rec.get("uncertainty") or {}
    if unc.get("distribution") != "lognormal":
        return None
    return float(unc.get("sigma") or 0.0)


# The plain strings of the enums (an enum member's ``.value`` is a descriptor call: these are
# read for every line and contributor of every request).
_STAGE_VALUE: dict[Stage, str] = {s: s.value for s in Stage}
_CATEGORY_VALUE: dict[LineCategory, str] = {c: c.value for c in LineCategory}


# Enum members as module constants: ``Stage.use`` is a look-up through the enum's metaclass,
# ten times slower than a global, and these are compared for every line.
_USE, _END_OF_LIFE = Stage.use, Stage.end_of_life


def _kind(stage: Stage, category: str) -> str:
    if stage is _USE:
        return "use"
    if stage is _END_OF_LIFE:
        return "end_of_life"
    return category


def _output_name(o: ModelOutput) -> str:
    if o.kind == "waste":
        d = o.detail
        return _waste_name(d.get("material_group"), d.get("route"), o.packaging)
    if o.kind == "emission":
        return f"Refrigerant {o.gas} emitted ({o.stage.value.replace('_', ' ')})"
    if o.kind == "fuel":
        return "Use-phase fuel (rolling resistance)"
    flow = o.flow.split(":", 1)[-1].replace("_", " ")
    return f"{o.stage.value.replace('_', ' ').capitalize()}: electricity ({flow})"


@lru_cache(maxsize=4096)
def _waste_names(group: str, route: str, packaging: bool) -> tuple[str, str, str]:
    """A waste output's name (``_output_name``), where its treatment dataset is chosen and where
    its share is given (cached: the same few groups and routes come back in every request)."""
    return (
        _waste_name(group, route, packaging),
        ptr("eol_datasets", group, route),
        "/inputs/eol_treatment_shares" + ptr(group, route),
    )


def _waste_name(group: Any, route: Any, packaging: bool) -> str:
    return f"End of life: {group} → {route}" + (" (packaging)" if packaging else "")


def _input_for(rule: Rule) -> str | None:
    """The rule input holding the factor of an electricity/fuel output (for pointers): the first
    use-phase model's electricity or energy-factor binding."""
    for spec in rule.doc.use_phase:
        for param in ("electricity", "energy_factor"):
            if param in spec.bind:
                key = spec.bind[param]
                stage_spec = rule.specs.get(key)
                if stage_spec is not None:
                    return key
    return None


def _default_message(r: ResolvedInput) -> str:
    """The warning that a rule's default stands for an input the request did not give."""
    unit = f" {r.spec.unit}" if r.spec.unit and r.spec.type.value == "quantity" else ""
    shown = r.value.magnitude if isinstance(r.value, pint.Quantity) else r.value
    if isinstance(shown, FactorValue):
        shown = shown.dataset or f"{shown.value} {shown.unit}"
    return (
        f"{r.spec.label}: the rule's default {shown}{unit} "
        f"({r.confidence.value if r.confidence else 'default'}; {r.source})"
    )


# Per compiled rule: input key -> (the rule's default ``ResolvedInput``, pointer, warning). A
# rule keeps its defaults for its lifetime (``Rule._default_input``) and never changes, so the
# words are the same for every request; an entry is used only for the very default object it
# was worded for. Bounded by the rule's inputs; dropped with the rule (weak keys).
_DEFAULT_WARNINGS: weakref.WeakKeyDictionary[Rule, dict[str, tuple[ResolvedInput, str, str]]] = (
    weakref.WeakKeyDictionary()
)


def _default_warnings(rule: Rule) -> dict[str, tuple[ResolvedInput, str, str]]:
    said = _DEFAULT_WARNINGS.get(rule)
    if said is None:
        with _RELEASES_LOCK:
            said = _DEFAULT_WARNINGS.setdefault(rule, {})
    return said


@lru_cache(maxsize=4096)
def _gas_label(flow_name: str) -> str:
    return gases.label(flow_name)


# ============================================================================ entry point
def calculate(
    inp: FootprintInput,
    rule: Rule,
    ref: RuleRef,
    bg: Any,
    engine: EngineView,
    cfg: CalcConfig,
) -> Calculation:
    """The footprint of ``inp`` under ``rule`` on the background ``bg`` (422 with every problem
    otherwise)."""
    doc = rule.doc
    b = _Builder(inp, rule, ref, bg, engine, cfg)
    boundary = inp.boundary or doc.boundary.default
    gwp = inp.gwp_set or doc.gwp.default
    if gwp is not GwpSet.AR6 and gwp in doc.gwp.allowed:
        b.errors.append(
            FieldError(
                "/gwp_set",
                "gwp_set_unavailable",
                f"the background release characterises with IPCC 2021 (AR6) only; {gwp} "
                "cannot be calculated",
            )
        )
    # Bad numbers now; the normalised input and its hash at the end: from one walk of the input
    # (None fields hold no number: leaving them out changes neither what is found nor where).
    walked = InputWalk(inp, cfg.max_amount)
    b.errors.extend(walked.number_errors())

    # Grid electricity: the rule's factor input (resolved with its default; the rule's check of
    # the bill of materials below reuses this resolution).
    resolved = rule.resolve(inp.inputs, boundary)
    grid_in = resolved.inputs.get(doc.electricity.factor_input)
    grid = grid_in.value if grid_in is not None and isinstance(grid_in.value, FactorValue) else None
    site = inp.product.production_site
    region: tuple[str, str] | None = None
    if site is not None and site.province:
        region = tables.province_region(site.province)
        if region is None and site.country == "CN":
            b.errors.append(
                FieldError(
                    "/product/production_site/province",
                    "province_unknown",
                    f"unknown province {site.province}; e.g. "
                    + ", ".join(tables.known_provinces()[:8]),
                )
            )

    exp = expand(inp, grid)
    b.errors.extend(exp.errors)
    bom = inp.model_copy(update={"lines": exp.lines})
    outputs, report = rule.run_models(bom, resolved)
    b.errors.extend(exp.remap(e) for e in report.errors)
    for warning in report.warnings:
        remapped = exp.remap(warning)
        b.warn(remapped.pointer, remapped.code, remapped.message)

    ra = report.reference_amount
    scale = ratio(rule.reference_flow, ra) if ra is not None else 1.0
    b.lines(exp, scale)
    b.model_outputs(outputs, report.inputs, scale)

    if b.errors:
        seen: set[tuple[str, str, str]] = set()
        unique = []
        for e in b.errors:
            k = (e.pointer, e.code, e.message)
            if k not in seen:
                seen.add(k)
                unique.append(e)
        n = len(unique)
        raise ValidationFailed(
            f"{n} problem{'s' if n != 1 else ''} found in the footprint input; see errors[].",
            errors=unique,
        )

    stages = b.compute()
    if grid is not None and grid.dataset and region is not None:
        b.warn(
            "/product/production_site/province",
            "grid_region_not_used",
            f"site in {region[0]} ({tables.GRID_REGIONS[region[1]]}): the rule prescribes "
            f"{grid.dataset} for grid electricity (regional factors are CO2-only, location-"
            "based series; docs/domain.md §4.1)",
        )
    defaults = _default_warnings(rule)
    for key, r in report.inputs.items():
        if r.origin == "default":
            said = defaults.get(key)
            if said is None or said[0] is not r:
                said = defaults[key] = (r, "/inputs" + ptr(key), _default_message(r))
            b.warn(said[1], "default_applied", said[2])
    result = _assemble(b, stages, report, boundary, gwp, ref, region)
    norm, digest = walked.normalised_and_hash(ref.version, boundary.value, gwp.value)
    result["provenance"]["input_hash"] = digest
    return Calculation(
        result=result,
        normalised_input=norm,
        input_hash=digest,
        rule=ref,
        demand={st: dict(d) for st, d in b.by_stage.items()},
    )


def _assemble(
    b: _Builder,
    stages: dict[Stage, dict[str, float]],
    report: CheckReport,
    boundary: Boundary,
    gwp: GwpSet,
    ref: RuleRef,
    region: tuple[str, str] | None,
) -> dict[str, Any]:
    doc = b.rule.doc
    active = b.rule.stages_in(boundary)
    to_fu = b.rule.to_functional_unit

    in_boundary = [s for s in STAGE_ORDER if s in active]
    indicators = {
        k: sum([stages[s].get(k, 0.0) for s in in_boundary]) * to_fu for k in INDICATOR_KEYS
    }
    total = indicators[TOTAL]
    denom = total if total else 1.0
    stage_rows = [
        {
            "stage": _STAGE_VALUE[s],
            "kgco2e": stages[s][TOTAL] * to_fu,
            "share": stages[s][TOTAL] * to_fu / denom,
            "indicators": {k: stages[s].get(k, 0.0) * to_fu for k in INDICATOR_KEYS},
        }
        for s in in_boundary
    ]
    gate = sum(stages[s][TOTAL] for s in (Stage.raw_materials, Stage.manufacturing))
    to_du = b.rule.to_declared_unit
    per_unit: list[dict[str, Any]] = []
    if boundary is Boundary.cradle_to_grave:
        per_unit.append(
            {
                "key": "functional_unit",
                "description": doc.functional_unit.description,
                "amount": doc.functional_unit.amount,
                "unit": doc.functional_unit.unit,
                "kgco2e": total,
            }
        )
    per_unit.append(
        {
            "key": "declared_unit",
            "description": doc.declared_unit.description,
            "amount": doc.declared_unit.amount,
            "unit": doc.declared_unit.unit,
            "kgco2e": gate * to_du,
        }
    )
    factors = b.rule.reporting_factors(report.inputs)
    for ru in doc.reporting_units:
        if ru.key in factors:
            per_unit.append(
                {
                    "key": ru.key,
                    "description": ru.description,
                    "amount": ru.amount,
                    "unit": ru.unit,
                    "kgco2e": total / to_fu * factors[ru.key],
                }
            )

    # Contributors: lines and model quantities, then background processes.
    items = [it for it in b.items if it.stage in active]
    magnitudes = [abs(it.kgco2e) for it in items]
    # largest first, equal ones in item order (a stable sort, as sorted(key=abs) with reverse)
    ranked = [items[i] for i in sorted(range(len(items)), key=magnitudes.__getitem__, reverse=True)]
    line_rows = [
        {
            "pointer": it.pointer,
            "name": it.name,
            "stage": _STAGE_VALUE[it.stage],
            "kind": it.kind,
            "dataset": it.dataset,
            "amount": it.amount * to_fu,
            "unit": it.unit,
            "kgco2e": it.kgco2e * to_fu,
            "share": it.kgco2e * to_fu / denom,
            "packaging": it.packaging,
            "primary": it.primary,
            "dqr": it.dqr,
        }
        for it in ranked[:TOP_LINES]
    ]
    # One pass for the demand and the sums below (each summed in item order, as sum() would).
    demand: dict[ActivityKey, float] = {}
    direct_sum = pack_sum = abs_sum = primary_abs = 0.0
    for it, magnitude in zip(items, magnitudes, strict=True):
        if it.key is not None:
            demand[it.key] = demand.get(it.key, 0.0) + it.amount * to_fu
        elif it.direct_kgco2e:
            direct_sum += it.direct_kgco2e
        if it.packaging:
            pack_sum += it.kgco2e
        abs_sum += magnitude
        if it.primary:
            primary_abs += magnitude
    hot = b.engine.hotspots(demand, TOP_PROCESSES) if demand else None
    processes: list[dict[str, Any]] = []
    gases: dict[str, float] = defaultdict(float)
    if hot is not None:
        release, catalogue = b.release, b.bg.catalogue
        for p in hot.processes:
            processes.append(
                {
                    "dataset": release.dataset_of(catalogue, p.key) if p.key else None,
                    "name": p.name,
                    "location": p.location,
                    "kgco2e": p.score,
                    "share": p.score / denom,
                }
            )
        for f in hot.flows:
            gases[_gas_label(f.name)] += f.score
    direct_total = direct_sum * to_fu
    if direct_total:
        gases["unspecified (primary data and literal factors, CO2e only)"] += direct_total
    gases_out = {k: v for k, v in sorted(gases.items(), key=lambda kv: -abs(kv[1])) if v}

    pack = pack_sum * to_fu

    # Data quality: weighted over the most relevant contributors (up to 80 % of the total).
    abs_total = abs_sum or 1.0
    covered, weighted, weights, n_rel = 0.0, 0.0, 0.0, 0
    for it in ranked:
        if covered >= RELEVANT_COVERAGE:
            break
        share = abs(it.kgco2e) / abs_total
        if share <= 0:
            break
        weighted += share * (it.dqr if it.dqr is not None else 5.0)
        weights += share
        covered += share
        n_rel += 1
    dqr = round(weighted / weights, 2) if weights else 5.0
    primary_share = primary_abs / abs_total
    if dqr > doc.data_quality.max_dqr:
        b.warn(
            None,
            "dqr_above_rule",
            f"the footprint's DQR {dqr:.2f} is worse than the rule's {doc.data_quality.max_dqr:g}",
        )

    uncertainty = _uncertainty(b, items, demand, to_fu, total)

    rec_release = b.bg.release.manifest
    libraries = dict(rec_release.get("libraries") or {})
    libraries.update(_runtime_versions())
    return {
        "total_kgco2e": total,
        "unit": "kg CO2e",
        "functional_unit": doc.functional_unit.description
        if boundary is Boundary.cradle_to_grave
        else doc.declared_unit.description,
        "per_unit": per_unit,
        "stages": stage_rows,
        "gases": gases_out,
        "indicators": indicators,
        "packaging": {"kgco2e": pack, "share": pack / denom},
        "contributors": {"lines": line_rows, "processes": processes},
        "data_quality": {
            "dqr": dqr,
            "rating": dqr_rating(dqr),
            "method": "DQR = (TeR + GeR + TiR + P) / 4 per dataset, weighted by contribution "
            f"over the largest contributors up to {RELEVANT_COVERAGE:.0%} of the total",
            "relevant_contributors": n_rel,
            "coverage": covered,
            "primary_data_share": primary_share,
            "max_dqr_of_rule": doc.data_quality.max_dqr,
        },
        "uncertainty": uncertainty,
        "cut_off": report.cut_off,
        "inputs": {k: r.as_dict() for k, r in report.inputs.items()},
        "warnings": b.warnings,
        "provenance": {
            "pcr_code": ref.code,
            "pcr_version": ref.version,
            "pcr_content_hash": ref.content_hash,
            "release_id": b.bg.release_id,
            "impact_method": list(PRIMARY.method),
            "gwp_set": gwp.value,
            "boundary": boundary.value,
            "grid_region": (
                {"province": region[0], "region": region[1], "name": tables.GRID_REGIONS[region[1]]}
                if region
                else None
            ),
            "libraries": libraries,
            "input_hash": "",
            "calculated_at": datetime.now(UTC).isoformat(),
        },
    }


def _uncertainty(
    b: _Builder,
    items: Sequence[Item],
    demand: dict[ActivityKey, float],
    to_fu: float,
    total: float,
) -> dict[str, Any]:
    """Monte Carlo: the engine samples the background; primary data and literal factors are
    sampled lognormally (sigma by DQR) with the same seed; the samples add up."""
    n, seed = b.cfg.mc_iterations, b.cfg.mc_seed
    # An aggregated factor (one published value) carries no exchange uncertainty in the bank:
    # its own lognormal sigma (the data build's, by DQR) is sampled as the engine's per-line
    # factor. Datasets with inventories are sampled by the bank only.
    sigmas: dict[ActivityKey, float] = {}
    for it in items:
        if it.sigma is not None and it.key is not None and it.key not in sigmas:
            sigmas[it.key] = it.sigma
    background = b.engine.monte_carlo_samples(demand, n, seed, sigmas) if demand else None
    method = (
        "Monte Carlo: background exchanges by their uncertainty (the release's sample bank), "
        "primary data and literal factors lognormal with sigma by DQR"
    )
    if background is not None:
        samples = np.asarray(background, dtype=float).copy()
        n = samples.shape[0]
    else:
        samples = np.full(n, sum(it.kgco2e for it in items if it.key is not None) * to_fu)
        if demand:
            method = (
                "Monte Carlo of primary data and literal factors only: the release has no "
                "Monte Carlo bank yet (background taken as certain)"
            )
            b.warn(None, "uncertainty_partial", "background uncertainty not sampled (no bank)")
    rng: np.random.Generator | None = None  # default_rng(seed + 1)'s stream, on first use
    for it in items:
        v = (it.direct_kgco2e or 0.0) * to_fu
        if v:
            s = sigma_for(it.dqr or SUPPLIER_DEFAULT_DQR)
            if rng is None:
                rng = montecarlo.seeded_generator(seed + 1)
            # median-preserving lognormal around the stated value
            samples = samples + v * rng.lognormal(0.0, s, n)
    # A finite sum has only finite terms (an infinite or NaN sample makes the sum so), so the
    # sum that the mean needs anyway spares the element-wise check in the common case.
    summed = float(np.add.reduce(samples))
    if not math.isfinite(summed) and not np.all(np.isfinite(samples)):
        samples = np.full(n, total)
        summed = float(np.add.reduce(samples))
    p2, p50, p97 = montecarlo.percentiles(samples, (2.5, 50, 97.5))
    mean, sd = montecarlo.mean_sd(samples, summed)
    return {
        "method": method,
        "iterations": n,
        "seed": seed,
        "mean": mean,
        "sd": sd,
        "p2_5": p2,
        "p50": p50,
        "p97_5": p97,
        "interval_95": [p2, p97],
    }


@lru_cache(maxsize=1)
def _runtime_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str] = {}
    for pkg in ("pcf-service", "bw2calc", "bw_processing", "numpy", "scipy", "pint", "pydantic"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return out
