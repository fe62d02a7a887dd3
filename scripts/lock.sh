#!/usr/bin/env bash
# Regenerate requirements.lock from the current .venv (after changing pyproject.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
{ echo "# Exact pins for a reproducible install (Python 3.11). Regenerate: scripts/lock.sh"
  .venv/bin/python -m pip freeze --exclude-editable | grep -v '^pcf-service'; } > requirements.lock
