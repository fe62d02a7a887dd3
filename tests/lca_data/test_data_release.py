"""The built release: layout, catalogue fields, gaps, determinism, and LCA results."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lca_data import SOURCES_DIR, rules
from lca_data.build import content_hash, library_versions

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REQUIRED = (
    "pcf_id",
    "name",
    "name_zh",
    "unit",
    "location",
    "reference_year",
    "source",
    "citation",
    "licence",
    "category",
    "variant",
    "dq",
    "uncertainty",
    "completeness",
    "proxy",
    "second_hand",
    "brightway",
)


def test_layout_and_manifest(built_release: dict) -> None:
    rdir, m = built_release["release_dir"], built_release["manifest"]
    rid = built_release["release_id"]
    assert (
        re.fullmatch(r"bg-[0-9a-f]{12}", rid) and rid == "bg-" + m["content_hash"][:12] == m["id"]
    )
    for f in ("manifest.json", "catalogue.json", "build-report.json"):
        assert (rdir / f).is_file()
    assert (rdir / "brightway" / "projects.db").is_file()
    assert not list(built_release["data_dir"].glob(".building-*"))
    dbs = m["brightway"]["databases"]
    assert set(dbs) == {
        "biosphere3",
        "cn_electricity",
        "sourced_factors",
        "uslci",
        "uslci_cn_grid_national",
    }
    assert dbs["uslci"] == dbs["uslci_cn_grid_national"] > 766
    assert (
        m["datasets"]
        == len(built_release["catalogue"])
        == sum(v for k, v in dbs.items() if k != "biosphere3")
    )
    assert m["build_report_summary"]["uslci_technosphere_inputs"] == 6480
    assert m["build_seconds"] < 180


def test_catalogue_has_every_required_field(built_release: dict) -> None:
    for rec in built_release["catalogue"]:
        missing = [k for k in REQUIRED if k not in rec]
        assert not missing, (rec["pcf_id"], missing)
        dq = rec["dq"]
        assert all(1 <= dq[k] <= 5 for k in ("TeR", "GeR", "TiR", "P")), rec["pcf_id"]
        assert dq["DQR"] == pytest.approx((dq["TeR"] + dq["GeR"] + dq["TiR"] + dq["P"]) / 4)
        assert rec["variant"] in ("original", "cn-grid-national")
        assert rec["brightway"]["database"] and rec["brightway"]["code"] and rec["unit"]
        assert rec["uncertainty"]["sigma"] > 0
    ids = [r["pcf_id"] for r in built_release["catalogue"]]
    assert len(ids) == len(set(ids))


def test_china_electricity_datasets(built_release: dict) -> None:
    cat = {r["pcf_id"]: r for r in built_release["catalogue"]}
    lca24 = cat["cn-elec:lca-national-2024"]
    assert (
        lca24["factor_type"] == "grid_lca_co2e" and lca24["second_hand"] and lca24["unit"] == "kWh"
    )
    assert lca24["published_value_kgco2e_per_unit"] == 0.5777 and "2024" in lca24["source"]
    assert cat["cn-elec:lca-national-2023"]["published_value_kgco2e_per_unit"] == 0.6205
    assert cat["cn-elec:co2-north-2023"]["factor_type"] == "grid_co2_location"
    assert cat["cn-elec:co2-north-2023"]["name_zh"].startswith("华北")
    assert cat["cn-elec:co2-yunnan-2022"]["location"] == "CN-YN"
    # the duplicated MEE rows of sourced_factors.csv have no second dataset
    assert not any(k.startswith("factor:cn_grid_electricity_") for k in cat)


def test_gap_materials_have_no_dataset(built_release: dict) -> None:
    names = [r["name"] for r in built_release["catalogue"]]
    missing = [g for g in rules.gaps() if g["status"] == "missing"]
    assert {g["key"] for g in missing} >= {
        "sbr",
        "precipitated_silica",
        "steel_tyre_cord",
        "industrial_co2",
    }
    for g in missing:
        rx = re.compile(g["name_regex"])
        assert not [n for n in names if rx.search(n)], g["key"]
    assert {g["key"] for g in built_release["manifest"]["gaps"]} == {g["key"] for g in rules.gaps()}
    # excluded rows (not production footprints) are absent too
    ids = {r["pcf_id"] for r in built_release["catalogue"]}
    assert "factor:feve_container_glass_cullet_saving" not in ids


def test_build_report_lists_unmapped_ghg_and_allocation(built_release: dict) -> None:
    u = built_release["report"]["uslci"]
    unmapped = {f["name"] for f in u["elementary"]["unmapped_ghg_flows"]}
    assert "1,1,1,3,3-Pentafluoropropane, HFC-245fa" in unmapped
    assert u["source_process_cut_off_breakdown"]["no_process_outputs_the_product"] == 2461
    assert u["multi_output_processes"] == 132 and u["processes_with_allocation_factors"] == 40
    counts = u["allocation_counts"]
    assert counts["factors_ignored_single_output"] + counts["physical_factors"] == 40
    assert (
        counts["physical_factors"] + counts["by_property"] + counts["reference_product_100pct"]
        == 132
    )
    # the minimum GHG set maps to characterized flows wherever it occurs
    must = {
        "Carbon dioxide, fossil",
        "Carbon dioxide, biogenic",
        "Methane",
        "Methane, fossil",
        "Methane, biogenic",
        "Dinitrogen monoxide",
        "Sulfur hexafluoride",
        "Ethane, 1,1,1,2-tetrafluoro-, HFC-134a",
        "Methane, difluoro-, HFC-32",
        "Ethane, pentafluoro-, HFC-125",
        "Methane, trifluoro-, HFC-23",
    }
    rows = [
        r
        for r in built_release["report"]["flow_mapping"]
        if r["uslci_name"].strip() in must and r["kind"] == "emission"
    ]
    assert {r["uslci_name"].strip() for r in rows} == must
    assert all(r["written"] for r in rows), [r for r in rows if not r["written"]]


def test_content_hash_is_deterministic_and_input_sensitive(tmp_path: Path) -> None:
    libs = library_versions()
    assert content_hash(libs=libs) == content_hash(libs=libs)
    assert content_hash(libs={**libs, "bw2calc": "0.0"}) != content_hash(libs=libs)
    copy = tmp_path / "sources"
    shutil.copytree(SOURCES_DIR / "factors", copy / "factors")
    (copy / "SOURCES.md").write_bytes((SOURCES_DIR / "SOURCES.md").read_bytes())
    h1 = content_hash(copy, libs)
    assert content_hash(copy, libs) == h1
    p = copy / "factors" / "china_electricity.csv"
    p.write_bytes(p.read_bytes().replace(b"0.5777", b"0.5778"))
    assert content_hash(copy, libs) != h1


def test_rebuild_is_a_no_op(built_release: dict) -> None:
    before = (built_release["release_dir"] / "manifest.json").read_bytes()
    proc = subprocess.run(
        [sys.executable, "-m", "lca_data.build", "--data-dir", str(built_release["data_dir"])],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "nothing to do" in proc.stdout
    assert (built_release["release_dir"] / "manifest.json").read_bytes() == before


LCA_SCRIPT = r"""
import json, re, sys
from pathlib import Path
import numpy as np
from scipy.sparse.linalg import spsolve
from lca_data import bw
bd = bw.use_release(Path(sys.argv[1]))
import bw2calc as bc
M = ("IPCC 2021", "climate change", "global warming potential (GWP100)")
grid = bd.get_node(database="cn_electricity", code="lca-national-2024")
rx = re.compile(r"^Electricity, at (e)?grid\b", re.I)
KWH = {"kWh": 1.0, "MJ": 1 / 3.6, "MWh": 1000.0}
out = {}
for name in sys.argv[2:]:
    orig = next(a for a in bd.Database("uslci") if a["name"] == name)
    var = bd.get_node(database="uslci_cn_grid_national", code=orig["code"])
    lv = bc.LCA({var: 1}, M); lv.lci(); lv.lcia()
    lo = bc.LCA({orig: 1, grid: 1}, M); lo.lci(); lo.lcia()
    A = lo.technosphere_matrix.tolil()
    g = lo.dicts.product[grid.id]
    n = 0
    for act in bd.Database("uslci"):
        if rx.search(act["name"]):
            continue  # grid mixes keep their own inputs
        c = lo.dicts.activity[act.id]
        for ex in act.technosphere():
            prov = ex.input
            if rx.search(prov["name"]):
                A[lo.dicts.product[prov.id], c] += ex["amount"]
                A[g, c] -= ex["amount"] * KWH[prov["unit"]]
                n += 1
    f = np.zeros(A.shape[0]); f[lo.dicts.product[orig.id]] = 1.0
    x = spsolve(A.tocsc(), f)
    manual = float((lo.characterization_matrix @ (lo.biosphere_matrix @ x)).sum())
    lo2 = bc.LCA({orig: 1}, M); lo2.lci(); lo2.lcia()
    out[name] = {"variant": float(lv.score), "manual_relinked": manual, "original": float(lo2.score), "relinks": n}
print(json.dumps(out))
"""


def test_cn_grid_variant_differs_exactly_by_electricity_relinking(built_release: dict) -> None:
    names = [
        "Polyethylene, high density, resin, at plant",
        "Transport, combination truck, diesel powered",
    ]
    proc = subprocess.run(
        [sys.executable, "-c", LCA_SCRIPT, str(built_release["release_dir"]), *names],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, r in res.items():
        assert r["relinks"] > 0
        assert r["variant"] == pytest.approx(r["manual_relinked"], rel=1e-6), name
        assert abs(r["variant"] - r["original"]) > 1e-4 * abs(r["original"]), name
