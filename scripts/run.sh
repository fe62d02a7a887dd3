#!/usr/bin/env bash
# The README's first command: install, build the background data if missing, migrate, serve.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PCF_ENV="${PCF_ENV:-dev}"
.venv/bin/pcf data build
exec .venv/bin/pcf serve "$@"
