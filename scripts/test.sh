#!/usr/bin/env bash
# The README's second command (and CI's): install, build the background data if missing, then
# lint, format check, type check and the whole test suite on SQLite and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
# Headless Chromium and CJK fonts render the footprint report in its tests (Debian packages).
if ! command -v chromium >/dev/null || ! fc-list :lang=zh 2>/dev/null | grep -q .; then
  if [[ "$(id -u)" == 0 ]]; then
    echo "test: installing chromium and fonts-noto-cjk (Debian)"
    apt-get update -qq >/dev/null && apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
  else
    echo "test: chromium / fonts-noto-cjk missing; install them (the report tests need them)" >&2
  fi
fi
export PCF_ENV=test
.venv/bin/pcf data build
echo "== ruff check";          .venv/bin/ruff check .
echo "== ruff format --check"; .venv/bin/ruff format --check .
echo "== mypy app";            .venv/bin/mypy app
echo "== pytest";              .venv/bin/python -m pytest "$@"
