"""HTTP benchmark of ``POST /v1/footprints``: the service with two workers on PostgreSQL, the
examples posted from a separate process for a fixed time.

    .venv/bin/python bench/http.py [--seconds 60] [--workers 2] [--concurrency 8] [--driver wrk]
                                   [--pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
                                   [--data-dir var/data] [--json results.json]

Creates a throwaway database (dropped at the end), migrates it, seeds the rules and one
manufacturer client, starts ``pcf serve`` (uvicorn, ``--workers``), waits for ``/readyz``, then a
load process keeps ``--concurrency`` requests in flight (HTTP/1.1 keep-alive), cycling through
``examples/*.json``. Prints requests per second, p50 / p99 latency and the error count, the CPU
time per request of the workers, PostgreSQL and the load generator, and a calibration figure
(a fixed Python workload timed before and after) that tells how fast the shared machine was.
Numbers depend on the machine: never asserted anywhere.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the standard library's ``http`` package: run as a script, its folder
# comes first on sys.path and would shadow it. Drop the folder before anything imports ``http``.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import multiprocessing as mp  # noqa: E402
import os  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _prepare(admin_url: str, data_dir: Path) -> tuple[str, dict[str, str], str]:
    """A fresh migrated database with the rules and a manufacturer; (url, env, token)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from app.accounts import service
    from app.core.database import Database
    from app.core.migrate import upgrade_to_head
    from app.core.security import issue_token
    from app.core.settings import Settings
    from app.core.tenancy import unscoped
    from app.rules.seed import seed_rules

    name = f"pcf_bench_{secrets.token_hex(4)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    upgrade_to_head(url)
    seed_rules(url)
    db = Database(url)
    with db.session() as s:
        unscoped(s)
        org = service.create_organisation(
            s, None, name="Bench brewery", kind="manufacturer", families=(), actor="bench"
        )
        client, _ = service.create_client(s, None, org=org, role="manufacturer", actor="bench")
        client_id, org_id, version = client.client_id, org.id, client.secret_version
    db.dispose()
    env = {
        **os.environ,
        "PCF_DATABASE_URL": url,
        "PCF_DATA_DIR": str(data_dir),
        "PCF_RATE_LIMIT_PER_MINUTE": "0",
        "PCF_LOG_LEVEL": "WARNING",
        "PCF_ENV": "dev",
    }
    settings = Settings(database_url=url, data_dir=data_dir)
    token = issue_token(
        settings.secret_key,
        client_id=client_id,
        org_id=org_id,
        role="manufacturer",
        secret_version=version,
        ttl_seconds=3600,
    )
    return url, env, token


def _drop(admin_url: str, url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _wait_ready(base: str, timeout: float = 120.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            r = httpx.get(base + "/readyz", timeout=2)
            if r.status_code == 200 and r.json().get("background", r.json()).get(
                "release_id", True
            ):
                return
        except (httpx.HTTPError, ValueError, AttributeError):
            pass
        time.sleep(0.5)
    raise SystemExit("the service did not become ready")


# ----------------------------------------------------------------------------- CPU accounting
def _procs() -> dict[int, tuple[int, str, float]]:
    """{pid: (ppid, cmdline, CPU seconds)} of every process (Linux /proc; {} elsewhere)."""
    out: dict[int, tuple[int, str, float]] = {}
    root = Path("/proc")
    if not root.is_dir():
        return out
    hz = os.sysconf("SC_CLK_TCK")
    for d in root.iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text().rsplit(")", 1)[1].split()
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        out[int(d.name)] = (int(stat[1]), cmd, (int(stat[11]) + int(stat[12])) / hz)
    return out


def _cpu_by_role(server_pid: int, database: str) -> dict[str, dict[int, float]]:
    """CPU seconds of the uvicorn workers and of the PostgreSQL backends of ``database``."""
    procs = _procs()
    return {
        "workers": {pid: t for pid, (ppid, _, t) in procs.items() if ppid == server_pid},
        "postgres": {pid: t for pid, (_, cmd, t) in procs.items() if f" {database} " in f"{cmd} "},
    }


def _cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())


# ----------------------------------------------------------------------------- machine speed
def _calibrate(rounds: int = 5) -> float:
    """Milliseconds of a fixed single-threaded workload (the best of ``rounds``): Python objects
    and JSON over a working set of a few MB, larger than this machine's 512 kB L2 per core, as a
    request's is. The shared machine's speed drifts by up to 2x over minutes; printed before and
    after a run, this says which kind of minute the run had, so runs can be compared (roughly:
    it reacts less than a whole request does).
    """
    import json as _json
    import random

    rng = random.Random(7)
    keys = [f"k{i}" for i in range(40_000)]

    def work() -> None:
        doc = {k: [i * 0.5, k, {"x": i % 7}] for i, k in enumerate(keys)}
        text = _json.dumps(doc)
        doc = _json.loads(text)
        total = 0.0
        for k in rng.sample(keys, 20_000):
            v = doc[k]
            total += v[0] * v[2]["x"]

    best = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        work()
        best = min(best, time.process_time() - t0)
    return best * 1000


def _calibrate_fresh() -> float:
    """``_calibrate`` in a new process. In this one, after ``_prepare`` has imported the app, the
    workload's allocations make the garbage collector walk those imports too and it reads ~2x
    slower whatever the machine does (seen: 133 ms before a run, 265 ms after, on a quiet host).
    """
    with mp.get_context("spawn").Pool(1) as pool:
        return float(pool.apply(_calibrate))


# ----------------------------------------------------------------------------- load process
async def _load(
    base: str,
    token: str,
    bodies: list[bytes],
    seconds: float,
    concurrency: int,
    started: Any = None,
) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    errors: dict[str, int] = {}
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    end = time.perf_counter() + seconds
    n = 0

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        # warm-up: every example once per worker-ish, not counted
        for body in bodies * 2:
            await client.post("/v1/footprints", content=body, headers=headers)

        async def worker(i: int) -> None:
            nonlocal n
            k = i
            while time.perf_counter() < end:
                body = bodies[k % len(bodies)]
                k += 1
                t0 = time.perf_counter()
                try:
                    r = await client.post("/v1/footprints", content=body, headers=headers)
                    status = r.status_code
                except httpx.HTTPError as exc:
                    status = -1
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                dt = time.perf_counter() - t0
                if status == 201:
                    latencies.append(dt)
                elif status != -1:
                    errors[str(status)] = errors.get(str(status), 0) + 1
                n += 1

        if started is not None:  # the parent snapshots the server's CPU now
            started.put("started")
        end = time.perf_counter() + seconds
        t_start = time.perf_counter()
        cpu_start = time.process_time()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - t_start
        load_cpu = time.process_time() - cpu_start
    lat = sorted(latencies)

    def pct(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")

    return {
        "seconds": elapsed,
        "requests": n,
        "ok": len(lat),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "rps": n / elapsed,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "mean_ms": statistics.fmean(lat) * 1000 if lat else float("nan"),
        "load_generator_cpu_s": load_cpu,
    }


_WRK_LUA = """
local bodies = { %(bodies)s }
local i = 0
local bad = 0
request = function()
  i = i %% #bodies + 1
  return wrk.format("POST", "/v1/footprints", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer %(token)s",
  }, bodies[i])
end
response = function(status, headers, body)
  if status ~= 201 then bad = bad + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %%d %%f %%f %%f %%d\\n", summary.requests,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout))
end
"""


def _wrk(base: str, token: str, bodies: list[bytes], seconds: float, conc: int) -> dict[str, Any]:
    """Load from `wrk` (C, Debian package): far cheaper per request than a Python client, so
    more of the two cores is left to the service. One wrk thread, `conc` connections."""
    import resource
    import tempfile

    for b in bodies:
        assert b"]==]" not in b
    script = _WRK_LUA % {
        "bodies": ", ".join("[==[" + b.decode() + "]==]" for b in bodies),
        "token": token,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)

    def run(secs: float) -> str:
        r = subprocess.run(
            ["wrk", "-t1", f"-c{conc}", f"-d{max(1, round(secs))}s", "-s", f.name, base],
            capture_output=True,
            text=True,
            check=True,
        )
        if "RESULT " not in r.stdout:
            raise RuntimeError(f"wrk gave no result:\n{r.stdout}\n{r.stderr}")
        return r.stdout

    run(3)  # warm-up, not counted
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = run(seconds)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    os.unlink(f.name)
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    n, dur, p50, p99, errors = line.split()[1:]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "requests": int(n),
        "seconds": float(dur),
        "rps": int(n) / float(dur),
        "p50_ms": float(p50),
        "p99_ms": float(p99),
        "errors": int(errors),
        "error_kinds": {},
        "load_generator_cpu_s": cpu,
        "driver": "wrk",
    }


def _load_process(args: tuple[str, str, list[bytes], float, int], out: Any) -> None:
    out.put(asyncio.run(_load(*args, started=out)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    ap.add_argument(
        "--pg",
        default=os.environ.get(
            "PCF_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    ap.add_argument("--data-dir", type=Path, default=ROOT / "var" / "data")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument(
        "--driver",
        choices=["httpx", "wrk"],
        default="wrk" if shutil.which("wrk") else "httpx",
        help="load generator: wrk (Debian package `wrk`; the default when installed: ~0.07 ms "
        "of CPU per request) or Python httpx (1-2.5 ms per request, taken from the same cores)",
    )
    a = ap.parse_args()
    from sqlalchemy.engine import make_url

    bodies = [p.read_bytes() for p in sorted((ROOT / "examples").glob("*.json"))]
    calibration_before = _calibrate_fresh()
    url, env, token = _prepare(a.pg, a.data_dir.resolve())
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable,
        "-m",
        "app.cli",
        "serve",
        "--port",
        str(port),
        "--workers",
        str(a.workers),
    ]
    server = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    try:
        _wait_ready(base)
        database = make_url(url).database or ""
        if a.driver == "wrk":
            cpu0 = _cpu_by_role(server.pid, database)
            result = _wrk(base, token, bodies, a.seconds, a.concurrency)
            cpu1 = _cpu_by_role(server.pid, database)
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        if a.driver == "httpx":
            p = ctx.Process(
                target=_load_process, args=((base, token, bodies, a.seconds, a.concurrency), q)
            )
            p.start()
            assert q.get() == "started"
            cpu0 = _cpu_by_role(server.pid, database)
            result = q.get()
            cpu1 = _cpu_by_role(server.pid, database)
            p.join()
        n = max(1, result["requests"])
        result["cpu_ms_per_request"] = {
            "workers": _cpu_used(cpu0["workers"], cpu1["workers"]) / n * 1000,
            "postgres": _cpu_used(cpu0["postgres"], cpu1["postgres"]) / n * 1000,
            "load_generator": result["load_generator_cpu_s"] / n * 1000,
        }
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        _drop(a.pg, url)
    calibration = (calibration_before, _calibrate_fresh())
    result.update(
        calibration_ms=calibration,
        workers=a.workers,
        concurrency=a.concurrency,
        examples=len(bodies),
        cpus=os.cpu_count(),
    )
    print(
        f"POST /v1/footprints ({a.driver}), {a.workers} workers, PostgreSQL, "
        f"{a.concurrency} in flight, "
        f"{result['seconds']:.0f} s: {result['rps']:.1f} requests/s, "
        f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
        f"errors {result['errors']} {result['error_kinds'] or ''}"
    )
    cpu = result["cpu_ms_per_request"]
    print(
        f"CPU per request: uvicorn workers {cpu['workers']:.2f} ms, PostgreSQL "
        f"{cpu['postgres']:.2f} ms, load generator {cpu['load_generator']:.2f} ms "
        f"(total {sum(cpu.values()):.2f} ms; {os.cpu_count()} CPUs)"
    )
    print(
        f"machine speed: calibration workload {calibration[0]:.1f} ms before, "
        f"{calibration[1]:.1f} ms after (lower is faster; see bench/README.md)"
    )
    if a.json:
        a.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
