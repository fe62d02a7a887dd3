"""Serving with several worker processes, each with its own listening socket (SO_REUSEPORT).

uvicorn's own ``--workers`` shares one listening socket between the workers. An idle worker's
event loop accepts every connection waiting on it, and the workers that happen to be idle when
a client opens its keep-alive connections (a load balancer's pool, a benchmark) keep them: on
this machine all of them went to one worker and the other one idled, halving the throughput.
Here every worker binds its own socket to the same address with ``SO_REUSEPORT``; the kernel
then hands each new connection to one of the sockets (by a hash of its addresses), whatever the
workers are doing, so connections spread evenly on average.

The workers share one table of rate-limit buckets (a file in /dev/shm the parent creates), so a
client's ``PCF_RATE_LIMIT_PER_MINUTE`` holds per host, whichever worker its connections reach.

The parent process only supervises: it starts the workers, starts a new one when one dies, and
on SIGTERM / SIGINT stops them all (uvicorn's graceful shutdown in each). Linux and the BSDs
have ``SO_REUSEPORT``; elsewhere ``serve`` falls back to uvicorn's shared socket.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import sys
import tempfile
import time
from types import FrameType
from typing import Any

import uvicorn

from app.core.limits import SharedBuckets, share_between_workers

log = logging.getLogger("pcf.serve")

APP = "app.main:app"
STARTUP_FAILURE = 3  # uvicorn's exit code when a worker cannot start (bad app, port taken)


def reuse_port_supported() -> bool:
    return hasattr(socket, "SO_REUSEPORT") and sys.platform != "win32"


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) that other workers may bind as well."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def _worker(host: str, port: int, options: dict[str, Any], buckets: str | None = None) -> None:
    share_between_workers(buckets)
    try:
        sock = listening_socket(host, port)
    except OSError as exc:
        print(f"pcf: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        sys.exit(STARTUP_FAILURE)
    config = uvicorn.Config(APP, host=host, port=port, **options)
    uvicorn.Server(config).run(sockets=[sock])


def _bucket_table() -> str:
    """A new rate-limit table for this server's workers (app/core/limits.py ``SharedBuckets``),
    in memory-backed /dev/shm where there is one."""
    shm = "/dev/shm"
    folder = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None
    fd, path = tempfile.mkstemp(prefix="pcf-rate-limit-", dir=folder)
    os.close(fd)
    SharedBuckets.create(path).close()
    return path


def serve(host: str, port: int, workers: int, **options: Any) -> None:
    """Serve ``app.main:app`` on (host, port) with ``workers`` processes (see module doc)."""
    if workers <= 1 or not reuse_port_supported():
        uvicorn.run(APP, host=host, port=port, workers=workers, **options)
        return
    ctx = multiprocessing.get_context("spawn")
    stopping = False
    buckets = _bucket_table()

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}

    def start() -> Any:
        p = ctx.Process(target=_worker, args=(host, port, options, buckets), name="pcf-worker")
        p.start()
        return p

    procs = [start() for _ in range(workers)]
    try:
        while not stopping:
            time.sleep(0.5)
            for i, p in enumerate(procs):
                if p.is_alive() or stopping:
                    continue
                if p.exitcode == STARTUP_FAILURE:
                    log.error("a worker could not start; stopping")
                    stopping = True
                    break
                log.warning("worker %s exited (%s); starting another", p.pid, p.exitcode)
                procs[i] = start()
    finally:
        for p in procs:
            if p.is_alive() and p.pid is not None:
                os.kill(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for p in procs:
            p.join(timeout=max(0.1, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join()
        for s, handler in previous.items():
            signal.signal(s, handler)
        with contextlib.suppress(OSError):
            os.unlink(buckets)
    if any(p.exitcode == STARTUP_FAILURE for p in procs):
        sys.exit(STARTUP_FAILURE)
