"""`pcf data import`: EcoSpold2 folder, openLCA JSON-LD zip and SimaPro CSV into a new release.

The fixtures in fixtures/import/ are hand-written (not licensed data). All three formats hold the
same two datasets:

    steel sheet (1 kg):  2 kg CO2 fossil + 0.1 kg CH4 fossil
        GWP100 (IPCC 2021 / AR6: CH4 fossil 29.8) = 2 + 0.1 * 29.8 = 4.98 kg CO2e
    tyre tread (1 kg):   0.5 kg steel sheet + 1 kg CO2 fossil + 0.01 kg N2O
                         + 2 kWh electricity from a provider not in the file (unlinked, cut off)
                         + 0.5 kg of "Test substance, not in biosphere3" (unlinked)
        GWP100 = 0.5 * 4.98 + 1 + 0.01 * 273 = 2.49 + 1 + 2.73 = 6.22 kg CO2e

(The JSON-LD fixture states the tyre tread per 2 kg and CO2 of the steel sheet in g, to exercise
unit conversion and normalization.) Each import runs in its own process, as `pcf data import` does.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parents[1]
FIXTURES = HERE / "fixtures" / "import"
LICENCE = "Test licence: for PCF Service tests only"
GWP100 = ("IPCC 2021", "climate change", "global warming potential (GWP100)")
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(
        p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH")) if p
    ),
    "PCF_ENGINE_MC_SAMPLES": "0",  # no Monte Carlo bank: not what these tests are about
}

STEEL_GWP = 2 + 0.1 * 29.8  # 4.98
TREAD_GWP = 0.5 * STEEL_GWP + 1 + 0.01 * 273  # 6.22


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _base_source() -> Path | None:
    """A data dir with a built current release to copy (faster than building one)."""
    for cand in (os.environ.get("PCF_TEST_DATA_DIR"), str(PROJECT_ROOT / "var" / "data")):
        if cand and (Path(cand) / "current").is_file():
            rid = (Path(cand) / "current").read_text(encoding="utf-8").strip()
            if (Path(cand) / "releases" / rid / "manifest.json").is_file():
                return Path(cand)
    return None


@pytest.fixture(scope="session")
def import_base(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data_dir = tmp_path_factory.mktemp("pcfimport")
    src = _base_source()
    if src is not None:
        rid = (src / "current").read_text(encoding="utf-8").strip()
        shutil.copytree(
            src / "releases" / rid,
            data_dir / "releases" / rid,
            ignore=shutil.ignore_patterns("engine"),
        )
        (data_dir / "current").write_text(rid + "\n", encoding="utf-8")
    else:
        proc = subprocess.run(
            [sys.executable, "-m", "lca_data.build", "--data-dir", str(data_dir)],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=900,
            env=ENV,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        rid = (data_dir / "current").read_text(encoding="utf-8").strip()
    base_dir = data_dir / "releases" / rid
    return {
        "data_dir": data_dir,
        "release_id": rid,
        "release_dir": base_dir,
        "digest": _tree_digest(base_dir),
    }


def run_import(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lca_data.importers", "--data-dir", str(data_dir), *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=ENV,
    )


def _jsonld_zip(dest: Path) -> Path:
    out = dest / "olca_two_processes.zip"
    with zipfile.ZipFile(out, "w") as z:
        for p in sorted((FIXTURES / "jsonld").rglob("*")):
            if p.is_file():
                z.write(p, p.relative_to(FIXTURES / "jsonld").as_posix())
    return out


def _input(fmt: str, tmp: Path) -> Path:
    if fmt == "ecospold2":
        return FIXTURES / "ecospold2"
    if fmt == "simapro":
        return FIXTURES / "simapro" / "two_processes.csv"
    return _jsonld_zip(tmp)


def _sha256_of_input(path: Path) -> str:
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    h = hashlib.sha256()
    for rel, digest in _tree_digest(path).items():
        h.update(f"{rel}\0{digest}\n".encode())
    return h.hexdigest()


@pytest.fixture(scope="module", params=["ecospold2", "jsonld", "simapro"])
def imported(
    request: pytest.FixtureRequest,
    import_base: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    fmt = request.param
    path = _input(fmt, tmp_path_factory.mktemp(f"in-{fmt}"))
    name = f"t{fmt}"
    proc = run_import(
        import_base["data_dir"],
        "--format",
        fmt,
        str(path),
        "--name",
        name,
        "--licence",
        LICENCE,
        "--base",
        import_base["release_id"],
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    m = re.search(r"release (bg-imp-[0-9a-f]{12}) built", proc.stdout)
    assert m, proc.stdout[-2000:]
    rdir = import_base["data_dir"] / "releases" / m.group(1)
    catalogue = json.loads((rdir / "catalogue.json").read_text(encoding="utf-8"))
    return {
        "format": fmt,
        "name": name,
        "path": path,
        "release_id": m.group(1),
        "release_dir": rdir,
        "stdout": proc.stdout,
        "manifest": json.loads((rdir / "manifest.json").read_text(encoding="utf-8")),
        "report": json.loads((rdir / "build-report.json").read_text(encoding="utf-8")),
        "catalogue": catalogue,
        "new": sorted(
            (c for c in catalogue if c["pcf_id"].startswith(f"import:{name}:")),
            key=lambda c: c["name"].lower(),
        ),
    }


def test_new_release_has_the_build_layout_and_records_the_import(
    imported: dict[str, Any], import_base: dict[str, Any]
) -> None:
    rdir = imported["release_dir"]
    for f in ("manifest.json", "catalogue.json", "build-report.json", "gaps.json"):
        assert (rdir / f).is_file(), f
    assert (rdir / "brightway").is_dir()
    assert (rdir / "engine" / "index.json").is_file()
    m = imported["manifest"]
    assert m["id"] == m["release_id"] == imported["release_id"] != import_base["release_id"]
    assert m["base_release"]["id"] == import_base["release_id"]
    rec = m["imports"][-1]
    assert rec["format"] == imported["format"]
    assert rec["sha256"] == _sha256_of_input(imported["path"])
    assert rec["datasets"] == 2
    assert rec["licence"] == LICENCE and rec["redistributable"] is False
    db = f"import_{imported['name']}"
    assert m["brightway"]["databases"][db] == 2
    assert m["datasets"] == len(imported["catalogue"])
    assert m["build_report_summary"]["engine_export"] == "done"
    # not made current without --make-current
    current = (import_base["data_dir"] / "current").read_text(encoding="utf-8").strip()
    assert current == import_base["release_id"]


def test_imported_datasets_are_in_the_catalogue_with_the_licence(
    imported: dict[str, Any], import_base: dict[str, Any]
) -> None:
    new = imported["new"]
    assert [c["name"].lower()[:10] for c in new] == ["steel shee", "tyre tread"]
    for c in new:
        assert c["licence"] == f"{LICENCE} (user-licensed, not redistributable)"
        assert c["source"].startswith(f"user import ({imported['format']})")
        assert c["variant"] == "original"
        assert c["unit"] == "kg"
        assert c["dq"]["rules"][0] == "profile:licensed_unit_process"
        assert 1 <= c["dq"]["DQR"] <= 5
        assert c["brightway"]["database"] == f"import_{imported['name']}"
        assert c["pcf_id"] == f"import:{imported['name']}:{c['brightway']['code']}"
    steel, tread = new
    assert steel["location"] == "CN" and steel["reference_year"] == 2022
    assert steel["dq"]["GeR"] == 1
    assert tread["completeness"]["cut_off_inputs"] == 1  # the electricity input
    base = json.loads((import_base["release_dir"] / "catalogue.json").read_text(encoding="utf-8"))
    assert len(imported["catalogue"]) == len(base) + 2


LCA_SCRIPT = """
import json, sys
from pathlib import Path
from lca_data import bw
bd = bw.use_release(Path(sys.argv[1]))
import bw2calc as bc
out = {}
for key in json.loads(sys.argv[2]):
    lca = bc.LCA({bd.get_node(database=key[0], code=key[1]): 1}, tuple(json.loads(sys.argv[3])))
    lca.lci()
    lca.lcia()
    out[key[1]] = lca.score
print(json.dumps(out))
"""


def test_lca_of_imported_activities_gives_the_hand_calculated_gwp(
    imported: dict[str, Any],
) -> None:
    keys = [[c["brightway"]["database"], c["brightway"]["code"]] for c in imported["new"]]
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            LCA_SCRIPT,
            str(imported["release_dir"]),
            json.dumps(keys),
            json.dumps(GWP100),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=ENV,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    scores = json.loads(proc.stdout.strip().splitlines()[-1])
    steel, tread = (scores[k[1]] for k in keys)
    assert steel == pytest.approx(4.98, rel=1e-6) == pytest.approx(STEEL_GWP)
    assert tread == pytest.approx(6.22, rel=1e-6) == pytest.approx(TREAD_GWP)

    # the service's engine reads the same numbers from the release's engine/ arrays
    from app.background.engine import Engine

    engine = Engine.load(imported["release_dir"], factorize="lazy")
    values = engine.unit_values((keys[0][0], keys[0][1]))
    assert values["gwp100_total"] == pytest.approx(4.98, rel=1e-6)


def test_unlinked_exchanges_are_reported(imported: dict[str, Any]) -> None:
    rep = imported["report"]["imports"][-1]
    names = sorted(u["exchange"].split(",")[0].lower() for u in rep["unlinked"])
    assert names == ["electricity", "test substance"]
    assert all(u["reason"] for u in rep["unlinked"])
    assert imported["manifest"]["imports"][-1]["unlinked_exchanges"] == 2
    assert imported["stdout"].count("unlinked:") == 2
    tread = imported["new"][1]
    assert "Test substance, not in biosphere3" in tread["completeness"]["unlinked_exchanges"]


def test_base_release_is_untouched(imported: dict[str, Any], import_base: dict[str, Any]) -> None:
    assert _tree_digest(import_base["release_dir"]) == import_base["digest"]


def test_same_import_again_is_a_no_op_and_make_current_switches(
    imported: dict[str, Any], import_base: dict[str, Any]
) -> None:
    data_dir = import_base["data_dir"]
    before = _tree_digest(imported["release_dir"] / "brightway")
    proc = run_import(
        data_dir,
        "--format",
        imported["format"],
        str(imported["path"]),
        "--name",
        imported["name"],
        "--licence",
        LICENCE,
        "--base",
        import_base["release_id"],
        "--make-current",
    )
    try:
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "nothing to do" in proc.stdout
        current = (data_dir / "current").read_text(encoding="utf-8").strip()
        assert current == imported["release_id"]
        assert _tree_digest(imported["release_dir"] / "brightway") == before
    finally:
        (data_dir / "current").write_text(import_base["release_id"] + "\n", encoding="utf-8")


def _releases(data_dir: Path) -> set[str]:
    return {p.name for p in data_dir.iterdir()} | {
        p.name for p in (data_dir / "releases").iterdir()
    }


@pytest.mark.parametrize(
    ("fmt", "make_input", "message"),
    [
        (
            "ecospold2",
            lambda d: (d / "bad.spold").write_text("<ecoSpold><activityDataset>", "utf-8"),
            "EcoSpold2 folder",
        ),
        ("ecospold2", lambda d: (d / "notes.txt").write_text("x", "utf-8"), "no .spold files"),
        ("jsonld", lambda d: (d / "x.zip").write_text("not a zip", "utf-8"), "must be a zip"),
        ("simapro", lambda d: (d / "x.csv").write_text("a;b;c\n1;2;3\n", "utf-8"), "not a SimaPro"),
    ],
)
def test_malformed_input_gives_one_line_and_no_release(
    fmt: str, make_input: Any, message: str, import_base: dict[str, Any], tmp_path: Path
) -> None:
    data_dir = import_base["data_dir"]
    make_input(tmp_path)
    target = tmp_path if fmt == "ecospold2" else next(tmp_path.iterdir())
    before = _releases(data_dir)
    proc = run_import(
        data_dir, "--format", fmt, str(target), "--name", "bad", "--base", import_base["release_id"]
    )
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    err = [line for line in proc.stderr.splitlines() if line.startswith("pcf data import:")]
    assert len(err) == 1 and message in err[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert _releases(data_dir) == before  # nothing half-written, no temp dir left


def test_unknown_base_and_missing_path_are_one_line_errors(
    import_base: dict[str, Any], tmp_path: Path
) -> None:
    proc = run_import(import_base["data_dir"], "--format", "simapro", str(tmp_path / "nope.csv"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    proc = run_import(
        import_base["data_dir"],
        "--format",
        "ecospold2",
        str(FIXTURES / "ecospold2"),
        "--base",
        "bg-000000000000",
    )
    assert proc.returncode == 2 and "base release bg-000000000000 not found" in proc.stderr


def test_pcf_data_import_runs_the_importer_in_a_subprocess(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from app import cli

    calls: list[list[str]] = []

    def fake_call(cmd: list[str]) -> int:
        calls.append(cmd)
        return 0

    monkeypatch.setattr(cli.subprocess, "call", fake_call)
    rc = cli.main(
        [
            "data",
            "import",
            "--format",
            "simapro",
            str(FIXTURES / "simapro" / "two_processes.csv"),
            "--licence",
            "mine",
            "--make-current",
            "--data-dir",
            str(tmp_path),
        ]
    )
    assert rc == 0
    cmd = calls[0]
    assert cmd[1:3] == ["-m", "lca_data.importers"]
    assert cmd[cmd.index("--data-dir") + 1] == str(tmp_path)
    assert "--make-current" in cmd and cmd[cmd.index("--licence") + 1] == "mine"
