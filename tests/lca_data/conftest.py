"""A release built once per session into a temporary directory, in a fresh process (as `pcf data
build` does), so this test process's bw2data state is untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

PROJECT_ROOT = HERE.parents[1]


@pytest.fixture(scope="session")
def built_release(tmp_path_factory: pytest.TempPathFactory) -> dict:
    data_dir = tmp_path_factory.mktemp("pcfdata")
    proc = subprocess.run(
        [sys.executable, "-m", "lca_data.build", "--data-dir", str(data_dir)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rid = (data_dir / "current").read_text(encoding="utf-8").strip()
    rdir = data_dir / "releases" / rid
    return {
        "data_dir": data_dir,
        "release_id": rid,
        "release_dir": rdir,
        "stdout": proc.stdout,
        "manifest": json.loads((rdir / "manifest.json").read_text(encoding="utf-8")),
        "catalogue": json.loads((rdir / "catalogue.json").read_text(encoding="utf-8")),
        "report": json.loads((rdir / "build-report.json").read_text(encoding="utf-8")),
    }
