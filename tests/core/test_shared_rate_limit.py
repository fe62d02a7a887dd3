"""Rate-limit buckets shared by the worker processes of a host (app/core/limits.py
``SharedBuckets``): one client gets ``PCF_RATE_LIMIT_PER_MINUTE`` once per host, not once per
worker. The end-to-end check with ``pcf serve --workers 2`` is in test_serve_workers.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from app.core.limits import RateLimiter, SharedBuckets
from app.core.settings import PROJECT_ROOT


class FrozenClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_two_mappings_share_one_bucket(tmp_path: Path) -> None:
    table = tmp_path / "buckets"
    SharedBuckets.create(table).close()
    clock = FrozenClock()
    a = RateLimiter(60, clock=clock, shared=SharedBuckets(table))
    b = RateLimiter(60, clock=clock, shared=SharedBuckets(table))
    allowed = sum(lim.hit("client") == 0 for _ in range(60) for lim in (a, b))
    assert allowed == 60  # two separate in-memory limiters would allow 120
    wait = a.hit("client")
    assert 0 < wait <= 1.0
    assert b.hit("another client") == 0
    clock.now += 1.0  # one token a second, seen by both
    assert b.hit("client") == 0
    assert a.hit("client") > 0


def test_same_answers_as_the_in_memory_limiter(tmp_path: Path) -> None:
    clock = FrozenClock()
    shared = RateLimiter(5, clock=clock, shared=SharedBuckets.create(tmp_path / "t"))
    local = RateLimiter(5, clock=clock)
    for step in [0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 12, 0, 0, 0, 0, 0, 0, 100, 0]:
        clock.now += step
        for key in ("x", "y"):
            assert shared.hit(key) == local.hit(key)


def test_a_full_window_reuses_the_slot_updated_longest_ago(tmp_path: Path) -> None:
    clock = FrozenClock(0.0)
    table = SharedBuckets.create(tmp_path / "t", slots=SharedBuckets.PROBES)
    lim = RateLimiter(1, clock=clock, shared=table)  # one a minute
    keys = [f"client-{i}" for i in range(SharedBuckets.PROBES)]
    for k in keys:  # every slot taken, client-0 updated first
        assert lim.hit(k) == 0
        clock.now += 0.001
    assert lim.hit(keys[-1]) > 0  # still remembered: over its limit
    assert lim.hit("newcomer") == 0  # takes client-0's slot
    assert lim.hit(keys[0]) == 0  # forgotten: a full bucket again (takes the next oldest)
    assert lim.hit(keys[-1]) > 0


def test_not_a_table(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_bytes(b"x" * 7)
    try:
        SharedBuckets(bad)
    except ValueError as exc:
        assert "not a rate-limit table" in str(exc)
    else:
        raise AssertionError("a 7-byte file was accepted")


_HAMMER = """
import sys, time
from app.core.limits import RateLimiter, SharedBuckets
lim = RateLimiter(60, shared=SharedBuckets(sys.argv[1]))
start = float(sys.argv[2])
while time.time() < start:
    pass
print(sum(lim.hit("one client") == 0 for _ in range(3000)))
"""


def test_processes_hitting_at_once_lose_no_update(tmp_path: Path) -> None:
    """Four processes take tokens from one bucket at the same moment: without the lock their
    read-modify-writes overlap and far more than the limit get through."""
    table = tmp_path / "t"
    SharedBuckets.create(table).close()
    start = time.time() + 1.5
    t0 = time.monotonic()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _HAMMER, str(table), str(start)],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    allowed = [int(p.communicate(timeout=60)[0]) for p in procs]
    elapsed = time.monotonic() - t0
    assert all(p.returncode == 0 for p in procs)
    assert 60 <= sum(allowed) <= 60 + elapsed + 1, allowed  # a token a second refills


_HOLD = """
import fcntl, sys, time
f = open(sys.argv[1], "r+b")
fcntl.flock(f.fileno(), fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""


def test_a_worker_killed_while_holding_the_lock_does_not_block_the_others(
    tmp_path: Path,
) -> None:
    table = tmp_path / "t"
    SharedBuckets.create(table).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(table)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        lim = RateLimiter(60, shared=SharedBuckets(table))
        t0 = time.monotonic()
        assert lim.hit("c") == 0
        assert time.monotonic() - t0 < 5
    finally:
        if holder.poll() is None:
            holder.kill()
