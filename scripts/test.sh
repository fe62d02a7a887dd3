#!/usr/bin/env bash
# The README's second command (and CI's): install, build the background data if missing, then
# lint, format check, type check and the whole test suite on SQLite and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PCF_ENV=test
.venv/bin/pcf data build
echo "== ruff check";          .venv/bin/ruff check .
echo "== ruff format --check"; .venv/bin/ruff format --check .
echo "== mypy app";            .venv/bin/mypy app
echo "== pytest";              .venv/bin/python -m pytest "$@"
