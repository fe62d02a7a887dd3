"""The footprint report: one self-contained HTML page (inline CSS and SVG charts, no script, no
external asset), in English or Chinese, and its PDF printed by headless Chromium."""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlmodel import Session, select

from app.core.errors import ServiceUnavailable
from app.exports.pact.mapping import Catalogue
from app.exports.report.charts import Bar, bar_chart
from app.exports.report.i18n import CHECKLIST, t
from app.footprints.models import Footprint
from app.rules.models import PcrVersion

TEMPLATES = Path(__file__).with_name("templates")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
PDF_TIMEOUT_S = 120
TOP_CONTRIBUTORS = 10


def fmt(value: Any, digits: int = 4) -> str:
    """A number for a reader: ``digits`` significant digits, thousands separators, no exponent."""
    if value is None:
        return "–"
    x = float(value)
    if x == 0 or not math.isfinite(x):
        return "0" if x == 0 else str(x)
    exp = math.floor(math.log10(abs(x)))
    decimals = max(digits - 1 - exp, 0)
    text = f"{x:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def pct(value: Any) -> str:
    return "–" if value is None else f"{float(value) * 100:.1f} %"


def exact(value: Any) -> str:
    """The value as stored (for ``data-value`` attributes)."""
    return repr(float(value)) if value is not None else ""


@lru_cache(maxsize=1)
def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = fmt
    env.filters["pct"] = pct
    env.filters["exact"] = exact
    return env


def _rule_document(session: Session, fp: Footprint) -> dict[str, Any]:
    v = session.exec(
        select(PcrVersion).where(
            PcrVersion.rule_code == fp.pcr_code, PcrVersion.version == fp.pcr_version
        )
    ).first()
    doc = getattr(v, "document", None)
    return dict(doc) if isinstance(doc, Mapping) else {}


def _sources(result: Mapping[str, Any], catalogue: Catalogue | None) -> list[dict[str, Any]]:
    ids: list[str] = []
    contributors = result.get("contributors") or {}
    for c in (contributors.get("lines") or []) + (contributors.get("processes") or []):
        if c.get("dataset") and c["dataset"] not in ids:
            ids.append(str(c["dataset"]))
    out = []
    for pcf_id in ids:
        rec = catalogue.get(pcf_id) if catalogue is not None else None
        rec = rec or {}
        out.append(
            {
                "id": pcf_id,
                "name": rec.get("name"),
                "source": rec.get("citation") or rec.get("source"),
                "licence": rec.get("licence"),
                "year": rec.get("reference_year"),
            }
        )
    return out


def _electricity(inp: Mapping[str, Any], doc: Mapping[str, Any], prov: Mapping[str, Any]) -> str:
    rule = doc.get("electricity") or {}
    parts = [
        f"rule default: {str(rule.get('default_approach', 'location_based')).replace('_', '-')}"
    ]
    if rule.get("factor_input"):
        parts.append(f"grid factor input {rule['factor_input']}")
    region = prov.get("grid_region")
    if isinstance(region, Mapping):
        parts.append(f"grid region {region.get('name')} ({region.get('province')})")
    entries = ((inp.get("manufacturing") or {}).get("electricity")) or []
    specific = [e for e in entries if isinstance(e, Mapping) and e.get("supplier_value")]
    if specific:
        sv = specific[0]["supplier_value"]
        ci = sv.get("contractual_instrument") or {}
        parts.append(
            f"{len(specific)} supplier-specific entr{'y' if len(specific) == 1 else 'ies'} "
            f"({sv.get('value')} {sv.get('unit')}, {sv.get('source')}"
            + (f", {ci.get('type')} {ci.get('reference')}" if ci else "")
            + ")"
        )
    else:
        parts.append(f"{len(entries)} grid-mix entr{'y' if len(entries) == 1 else 'ies'}")
    return "; ".join(parts)


def _air_legs(inp: Mapping[str, Any]) -> int:
    return sum(
        1
        for leg in inp.get("transport") or []
        if isinstance(leg, Mapping) and leg.get("mode") == "air"
    )


def context(
    session: Session,
    fp: Footprint,
    org_name: str,
    lang: str,
    catalogue: Catalogue | None,
) -> dict[str, Any]:
    r = fp.result
    inp = fp.normalised_input
    prov = r.get("provenance") or {}
    doc = _rule_document(session, fp)
    product = inp.get("product") or {}
    stages = r.get("stages") or []
    lines = (r.get("contributors") or {}).get("lines") or []
    stage_chart = bar_chart(
        [Bar(t(s["stage"], lang), float(s["kgco2e"]), fmt(s["kgco2e"])) for s in stages],
        title=t("chart_stages", lang),
        chart_id="chart-stages",
        unit="kg CO2e",
    )
    top = lines[:TOP_CONTRIBUTORS]
    contrib_chart = bar_chart(
        [Bar(c["name"], float(c["kgco2e"]), fmt(c["kgco2e"])) for c in top],
        title=t("chart_contributors", lang),
        chart_id="chart-contributors",
        unit="kg CO2e",
    )
    cut = r.get("cut_off") or {}
    boundary = str(prov.get("boundary") or inp.get("boundary") or "")
    air = _air_legs(inp)
    ind = r.get("indicators") or {}
    dq = r.get("data_quality") or {}
    unc = r.get("uncertainty") or {}
    eol = doc.get("end_of_life") or {}
    alloc = doc.get("allocation") or {}
    site = product.get("production_site") or {}
    rp = product.get("reference_period") or {}
    checklist_where = [
        "§2",
        "§2",
        "§7",
        f"§7 — {' → '.join(alloc.get('hierarchy') or []) or '–'}; "
        f"end of life: {str(eol.get('default_method') or '–').replace('_', '-')}",
        f"§3 — GWP100 {prov.get('gwp_set', '')}",
        "§3 — "
        + (
            "no air transport in the inputs"
            if not air
            else f"{air} air-freight leg(s), in the stage results"
        )
        + "; iLUC not considered",
        "§1 — " + _electricity(inp, doc, prov),
        "§3 — offsets and credits are never subtracted; biogenic removals are not netted",
        "§5",
        "§1 — data geography: "
        + ", ".join(str(x) for x in (site.get("country"), site.get("province")) if x)
        + "; critical review: none recorded; declaration content: this report",
    ]
    return {
        "lang": lang,
        "t": lambda key: t(key, lang),
        "fp": fp,
        "org_name": org_name,
        "product": product,
        "site": site,
        "reference_period": rp,
        "r": r,
        "prov": prov,
        "doc": doc,
        "boundary_label": t(boundary, lang) if boundary else "–",
        "stages": stages,
        "gases": list((r.get("gases") or {}).items()),
        "indicator_rows": [
            (k, ind[k])
            for k in (
                "gwp100_fossil",
                "gwp100_biogenic_ch4",
                "gwp100_land_use",
                "biogenic_co2_emission",
                "biogenic_co2_removal",
            )
            if k in ind
        ],
        "air_legs": air,
        "stage_chart": stage_chart,
        "contrib_chart": contrib_chart,
        "contributors": top,
        "processes": (r.get("contributors") or {}).get("processes") or [],
        "dq": dq,
        "unc": unc,
        "sources": _sources(r, catalogue),
        "catalogue_loaded": catalogue is not None,
        "cut": cut,
        "inputs": sorted((r.get("inputs") or {}).items()),
        "warnings": r.get("warnings") or [],
        "checklist": [
            {"n": i + 1, "text": item.get(lang) or item["en"], "where": where}
            for i, (item, where) in enumerate(zip(CHECKLIST, checklist_where, strict=True))
        ],
        "libraries": ", ".join(
            f"{k} {v}" for k, v in sorted((prov.get("libraries") or {}).items())
        ),
        "decimal": Decimal,
    }


def report_html(
    session: Session, fp: Footprint, org_name: str, lang: str, catalogue: Catalogue | None
) -> str:
    return (
        _env().get_template("report.html").render(**context(session, fp, org_name, lang, catalogue))
    )


# ============================================================================ PDF
def chromium() -> str | None:
    """The headless browser used for PDFs: the first of ``CHROMIUM_NAMES`` on the PATH."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_args(browser: str, profile: str) -> list[str]:
    return [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
    ]


def to_pdf(html: str) -> bytes:
    browser = chromium()
    if browser is None:
        raise ServiceUnavailable(
            "PDF rendering needs Chromium on the server (Debian package `chromium`); it is not "
            "installed. The HTML report (format=html) is available.",
            code="pdf_renderer_missing",
            missing="chromium",
        )
    with tempfile.TemporaryDirectory(prefix="pcf-pdf-") as tmp:
        page = Path(tmp) / "report.html"
        out = Path(tmp) / "report.pdf"
        page.write_text(html, encoding="utf-8")
        args = [
            *chromium_args(browser, str(Path(tmp) / "profile")),
            "--no-pdf-header-footer",
            f"--print-to-pdf={out}",
            page.as_uri(),
        ]
        try:
            proc = subprocess.run(args, capture_output=True, timeout=PDF_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ServiceUnavailable(
                f"Chromium could not print the report: {type(exc).__name__}.",
                code="pdf_render_failed",
            ) from exc
        if not out.is_file() or out.stat().st_size == 0:
            tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            raise ServiceUnavailable(
                f"Chromium could not print the report (exit {proc.returncode}): {tail[0][:200]}",
                code="pdf_render_failed",
            )
        return out.read_bytes()
