"""`pcf serve --workers 2` spreads keep-alive connections over both workers: each worker listens
on its own SO_REUSEPORT socket (app/core/serve.py); with one shared socket, the connections a
client opens together all went to one worker and the other idled."""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.core.settings import PROJECT_ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(sock: socket.socket) -> bytes:
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


@pytest.mark.slow
def test_connections_opened_together_reach_both_workers(tmp_path: Path) -> None:
    if not shutil.which("ss") or not Path("/proc").is_dir():
        pytest.skip("needs Linux and ss (iproute2) to see which process holds a connection")
    port = _free_port()
    env = {
        **os.environ,
        "PCF_ENV": "test",
        "PCF_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}",
        "PCF_DATA_DIR": str(tmp_path / "data"),
        "PCF_LOG_LEVEL": "WARNING",
    }
    (tmp_path / "data").mkdir()
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", "2"],
        cwd=PROJECT_ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sockets: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 60
        while True:  # both workers up: each answers on its own
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as probe:
                    if b" 200 " in _get(probe):
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "pcf serve did not start"
            time.sleep(0.2)
        time.sleep(2)  # the second worker finishes its start-up too
        # 32 connections opened in one burst, as a load balancer's pool or wrk does
        for _ in range(32):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            sockets.append(s)
        _, writable, _ = select.select([], sockets, [], 10)
        assert len(writable) == len(sockets)
        for s in sockets:
            s.setblocking(True)
            s.settimeout(5)
        for s in sockets:  # keep-alive: each stays with the worker that accepted it
            assert b" 200 " in _get(s)
        out = subprocess.run(
            ["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        holders = [int(pid) for pid in re.findall(r"pid=(\d+)", out)]
        per_worker = {pid: holders.count(pid) for pid in set(holders)}
        assert sum(per_worker.values()) == 32, out
        # the kernel picks a worker per connection at random (a hash): fewer than 6 of 32 on
        # one of them has a probability of 1e-4; one shared socket gave 0 or 1 here
        assert len(per_worker) == 2, f"connections per worker process: {per_worker}"
        assert min(per_worker.values()) >= 6, f"connections per worker process: {per_worker}"
    finally:
        for s in sockets:
            s.close()
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
