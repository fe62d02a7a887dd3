"""What the footprint calculation needs from the background engine, and the adapter to it.

The calculation talks to ``EngineView`` only:

* ``unit_values(keys)`` — cradle-to-gate indicator values per unit of each activity;
* ``unit_totals(keys)`` — the same, GWP total only;
* ``totals(demand)`` — indicator values of a demand (the engine's dot products);
  ``stage_totals(demands)`` — the same of several demands, with the GWP per unit of every
  activity they name (the keys looked up once);
* ``hotspots(demand, n)`` — top background processes and characterised elementary flows;
* ``monte_carlo_samples(demand, n, seed)`` — samples of the total GWP of a demand (None while the
  release has no Monte Carlo bank).

``engine_view(bg)`` wraps the release's ``app.background.engine.Engine`` (``bg.engine``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np

from app.background.engine import limit_native_threads
from app.background.indicators import INDICATOR_KEYS, PRIMARY

ActivityKey = tuple[str, str]


class Hot(NamedTuple):
    key: ActivityKey | None
    name: str
    location: str | None
    score: float


@dataclass(frozen=True)
class Hotspots:
    processes: list[Hot]
    flows: list[Hot]


class EngineView(Protocol):
    def unit_values(self, keys: Sequence[ActivityKey]) -> dict[ActivityKey, dict[str, float]]: ...

    def unit_totals(self, keys: Sequence[ActivityKey]) -> dict[ActivityKey, float]: ...

    def totals(self, demand: Mapping[ActivityKey, float]) -> dict[str, float]: ...

    def stage_totals(
        self, demands: Sequence[Mapping[ActivityKey, float]]
    ) -> tuple[list[dict[str, float]], dict[ActivityKey, float]]: ...

    def hotspots(self, demand: Mapping[ActivityKey, float], n: int) -> Hotspots: ...

    def monte_carlo_samples(
        self,
        demand: Mapping[ActivityKey, float],
        n: int,
        seed: int,
        sigmas: Mapping[ActivityKey, float] | None = None,
    ) -> np.ndarray[Any, Any] | None: ...


class EngineAdapter:
    """``EngineView`` over ``app.background.engine.Engine``."""

    FLOWS = 50  # characterised flows kept for the by-gas split (GHG flows are few)

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.total_pos = list(engine.indicator_keys).index(PRIMARY.key)
        # the engine's indicators are the service's, in its order: a footprint's array is the
        # service's dict as is
        self._same_indicators = tuple(engine.indicator_keys) == tuple(INDICATOR_KEYS)
        # what a hotspot shows of each activity and flow, read once
        meta = engine.activity_meta
        self._activity_shown = [
            (key, str(m.get("name", "")), m.get("location"))
            for key, m in zip(
                engine.activities,
                (meta[j] if j < len(meta) else {} for j in range(len(engine.activities))),
                strict=True,
            )
        ]
        self._flow_names = [str(f.get("name", "")) for f in engine.flows]
        # the GWP column of the engine's unit values, contiguous (the same floats, read-only)
        self._unit_totals = np.ascontiguousarray(engine.unit_value_matrix[:, self.total_pos])
        self._unit_totals.setflags(write=False)

    def unit_values(self, keys: Sequence[ActivityKey]) -> dict[ActivityKey, dict[str, float]]:
        """The engine's ``unit_values`` of each key (the same floats), read in one gather."""
        if not keys:
            return {}
        rows = self.engine.unit_value_matrix[self.engine.product_indices(keys)].tolist()
        names = self.engine.indicator_keys
        return {k: dict(zip(names, row, strict=True)) for k, row in zip(keys, rows, strict=True)}

    def unit_totals(self, keys: Sequence[ActivityKey]) -> dict[ActivityKey, float]:
        """``unit_values(keys)[key][PRIMARY.key]`` of each key (the same floats)."""
        if not keys:
            return {}
        idx = self.engine.product_indices(keys)
        column = self.engine.unit_value_matrix[idx, self.total_pos].tolist()
        return dict(zip(keys, column, strict=True))

    def totals(self, demand: Mapping[ActivityKey, float]) -> dict[str, float]:
        if self._same_indicators:
            values_ = self.engine.footprint_array(demand).tolist()
            return dict(zip(INDICATOR_KEYS, values_, strict=True))
        values = self.engine.footprint(demand)
        return {k: float(values.get(k, 0.0)) for k in INDICATOR_KEYS}

    def stage_totals(
        self, demands: Sequence[Mapping[ActivityKey, float]]
    ) -> tuple[list[dict[str, float]], dict[ActivityKey, float]]:
        """``([totals(d) for d in demands], unit_totals(keys))`` of every key the demands name
        (the same floats), each key looked up once."""
        keys = list({k: None for d in demands for k in d})
        if not self._same_indicators or not keys:
            return [self.totals(d) for d in demands], self.unit_totals(keys)
        engine = self.engine
        idx_all = engine.product_indices(keys)
        unit = self._unit_totals.take(idx_all).tolist()
        pos = dict(zip(keys, idx_all.tolist(), strict=True))
        footprint = engine.footprint_indexed
        totals = []
        for d in demands:
            n = len(d)
            idx = np.fromiter(map(pos.__getitem__, d), dtype=np.int64, count=n)
            amounts = np.fromiter(d.values(), dtype=np.float64, count=n)
            totals.append(dict(zip(INDICATOR_KEYS, footprint(idx, amounts).tolist(), strict=True)))
        return totals, dict(zip(keys, unit, strict=True))

    def hotspots(self, demand: Mapping[ActivityKey, float], n: int) -> Hotspots:
        top = self.engine.top_contributions(
            demand, PRIMARY.key, top_processes=n, top_flows=self.FLOWS
        )
        shown, names = self._activity_shown, self._flow_names
        # tuple.__new__: what Hot(...) does, without its Python-level constructor (60 per request)
        new = tuple.__new__
        return Hotspots(
            processes=[new(Hot, (*shown[j], value)) for j, _, value in top.processes],
            flows=[new(Hot, (None, names[i], None, value)) for i, _, value in top.flows],
        )

    def monte_carlo_samples(
        self,
        demand: Mapping[ActivityKey, float],
        n: int,
        seed: int,
        sigmas: Mapping[ActivityKey, float] | None = None,
    ) -> np.ndarray[Any, Any] | None:
        if not self.engine.bank_ready:
            return None
        bank = self.engine.bank_info.get("samples")
        iterations = min(n, int(bank)) if bank else None
        mc = self.engine.monte_carlo(
            demand,
            iterations=iterations,
            seed=seed,
            sigmas=sigmas,
            keep_samples=True,
            summarize=False,
            indicators=(PRIMARY.key,),
        )
        if mc.samples is None:
            return None
        return np.asarray(mc.samples[:, 0], dtype=float)


_VIEWS: dict[int, EngineView] = {}
_LOCK = threading.Lock()


def engine_view(bg: Any, *, native_threads: int | None = 1) -> EngineView:
    """The (cached) view of a loaded background's engine.

    The first view of a process limits the native thread pools (MKL Pardiso, OpenBLAS) to
    ``native_threads`` (None: leave them): a request's numerics are one sparse solve and a few
    small products, which extra threads do not speed up; their spinning only takes the cores
    the other request workers need (it doubled the CPU time of a footprint on 2 cores)."""
    with _LOCK:
        view = _VIEWS.get(id(bg.engine))
        if view is None:
            if native_threads is not None and not _VIEWS:
                limit_native_threads(native_threads)
            view = EngineAdapter(bg.engine)
            _VIEWS[id(bg.engine)] = view
        return view
