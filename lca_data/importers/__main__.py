"""`python -m lca_data.importers`: the process `pcf data import` runs (bw2data state is global)."""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

from . import FORMATS, ImportFailed

PROG = "python -m lca_data.importers"


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog=prog,
        description="Import user-licensed LCI data (an EcoSpold2 folder, an openLCA JSON-LD zip "
        "or a SimaPro CSV) into a NEW background-data release: the base release plus one "
        "database of the imported datasets, linked to biosphere3. The base release is never "
        "changed; the new one becomes current only with --make-current.",
    )
    ap.add_argument("--data-dir", required=True, type=Path, help="PCF data directory")
    add_arguments(ap)
    return ap


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The import options (shared with `pcf data import`)."""
    ap.add_argument("--format", required=True, choices=FORMATS, help="input format")
    ap.add_argument("path", type=Path, help="EcoSpold2 folder, JSON-LD zip or SimaPro CSV file")
    ap.add_argument("--name", help="short name: database import_<name>, ids import:<name>:<code>")
    ap.add_argument("--licence", help="the licence under which you hold the data (recorded)")
    ap.add_argument("--base", help="base release id (default: the current release)")
    ap.add_argument("--make-current", action="store_true", help="make the new release current")
    ap.add_argument("--force", action="store_true", help="rebuild if the release already exists")
    ap.add_argument("--traceback", action="store_true", help="show the traceback of an error")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .release import import_release

    try:
        import_release(
            args.data_dir,
            args.format,
            args.path,
            name=args.name,
            licence=args.licence,
            base=args.base,
            make_current=args.make_current,
            force=args.force,
            progress=lambda m: print(m, flush=True),
        )
    except ImportFailed as exc:
        if args.traceback:
            traceback.print_exc()
        print(f"pcf data import: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except Exception as exc:  # one line for the user; --traceback for the details
        if args.traceback:
            traceback.print_exc()
        msg = " ".join(str(exc).split())[:300]
        print(
            f"pcf data import: error: unexpected {type(exc).__name__}: {msg} "
            "(run with --traceback for details)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
