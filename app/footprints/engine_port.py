"""What the footprint calculation needs from the background engine, and the adapter to it.

The calculation talks to ``EngineView`` only:

* ``unit_values(keys)`` — cradle-to-gate indicator values per unit of each activity;
* ``totals(demand)`` — indicator values of a demand (the engine's dot products);
* ``hotspots(demand, n)`` — top background processes and characterised elementary flows;
* ``monte_carlo_samples(demand, n, seed)`` — samples of the total GWP of a demand (None while the
  release has no Monte Carlo bank).

``engine_view(bg)`` wraps the release's ``app.background.engine.Engine`` (``bg.engine``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from app.background.engine import limit_native_threads
from app.background.indicators import INDICATOR_KEYS, PRIMARY

ActivityKey = tuple[str, str]


@dataclass(frozen=True)
class Hot:
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

    def totals(self, demand: Mapping[ActivityKey, float]) -> dict[str, float]: ...

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

    def unit_values(self, keys: Sequence[ActivityKey]) -> dict[ActivityKey, dict[str, float]]:
        return {k: self.engine.unit_values(k) for k in keys}

    def totals(self, demand: Mapping[ActivityKey, float]) -> dict[str, float]:
        values = self.engine.footprint(dict(demand))
        return {k: float(values.get(k, 0.0)) for k in INDICATOR_KEYS}

    def hotspots(self, demand: Mapping[ActivityKey, float], n: int) -> Hotspots:
        h = self.engine.hotspots(dict(demand), PRIMARY.key, top_processes=n, top_flows=self.FLOWS)
        return Hotspots(
            processes=[Hot((p.database, p.code), p.name, p.location, p.value) for p in h.processes],
            flows=[Hot(None, f.name, None, f.value) for f in h.flows],
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
            dict(demand),
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
