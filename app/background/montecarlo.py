"""Monte Carlo for the engine: sampling of stored uncertainty, the per-release bank, and requests.

A *bank* is ``N`` consistent samples of the whole background: for sample ``s`` the technosphere
``A_s``, biosphere ``B_s`` and characterization factors ``c_{k,s}`` are drawn from their stored
stats_arrays distributions (exactly as bw2calc's ``use_distributions=True`` draws them: same
distributions, same flip/aggregation rules), ``A_s`` is factorized once, and the per-unit vectors
``u_{k,s} = A_s^-T (B_s^T c_{k,s})`` are stored as ``bank[product, k, s]`` (float32, one contiguous
``K x N`` block per product so that a request touches only the rows of its BOM).

A request combines bank columns with the demand::

    h_{k,s} = sum_i  f_i * exp(sigma_i * z_{i,s}) * bank[i, k, pi(s)]

with ``pi`` a seeded permutation of the bank samples and ``z`` seeded standard normals (foreground
lognormal uncertainty of the BOM amounts, median = the given amount). Because each bank column is
one joint sample of the background, BOM lines that share background processes stay correlated, and
the statistics equal those of bw2calc's Monte Carlo for the same demand within sampling error.

Pure numpy/scipy. stats_arrays is used only for rare distribution types (not lognormal, normal,
uniform, triangular, undefined/none) and only if it is installed.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from app.background.engine import RowCache

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

PARAM_FIELDS = ("uncertainty_type", "loc", "scale", "shape", "minimum", "maximum", "negative")
MAX_BOUNDED_TRIES = 50


@dataclass(frozen=True)
class UncertainEntries:
    """Elements of one matrix with their stats_arrays parameters.

    The matrix value at ``(rows[e], cols[e])`` is the sum over entries ``e`` at that position of
    ``factor[e] * x_e`` where ``x_e`` is the static value ``static[e]`` (deterministic) or a draw
    from the distribution (Monte Carlo). ``factor`` holds bw2calc's flip (-1 for technosphere
    inputs) times any rescale. Entries overridden by later datapackages are not stored.
    """

    rows: IntArray
    cols: IntArray
    factor: FloatArray
    static: FloatArray
    uncertainty_type: npt.NDArray[np.int64]
    loc: FloatArray
    scale: FloatArray
    shape: FloatArray
    minimum: FloatArray
    maximum: FloatArray
    negative: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def to_arrays(self, prefix: str) -> dict[str, npt.NDArray[Any]]:
        return {
            f"{prefix}.rows": self.rows.astype(np.int64),
            f"{prefix}.cols": self.cols.astype(np.int64),
            f"{prefix}.factor": self.factor,
            f"{prefix}.static": self.static,
            f"{prefix}.uncertainty_type": self.uncertainty_type.astype(np.int64),
            f"{prefix}.loc": self.loc,
            f"{prefix}.scale": self.scale,
            f"{prefix}.shape": self.shape,
            f"{prefix}.minimum": self.minimum,
            f"{prefix}.maximum": self.maximum,
            f"{prefix}.negative": self.negative.astype(np.bool_),
        }

    @classmethod
    def from_arrays(cls, z: Any, prefix: str) -> UncertainEntries:
        return cls(
            rows=np.asarray(z[f"{prefix}.rows"], dtype=np.int64),
            cols=np.asarray(z[f"{prefix}.cols"], dtype=np.int64),
            factor=np.asarray(z[f"{prefix}.factor"], dtype=np.float64),
            static=np.asarray(z[f"{prefix}.static"], dtype=np.float64),
            uncertainty_type=np.asarray(z[f"{prefix}.uncertainty_type"], dtype=np.int64),
            loc=np.asarray(z[f"{prefix}.loc"], dtype=np.float64),
            scale=np.asarray(z[f"{prefix}.scale"], dtype=np.float64),
            shape=np.asarray(z[f"{prefix}.shape"], dtype=np.float64),
            minimum=np.asarray(z[f"{prefix}.minimum"], dtype=np.float64),
            maximum=np.asarray(z[f"{prefix}.maximum"], dtype=np.float64),
            negative=np.asarray(z[f"{prefix}.negative"], dtype=np.bool_),
        )

    @property
    def n_uncertain(self) -> int:
        return int(np.count_nonzero(self.uncertainty_type > 1))

    def static_values(self) -> FloatArray:
        return self.factor * self.static

    def sample(self, rng: np.random.Generator) -> FloatArray:
        """One draw of every entry (times ``factor``), following stats_arrays semantics."""
        return self.factor * sample_params(self, rng)


def sample_params(p: UncertainEntries, rng: np.random.Generator) -> FloatArray:
    """Draw one value per entry from its stats_arrays distribution.

    Types: 0 undefined / 1 no uncertainty -> ``loc`` (or the static value if ``loc`` is NaN);
    2 lognormal ``exp(N(loc, scale))``, negated when ``negative``; 3 normal; 4 uniform;
    5 triangular. Values outside finite ``minimum``/``maximum`` are redrawn (as stats_arrays'
    ``bounded_random_variables``). Other types are delegated to stats_arrays."""
    t = p.uncertainty_type
    out = np.where(np.isnan(p.loc), p.static, p.loc).astype(np.float64)

    def draw(mask: npt.NDArray[np.bool_], kind: int) -> FloatArray:
        n = int(mask.sum())
        if kind == 2:
            v = np.exp(rng.normal(p.loc[mask], p.scale[mask], n))
            v[p.negative[mask]] *= -1.0
            return v
        if kind == 3:
            return rng.normal(p.loc[mask], p.scale[mask], n)
        if kind == 4:
            return rng.uniform(p.minimum[mask], p.maximum[mask], n)
        if kind == 5:
            return rng.triangular(p.minimum[mask], p.loc[mask], p.maximum[mask], n)
        raise AssertionError(kind)

    for kind in (2, 3, 4, 5):
        mask = t == kind
        if not mask.any():
            continue
        values = draw(mask, kind)
        if kind in (2, 3):  # uniform/triangular already lie within their bounds
            lo, hi = p.minimum[mask], p.maximum[mask]
            for _ in range(MAX_BOUNDED_TRIES):
                bad = (values < lo) | (values > hi)  # NaN bounds compare False
                if not bad.any():
                    break
                sub = np.zeros_like(mask)
                sub[np.flatnonzero(mask)[bad]] = True
                values[bad] = draw(sub, kind)
            else:
                raise ValueError("Could not draw values within the given bounds")
        out[mask] = values

    other = ~np.isin(t, (0, 1, 2, 3, 4, 5))
    if other.any():
        out[other] = _sample_with_stats_arrays(p, other, rng)
    return out


def _sample_with_stats_arrays(
    p: UncertainEntries, mask: npt.NDArray[np.bool_], rng: np.random.Generator
) -> FloatArray:
    try:
        from stats_arrays import MCRandomNumberGenerator, UncertaintyBase
    except ImportError as exc:  # pragma: no cover - stats_arrays ships with bw2calc
        raise ValueError(
            f"Uncertainty types {sorted(set(p.uncertainty_type[mask].tolist()))} need stats_arrays"
        ) from exc
    params = UncertaintyBase.from_dicts(
        *[
            {
                "uncertainty_type": int(p.uncertainty_type[i]),
                "loc": float(p.loc[i]),
                "scale": float(p.scale[i]),
                "shape": float(p.shape[i]),
                "minimum": float(p.minimum[i]),
                "maximum": float(p.maximum[i]),
                "negative": bool(p.negative[i]),
            }
            for i in np.flatnonzero(mask)
        ]
    )
    gen = MCRandomNumberGenerator(params, seed=int(rng.integers(0, 2**31 - 1)))
    return np.asarray(gen.next(), dtype=np.float64)


class PatternMatrix:
    """Sums entry values into a sparse matrix with a fixed CSR pattern (fast resampling)."""

    def __init__(self, entries: UncertainEntries, shape: tuple[int, int]) -> None:
        self.shape = shape
        lin = entries.rows * shape[1] + entries.cols
        uniq, self.position = np.unique(lin, return_inverse=True)
        rows, cols = np.divmod(uniq, shape[1])
        self.indptr = np.zeros(shape[0] + 1, dtype=np.int32)
        np.cumsum(np.bincount(rows, minlength=shape[0]), out=self.indptr[1:])
        self.indices = cols.astype(np.int32)
        self.nnz = int(uniq.shape[0])

    def data(self, values: FloatArray) -> FloatArray:
        return np.bincount(self.position, weights=values, minlength=self.nnz).astype(np.float64)

    def matrix(self, values: FloatArray) -> sp.csr_matrix:
        return sp.csr_matrix((self.data(values), self.indices, self.indptr), shape=self.shape)


@dataclass(frozen=True)
class BankInputs:
    """Everything needed to draw background samples (``R/engine/uncertainty.npz``)."""

    n_products: int
    n_activities: int
    n_flows: int
    technosphere: UncertainEntries
    biosphere: UncertainEntries
    characterization: tuple[UncertainEntries, ...]  # one per indicator (rows = flow, cols = flow)

    def save(self, path: Path) -> None:
        arrays: dict[str, npt.NDArray[Any]] = {
            "dims": np.array(
                [self.n_products, self.n_activities, self.n_flows, len(self.characterization)]
            ),
        }
        arrays.update(self.technosphere.to_arrays("technosphere"))
        arrays.update(self.biosphere.to_arrays("biosphere"))
        for k, cf in enumerate(self.characterization):
            arrays.update(cf.to_arrays(f"cf{k}"))
        np.savez(path, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: Path) -> BankInputs:
        with np.load(path, allow_pickle=False) as z:
            n_p, n_a, n_f, n_k = (int(x) for x in z["dims"])
            return cls(
                n_products=n_p,
                n_activities=n_a,
                n_flows=n_f,
                technosphere=UncertainEntries.from_arrays(z, "technosphere"),
                biosphere=UncertainEntries.from_arrays(z, "biosphere"),
                characterization=tuple(
                    UncertainEntries.from_arrays(z, f"cf{k}") for k in range(n_k)
                ),
            )


def sample_rng(seed: int, sample: int) -> np.random.Generator:
    """Independent, reproducible stream for bank sample ``sample`` of a bank seeded ``seed``."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(sample)]))


def build_bank(
    inputs: BankInputs,
    samples: int,
    seed: int,
    *,
    backend: str = "auto",
    progress_every: int = 0,
) -> tuple[npt.NDArray[np.float32], dict[str, Any]]:
    """Draw ``samples`` joint background samples and return ``bank[product, k, s]`` + metadata.

    Cost: one numeric factorization of the sampled technosphere per sample (the symbolic analysis
    is shared when Pardiso is used), plus one multi-right-hand-side transposed solve."""
    from app.background.engine import PardisoFactorization, factorize

    t0 = time.perf_counter()
    tech = PatternMatrix(inputs.technosphere, (inputs.n_products, inputs.n_activities))
    bio = PatternMatrix(inputs.biosphere, (inputs.n_flows, inputs.n_activities))
    n_k = len(inputs.characterization)
    bank = np.empty((samples, n_k, inputs.n_products), dtype=np.float32)
    lu = None
    for s in range(samples):
        rng = sample_rng(seed, s)
        a_data = tech.data(inputs.technosphere.sample(rng))
        b_s = bio.matrix(inputs.biosphere.sample(rng))
        c_s = np.zeros((inputs.n_flows, n_k))
        for k, cf in enumerate(inputs.characterization):
            np.add.at(c_s[:, k], cf.rows, cf.sample(rng))
        rhs = np.asarray(b_s.T @ c_s)  # [n_activities, K]
        if isinstance(lu, PardisoFactorization):
            lu.refactor_values(a_data)
        else:
            lu = factorize(
                sp.csr_matrix((a_data, tech.indices, tech.indptr), shape=tech.shape), backend
            )
        x = lu.solve(rhs, transpose=True)
        bank[s] = np.asarray(x, dtype=np.float64).T
        if progress_every and (s + 1) % progress_every == 0:
            log.info("MC bank: %d/%d samples (%.1f s)", s + 1, samples, time.perf_counter() - t0)
    elapsed = time.perf_counter() - t0
    meta = {
        "samples": samples,
        "seed": seed,
        "seconds": round(elapsed, 3),
        "seconds_per_sample": round(elapsed / max(samples, 1), 5),
        "solver": getattr(lu, "backend", backend),
        "layout": "bank[product, indicator, sample] float32",
        "created_unix": int(time.time()),
    }
    # [samples, K, n] -> [n, K, samples] so each product's block is contiguous.
    return np.ascontiguousarray(bank.transpose(2, 1, 0)), meta


def save_bank(directory: Path, bank: npt.NDArray[np.float32], meta: dict[str, Any]) -> None:
    from app.background.engine import BANK_FILE, BANK_META_FILE

    tmp = directory / (BANK_FILE + ".tmp.npy")
    np.save(tmp, bank)
    tmp.replace(directory / BANK_FILE)
    (directory / BANK_META_FILE).write_text(json.dumps(meta, indent=1))


# Bound of the foreground lognormal factors kept per sample order
# (``SampleOrder.lognormal_factors``; at most 4 orders are kept): one row is iterations x 8 bytes
# (4 KB at 500 iterations), per position among a request's uncertain lines and per sigma; 16 MB
# hold 4,000 of them (a service sees a few dozen distinct sigmas).
LOGNORMAL_CACHE_BYTES = 16 * 2**20


@dataclass(frozen=True)
class SampleOrder:
    """Which bank samples a request reads, and the random stream that follows.

    ``cols`` are the first ``n`` entries of the seeded permutation of the bank's samples;
    ``rng_state`` is the state of the request's generator right after that permutation, so the
    foreground normals drawn from ``generator()`` continue the very same stream as if the
    permutation had just been drawn (the permutation itself depends only on the seed and the
    sizes, ``key``, so it is computed once per (bank size, iterations, seed): ``sample_order``)."""

    key: tuple[int, int, int]  # (bank size, iterations, seed)
    n: int
    cols: IntArray
    rng_state: Mapping[str, Any]
    factor_rows: RowCache[tuple[int, float]] = field(compare=False, repr=False)

    def generator(self) -> np.random.Generator:
        """The request's generator after the permutation (see ``generator_at``)."""
        return generator_at(self.rng_state)

    def lognormal_factors(self, sigma: FloatArray, scale: FloatArray | None = None) -> FloatArray:
        """``exp(sigma[:, None] * z)`` with ``z = generator().standard_normal((len(sigma), n))``,
        the foreground factors of a request's uncertain lines (median 1), the same bits; times
        ``scale[:, None]`` if given (in place: the same bits as multiplying after).

        The stream after the permutation is fixed, and a draw of ``(u, n)`` normals is the first
        ``u * n`` of it, so row ``r`` depends only on this order, ``r`` and ``sigma[r]``: rows
        are cached (``LOGNORMAL_CACHE_BYTES``), and a miss draws the stream's prefix only up to
        the last missing row."""
        u = len(sigma)
        keys = list(enumerate(sigma.tolist()))

        def draw(missing: list[tuple[int, float]]) -> list[FloatArray]:
            z = self.generator().standard_normal((max(r for r, _ in missing) + 1, self.n))
            return [np.exp(sigma[r] * z[r]) for r, _ in missing]

        out = self.factor_rows.gather(keys, draw)
        if scale is not None:
            out *= scale[:, None]
        return out.reshape(u, self.n)


_THREAD = threading.local()


def generator_at(state: Mapping[str, Any]) -> np.random.Generator:
    """A generator in bit-generator ``state``: it draws what a fresh one in that state would.

    It is this thread's reusable generator, set to ``state`` (building a generator costs more
    than a request's draws from it), so it is valid only until the next ``generator_at`` or
    ``seeded_generator`` on the same thread: draw from it, then let it go."""
    rng: np.random.Generator | None = getattr(_THREAD, "rng", None)
    if rng is None:
        rng = _THREAD.rng = np.random.Generator(np.random.PCG64())
    rng.bit_generator.state = state
    return rng


@lru_cache(maxsize=64)
def _seeded_state(seed: int) -> Mapping[str, Any]:
    return np.random.default_rng(seed).bit_generator.state


def seeded_generator(seed: int) -> np.random.Generator:
    """``np.random.default_rng(seed)``'s stream (same draws) on this thread's reusable generator:
    valid until the next ``generator_at`` or ``seeded_generator`` on the thread."""
    return generator_at(_seeded_state(int(seed)))


def mean_sd(samples: FloatArray, summed: float | None = None) -> tuple[float, float]:
    """``(samples.mean(), samples.std(ddof=1))`` of 1-d float64 samples (sd 0 for one sample),
    the same bits: numpy's own steps (pairwise sums by ``np.add.reduce``, the mean, squared
    deviations, division by n - 1, square root) without its general machinery. ``summed``:
    ``float(np.add.reduce(samples))`` when the caller has it already."""
    n = samples.shape[0]
    if n == 0:
        return math.nan, 0.0
    if summed is None:
        summed = float(np.add.reduce(samples))
    mean = summed / n
    if n < 2:
        return mean, 0.0
    deviations = samples - mean
    return mean, math.sqrt(float(np.add.reduce(deviations * deviations)) / (n - 1))


def percentiles(samples: FloatArray, q: Sequence[float]) -> list[float]:
    """``np.percentile(samples, q)`` of 1-d finite samples (method "linear"), the same bits.

    numpy's general code (partition, index bookkeeping) costs about as much as the rest of a
    request's Monte Carlo statistics; this is its arithmetic, in IEEE doubles as numpy does it,
    on one sorted copy: virtual index ``(n - 1) * (q / 100)``, and numpy's ``_lerp`` between its
    neighbours (``a + (b - a) * t``, or ``b - (b - a) * (1 - t)`` for ``t >= 0.5``; the last
    value from index ``n - 1`` on). Checked against ``np.percentile`` bit for bit in
    ``tests/footprints/test_calc_cache.py``."""
    ordered = np.sort(np.asarray(samples, dtype=np.float64))
    n = ordered.shape[0]
    out = []
    for pct in q:
        virtual = (n - 1) * (float(pct) / 100)
        if virtual >= n - 1:
            previous = following = n - 1
            gamma = virtual + 1  # numpy's gamma against its index -1 (a == b: no effect)
        else:
            previous = math.floor(virtual)
            following = previous + 1
            gamma = virtual - previous
        a, b = float(ordered[previous]), float(ordered[following])
        diff = b - a
        out.append(b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma)
    return out


@lru_cache(maxsize=4)
def sample_order(n_bank: int, iterations: int | None, seed: int) -> SampleOrder:
    """The (cached, read-only) ``SampleOrder`` of a request on a bank of ``n_bank`` samples."""
    n = n_bank if iterations is None else int(iterations)
    if not 0 < n <= n_bank:
        raise ValueError(f"iterations must be in 1..{n_bank} (bank size), got {n}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EED]))
    cols = rng.permutation(n_bank)[:n]
    cols.setflags(write=False)
    factor_rows: RowCache[tuple[int, float]] = RowCache(n, LOGNORMAL_CACHE_BYTES)
    return SampleOrder((int(n_bank), n, int(seed)), n, cols, rng.bit_generator.state, factor_rows)


def combine_block(
    block: FloatArray, amounts: FloatArray, sigma: FloatArray, order: SampleOrder
) -> FloatArray:
    """Per-iteration footprints ``[n, K]`` from the lines' bank samples ``block[line, K, n]``
    (already in ``order.cols`` order, as float64) and the foreground lognormal factors."""
    uncertain = sigma > 0
    if uncertain.all() and len(sigma):  # every line uncertain: no masked copies
        factors = order.lognormal_factors(sigma, scale=amounts)
    else:
        factors = np.empty((len(amounts), order.n))
        factors[:] = amounts[:, None]
        if uncertain.any():
            factors[uncertain] *= order.lognormal_factors(sigma[uncertain])
    return np.einsum("ikn,in->nk", block, factors)


def combine(
    bank: npt.NDArray[np.float32],
    idx: IntArray,
    amounts: FloatArray,
    sigma: FloatArray,
    *,
    iterations: int | None,
    seed: int,
) -> FloatArray:
    """Per-iteration footprints ``[iterations, K]`` of a demand (see module docstring).

    The straightforward reading of the bank; ``Engine.monte_carlo`` gets the same ``block`` from
    its cache of permuted rows instead (the same numbers: ``tests/footprints/test_calc_cache.py``).
    """
    order = sample_order(int(bank.shape[2]), iterations, seed)
    block = np.asarray(bank[idx], dtype=np.float64)[:, :, order.cols]  # [lines, K, n]
    return combine_block(block, amounts, sigma, order)


def summarize(
    samples: FloatArray, deterministic: FloatArray, keys: tuple[str, ...]
) -> dict[str, dict[str, float]]:
    """mean, sd (ddof=1) and 2.5/50/97.5 percentiles per indicator."""
    pct = np.percentile(samples, [2.5, 50.0, 97.5], axis=0)
    mean = samples.mean(axis=0)
    sd = samples.std(axis=0, ddof=1) if samples.shape[0] > 1 else np.zeros(samples.shape[1])
    return {
        key: {
            "deterministic": float(deterministic[k]),
            "mean": float(mean[k]),
            "sd": float(sd[k]),
            "p2_5": float(pct[0, k]),
            "p50": float(pct[1, k]),
            "p97_5": float(pct[2, k]),
        }
        for k, key in enumerate(keys)
    }
