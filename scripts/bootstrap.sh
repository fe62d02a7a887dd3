#!/usr/bin/env bash
# Create .venv and install the exact pinned set (requirements.lock) plus the project itself.
# Re-runs are cheap: nothing is reinstalled unless requirements.lock or pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-}"
if [[ -z "$PY" ]]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PY="$cand"; break
    fi
  done
fi
[[ -n "$PY" ]] || { echo "bootstrap: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2; exit 1; }

stamp_src="$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)"
if [[ ! -x .venv/bin/python ]]; then
  echo "bootstrap: creating .venv with $PY"
  "$PY" -m venv .venv
fi
if [[ "$(cat .venv/.installed 2>/dev/null || true)" != "$stamp_src" ]]; then
  echo "bootstrap: installing pinned dependencies (requirements.lock)"
  pipq() {  # pip, quiet, without the notices about absent local mirrors of this machine
    .venv/bin/python -m pip "$@" -q --disable-pip-version-check 2> >(grep -v "is ignored: it is neither" >&2)
  }
  pipq install --upgrade pip
  pipq install -r requirements.lock
  pipq install --no-deps -e .
  echo "$stamp_src" > .venv/.installed
fi
