"""Fast background engine: exact footprints, hotspots and Monte Carlo from precomputed arrays.

The engine serves a release's background (the Brightway project of ``R/brightway``) without
touching Brightway at request time. ``engine_export.export_engine_arrays`` writes ``R/engine/``
once per release, from bw2calc's own matrices; ``Engine.load`` reads only those numpy files.

Maths (bw2calc conventions; ``A`` technosphere, products x activities; ``B`` biosphere,
flows x activities; ``c_k`` the diagonal of the characterization matrix of indicator ``k``)::

    supply      s   = A^-1 f                   (f: demand over products)
    score       h_k = c_k^T B A^-1 f = u_k^T f
    unit values u_k = A^-T (B^T c_k)           (one transposed solve per indicator, at export)

So a demand's footprint is a dot product per indicator (``footprint``), exact to solver round-off
with what a fresh ``bw2calc.LCA(demand, method)`` returns. Hotspots need the supply vector and cost
one solve on a factorization cached for the life of the engine (``hotspots``). Monte Carlo combines
the demand with a bank of per-unit vectors sampled once per release (``montecarlo``).

All arrays are read-only after load, so one ``Engine`` may be shared by all request threads; the
only mutable state (the lazily built factorization and the Monte Carlo bank) is guarded by locks.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from app.background.indicators import INDICATOR_KEYS, INDICATORS

log = logging.getLogger(__name__)

ENGINE_DIRNAME = "engine"
FORMAT_VERSION = 1

# File names inside R/engine/
INDEX_FILE = "index.json"
TECHNOSPHERE_FILE = "technosphere.npz"
BIOSPHERE_FILE = "biosphere.npz"
CHARACTERIZATION_FILE = "characterization.npy"
UNIT_VALUES_FILE = "unit_values.npy"
UNCERTAINTY_FILE = "uncertainty.npz"
BANK_FILE = "mc_bank.npy"
BANK_META_FILE = "mc_bank.json"

ActivityKey = tuple[str, str]
DemandKey = ActivityKey | Sequence[str] | int
Demand = Mapping[Any, float]
FloatArray = npt.NDArray[np.float64]


class EngineError(Exception):
    """Base class for engine errors."""


class UnknownActivity(EngineError, KeyError):
    """A demand names a (database, code) or index that is not in the release."""


class BankNotReady(EngineError):
    """Monte Carlo was requested but the release's sample bank is not (yet) available."""


# --------------------------------------------------------------------------------------------
# Sparse LU: MKL Pardiso through pypardiso when installed (as bw2calc), else SciPy's SuperLU.
# --------------------------------------------------------------------------------------------


class Factorization(Protocol):
    """A factorized square technosphere matrix."""

    backend: str

    def solve(self, b: FloatArray, *, transpose: bool = False) -> FloatArray:
        """Solve ``A x = b`` (or ``A^T x = b``); ``b`` may be 1-d or 2-d (several right sides)."""
        ...


def _have_pardiso() -> bool:
    try:
        import pypardiso  # noqa: F401
    except Exception:  # pragma: no cover - depends on the environment
        return False
    return True


class PardisoFactorization:
    """MKL Pardiso factorization of a CSR matrix; solves are serialized (the handle is stateful)."""

    backend = "pardiso"

    def __init__(self, matrix: sp.csr_matrix) -> None:
        from pypardiso import PyPardisoSolver

        a = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
        a.sort_indices()
        a.indptr = a.indptr.astype(np.int32)
        a.indices = a.indices.astype(np.int32)
        self._a = a
        # The CSC view of A^T shares A's CSR arrays: pypardiso recognises the stored factors and
        # runs a transposed solve (iparm 12) instead of refactorizing.
        self._at = a.T
        self._lock = threading.Lock()
        self._solver = PyPardisoSolver()
        # Pardiso's size_limit_storage keeps a copy (or hash) of A to recognise it later.
        self._solver.factorize(a)

    def solve(self, b: FloatArray, *, transpose: bool = False) -> FloatArray:
        rhs = np.asarray(b, dtype=np.float64)
        with self._lock:
            x = self._solver.solve(self._at if transpose else self._a, rhs)
        return np.asarray(x, dtype=np.float64).reshape(rhs.shape)

    def refactor_values(self, data: FloatArray) -> None:
        """New numeric factorization for a matrix with the same pattern (Monte Carlo bank).

        Reuses Pardiso's symbolic analysis (phase 22 only) when possible."""
        with self._lock:
            self._a.data[:] = data
            solver = self._solver
            try:
                solver.set_iparm(12, 0)
                solver.set_phase(22)
                solver._call_pardiso(self._a, np.zeros((self._a.shape[0], 1)))
                solver.factorized_A = (
                    solver._hash_csr_matrix(self._a)
                    if self._a.nnz > solver.size_limit_storage
                    else self._a.copy()
                )
            except Exception:  # pragma: no cover - fall back to a full factorization
                solver.factorize(self._a)


class SuperLUFactorization:
    """SciPy SuperLU factorization (CSC); solves are serialized for safety."""

    backend = "superlu"

    def __init__(self, matrix: sp.spmatrix) -> None:
        from scipy.sparse.linalg import splu

        self._lu = splu(sp.csc_matrix(matrix, dtype=np.float64))
        self._lock = threading.Lock()

    def solve(self, b: FloatArray, *, transpose: bool = False) -> FloatArray:
        rhs = np.asarray(b, dtype=np.float64)
        with self._lock:
            return np.asarray(self._lu.solve(rhs, trans="T" if transpose else "N"))


def limit_native_threads(n: int) -> None:
    """Limit the BLAS / MKL thread pools of this process to ``n`` threads (no-op without
    threadpoolctl). For serving: request-time numerics are too small to gain from threads."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - depends on the environment
        return
    if _have_pardiso():
        import pypardiso  # noqa: F401 - loads MKL, so that its pool is limited as well
    threadpool_limits(limits=max(1, int(n)))


def factorize(matrix: sp.spmatrix, backend: str = "auto") -> Factorization:
    """Factorize a square sparse matrix with ``backend`` in {"auto", "pardiso", "superlu"}."""
    if backend == "pardiso" or (backend == "auto" and _have_pardiso()):
        return PardisoFactorization(sp.csr_matrix(matrix))
    if backend in ("auto", "superlu"):
        return SuperLUFactorization(matrix)
    raise ValueError(f"Unknown solver backend {backend!r}")


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessContribution:
    """Direct contribution of one background activity (its own emissions x its scaled supply)."""

    index: int
    database: str
    code: str
    name: str
    location: str | None
    supply: float  # scaled amount of the activity's reference product
    value: float  # characterized direct contribution to the indicator
    share: float  # value / total (0 when the total is 0)


@dataclass(frozen=True)
class FlowContribution:
    """Contribution of one elementary flow (summed over the whole supply chain)."""

    index: int
    database: str
    code: str
    name: str
    categories: tuple[str, ...]
    gas: str | None
    amount: float  # inventory amount of the flow
    value: float  # characterized contribution
    share: float


@dataclass(frozen=True)
class Hotspots:
    indicator: str
    total: float
    processes: list[ProcessContribution]
    flows: list[FlowContribution]


@dataclass(frozen=True)
class MCStats:
    deterministic: float
    mean: float
    sd: float
    p2_5: float
    p50: float
    p97_5: float


@dataclass(frozen=True)
class MonteCarloResult:
    iterations: int
    seed: int
    bank_samples: int
    bank_seed: int
    stats: dict[str, MCStats]
    samples: FloatArray | None = field(default=None, repr=False)  # [iterations, K] if asked


@dataclass(frozen=True)
class DemandLine:
    """One BOM line for Monte Carlo: ``amount`` of ``key`` with a foreground lognormal ``sigma``.

    ``sigma`` is the standard deviation of ln(amount) (Brightway/ecoinvent convention: the given
    amount is the median, i.e. geometric mean; ``sigma = 0`` means a certain amount)."""

    key: Any
    amount: float
    sigma: float = 0.0


# --------------------------------------------------------------------------------------------
# Engine
# --------------------------------------------------------------------------------------------


def engine_dir(release_dir: Path) -> Path:
    return Path(release_dir) / ENGINE_DIRNAME


def load_csr(path: Path) -> sp.csr_matrix:
    with np.load(path, allow_pickle=False) as z:
        shape = tuple(int(x) for x in z["shape"])
        return sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=shape)


def save_csr(path: Path, matrix: sp.spmatrix) -> None:
    m = sp.csr_matrix(matrix, dtype=np.float64)
    m.sort_indices()
    np.savez(
        path,
        data=m.data,
        indices=m.indices.astype(np.int32),
        indptr=m.indptr.astype(np.int64),
        shape=np.array(m.shape, dtype=np.int64),
    )


class Engine:
    """Read-only, thread-safe background engine for one release. Create with ``Engine.load``."""

    def __init__(
        self,
        *,
        directory: Path,
        index: dict[str, Any],
        technosphere: sp.csr_matrix,
        biosphere: sp.csr_matrix,
        characterization: FloatArray,
        unit_values: FloatArray,
        solver_backend: str = "auto",
    ) -> None:
        self.directory = directory
        self.index = index
        self.indicator_keys: tuple[str, ...] = tuple(
            index["indicators"][i]["key"] for i in range(len(index["indicators"]))
        )
        self.technosphere = technosphere
        self.biosphere = biosphere
        self.characterization = characterization  # [K, n_flows]
        self._unit = unit_values  # [n_products, K]
        for arr in (self._unit, self.characterization):
            arr.setflags(write=False)
        self.products: list[ActivityKey] = [(d, c) for d, c in index["products"]]
        self.activities: list[ActivityKey] = [(d, c) for d, c in index["activities"]]
        self._product_pos: dict[ActivityKey, int] = {k: i for i, k in enumerate(self.products)}
        self._activity_pos: dict[ActivityKey, int] = {k: i for i, k in enumerate(self.activities)}
        self.activity_meta: list[dict[str, Any]] = index.get("activity_meta") or [
            {} for _ in self.activities
        ]
        self.flows: list[dict[str, Any]] = index["biosphere"]
        # Characterized direct emissions per unit of activity: q[j, k] = (c_k^T B)_j
        self._direct = np.asarray(
            (biosphere.T @ sp.csr_matrix(characterization.T)).toarray(), dtype=np.float64
        )
        self._direct.setflags(write=False)
        self._solver_backend = solver_backend
        self._factorization: Factorization | None = None
        self._factor_lock = threading.Lock()
        self._factor_thread: threading.Thread | None = None
        self._bank: npt.NDArray[np.float32] | None = None
        self._bank_meta: dict[str, Any] = {}
        self._bank_lock = threading.Lock()
        self._bank_thread: threading.Thread | None = None
        self._bank_error: BaseException | None = None

    # ---------------------------------------------------------------- loading

    @classmethod
    def load(
        cls,
        release_dir: Path,
        *,
        factorize: Literal["background", "eager", "lazy"] = "background",
        solver_backend: str = "auto",
    ) -> Engine:
        """Load the engine of a release from ``release_dir/engine/`` (numpy/scipy only).

        ``factorize`` controls when the technosphere is factorized for hotspots: in a daemon
        thread started now (default), now (``eager``) or on the first hotspot request (``lazy``).
        Footprints and Monte Carlo never need the factorization.
        """
        d = engine_dir(Path(release_dir))
        with open(d / INDEX_FILE, encoding="utf-8") as fh:
            index = json.load(fh)
        if index.get("format_version") != FORMAT_VERSION:
            raise EngineError(
                f"{d}: engine format {index.get('format_version')!r}, expected {FORMAT_VERSION}"
            )
        engine = cls(
            directory=d,
            index=index,
            technosphere=load_csr(d / TECHNOSPHERE_FILE),
            biosphere=load_csr(d / BIOSPHERE_FILE),
            characterization=np.load(d / CHARACTERIZATION_FILE, allow_pickle=False),
            unit_values=np.load(d / UNIT_VALUES_FILE, allow_pickle=False),
            solver_backend=solver_backend,
        )
        engine._load_bank()
        if factorize == "eager":
            engine.factorization()
        elif factorize == "background":
            engine.start_factorization()
        return engine

    def _load_bank(self) -> None:
        path = self.directory / BANK_FILE
        if path.exists():
            bank = np.load(path, mmap_mode="r", allow_pickle=False)
            meta_path = self.directory / BANK_META_FILE
            meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
            if bank.shape[:2] != (len(self.products), len(self.indicator_keys)):
                raise EngineError(f"{path}: shape {bank.shape} does not match the release")
            self._bank, self._bank_meta = bank, meta

    # ---------------------------------------------------------------- lookup

    @property
    def n_products(self) -> int:
        return len(self.products)

    @property
    def n_activities(self) -> int:
        return len(self.activities)

    @property
    def n_flows(self) -> int:
        return len(self.flows)

    def has_activity(self, key: DemandKey) -> bool:
        try:
            self.product_index(key)
        except UnknownActivity:
            return False
        return True

    def product_index(self, key: DemandKey) -> int:
        """Row (product) index of a demand key: ``(database, code)`` or an int index.

        For Brightway process nodes product and activity share the key, and the engine's product
        order equals its activity order (see ``index.json``), so an int is also the column."""
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            i = int(key)
            if 0 <= i < len(self.products):
                return i
            raise UnknownActivity(key)
        try:
            return self._product_pos[(str(key[0]), str(key[1]))]  # type: ignore[index]
        except (KeyError, TypeError, IndexError):
            raise UnknownActivity(key) from None

    def activity_index(self, key: DemandKey) -> int:
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            if 0 <= int(key) < len(self.activities):
                return int(key)
            raise UnknownActivity(key)
        try:
            return self._activity_pos[(str(key[0]), str(key[1]))]  # type: ignore[index]
        except (KeyError, TypeError, IndexError):
            raise UnknownActivity(key) from None

    def _demand_arrays(self, demand: Demand) -> tuple[npt.NDArray[np.int64], FloatArray]:
        items = list(demand.items())
        idx = np.fromiter(
            (self.product_index(k) for k, _ in items), dtype=np.int64, count=len(items)
        )
        amt = np.fromiter((float(v) for _, v in items), dtype=np.float64, count=len(items))
        return idx, amt

    def demand_vector(self, demand: Demand) -> FloatArray:
        """Dense demand over products (duplicates summed), as bw2calc builds it."""
        idx, amt = self._demand_arrays(demand)
        f = np.zeros(len(self.products))
        np.add.at(f, idx, amt)
        return f

    # ---------------------------------------------------------------- footprints

    def footprint_array(self, demand: Demand) -> FloatArray:
        """Footprint per indicator, in ``indicator_keys`` order."""
        idx, amt = self._demand_arrays(demand)
        return np.asarray(amt @ self._unit[idx], dtype=np.float64)

    def footprint(self, demand: Demand) -> dict[str, float]:
        """Cradle-to-gate footprint of ``demand`` ({(database, code) | index: amount})."""
        return dict(
            zip(self.indicator_keys, (float(x) for x in self.footprint_array(demand)), strict=True)
        )

    def unit_values(self, key: DemandKey) -> dict[str, float]:
        """Cradle-to-gate value per unit of the reference product of ``key``, per indicator."""
        row = self._unit[self.product_index(key)]
        return dict(zip(self.indicator_keys, (float(x) for x in row), strict=True))

    @property
    def unit_value_matrix(self) -> FloatArray:
        """Read-only [n_products, K] matrix of per-unit values."""
        return self._unit

    # ---------------------------------------------------------------- factorization / hotspots

    def start_factorization(self) -> None:
        """Factorize the technosphere in a daemon thread (idempotent)."""
        with self._factor_lock:
            if self._factorization is not None or self._factor_thread is not None:
                return
            t = threading.Thread(
                target=self._factorize_safely, name="engine-factorize", daemon=True
            )
            self._factor_thread = t
            t.start()

    def _factorize_safely(self) -> None:
        try:
            self.factorization()
        except Exception:  # pragma: no cover - surfaced again on the request path
            log.exception("Background factorization failed")

    def factorization(self) -> Factorization:
        """The cached factorization of the technosphere (built once, on first use)."""
        f = self._factorization
        if f is not None:
            return f
        t = self._factor_thread
        if t is not None and t is not threading.current_thread():
            t.join()
            if self._factorization is not None:
                return self._factorization
        with self._factor_lock:
            if self._factorization is None:
                self._factorization = factorize(self.technosphere, self._solver_backend)
            return self._factorization

    @property
    def factorization_count(self) -> int:
        """Number of factorizations this engine ever built (0 or 1): hotspots never refactorize."""
        return 0 if self._factorization is None else 1

    def supply(self, demand: Demand) -> FloatArray:
        """Scaling vector ``s = A^-1 f`` (one solve on the cached factorization)."""
        return np.asarray(self.factorization().solve(self.demand_vector(demand)), dtype=np.float64)

    def hotspots(
        self,
        demand: Demand,
        indicator: str = INDICATORS[0].key,
        *,
        top_processes: int = 10,
        top_flows: int = 10,
    ) -> Hotspots:
        """Top background processes (direct contributions) and elementary flows for ``demand``."""
        k = self._indicator_pos(indicator)
        s = self.supply(demand)
        direct = self._direct[:, k] * s
        total = float(direct.sum())
        inventory = self.biosphere @ s
        flow_values = self.characterization[k] * inventory
        denom = total if total != 0 else 1.0
        procs = []
        for j in _top_abs(direct, top_processes):
            meta = self.activity_meta[j] if j < len(self.activity_meta) else {}
            db, code = self.activities[j]
            procs.append(
                ProcessContribution(
                    index=int(j),
                    database=db,
                    code=code,
                    name=str(meta.get("name", "")),
                    location=meta.get("location"),
                    supply=float(s[j]),
                    value=float(direct[j]),
                    share=float(direct[j] / denom) if total != 0 else 0.0,
                )
            )
        flows = []
        for i in _top_abs(flow_values, top_flows):
            fl = self.flows[i]
            flows.append(
                FlowContribution(
                    index=int(i),
                    database=str(fl.get("database", "")),
                    code=str(fl.get("code", "")),
                    name=str(fl.get("name", "")),
                    categories=tuple(fl.get("categories") or ()),
                    gas=fl.get("gas"),
                    amount=float(inventory[i]),
                    value=float(flow_values[i]),
                    share=float(flow_values[i] / denom) if total != 0 else 0.0,
                )
            )
        return Hotspots(indicator=indicator, total=total, processes=procs, flows=flows)

    def _indicator_pos(self, indicator: str) -> int:
        try:
            return self.indicator_keys.index(indicator)
        except ValueError:
            raise EngineError(f"Unknown indicator {indicator!r}") from None

    # ---------------------------------------------------------------- Monte Carlo

    @property
    def bank_ready(self) -> bool:
        return self._bank is not None

    @property
    def bank_info(self) -> dict[str, Any]:
        """Metadata of the Monte Carlo bank (samples, seed, build time) or {} if there is none."""
        return dict(self._bank_meta)

    def start_bank_build(self, samples: int = 1000, seed: int = 0, *, persist: bool = True) -> None:
        """Build the Monte Carlo bank in a daemon thread if the release has none (idempotent)."""
        with self._bank_lock:
            if self._bank is not None or self._bank_thread is not None:
                return
            t = threading.Thread(
                target=self._build_bank_safely,
                args=(samples, seed, persist),
                name="engine-mc-bank",
                daemon=True,
            )
            self._bank_thread = t
            t.start()

    def _build_bank_safely(self, samples: int, seed: int, persist: bool) -> None:
        try:
            self.build_bank(samples, seed, persist=persist)
        except BaseException as exc:  # pragma: no cover - reported by monte_carlo()
            self._bank_error = exc
            log.exception("Monte Carlo bank build failed")

    def build_bank(self, samples: int = 1000, seed: int = 0, *, persist: bool = True) -> None:
        """Build (and optionally store in R/engine/) the bank from the stored uncertainty arrays."""
        from app.background import montecarlo

        inputs = montecarlo.BankInputs.load(self.directory / UNCERTAINTY_FILE)
        bank, meta = montecarlo.build_bank(inputs, samples, seed, backend=self._solver_backend)
        if persist:
            montecarlo.save_bank(self.directory, bank, meta)
            bank = np.load(self.directory / BANK_FILE, mmap_mode="r", allow_pickle=False)
        with self._bank_lock:
            self._bank, self._bank_meta = bank, meta

    def wait_for_bank(self, timeout: float | None = None) -> bool:
        t = self._bank_thread
        if t is not None:
            t.join(timeout)
        return self._bank is not None

    def monte_carlo(
        self,
        demand: Demand | Iterable[DemandLine],
        *,
        iterations: int | None = None,
        seed: int = 0,
        sigmas: Mapping[Any, float] | None = None,
        keep_samples: bool = False,
        summarize: bool = True,
        indicators: Sequence[str] | None = None,
    ) -> MonteCarloResult:
        """Monte Carlo statistics for a demand: background (bank) and foreground uncertainty.

        ``demand`` is either ``{key: amount}`` (with optional ``sigmas={key: sigma}``) or a list of
        ``DemandLine`` (each line gets its own independent foreground factor). ``iterations``
        defaults to the bank size and may not exceed it. Same seed, same bank -> same result.
        ``summarize=False`` leaves ``stats`` empty (for a caller that only wants the samples);
        ``indicators`` restricts the result (samples' columns, stats) to those indicators, with
        the same numbers: only their slice of the bank is read.
        """
        from app.background import montecarlo

        bank = self._bank
        if bank is None:
            if self._bank_error is not None:
                raise BankNotReady(f"Monte Carlo bank build failed: {self._bank_error!r}")
            raise BankNotReady("This release has no Monte Carlo bank yet")
        if isinstance(demand, Mapping):
            sig = sigmas or {}
            lines = [DemandLine(k, float(v), float(sig.get(k, 0.0))) for k, v in demand.items()]
        else:
            lines = list(demand)
        idx = np.array([self.product_index(line.key) for line in lines], dtype=np.int64)
        amounts = np.array([line.amount for line in lines], dtype=np.float64)
        sigma = np.array([line.sigma for line in lines], dtype=np.float64)
        keys = self.indicator_keys
        unit = self._unit[idx]
        if indicators is not None:
            ks = np.array([self._indicator_pos(k) for k in indicators], dtype=np.int64)
            keys, unit = tuple(keys[k] for k in ks), unit[:, ks]
            # The lines' rows of the bank, those indicators only ([lines, len(ks), samples]):
            # combine() then reads the same numbers from this small block.
            bank = bank[idx[:, None], ks[None, :]]
            idx = np.arange(len(idx), dtype=np.int64)
        samples = montecarlo.combine(bank, idx, amounts, sigma, iterations=iterations, seed=seed)
        stats: dict[str, dict[str, float]] = {}
        if summarize:
            deterministic = amounts @ unit
            stats = montecarlo.summarize(samples, deterministic, keys)
        return MonteCarloResult(
            iterations=samples.shape[0],
            seed=seed,
            bank_samples=int(bank.shape[2]),
            bank_seed=int(self._bank_meta.get("seed", -1)),
            stats={k: MCStats(**v) for k, v in stats.items()},
            samples=samples if keep_samples else None,
        )


def _top_abs(values: FloatArray, n: int) -> list[int]:
    """Indices of the ``n`` largest |values| (non-zero only), largest first."""
    if n <= 0 or values.size == 0:
        return []
    a = np.abs(values)
    n = min(n, int(np.count_nonzero(a)))
    if n == 0:
        return []
    part = np.argpartition(-a, n - 1)[:n]
    return [int(i) for i in part[np.argsort(-a[part], kind="stable")]]


def expected_indicator_keys() -> tuple[str, ...]:
    return INDICATOR_KEYS
