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
with what a fresh ``bw2calc.LCA(demand, method)`` returns. Hotspots need the supply vector
``s = sum_j f_j A^-1 e_j``: the supply column ``A^-1 e_j`` of each activity (and its inventory
``B A^-1 e_j``) is solved once on a factorization cached for the life of the engine and kept,
bounded by ``SUPPLY_CACHE_BYTES`` (``SupplyColumns``), so a request only adds kept columns scaled
by its demand (``hotspots``; docs/engine.md "Hotspots" on the float round-off this implies).
Monte Carlo combines the demand with a bank of per-unit vectors sampled once per release
(``montecarlo``); the bank rows a request reads, permuted for its seed, are kept alike
(``MC_ROW_CACHE_BYTES``).

All arrays are read-only after load, so one ``Engine`` may be shared by all request threads; the
only mutable state (the lazily built factorization, the Monte Carlo bank and the bounded request
caches) is guarded by locks.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from app.background.indicators import INDICATOR_KEYS, INDICATORS

if TYPE_CHECKING:
    from app.background.montecarlo import SampleOrder

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

# Bounds of the engine's request caches (bytes of kept arrays). Supply columns
# (``SupplyColumns``): half for sparse ones, 16 bytes per non-zero entry (an aggregated factor's
# column has one or two: 32 MB hold millions), half for dense ones, (n_products + n_flows) x 8
# bytes each (about 160 KB at 20k activities: 32 MB hold 200 of them in an LRU; a request's BOM
# touches a few dozen activities). A Monte Carlo row (``BoundedCache``) costs indicators x
# iterations x 8 bytes (4 KB for one indicator and 500 iterations).
SUPPLY_CACHE_BYTES = 64 * 2**20
MC_ROW_CACHE_BYTES = 32 * 2**20


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
# Bounded cache
# --------------------------------------------------------------------------------------------

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    """A thread-safe least-recently-used map bounded by the total bytes of its values.

    The caller states each value's size when storing it; the least recently used entries are
    evicted once the total exceeds ``max_bytes``, and a value larger than the whole budget is not
    stored at all (``max_bytes=0`` disables the cache). Values are shared between threads, so they
    must be immutable (read-only numpy arrays)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max(0, int(max_bytes))
        self._data: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            hit = self._data.get(key)
            if hit is None:
                return None
            self._data.move_to_end(key)
            return hit[0]

    def get_many(self, keys: Iterable[K]) -> list[V | None]:
        """``get`` of each key (None for a miss), under one acquisition of the lock."""
        out: list[V | None] = []
        with self._lock:
            data = self._data
            for key in keys:
                hit = data.get(key)
                if hit is None:
                    out.append(None)
                else:
                    data.move_to_end(key)
                    out.append(hit[0])
        return out

    def put(self, key: K, value: V, nbytes: int) -> None:
        if nbytes > self.max_bytes:
            return
        with self._lock:
            if key in self._data:
                return
            self._data[key] = (value, nbytes)
            self._bytes += nbytes
            while self._bytes > self.max_bytes:
                _, (_, size) = self._data.popitem(last=False)
                self._bytes -= size

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._data)

    @property
    def nbytes(self) -> int:
        return self._bytes


class RowCache(Generic[K]):
    """Read-only float64 rows of one length, kept in one block and gathered by one numpy index.

    For the Monte Carlo rows of a request: dozens of rows of a few KB each, the same ones again
    and again, so a request's cost is one dictionary look-up per row and one ``take`` rather
    than one cache entry and one copy per row. ``max_bytes`` bounds the block; a request whose
    new rows do not fit empties it first (a working set larger than the budget costs the rows
    again, never more memory), and one that alone does not fit gets its rows uncached. The block
    is only read and written under the lock."""

    def __init__(self, row_length: int, max_bytes: int) -> None:
        self.row_length = row_length
        self.capacity = max(0, int(max_bytes) // (8 * max(1, row_length)))
        self._slots: dict[K, int] = {}
        self._block: FloatArray | None = None  # allocated on first use
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._slots)

    def gather(self, keys: Sequence[K], make: Callable[[list[K]], list[FloatArray]]) -> FloatArray:
        """``[len(keys), row_length]``: the row of each key; rows not kept yet are made by
        ``make`` (once, for the missing keys in order of first appearance) and kept."""
        with self._lock:
            slots = self._slots
            positions = list(map(slots.get, keys, repeat(-1, len(keys))))
            if -1 in positions:
                missing = list(
                    dict.fromkeys(k for k, p in zip(keys, positions, strict=True) if p < 0)
                )
                if len(slots) + len(missing) > self.capacity:
                    everything = list(dict.fromkeys(keys))
                    if len(everything) > self.capacity:  # more than the whole budget at once
                        made = dict(zip(everything, make(everything), strict=True))
                        return np.array([made[k] for k in keys], dtype=np.float64).reshape(
                            len(keys), self.row_length
                        )
                    slots.clear()
                    missing = everything
                if self._block is None:
                    self._block = np.empty((self.capacity, self.row_length))
                for k, row in zip(missing, make(missing), strict=True):
                    slots[k] = len(slots)
                    self._block[slots[k]] = row
                positions = [slots[k] for k in keys]
            block = self._block
            if block is None or not keys:
                return np.empty((0, self.row_length))
            return block.take(positions, axis=0)


class SupplyColumns:
    """The supply columns of the technosphere, each solved once and kept, for hotspots.

    Column ``j`` is the supply ``A^-1 e_j`` followed by its inventory ``B A^-1 e_j`` (``length``
    = products + flows entries). It is solved alone (``solve(j)``: one right-hand side, so its
    bits never depend on which other columns were missing at the same time) and kept read-only:

    * a sparse column (at most a quarter non-zero: aggregated factors, small foreground systems,
      a few dozen entries) as its non-zero entries in flat arrays shared by all of them, so that
      a request gathers all its columns with a handful of numpy operations whatever their
      number; when they would exceed ``sparse_bytes`` the flat arrays start afresh;
    * a dense column (ecoinvent-like supply chains) whole, in a bounded LRU (``dense_bytes``).

    ``weighted_sum(idx, amounts)`` is ``sum_i amounts[i] * column(idx[i])``, every entry summed in
    the order of ``idx`` (the sparse columns by one ``bincount``, then the dense ones): the same
    demand always gives the same bits. Thread-safe (one lock, held for a few microseconds: the
    columns a request is the first to need are solved outside it)."""

    def __init__(
        self,
        n_products: int,
        length: int,
        solve: Callable[[int], FloatArray],
        *,
        sparse_bytes: int,
        dense_bytes: int,
    ) -> None:
        self.length = length
        self.sparse_bytes = max(0, int(sparse_bytes))
        self._n = n_products
        self._solve = solve
        self._dense: BoundedCache[int, FloatArray] = BoundedCache(dense_bytes)
        self._lock = threading.Lock()
        self._start_afresh()

    def _start_afresh(self) -> None:
        # start[j]: offset of column j's entries in rows/values; UNKNOWN, or DENSE (in _dense)
        self._start = np.full(self._n, self.UNKNOWN, dtype=np.int64)
        self._size = np.zeros(self._n, dtype=np.int64)
        self._rows = np.empty(256, dtype=np.int64)
        self._values = np.empty(256, dtype=np.float64)
        self._used = 0

    UNKNOWN, DENSE = -1, -2

    @property
    def nbytes(self) -> int:
        """Bytes held: the sparse entries (16 each) and the dense columns."""
        return 16 * self._used + self._dense.nbytes

    def column(self, j: int) -> FloatArray:
        """Column ``j`` as a dense read-only vector."""
        return self.weighted_sum(np.array([j], dtype=np.int64), np.ones(1))

    def weighted_sum(self, idx: npt.NDArray[np.int64], amounts: FloatArray) -> FloatArray:
        for _ in range(3):  # more rounds only after the flat arrays started afresh meanwhile
            with self._lock:
                start = self._start[idx]
                if idx.size and start.min() >= 0:  # the common case: all kept, all sparse
                    return self._gather_sparse(start, self._size[idx], amounts)
                missing = idx[start == self.UNKNOWN]
                if missing.size == 0:
                    return self._gather(idx, amounts)
            # solved without holding the lock (the factorization serializes the solves)
            solved = {j: self._solve(j) for j in dict.fromkeys(missing.tolist())}
            with self._lock:
                for j, column in solved.items():
                    if self._start[j] == self.UNKNOWN:
                        self._keep(j, column)
        # the request's columns alone do not fit in the budget: summed as solved
        out = np.zeros(self.length)
        for j, a in zip(idx.tolist(), amounts.tolist(), strict=True):
            out += a * self._solve(j)
        return out

    def _gather(self, idx: npt.NDArray[np.int64], amounts: FloatArray) -> FloatArray:
        """The weighted sum of kept columns (under the lock)."""
        start, size = self._start[idx], self._size[idx]
        sparse = start >= 0
        all_sparse = bool(sparse.all())
        if all_sparse:
            lengths, starts, scale = size, start, amounts
        else:
            lengths, starts, scale = size[sparse], start[sparse], amounts[sparse]
        out = self._gather_sparse(starts, lengths, scale)
        if not all_sparse:
            for j, a in zip(idx[~sparse].tolist(), amounts[~sparse].tolist(), strict=True):
                out += a * self._dense_column(j)
        return out

    def _gather_sparse(
        self, starts: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64], scale: FloatArray
    ) -> FloatArray:
        """The weighted sum of kept sparse columns (given by their starts and sizes; under the
        lock): every entry in the order of the columns, summed by one ``bincount``."""
        # offsets of every sparse column's entries, column after column
        ends = np.cumsum(lengths)
        offsets = np.arange(int(ends[-1]) if ends.size else 0) + np.repeat(
            starts - (ends - lengths), lengths
        )
        weights = np.repeat(scale, lengths) * self._values[offsets]
        out: FloatArray = np.bincount(
            self._rows[offsets], weights=weights, minlength=self.length
        ).astype(np.float64, copy=False)
        return out

    def _keep(self, j: int, column: FloatArray) -> None:
        nz = np.flatnonzero(column)
        if 4 * nz.size > column.size:
            self._keep_dense(j, column)
            return
        if 16 * (self._used + nz.size) > self.sparse_bytes:
            self._start_afresh()
        end = self._used + nz.size
        if end > self._rows.size:
            grown = max(end, 2 * self._rows.size)
            self._rows = np.resize(self._rows, grown)
            self._values = np.resize(self._values, grown)
        self._rows[self._used : end] = nz
        self._values[self._used : end] = column[nz]
        self._start[j], self._size[j] = self._used, nz.size
        self._used = end

    def _keep_dense(self, j: int, column: FloatArray) -> None:
        column = np.array(column, dtype=np.float64)
        column.setflags(write=False)
        self._dense.put(j, column, column.nbytes)
        self._start[j] = self.DENSE

    def _dense_column(self, j: int) -> FloatArray:
        column = self._dense.get(j)
        if column is None:  # dropped by the LRU: solved again
            column = np.array(self._solve(j), dtype=np.float64)
            column.setflags(write=False)
            self._dense.put(j, column, column.nbytes)
        return column


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
class TopContributions:
    """``hotspots`` in plain numbers: (activity index, supply, value) of the top processes and
    (flow index, inventory amount, value) of the top flows; the indicator's total if asked."""

    processes: list[tuple[int, float, float]]
    flows: list[tuple[int, float, float]]
    total: float | None = None


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
        supply_cache_bytes: int = SUPPLY_CACHE_BYTES,
        mc_row_cache_bytes: int = MC_ROW_CACHE_BYTES,
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
        self._direct_by_indicator = np.ascontiguousarray(self._direct.T)  # [K, n_activities]
        self._direct_by_indicator.setflags(write=False)
        self._solver_backend = solver_backend
        self._factorization: Factorization | None = None
        self._factor_lock = threading.Lock()
        self._factor_thread: threading.Thread | None = None
        self._bank: npt.NDArray[np.float32] | None = None
        self._bank_meta: dict[str, Any] = {}
        self._bank_lock = threading.Lock()
        self._bank_thread: threading.Thread | None = None
        self._bank_error: BaseException | None = None
        self._bank_generation = 0  # bumped whenever the bank is replaced (row cache key)
        # A^-1 e_j, then B A^-1 e_j, of every product j a hotspot request used
        self._supply_columns = SupplyColumns(
            len(self.products),
            len(self.products) + len(self.flows),
            self._solve_column,
            sparse_bytes=supply_cache_bytes // 2,
            dense_bytes=supply_cache_bytes // 2,
        )
        # product index -> float64 bank[product, indicators][:, cols] in one sample order, for
        # the last (bank generation, indicators, bank size, iterations, seed) asked for
        self._mc_row_cache_bytes = mc_row_cache_bytes
        self._mc_rows: tuple[tuple[Any, ...], RowCache[int]] | None = None

    # ---------------------------------------------------------------- loading

    @classmethod
    def load(
        cls,
        release_dir: Path,
        *,
        factorize: Literal["background", "eager", "lazy"] = "background",
        solver_backend: str = "auto",
        supply_cache_bytes: int = SUPPLY_CACHE_BYTES,
        mc_row_cache_bytes: int = MC_ROW_CACHE_BYTES,
    ) -> Engine:
        """Load the engine of a release from ``release_dir/engine/`` (numpy/scipy only).

        ``factorize`` controls when the technosphere is factorized for hotspots: in a daemon
        thread started now (default), now (``eager``) or on the first hotspot request (``lazy``).
        Footprints and Monte Carlo never need the factorization. ``supply_cache_bytes`` and
        ``mc_row_cache_bytes`` bound the request caches of hotspots and Monte Carlo (0: off).
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
            supply_cache_bytes=supply_cache_bytes,
            mc_row_cache_bytes=mc_row_cache_bytes,
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

    def product_indices(self, keys: Iterable[DemandKey]) -> npt.NDArray[np.int64]:
        """``product_index`` of each key, in order (one dict look-up each for (database, code)
        tuples of strings, the common case; anything else goes through ``product_index``)."""
        keys = keys if isinstance(keys, Sequence) else list(keys)
        try:
            return np.fromiter(
                map(self._product_pos.__getitem__, keys),
                dtype=np.int64,
                count=len(keys),
            )
        except (KeyError, TypeError):
            return np.fromiter(
                (self.product_index(k) for k in keys), dtype=np.int64, count=len(keys)
            )

    def _demand_arrays(self, demand: Demand) -> tuple[npt.NDArray[np.int64], FloatArray]:
        idx = self.product_indices(list(demand))
        amt = np.fromiter(demand.values(), dtype=np.float64, count=len(idx))  # as float(v) each
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
        return self.footprint_indexed(idx, amt)

    def footprint_indexed(self, idx: npt.NDArray[np.int64], amounts: FloatArray) -> FloatArray:
        """``footprint_array`` of ``amounts`` of the products at ``idx`` (no key look-ups)."""
        # take: the rows as the fancy index self._unit[idx] gives them (same values, C order)
        out: FloatArray = amounts @ self._unit.take(idx, axis=0)
        return out if out.dtype == np.float64 else np.asarray(out, dtype=np.float64)

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

    def supply_column(self, j: int) -> FloatArray:
        """Supply ``A^-1 e_j`` then inventory ``B A^-1 e_j`` (one vector of ``n_products +
        n_flows`` entries) of one unit of product ``j``, solved once and kept
        (``SupplyColumns``, bounded by ``SUPPLY_CACHE_BYTES``)."""
        return self._supply_columns.column(j)

    def _solve_column(self, j: int) -> FloatArray:
        e = np.zeros(len(self.products))
        e[j] = 1.0
        s = np.asarray(self.factorization().solve(e), dtype=np.float64)
        return np.concatenate([s, np.asarray(self.biosphere @ s, dtype=np.float64)])

    def supply_and_inventory(self, demand: Demand) -> tuple[FloatArray, FloatArray]:
        """``(s, B s)`` of a demand as sums of kept supply columns scaled by the demand.

        Equals ``(supply(demand), biosphere @ supply(demand))`` up to float round-off (linearity
        of ``A^-1``: another summation order, differences of order 1e-16 relative to the largest
        entries; checked to 1e-12 in ``tests/footprints/test_calc_cache.py``). Deterministic: the
        same demand (same order) always gives the same bits."""
        idx, amt = self._demand_arrays(demand)
        if len(set(idx.tolist())) < idx.size:  # a product named twice: amounts summed in order
            merged: dict[int, float] = {}
            for i, a in zip(idx.tolist(), amt.tolist(), strict=True):
                merged[i] = merged.get(i, 0.0) + a
            idx = np.fromiter(merged, dtype=np.int64, count=len(merged))
            amt = np.fromiter(merged.values(), dtype=np.float64, count=len(merged))
        both = self._supply_columns.weighted_sum(idx, amt)
        n = len(self.products)
        return both[:n], both[n:]

    def hotspots(
        self,
        demand: Demand,
        indicator: str = INDICATORS[0].key,
        *,
        top_processes: int = 10,
        top_flows: int = 10,
    ) -> Hotspots:
        """Top background processes (direct contributions) and elementary flows for ``demand``.

        The supply comes from cached columns (``supply_and_inventory``): no solve once the
        demand's activities have been seen."""
        k = self._indicator_pos(indicator)
        top = self._top_contributions(demand, k, top_processes, top_flows, with_total=True)
        total = top.total
        assert total is not None
        denom = total if total != 0 else 1.0
        procs = []
        for j, supply, value in top.processes:
            meta = self.activity_meta[j] if j < len(self.activity_meta) else {}
            db, code = self.activities[j]
            procs.append(
                ProcessContribution(
                    index=j,
                    database=db,
                    code=code,
                    name=str(meta.get("name", "")),
                    location=meta.get("location"),
                    supply=supply,
                    value=value,
                    share=value / denom if total != 0 else 0.0,
                )
            )
        flows = []
        for i, amount, value in top.flows:
            fl = self.flows[i]
            flows.append(
                FlowContribution(
                    index=i,
                    database=str(fl.get("database", "")),
                    code=str(fl.get("code", "")),
                    name=str(fl.get("name", "")),
                    categories=tuple(fl.get("categories") or ()),
                    gas=fl.get("gas"),
                    amount=amount,
                    value=value,
                    share=value / denom if total != 0 else 0.0,
                )
            )
        return Hotspots(indicator=indicator, total=total, processes=procs, flows=flows)

    def top_contributions(
        self,
        demand: Demand,
        indicator: str = INDICATORS[0].key,
        *,
        top_processes: int = 10,
        top_flows: int = 10,
    ) -> TopContributions:
        """The numbers of ``hotspots`` as plain tuples (for a caller that needs no more): the
        same processes and flows, the same values (no total)."""
        return self._top_contributions(
            demand, self._indicator_pos(indicator), top_processes, top_flows, with_total=False
        )

    def _top_contributions(
        self, demand: Demand, k: int, top_processes: int, top_flows: int, *, with_total: bool
    ) -> TopContributions:
        s, inventory = self.supply_and_inventory(demand)
        top_j, s_top, direct_top, total = _top_products(
            self._direct_by_indicator[k], s, top_processes, with_total
        )
        top_i, inventory_top, flows_top, _ = _top_products(
            self.characterization[k], inventory, top_flows, False
        )
        return TopContributions(
            processes=list(zip(top_j, s_top, direct_top, strict=True)),
            flows=list(zip(top_i, inventory_top, flows_top, strict=True)),
            total=total,
        )

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
            self._bank_generation += 1
            self._mc_rows = None

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
        montecarlo = _montecarlo()
        with self._bank_lock:  # the bank and its generation (the row cache's key) together
            bank, generation = self._bank, self._bank_generation
        if bank is None:
            if self._bank_error is not None:
                raise BankNotReady(f"Monte Carlo bank build failed: {self._bank_error!r}")
            raise BankNotReady("This release has no Monte Carlo bank yet")
        if isinstance(demand, Mapping):
            sig = sigmas or {}
            n_lines = len(demand)
            idx = self.product_indices(list(demand))
            amounts = np.fromiter(demand.values(), dtype=np.float64, count=n_lines)
            sigma = np.fromiter(
                map(sig.get, demand, repeat(0.0, n_lines)), dtype=np.float64, count=n_lines
            )
        else:
            lines = list(demand)
            idx = np.array([self.product_index(line.key) for line in lines], dtype=np.int64)
            amounts = np.array([line.amount for line in lines], dtype=np.float64)
            sigma = np.array([line.sigma for line in lines], dtype=np.float64)
        keys = self.indicator_keys
        ks = tuple(range(len(keys)))
        if indicators is not None:
            ks = tuple(self._indicator_pos(k) for k in indicators)
            keys = tuple(keys[k] for k in ks)
        order = montecarlo.sample_order(int(bank.shape[2]), iterations, seed)
        # The lines' rows of the bank, those indicators only, in the seed's sample order
        # ([lines, len(ks), n]): the numbers montecarlo.combine() reads, from the row cache.
        block = self._bank_block(bank, generation, idx.tolist(), ks, order, seed)
        samples = montecarlo.combine_block(block, amounts, sigma, order)
        stats: dict[str, dict[str, float]] = {}
        if summarize:
            unit = self._unit[idx]
            if indicators is not None:
                unit = unit[:, list(ks)]
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

    def _bank_block(
        self,
        bank: npt.NDArray[np.float32],
        generation: int,
        rows: list[int],
        ks: tuple[int, ...],
        order: SampleOrder,
        seed: int,
    ) -> FloatArray:
        """``float64(bank[rows][:, ks][:, :, order.cols])``, ``[len(rows), len(ks), n]``.

        Each product's ``[len(ks), n]`` row is kept (``RowCache``, ``MC_ROW_CACHE_BYTES``) for
        the bank, indicators and sample order of the last request: requests read the same few
        rows again and again."""
        config = (generation, ks, int(bank.shape[2]), order.n, int(seed))
        current = self._mc_rows
        if current is None or current[0] != config:
            current = (config, RowCache(len(ks) * order.n, self._mc_row_cache_bytes))
            self._mc_rows = current
        select = list(ks)

        def read(products: list[int]) -> list[FloatArray]:
            return [
                np.asarray(bank[i], dtype=np.float64)[select][:, order.cols].reshape(-1)
                for i in products
            ]

        return current[1].gather(rows, read).reshape(len(rows), len(ks), order.n)


def _montecarlo() -> Any:
    """``app.background.montecarlo`` (which imports this module: imported on first use, then
    read from the module cache rather than by an import statement on every request)."""
    global _MONTECARLO
    if _MONTECARLO is None:
        from app.background import montecarlo

        _MONTECARLO = montecarlo
    return _MONTECARLO


_MONTECARLO: Any = None


def _top_products(
    weights: FloatArray, x: FloatArray, n: int, with_total: bool
) -> tuple[list[int], list[float], list[float], float | None]:
    """The ``n`` largest ``|weights * x|`` (``_top_abs``): their indices, ``x`` and the products
    there (Python floats, as ``float(array[j])``), and the sum of all products if asked."""
    products = weights * x
    top = _top_abs_array(products, n)
    total = float(products.sum()) if with_total else None
    return top.tolist(), x[top].tolist(), products[top].tolist(), total


def _top_abs(values: FloatArray, n: int) -> list[int]:
    """Indices of the ``n`` largest |values| (non-zero only), largest first."""
    top: list[int] = _top_abs_array(values, n).tolist()
    return top


def _top_abs_array(values: FloatArray, n: int) -> npt.NDArray[np.intp]:
    """``_top_abs`` as an index array."""
    if n <= 0 or values.size == 0:
        return _NO_INDEX
    neg = np.negative(np.abs(values))  # -|values|: the largest first
    n = min(n, int(np.count_nonzero(neg)))
    if n == 0:
        return _NO_INDEX
    part = np.argpartition(neg, n - 1)[:n]
    top: npt.NDArray[np.intp] = part[np.argsort(neg[part], kind="stable")]
    return top


_NO_INDEX: npt.NDArray[np.intp] = np.empty(0, dtype=np.intp)
_NO_INDEX.setflags(write=False)


def expected_indicator_keys() -> tuple[str, ...]:
    return INDICATOR_KEYS
