"""The CBAM data pack as an XLSX workbook laid out like the sheets of the Commission's
communication template that concern precursors: ``Summary_Communication`` (exact tab name,
English) and ``E_PurchPrec``, plus ``README``.

This is not the official workbook (its formula cells are the Commission's; exports.md §1.10): the
sheets carry the same blocks and field names so an importer's platform or consultant can copy the
values across.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.worksheet import Worksheet

from app.exports.cbam.datapack import NOTICE, TEMPLATE

BOLD = Font(bold=True)
TITLE = Font(bold=True, size=14)
HEAD_FILL = PatternFill("solid", fgColor="DDEBF7")

SUMMARY_PRODUCT_HEADERS = (
    "Production process",
    "Aggregated goods category",
    "Product name",
    "CN code",
    "SEE (direct) [tCO2e/t]",
    "SEE (indirect) [tCO2e/t]",
    "Electricity consumed [MWh/t]",
    "Electricity emission factor [tCO2/MWh]",
    "Source of electricity emission factor",
    "Production route",
    "Qualifying parameters",
    "Emissions by monitoring methodology",
    "Actual or default values",
)
PURCH_PREC_HEADERS = (
    "Precursor (bill-of-materials line)",
    "CN code",
    "Aggregated goods category",
    "Mass per product unit [kg]",
    "Supplier",
    "Supplier installation",
    "Country",
    "Production route",
    "SEE (direct) [tCO2e/t]",
    "SEE (indirect) [tCO2e/t]",
    "Electricity consumed [MWh/t]",
    "Electricity emission factor [tCO2/MWh]",
    "Source of electricity emission factor",
    "Source reference",
    "Actual or default values",
    "Default value reference",
    "Verified",
    "Embedded direct emissions per product unit [tCO2e]",
    "Embedded indirect emissions per product unit [tCO2e]",
)
EF_SOURCES = {
    "default_commission": "Commission default value",
    "public_grid_data": "Public grid data of the country of origin",
    "direct_link": "Direct technical link",
    "ppa": "Power purchase agreement",
}
SECTORS = {"iron_steel": "Iron or steel products", "aluminium": "Aluminium products"}


def _header(ws: Worksheet, row: int, headers: Sequence[str]) -> None:
    for col, text in enumerate(headers, start=1):
        c = ws.cell(row=row, column=col, value=text)
        c.font = BOLD
        c.fill = HEAD_FILL
        c.alignment = Alignment(wrap_text=True, vertical="top")


def _el(e: Mapping[str, Any] | None) -> tuple[Any, Any, Any, Any]:
    if not e:
        return None, None, None, None
    return (
        e.get("consumed_mwh_per_t"),
        e.get("ef_tco2_per_mwh"),
        EF_SOURCES.get(str(e.get("ef_source")), e.get("ef_source")),
        e.get("ef_source_reference"),
    )


def _summary(ws: Worksheet, pack: Mapping[str, Any]) -> None:
    ws["A1"] = "Summary_Communication — data communicated to the EU importer"
    ws["A1"].font = TITLE
    inst = pack.get("installation") or {}
    period = pack.get("reporting_period") or {}
    rows: list[tuple[str, Any]] = [
        ("Installation name", inst.get("name")),
        ("City", inst.get("city")),
        ("Country", inst.get("country")),
        ("UN/LOCODE", inst.get("unlocode")),
        ("Reporting period start", period.get("start")),
        ("Reporting period end", period.get("end")),
        ("Verifier", pack.get("verifier")),
    ]
    ws["A3"] = "Installation"
    ws["A3"].font = BOLD
    for i, (k, v) in enumerate(rows, start=4):
        ws.cell(row=i, column=1, value=k)
        ws.cell(row=i, column=2, value=v)
    r = 4 + len(rows) + 1
    ws.cell(row=r, column=1, value="Products (CBAM goods of the installation)").font = BOLD
    _header(ws, r + 1, SUMMARY_PRODUCT_HEADERS)
    r += 2
    for g in pack.get("goods") or []:
        consumed, ef, src, _ = _el(g.get("electricity"))
        qp = "; ".join(f"{k}: {v}" for k, v in (g.get("qualifying_parameters") or {}).items())
        values = [
            g.get("production_process"),
            g.get("aggregated_goods_category"),
            g.get("name"),
            g.get("cn_code"),
            g.get("see_direct"),
            g.get("see_indirect"),
            consumed,
            ef,
            src,
            g.get("production_route"),
            qp or None,
            g.get("monitoring"),
            g.get("values"),
        ]
        for col, v in enumerate(values, start=1):
            ws.cell(row=r, column=col, value=v)
        r += 1
    if not pack.get("goods"):
        ws.cell(row=r, column=1, value="(no CBAM goods of the installation given)")
        r += 1
    r += 1
    ws.cell(row=r, column=1, value="Carbon price due").font = BOLD
    cp = pack.get("carbon_price") or {}
    for i, (k, v) in enumerate(
        [
            ("Carbon pricing instrument", cp.get("instrument")),
            ("Carbon price due per tonne", cp.get("amount_per_t")),
            ("Currency", cp.get("currency")),
            ("Share of embedded emissions covered", cp.get("share_covered")),
            ("Rebates or compensation", cp.get("rebates")),
            ("Effective carbon price due per tonne", cp.get("effective_per_t")),
        ],
        start=r + 1,
    ):
        ws.cell(row=i, column=1, value=k)
        ws.cell(row=i, column=2, value=v)


def _purch_prec(ws: Worksheet, pack: Mapping[str, Any]) -> None:
    ws["A1"] = "E_PurchPrec — purchased precursors"
    ws["A1"].font = TITLE
    _header(ws, 3, PURCH_PREC_HEADERS)
    for r, p in enumerate(pack.get("precursors") or [], start=4):
        consumed, ef, src, ref = _el(p.get("electricity"))
        values = [
            f"{p.get('name')} ({p.get('line')})",
            p.get("cn_code"),
            SECTORS.get(str(p.get("sector")), p.get("sector")),
            p.get("mass_kg"),
            p.get("supplier"),
            p.get("installation"),
            p.get("country"),
            p.get("production_route"),
            p.get("see_direct_tco2e_per_t"),
            p.get("see_indirect_tco2e_per_t"),
            consumed,
            ef,
            src,
            ref,
            p.get("values"),
            p.get("default_value_reference"),
            p.get("verified"),
            p.get("embedded_direct_tco2e"),
            p.get("embedded_indirect_tco2e"),
        ]
        for col, v in enumerate(values, start=1):
            ws.cell(row=r, column=col, value=v)


def _readme(ws: Worksheet, pack: Mapping[str, Any]) -> None:
    product = pack.get("product") or {}
    lines = [
        "CBAM data pack",
        NOTICE,
        f"Layout of: {TEMPLATE['name']}, version {TEMPLATE['version']} — sheets "
        "Summary_Communication and E_PurchPrec only; not the official workbook.",
        f"Product: {product.get('name')} ({product.get('model') or '-'}), "
        f"footprint {product.get('footprint_id')}; quantities per product unit.",
        f"Annex I list: {pack['lists']['annex_i']['source']} (as of "
        f"{pack['lists']['annex_i']['as_of']}).",
        f"Proposed downstream list: {pack['lists']['proposed_downstream']['source']} (as of "
        f"{pack['lists']['proposed_downstream']['as_of']}; "
        f"{pack['lists']['proposed_downstream']['entries']} CN entries).",
        f"Generated: {pack.get('generated_at')}",
    ]
    for i, text in enumerate(lines, start=1):
        ws.cell(row=i, column=1, value=text)
    ws["A1"].font = TITLE
    r = len(lines) + 2
    ws.cell(row=r, column=1, value="Open problems").font = BOLD
    for i, p in enumerate(pack.get("problems") or [], start=r + 1):
        ws.cell(row=i, column=1, value=f"{p['pointer']}: {p['message']}")


def to_xlsx(pack: Mapping[str, Any]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Summary_Communication"
    _summary(ws, pack)
    _purch_prec(wb.create_sheet("E_PurchPrec"), pack)
    _readme(wb.create_sheet("README"), pack)
    for sheet in wb.worksheets:
        sheet.column_dimensions["A"].width = 42
        for col in "BCDEFGHIJKLMNOPQRS":
            sheet.column_dimensions[col].width = 18
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
