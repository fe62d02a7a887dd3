"""The ``pcf`` command: serve, migrate, background data, organisations and clients.

Every subcommand explains itself with ``--help``. A wrong setting stops with one line naming it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from app.core.errors import ConfigError

if TYPE_CHECKING:
    from app.core.settings import Settings

Handler = Callable[[argparse.Namespace], int]


def _settings() -> Settings:
    from app.core.settings import get_settings

    return get_settings()


def _fail(message: str) -> int:
    print(f"pcf: configuration error: {message}", file=sys.stderr)
    return 2


# ---------------------------------------------------------------------------- serve / migrate
def cmd_migrate(args: argparse.Namespace) -> int:
    from app.core.migrate import upgrade_to_head
    from app.core.preflight import run_preflight

    settings = _settings()
    run_preflight(settings)
    upgrade_to_head(settings.database_url)
    print(f"pcf: database at head ({settings.database_url.split('://')[0]})")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from app.core.migrate import upgrade_to_head
    from app.core.preflight import run_preflight
    from app.core.serve import serve

    settings = _settings()
    run_preflight(settings)
    upgrade_to_head(settings.database_url)
    startup_hooks(settings)
    host = args.host or settings.host
    port = args.port or settings.port
    workers = args.workers or settings.workers
    print(f"pcf: serving on http://{host}:{port}  (API docs: http://{host}:{port}/docs)")
    serve(
        host,
        port,
        workers,
        proxy_headers=True,
        forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        log_config=None,
        access_log=False,
    )
    return 0


def startup_hooks(settings: Settings) -> None:
    """Seed what a fresh database needs (extended by later domains)."""
    from app.accounts.seed import credentials_text, seed_dev

    seeded = seed_dev(settings)  # dev only: demo organisations and clients
    if seeded:
        print(credentials_text(seeded, f"http://{settings.host}:{settings.port}"))

    from app.rules.seed import seed_rules

    rules = seed_rules(settings.database_url)  # reference rules, version 1.0.0, on first start
    if rules:
        print(f"pcf: seeded product category rules {', '.join(rules)} (version 1.0.0)")


# ---------------------------------------------------------------------------- data
def cmd_data_build(args: argparse.Namespace) -> int:
    settings = _settings()
    data_dir = Path(args.data_dir) if args.data_dir else settings.data_dir
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError("PCF_DATA_DIR", f"{data_dir} is not writable ({exc})") from exc
    # The build runs in its own process: bw2data keeps process-global state.
    cmd = [sys.executable, "-m", "lca_data.build", "--data-dir", str(data_dir)]
    if args.force:
        cmd.append("--force")
    return subprocess.call(cmd)


def cmd_data_import(args: argparse.Namespace) -> int:
    settings = _settings()
    data_dir = Path(args.data_dir) if args.data_dir else settings.data_dir
    # Like the build, the import runs in its own process (bw2data keeps process-global state).
    cmd = [sys.executable, "-m", "lca_data.importers", "--data-dir", str(data_dir)]
    cmd += ["--format", args.format, str(Path(args.path).resolve())]
    for opt in ("name", "licence", "base"):
        if getattr(args, opt):
            cmd += [f"--{opt}", getattr(args, opt)]
    cmd += [
        f"--{f.replace('_', '-')}"
        for f in ("make_current", "force", "traceback")
        if getattr(args, f)
    ]
    return subprocess.call(cmd)


# ---------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pcf",
        description="PCF Service: product carbon footprints for beer, appliances and tyres.",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    s = sub.add_parser(
        "serve",
        help="migrate the database to head, then serve the API with uvicorn",
        description="Check the configuration, upgrade the database to the latest migration, "
        "then run the API with uvicorn (proxy headers honoured).",
    )
    s.add_argument("--host", help="bind address (default PCF_HOST or 127.0.0.1)")
    s.add_argument("--port", type=int, help="port (default PCF_PORT or 8000)")
    s.add_argument("--workers", type=int, help="uvicorn worker processes (default PCF_WORKERS)")
    s.set_defaults(func=cmd_serve)

    m = sub.add_parser(
        "migrate",
        help="upgrade the database to the latest migration",
        description="Apply every Alembic migration up to head on PCF_DATABASE_URL.",
    )
    m.set_defaults(func=cmd_migrate)

    d = sub.add_parser("data", help="background-data releases", description="Background data.")
    dsub = d.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    b = dsub.add_parser(
        "build",
        help="build the background-data release from lca_data/ (no-op if already built)",
        description="Build a Brightway release from the open sources in lca_data/sources into "
        "PCF_DATA_DIR/releases/<id> and make it current. The id is derived from a content hash, "
        "so the same inputs give the same release; an existing release is never changed.",
    )
    b.add_argument("--data-dir", help="override PCF_DATA_DIR")
    b.add_argument("--force", action="store_true", help="rebuild even if the release exists")
    b.set_defaults(func=cmd_data_build)
    i = dsub.add_parser(
        "import",
        help="import licensed data (EcoSpold2, openLCA JSON-LD, SimaPro CSV) into a new release",
        description="Build a NEW release: the base release (default: current) plus one database "
        "of the imported datasets, linked to biosphere3, each marked user-licensed and not "
        "redistributable. Unlinked exchanges are listed. The base release is never changed; the "
        "new one becomes current only with --make-current. See docs/data-sources.md.",
    )
    i.add_argument("--data-dir", help="override PCF_DATA_DIR")
    from lca_data.importers.__main__ import add_arguments as _import_arguments

    _import_arguments(i)
    i.set_defaults(func=cmd_data_import)

    for extra in EXTRA_COMMANDS:
        extra(sub)
    return p


# Domains register further subcommands (orgs, clients, …) by appending a function here.
EXTRA_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = []


def _accounts_commands(sub: argparse._SubParsersAction) -> None:
    from app.accounts.cli import register

    register(sub)


EXTRA_COMMANDS.append(_accounts_commands)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ValidationError as exc:
        first = exc.errors()[0]
        msg = str(first["msg"]).removeprefix("Value error, ")
        if first.get("loc"):
            msg = f"PCF_{str(first['loc'][0]).upper()}: {msg}"
        return _fail(msg)
    except ConfigError as exc:
        return _fail(str(exc))


if __name__ == "__main__":
    sys.exit(main())
