"""Monte Carlo: reproducible, foreground + background, statistically equal to bw2calc's own MC."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from app.background.engine import BankNotReady, DemandLine, Engine
from app.background.indicators import INDICATORS
from tests.engine.synthetic import build_synthetic_release, bw2data_dir, make_system

BANK = 2000
BW_ITERATIONS = 800


def test_reproducible_from_seed(engine: Engine) -> None:
    demand = {engine.products[1]: 3.0, engine.products[7]: 0.5}
    a = engine.monte_carlo(demand, seed=11, keep_samples=True)
    b = engine.monte_carlo(demand, seed=11, keep_samples=True)
    c = engine.monte_carlo(demand, seed=12, keep_samples=True)
    assert a.samples is not None and b.samples is not None and c.samples is not None
    np.testing.assert_array_equal(a.samples, b.samples)
    assert not np.array_equal(a.samples, c.samples)
    assert a.iterations == engine.bank_info["samples"]
    with pytest.raises(ValueError):
        engine.monte_carlo(demand, iterations=engine.bank_info["samples"] + 1)


def test_foreground_uncertainty_widens(engine: Engine) -> None:
    key = engine.products[4]
    plain = engine.monte_carlo({key: 2.0}, seed=3).stats["gwp100_total"]
    wide = engine.monte_carlo([DemandLine(key, 2.0, sigma=0.5)], seed=3).stats["gwp100_total"]
    assert wide.sd > plain.sd
    assert (
        plain.deterministic
        == wide.deterministic
        == pytest.approx(engine.unit_values(key)["gwp100_total"] * 2)
    )


def test_shared_background_is_correlated(engine: Engine) -> None:
    """Two BOM lines of the same activity: sd doubles (perfect correlation), not sqrt(2)x."""
    key = engine.products[9]
    one = engine.monte_carlo([DemandLine(key, 1.0)], seed=5).stats["gwp100_total"]
    two = engine.monte_carlo([DemandLine(key, 1.0), DemandLine(key, 1.0)], seed=5).stats[
        "gwp100_total"
    ]
    assert two.sd == pytest.approx(2 * one.sd, rel=1e-5)


def test_lazy_bank_equals_exported_bank(engine_release, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    if engine_release.system is None:
        pytest.skip("real release: bank rebuild too slow for a unit test")
    fresh = Engine.load(engine_release.release_dir, factorize="lazy")
    seed = int(engine.bank_info["seed"])
    fresh._bank = None  # pretend the release has no bank
    with pytest.raises(BankNotReady):
        fresh.monte_carlo({engine.products[0]: 1.0})
    fresh.build_bank(samples=20, seed=seed, persist=False)
    assert fresh.bank_ready
    np.testing.assert_allclose(
        np.asarray(fresh._bank), np.asarray(engine._bank)[:, :, :20], rtol=1e-5, atol=0
    )


# ---------------------------------------------------------------- comparison with bw2calc


@pytest.fixture(scope="module")
def uncertain_release(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A small system with large uncertainty on exchanges and CFs, and a 2000-sample bank."""
    release = tmp_path_factory.mktemp("mc") / "mc-release"
    system = make_system(
        40,
        seed=5,
        sigma=0.35,
        uncertain_share=0.9,
        inputs_per_activity=(3, 6),
        bio_per_activity=(2, 6),
    )
    system.cf_sigma = 0.1
    build_synthetic_release(release, system, mc_samples=BANK, mc_seed=99)
    with bw2data_dir(release / "brightway"):
        yield release


@pytest.mark.parametrize("indicator", [INDICATORS[0], INDICATORS[4]], ids=lambda i: i.key)
def test_statistics_match_bw2calc_monte_carlo(uncertain_release: Path, indicator) -> None:  # type: ignore[no-untyped-def]
    import bw2calc as bc

    engine = Engine.load(uncertain_release, factorize="lazy")
    demand = {engine.products[31]: 2.0, engine.products[17]: 1.5, engine.products[38]: 4.0}
    ours = engine.monte_carlo(demand, seed=1, keep_samples=True)
    assert ours.samples is not None
    mine = ours.samples[:, engine.indicator_keys.index(indicator.key)]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lca = bc.LCA(demand, indicator.method, use_distributions=True, seed_override=1234)
        lca.lci()
        lca.lcia()
        theirs = []
        for _ in range(BW_ITERATIONS):
            next(lca)
            theirs.append(lca.score)
    ref = np.array(theirs)

    se = np.sqrt(mine.var(ddof=1) / mine.size + ref.var(ddof=1) / ref.size)
    assert abs(mine.mean() - ref.mean()) < 4 * se
    assert mine.std(ddof=1) == pytest.approx(ref.std(ddof=1), rel=0.2)
    for q in (2.5, 50, 97.5):
        assert np.percentile(mine, q) == pytest.approx(np.percentile(ref, q), rel=0.12)
    # The static (deterministic) value is bw2calc's too.
    assert ours.stats[indicator.key].deterministic == pytest.approx(
        engine.footprint(demand)[indicator.key], rel=1e-12
    )
