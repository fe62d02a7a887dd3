"""The calculation's caches and shortcuts give the numbers of the straightforward code.

* every example (and variants of it) through the service's engine view — supply columns summed
  from a cache, Monte Carlo rows and lognormal factors from caches — against a reference view
  written the plain way (a sparse solve per hotspot request, numpy's draws and ``einsum`` on the
  bank as read from disk): the whole result, bit for bit, except the values that come out of
  the summed supply columns (within 1e-12 relative, see docs/engine.md "Hotspots");
* the engine's supply columns against a direct solve, and their cache's bounds;
* the shortcuts that replace a general library call by its arithmetic (percentiles, mean and
  sd, pint conversions, orjson for the input hash, the one walk of the input) against the call;
* what is kept per rule or per dataset is not shared with a result (changing a result changes
  no later one).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from app.background.engine import BoundedCache, Engine, RowCache, _top_abs
from app.background.indicators import INDICATOR_KEYS, PRIMARY
from app.background.loader import BackgroundData
from app.background.montecarlo import (
    generator_at,
    mean_sd,
    percentiles,
    sample_order,
    seeded_generator,
)
from app.footprints import tables
from app.footprints.calculator import CalcConfig, RuleRef, calculate
from app.footprints.engine_port import ActivityKey, EngineAdapter, Hot, Hotspots, engine_view
from app.footprints.normalise import (
    InputWalk,
    _canonical_bytes,
    _numbers,
    canonical_json,
    input_hash,
    normalised,
)
from app.footprints.services import parse_input
from app.rules.interpreter import Rule, load_reference_rules
from app.rules.units import magnitude_of, parse_unit, product_in, quantity, ratio
from tests.footprints.conftest import all_examples, example

CFG = CalcConfig(max_lines=2000, max_depth=8, max_amount=1e9, mc_iterations=500, mc_seed=11)
REL = 1e-12  # summed supply columns vs one solve: float round-off only


# ============================================================================ the reference view
class ReferenceView:
    """``EngineView`` the straightforward way: unit values and footprints from the engine's
    public methods, a sparse solve per hotspot request, and the Monte Carlo of the bank as the
    engine computed it before its caches (bank rows read and permuted per request, foreground
    normals drawn per request, numpy's percentile machinery left to the caller)."""

    FLOWS = EngineAdapter.FLOWS

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def unit_values(self, keys: Sequence[ActivityKey]) -> dict[ActivityKey, dict[str, float]]:
        return {k: self.engine.unit_values(k) for k in keys}

    def unit_totals(self, keys: Sequence[ActivityKey]) -> dict[ActivityKey, float]:
        return {k: self.engine.unit_values(k).get(PRIMARY.key, 0.0) for k in keys}

    def totals(self, demand: Mapping[ActivityKey, float]) -> dict[str, float]:
        values = self.engine.footprint(dict(demand))
        return {k: float(values.get(k, 0.0)) for k in INDICATOR_KEYS}

    def stage_totals(
        self, demands: Sequence[Mapping[ActivityKey, float]]
    ) -> tuple[list[dict[str, float]], dict[ActivityKey, float]]:
        keys = list({k: None for d in demands for k in d})
        return [self.totals(d) for d in demands], self.unit_totals(keys)

    def hotspots(self, demand: Mapping[ActivityKey, float], n: int) -> Hotspots:
        e = self.engine
        k = e.indicator_keys.index(PRIMARY.key)
        s = e.supply(dict(demand))  # one solve on the factorization
        direct = e._direct[:, k] * s
        inventory = e.biosphere @ s
        flow_values = e.characterization[k] * inventory
        processes = []
        for j in _top_abs(direct, n):
            meta = e.activity_meta[j] if j < len(e.activity_meta) else {}
            processes.append(
                Hot(
                    e.activities[j],
                    str(meta.get("name", "")),
                    meta.get("location"),
                    float(direct[j]),
                )
            )
        flows = [
            Hot(None, str(e.flows[i].get("name", "")), None, float(flow_values[i]))
            for i in _top_abs(flow_values, self.FLOWS)
        ]
        return Hotspots(processes=processes, flows=flows)

    def monte_carlo_samples(
        self,
        demand: Mapping[ActivityKey, float],
        n: int,
        seed: int,
        sigmas: Mapping[ActivityKey, float] | None = None,
    ) -> np.ndarray[Any, Any] | None:
        e = self.engine
        if not e.bank_ready:
            return None
        bank = e._bank
        assert bank is not None
        sig = sigmas or {}
        keys = list(demand)
        idx = np.array([e.product_index(key) for key in keys], dtype=np.int64)
        amounts = np.array([float(demand[key]) for key in keys])
        sigma = np.array([float(sig.get(key, 0.0)) for key in keys])
        ks = np.array([e.indicator_keys.index(PRIMARY.key)])
        block = bank[idx[:, None], ks[None, :]]  # [lines, 1, bank samples]
        n_bank = int(block.shape[2])
        iterations = min(n, n_bank)
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EED]))
        cols = rng.permutation(n_bank)[:iterations]
        values = np.asarray(block, dtype=np.float64)[:, :, cols]
        factors = np.broadcast_to(amounts[:, None], (len(idx), iterations)).copy()
        uncertain = sigma > 0
        if uncertain.any():
            z = rng.standard_normal((int(uncertain.sum()), iterations))
            factors[uncertain] *= np.exp(sigma[uncertain, None] * z)
        return np.asarray(np.einsum("ikn,in->nk", values, factors)[:, 0], dtype=float)


# ============================================================================ the whole result
@pytest.fixture(scope="module")
def rules() -> dict[str, Rule]:
    return {code: Rule(doc) for code, doc in load_reference_rules().items()}


def _variants(name: str) -> dict[str, dict[str, Any]]:
    """The example, and the same with a grid factor given as a value, a supplier-specific first
    line and a sub-assembly counted in pieces."""
    raw = example(name)
    out = {"as given": raw}
    v = copy.deepcopy(raw)
    v.setdefault("inputs", {})["grid_electricity"] = {"value": 0.61, "unit": "kgCO2e/kWh"}
    out["grid value"] = v
    v = copy.deepcopy(raw)
    v["lines"][0].pop("dataset")
    v["lines"][0]["supplier_value"] = {"value": 2.5, "unit": "kgCO2e/kg", "source": "supplier"}
    out["supplier value"] = v
    v = copy.deepcopy(raw)
    first = raw["lines"][0]
    v["lines"].append(
        {
            "name": "Fasteners kit",
            "stage": "raw_materials",
            "amount": 2,
            "unit": "item",
            "material_group": first.get("material_group", "steel"),
            "lines": [
                {
                    "name": "Bolt",
                    "stage": "raw_materials",
                    "amount": 3,
                    "unit": "item",
                    "piece_mass": {"value": 12, "unit": "g"},
                    "dataset": first["dataset"],
                    "material_group": first.get("material_group", "steel"),
                }
            ],
        }
    )
    out["sub-assembly"] = v
    return out


def _compare(got: Any, want: Any, at: str, loose: Callable[[str], bool]) -> list[str]:
    """Where ``got`` differs from ``want``: exactly, or within REL where ``loose(at)``."""
    if isinstance(want, dict):
        if not isinstance(got, dict) or list(got) != list(want):
            return [f"{at}: keys {list(got) if isinstance(got, dict) else got!r} != {list(want)}"]
        return [d for k in want for d in _compare(got[k], want[k], f"{at}/{k}", loose)]
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return [f"{at}: {got!r} != {want!r}"]
        return [d for i, w in enumerate(want) for d in _compare(got[i], w, f"{at}/{i}", loose)]
    if isinstance(want, float) and loose(at):
        if not math.isclose(got, want, rel_tol=REL, abs_tol=1e-300):
            return [f"{at}: {got!r} vs {want!r} (beyond {REL:g} relative)"]
        return []
    if type(got) is not type(want) or got != want:
        return [f"{at}: {got!r} != {want!r}"]
    return []


def _from_supply_columns(at: str) -> bool:
    """Values computed from the hotspot supply (the reference solves; the service sums columns):
    the processes' values and the split by gas."""
    return at.startswith("/gases/") or (
        at.startswith("/contributors/processes/") and at.rsplit("/", 1)[-1] in ("kgco2e", "share")
    )


@pytest.mark.parametrize("name", all_examples())
def test_every_example_equals_the_straightforward_path(
    background: BackgroundData, rules: dict[str, Rule], name: str
) -> None:
    fast, reference = engine_view(background), ReferenceView(background.engine)
    for variant, raw in _variants(name).items():
        inp = parse_input(raw, background, CFG)
        code = inp.product.pcr_code
        ref = RuleRef(code, "1.0.0", "t")
        want = calculate(inp, rules[code], ref, background, reference, CFG)
        for _ in range(2):  # cold, then with every cache warm
            got = calculate(inp, rules[code], ref, background, fast, CFG)
            for calc in (got, want):
                calc.result["provenance"].pop("calculated_at", None)
            assert got.normalised_input == want.normalised_input, variant
            assert got.input_hash == want.input_hash, variant
            assert got.demand == want.demand, variant
            problems = _compare(got.result, want.result, "", _from_supply_columns)
            assert not problems, (variant, problems[:5])
            assert got.result["contributors"]["processes"], variant


def test_results_share_nothing_with_the_caches(
    background: BackgroundData, rules: dict[str, Rule]
) -> None:
    """A result is the caller's: changing one changes neither the rule's defaults nor a later
    result."""
    inp = parse_input(example("passenger-car-tyre-205-55r16.json"), background, CFG)
    code = inp.product.pcr_code
    run = lambda: calculate(  # noqa: E731
        inp, rules[code], RuleRef(code, "1", "t"), background, engine_view(background), CFG
    )
    first = run().result
    pristine = copy.deepcopy(first)

    def scribble(node: Any) -> None:
        if isinstance(node, dict):
            for k in list(node):
                scribble(node[k])
                node[k] = "x"
        elif isinstance(node, list):
            for i, item in enumerate(node):
                scribble(item)
                node[i] = "x"

    scribble(first)
    second = run().result
    for r in (second, pristine):
        r["provenance"].pop("calculated_at")
    assert second == pristine


# ============================================================================ engine
def test_supply_columns_equal_a_solve(background: BackgroundData) -> None:
    engine = background.engine
    rng = np.random.default_rng(5)
    picks = rng.choice(engine.n_products, 30, replace=False)
    amounts = rng.uniform(0.1, 50, 30)
    demand = {engine.products[int(i)]: float(a) for i, a in zip(picks, amounts, strict=True)}
    s, inventory = engine.supply_and_inventory(demand)
    solved = engine.supply(demand)
    scale = np.abs(solved).max()
    assert np.max(np.abs(s - solved)) <= REL * scale
    assert np.max(np.abs(inventory - engine.biosphere @ solved)) <= REL * np.abs(inventory).max()
    again = engine.supply_and_inventory(dict(demand))  # from the cache: the same bits
    assert np.array_equal(again[0], s) and np.array_equal(again[1], inventory)
    for j in picks[:5]:
        e = np.zeros(engine.n_products)
        e[int(j)] = 1.0
        column = engine.supply_column(int(j))
        direct = engine.factorization().solve(e)
        assert np.array_equal(column[: engine.n_products], direct)  # one solve, kept as is


def test_hotspots_from_columns_rank_as_a_solve(background: BackgroundData) -> None:
    engine = background.engine
    keys = engine.products[:: max(1, engine.n_products // 40)][:40]
    demand = {k: 1.0 + i for i, k in enumerate(keys)}
    h = engine.hotspots(demand, top_processes=10, top_flows=10)
    reference = ReferenceView(engine).hotspots(demand, 10)
    assert [p.index for p in h.processes] == [
        engine.activities.index(p.key) for p in reference.processes
    ]  # type: ignore[arg-type]
    for p, q in zip(h.processes, reference.processes, strict=True):
        assert p.value == pytest.approx(q.score, rel=REL)
    assert h.total == pytest.approx(engine.footprint(demand)[PRIMARY.key], rel=1e-9)


def test_bounded_cache_keeps_to_its_budget() -> None:
    cache: BoundedCache[int, np.ndarray[Any, Any]] = BoundedCache(10_000)
    for i in range(50):
        cache.put(i, np.zeros(100), 800)
    assert cache.nbytes <= 10_000 and len(cache) == 12
    assert cache.get(0) is None and cache.get(49) is not None  # the least recently used went
    cache.get_many([38, 39])
    cache.put(100, np.zeros(100), 800)
    assert cache.get(38) is not None and cache.get(40) is None
    cache.put(200, np.zeros(10_000), 80_000)  # larger than the whole budget: not kept
    assert cache.get(200) is None


def test_row_cache_gathers_what_it_was_given() -> None:
    made: list[list[int]] = []

    def make(keys: list[int]) -> list[np.ndarray[Any, Any]]:
        made.append(keys)
        return [np.full(4, float(k)) for k in keys]

    cache: RowCache[int] = RowCache(4, 10 * 4 * 8)  # room for 10 rows
    rows = cache.gather([3, 1, 3, 2], make)
    assert rows.tolist() == [[3.0] * 4, [1.0] * 4, [3.0] * 4, [2.0] * 4]
    assert made == [[3, 1, 2]]
    assert cache.gather([2, 3], make).tolist() == [[2.0] * 4, [3.0] * 4] and len(made) == 1
    cache.gather(list(range(10, 18)), make)  # 8 new rows: 3 + 8 > 10, the block starts afresh
    assert len(cache) == 8
    everything = cache.gather(list(range(30, 42)), make)  # 12 rows alone exceed the budget
    assert everything[:, 0].tolist() == [float(k) for k in range(30, 42)] and len(cache) == 8
    assert cache.gather([], make).shape == (0, 4)


def test_monte_carlo_rows_and_factors_equal_the_draws(background: BackgroundData) -> None:
    """The engine's cached bank rows and lognormal factors give the samples of the plain
    computation, bit for bit, for any mix of certain and uncertain lines."""
    engine = background.engine
    if not engine.bank_ready:
        pytest.skip("the release has no Monte Carlo bank")
    reference = ReferenceView(engine)
    rng = random.Random(2)
    for trial in range(6):
        keys = rng.sample(engine.products, rng.randint(1, 30))
        demand = {k: rng.uniform(0.01, 100) for k in keys}
        sigmas = {k: rng.choice([0.05, 0.2, 0.35]) for k in keys if rng.random() < 0.7}
        if trial == 0:
            sigmas = {k: 0.1 for k in keys}  # all uncertain
        got = engine.monte_carlo(
            demand,
            iterations=300,
            seed=trial,
            sigmas=sigmas,
            keep_samples=True,
            summarize=False,
            indicators=(PRIMARY.key,),
        )
        assert got.samples is not None
        want = reference.monte_carlo_samples(demand, 300, trial, sigmas)
        assert np.array_equal(got.samples[:, 0], want)


def test_sample_order_continues_the_stream() -> None:
    order = sample_order(1000, 500, 42)
    rng = np.random.default_rng(np.random.SeedSequence([42, 0x5EED]))
    assert np.array_equal(order.cols, rng.permutation(1000)[:500])
    assert np.array_equal(order.generator().standard_normal(50), rng.standard_normal(50))
    fresh = np.random.default_rng(7)
    assert np.array_equal(
        seeded_generator(7).lognormal(0.0, 0.3, 40), fresh.lognormal(0.0, 0.3, 40)
    )
    state = np.random.default_rng(3).bit_generator.state
    assert np.array_equal(generator_at(state).random(5), np.random.default_rng(3).random(5))


# ============================================================================ statistics
def test_percentiles_and_moments_equal_numpy() -> None:
    rng = np.random.default_rng(0)
    for trial in range(3000):
        n = int(rng.integers(1, 1200))
        x = rng.lognormal(0, 2, n) * rng.choice([-1, 1]) + rng.standard_normal() * 10
        if trial % 5 == 0:
            x = np.round(x, 1)  # ties
        qs = (2.5, 50, 97.5) if trial % 3 else (0.0, 12.5, 33.3, 100.0)
        assert percentiles(x, qs) == [float(v) for v in np.percentile(x, qs)]
        assert mean_sd(x) == (float(x.mean()), float(x.std(ddof=1)) if n > 1 else 0.0)


# ============================================================================ units
PAIRS = [
    ("kWh/day", "kWh/year"),
    ("MJ", "kWh"),
    ("g", "kg"),
    ("kg/t", "dimensionless"),
    ("month", "year"),
    ("km", "m"),
    ("L", "L"),
    ("degC", "K"),  # an offset unit: converted by value, never by a cached factor
]


@pytest.mark.parametrize(("unit", "to"), PAIRS)
def test_quantity_conversions_are_pints(unit: str, to: str) -> None:
    for value in (0.0, 1.0, 0.1, 3.3, 12.5, 1e-7, 987654.321, -2.75, 1 / 3):
        q = quantity(value, unit)
        assert magnitude_of(q, to) == float(q.to(parse_unit(to)).magnitude)
        other = quantity(7.25, to)
        if parse_unit(unit).dimensionality == parse_unit(to).dimensionality:
            try:
                want = float((q / other).to("dimensionless").magnitude)
            except Exception:  # offset units: pint refuses the division, and so does ratio
                with pytest.raises(Exception):  # noqa: B017
                    ratio(q, other)
            else:
                assert ratio(q, other) == want


@pytest.mark.parametrize(
    ("a", "b", "to"),
    [
        ("kg", "km", "t*km"),
        ("t", "mi", "t*km"),
        ("kWh", "kgCO2e/kWh", "kgCO2e"),
        ("g", "m", "t*km"),
    ],
)
def test_products_are_pints(a: str, b: str, to: str) -> None:
    for x, y in ((1.0, 2.0), (0.3, 1234.5), (65.0, 800.0), (1e-3, 3.7)):
        want = float((quantity(x, a) * quantity(y, b)).to(to).magnitude)
        assert product_in(x, a, y, b, to) == want
    with pytest.raises(Exception):  # noqa: B017 - pint's own error, as before
        product_in(1.0, "kg", 1.0, "kWh", "t*km")


# ============================================================================ the input
def _reference_normalised(inp: Any, version: str, boundary: str, gwp: str) -> dict[str, Any]:
    data: dict[str, Any] = _numbers(inp.model_dump(mode="json", exclude_none=True))
    data["product"]["pcr_version"] = version
    data["boundary"] = boundary
    data["gwp_set"] = gwp
    return data


@pytest.mark.parametrize("name", all_examples())
def test_one_walk_of_the_input_equals_pydantic_json(background: BackgroundData, name: str) -> None:
    for raw in _variants(name).values():
        inp = parse_input(raw, background, CFG)
        want = _reference_normalised(inp, "1.2.3", "cradle_to_grave", "AR6")
        want_hash = hashlib.sha256(canonical_json(want).encode("utf-8")).hexdigest()
        walked = InputWalk(inp, CFG.max_amount)
        assert walked.complete and not walked.bad_numbers and walked.number_errors() == []
        got, digest = walked.normalised_and_hash("1.2.3", "cradle_to_grave", "AR6")
        assert got == want and json.dumps(got) == json.dumps(want)  # ints stay ints
        assert digest == want_hash
        assert normalised(inp, "1.2.3", "cradle_to_grave", "AR6") == want
        assert input_hash(want) == want_hash


def test_orjson_writes_the_canonical_bytes() -> None:
    rng = random.Random(4)
    specials = [0.0, -0.0, 1e-4, 9.99e-5, 1e-5, 1e-10, 1e16, 1e15, 1e300, 5e-324, 2**53 + 0.0]
    text = ["", "a", "é", "中文", "\u2028", "\x1f", '"\\', "\ud7ff", "😀"]

    def value(depth: int = 0) -> Any:
        r = rng.random()
        if depth > 3 or r < 0.5:
            return rng.choice(
                [
                    rng.uniform(-1e6, 1e6),
                    rng.choice(specials),
                    rng.randint(-(2**63), 2**63 - 1),
                    2**64,
                    rng.choice(text),
                    None,
                    True,
                    False,
                ]
            )
        if r < 0.75:
            return {rng.choice(text) + str(i): value(depth + 1) for i in range(rng.randint(0, 4))}
        return [value(depth + 1) for _ in range(rng.randint(0, 4))]

    for _ in range(3000):
        data = value()
        assert _canonical_bytes(data) == canonical_json(data).encode("utf-8")


def test_bad_numbers_are_still_found(background: BackgroundData) -> None:
    raw = example("refrigerator-300l-two-door.json")
    inp = parse_input(raw, background, CFG)
    inp.lines[0].amount = float("inf")  # as a scenario override could set it
    inp.inputs["label_energy_per_day"] = {"value": float("nan"), "unit": "kWh/day"}
    walked = InputWalk(inp, CFG.max_amount)
    assert walked.bad_numbers
    assert [(e.pointer, e.code) for e in walked.number_errors()] == [
        ("/inputs/label_energy_per_day/value", "not_a_number"),
        ("/lines/0/amount", "not_finite"),
    ]


# ============================================================================ tables
def _reference_eol_dataset(group: str, route: str, exists: Any) -> tuple[str, bool] | None:
    """``tables.eol_dataset`` before its look-ups were cached."""
    kind = tables.route_kind(route)
    if kind is None:
        return None
    g = group.casefold()
    if kind == "recycling" and any(w in g for w in tables._RUBBER):
        return tables.TYRE_RECYCLING, True
    tokens = set(g.replace("-", "_").split("_"))
    for words, stem in tables._FAMILIES:
        if any(w in tokens or (len(w) > 3 and w in g) for w in words):
            for suffix in tables._ROUTE_SUFFIX[kind]:
                candidate = f"{stem}_{suffix}"
                if exists is None or candidate in exists:
                    return candidate, True
    return tables.GENERIC_EOL[kind], False


def test_eol_datasets_are_chosen_as_before(background: BackgroundData) -> None:
    groups = ["steel", "aluminium", "copper", "glass", "pet", "ldpe_film", "pp", "eps", "abs"]
    groups += ["rubber", "tyre", "paper", "pcb", "concrete", "unspecified", "steel_cord", "x"]
    routes = ["recycling", "reuse", "retreading", "landfill", "incineration", "energy_recovery"]
    for exists in (
        None,
        set(),
        background.catalogue,
        {"desnz24:metal_metal_scrap_metal_open_loop_t"},
    ):
        for g in groups:
            for r in [*routes, "teleportation"]:
                assert tables.eol_dataset(g, r, exists) == _reference_eol_dataset(g, r, exists)
