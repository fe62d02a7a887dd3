"""A stored footprint as flat tables: for spreadsheets, BI tools and verifiers who do not read JSON.

Every table is built from the stored result as it is (no recalculation, the same numbers as
``GET /v1/footprints/{id}``, full precision): ``summary`` (one key/value row per headline figure,
data quality, uncertainty and provenance), ``stages``, ``gases``, ``lines`` (contributions of the
bill-of-materials lines and rule inputs), ``processes`` (upstream background processes),
``inputs`` (the rule inputs used, with their origin and source), ``per_unit`` and ``warnings``.
As CSV (one table; UTF-8 with a byte-order mark, so that spreadsheet programs read Chinese names)
or as one XLSX workbook with a sheet per table (whose numbers hold the 15 significant digits of
the format; the CSV keeps every digit).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from openpyxl import Workbook

Row = list[Any]
Table = tuple[list[str], list[Row]]

INDICATORS = (
    "gwp100_total",
    "gwp100_fossil",
    "gwp100_biogenic_ch4",
    "gwp100_land_use",
    "biogenic_co2_emission",
    "biogenic_co2_removal",
)


def _cell(value: Any) -> Any:
    """Numbers, text and booleans as they are; lists and mappings as compact JSON text."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _flatten(prefix: str, value: Any, out: list[Row]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out.append([prefix, _cell(value)])


def _summary(fp: Mapping[str, Any]) -> Table:
    r = fp["result"]
    rows: list[Row] = [
        ["id", str(fp["id"])],
        ["created_at", str(fp["created_at"])],
        ["created_by", fp.get("created_by")],
        [
            "recalculated_from",
            str(fp["recalculated_from"]) if fp.get("recalculated_from") else None,
        ],
    ]
    _flatten("product", fp.get("product") or {}, rows)
    rows += [
        ["total_kgco2e", r.get("total_kgco2e")],
        ["unit", r.get("unit")],
        ["functional_unit", r.get("functional_unit")],
    ]
    for key in ("indicators", "packaging", "data_quality", "uncertainty", "cut_off", "provenance"):
        _flatten(key, r.get(key) or {}, rows)
    return ["field", "value"], rows


def _stages(fp: Mapping[str, Any]) -> Table:
    rows = [
        [s["stage"], s["kgco2e"], s.get("share")]
        + [(s.get("indicators") or {}).get(i) for i in INDICATORS]
        for s in fp["result"].get("stages", [])
    ]
    return ["stage", "kgco2e", "share", *INDICATORS], rows


def _gases(fp: Mapping[str, Any]) -> Table:
    gases: Mapping[str, float] = fp["result"].get("gases") or {}
    return ["gas", "kgco2e"], [[g, v] for g, v in gases.items()]


def _records(items: Iterable[Mapping[str, Any]], columns: list[str]) -> Table:
    return columns, [[_cell(item.get(c)) for c in columns] for item in items]


LINE_COLUMNS = [
    "pointer",
    "name",
    "stage",
    "kind",
    "dataset",
    "amount",
    "unit",
    "kgco2e",
    "share",
    "packaging",
    "primary",
    "dqr",
]
PROCESS_COLUMNS = ["dataset", "name", "location", "kgco2e", "share"]


def _lines(fp: Mapping[str, Any]) -> Table:
    return _records((fp["result"].get("contributors") or {}).get("lines", []), LINE_COLUMNS)


def _processes(fp: Mapping[str, Any]) -> Table:
    return _records((fp["result"].get("contributors") or {}).get("processes", []), PROCESS_COLUMNS)


def _inputs(fp: Mapping[str, Any]) -> Table:
    rows: list[Row] = []
    for key, spec in (fp["result"].get("inputs") or {}).items():
        spec = spec if isinstance(spec, Mapping) else {"value": spec}
        value = spec.get("value")
        if isinstance(value, Mapping) and "unit" in value and len(value) <= 3:
            amount, unit = value.get("value"), value.get("unit")
            dataset = value.get("dataset")
        else:
            amount, unit, dataset = value, None, None
        rows.append(
            [
                key,
                spec.get("stage"),
                spec.get("origin"),
                _cell(amount),
                unit,
                dataset,
                _cell(spec.get("source")),
            ]
        )
    return ["input", "stage", "origin", "value", "unit", "dataset", "source"], rows


def _per_unit(fp: Mapping[str, Any]) -> Table:
    columns = ["key", "description", "amount", "unit", "kgco2e"]
    return _records(fp["result"].get("per_unit", []), columns)


def _warnings(fp: Mapping[str, Any]) -> Table:
    return _records(fp["result"].get("warnings", []), ["pointer", "code", "message"])


TABLES: dict[str, Callable[[Mapping[str, Any]], Table]] = {
    "summary": _summary,
    "stages": _stages,
    "gases": _gases,
    "lines": _lines,
    "processes": _processes,
    "inputs": _inputs,
    "per_unit": _per_unit,
    "warnings": _warnings,
}


def table(footprint: Mapping[str, Any], name: str) -> Table:
    """One table of ``footprint`` (keys ``id``, ``product``, ``created_at``, ``created_by``,
    ``recalculated_from``, ``result``); ``KeyError`` for an unknown name."""
    return TABLES[name](footprint)


def to_csv(footprint: Mapping[str, Any], name: str) -> bytes:
    columns, rows = table(footprint, name)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(columns)
    w.writerows([["" if v is None else v for v in row] for row in rows])
    return buf.getvalue().encode("utf-8-sig")


def to_xlsx(footprint: Mapping[str, Any]) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    for name in TABLES:
        columns, rows = table(footprint, name)
        ws = wb.create_sheet(name)
        ws.append(columns)
        for row in rows:
            ws.append(row)
        ws.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
