"""The footprint input as a file (CSV or XLSX), its template, and the examples.

One sheet (or one CSV), one row per entry; the ``section`` column says what a row is:

=============== ===================================================================================
section         columns used
=============== ===================================================================================
product         ``key`` (pcr_code, pcr_version, name, model, sku, mass, period_start, period_end,
                country, province, site_name, boundary, gwp_set, reference_amount), ``value``,
                ``unit``
input           ``key`` (a rule input; ``a/b/c`` for nested keys, e.g.
                ``eol_treatment_shares/glass/recycling``), ``value``, ``unit`` or ``dataset``
line            ``ref``, ``parent`` (ref of the sub-assembly it belongs to), ``name``, ``stage``,
                ``category``, ``amount``, ``unit``, ``dataset`` — or a supplier value (``value``,
                ``value_unit``, ``source``, ``instrument``, ``instrument_ref``) — ``ter``,
                ``ger``, ``tir``, ``p``, ``material_group``, ``cn_code``, ``packaging``,
                ``reusable``, ``trips``, ``excluded``, ``estimated_share``, ``piece_mass``,
                ``piece_mass_unit``
electricity     ``name``, ``amount``, ``unit``; supplier-specific: ``value``, ``value_unit``,
                ``source``, ``instrument``, ``instrument_ref``
fuel, steam,    ``name``, ``amount``, ``unit``, ``dataset`` (or a supplier value), DQR columns
water, waste
refrigerant     ``name`` (the gas), ``amount``, ``unit``, ``dataset`` (optional)
transport       ``name``, ``leg``, ``mode``, ``distance``, ``distance_unit``, ``mass``,
                ``mass_unit``, ``dataset`` (optional)
eol_dataset     ``key`` (``group/route``), ``dataset``
=============== ===================================================================================

The file becomes the same JSON as ``POST /v1/footprints`` takes; a problem points into that JSON
and names the row (``row``) it came from.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from app.core.errors import FieldError, NotFound, ValidationFailed
from app.core.settings import PROJECT_ROOT
from app.footprints.schemas import FootprintInput

EXAMPLES_DIR = PROJECT_ROOT / "examples"
COLUMNS: tuple[str, ...] = (
    "section",
    "ref",
    "parent",
    "key",
    "name",
    "stage",
    "category",
    "amount",
    "unit",
    "dataset",
    "value",
    "value_unit",
    "source",
    "instrument",
    "instrument_ref",
    "ter",
    "ger",
    "tir",
    "p",
    "material_group",
    "cn_code",
    "packaging",
    "reusable",
    "trips",
    "excluded",
    "estimated_share",
    "piece_mass",
    "piece_mass_unit",
    "leg",
    "mode",
    "distance",
    "distance_unit",
    "mass",
    "mass_unit",
)
MANUFACTURING = {
    "electricity": "electricity",
    "fuel": "fuels",
    "steam": "steam",
    "water": "water",
    "waste": "waste",
    "refrigerant": "refrigerant_losses",
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# ============================================================================ examples
@lru_cache(maxsize=1)
def _examples() -> dict[str, list[tuple[str, dict[str, Any]]]]:
    out: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for path in sorted(Path(EXAMPLES_DIR).glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        code = data.get("product", {}).get("pcr_code")
        if isinstance(code, str):
            out.setdefault(code, []).append((path.name, data))
    return out


def example_files() -> dict[str, list[str]]:
    return {code: [n for n, _ in files] for code, files in _examples().items()}


def example_data(pcr_code: str) -> dict[str, Any]:
    files = _examples().get(pcr_code)
    if not files:
        raise NotFound(f"No example for rule {pcr_code}.", code="no_example")
    return json.loads(json.dumps(files[-1][1]))  # a copy; the last in name order


def example_input(pcr_code: str) -> FootprintInput:
    return FootprintInput.model_validate(example_data(pcr_code))


# ============================================================================ JSON → rows
def _fmt(v: Any) -> Any:
    if isinstance(v, bool):
        return "true" if v else "false"
    return v


def _dqr_cols(d: dict[str, Any] | None) -> dict[str, Any]:
    return {k: d[k] for k in ("ter", "ger", "tir", "p")} if d else {}


def _supplier_cols(sv: dict[str, Any] | None) -> dict[str, Any]:
    if not sv:
        return {}
    out = {"value": sv["value"], "value_unit": sv["unit"], "source": sv["source"]}
    ci = sv.get("contractual_instrument")
    if ci:
        out.update(instrument=ci["type"], instrument_ref=ci["reference"])
    return out


def to_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """A footprint input (JSON) → template rows."""
    rows: list[dict[str, Any]] = []
    p = data["product"]
    for key in ("pcr_code", "pcr_version", "name", "model", "sku"):
        if p.get(key) is not None:
            rows.append({"section": "product", "key": key, "value": p[key]})
    if p.get("mass"):
        rows.append(
            {
                "section": "product",
                "key": "mass",
                "value": p["mass"]["value"],
                "unit": p["mass"]["unit"],
            }
        )
    if p.get("reference_period"):
        rows.append(
            {"section": "product", "key": "period_start", "value": p["reference_period"]["start"]}
        )
        rows.append(
            {"section": "product", "key": "period_end", "value": p["reference_period"]["end"]}
        )
    site = p.get("production_site") or {}
    for key, col in (("country", "country"), ("province", "province"), ("name", "site_name")):
        if site.get(key):
            rows.append({"section": "product", "key": col, "value": site[key]})
    for key in ("boundary", "gwp_set"):
        if data.get(key):
            rows.append({"section": "product", "key": key, "value": data[key]})
    if data.get("reference_amount"):
        ra = data["reference_amount"]
        rows.append(
            {
                "section": "product",
                "key": "reference_amount",
                "value": ra["value"],
                "unit": ra["unit"],
            }
        )
    for key, value in (data.get("inputs") or {}).items():
        rows.extend(_input_rows(key, value))

    def lines(items: list[dict[str, Any]], parent: str | None, prefix: str) -> None:
        for i, line in enumerate(items):
            ref = line.get("ref") or f"{prefix}{i + 1}"
            row = {
                "section": "line",
                "ref": ref,
                "parent": parent,
                "name": line["name"],
                "stage": line["stage"],
                "category": line.get("category"),
                "amount": line["amount"],
                "unit": line["unit"],
                "dataset": line.get("dataset"),
                **_supplier_cols(line.get("supplier_value")),
                **_dqr_cols(line.get("dqr")),
            }
            for k in (
                "material_group",
                "cn_code",
                "packaging",
                "reusable",
                "trips",
                "excluded",
                "estimated_share",
            ):
                if line.get(k) not in (None, False):
                    row[k] = line[k]
            if line.get("piece_mass"):
                row["piece_mass"] = line["piece_mass"]["value"]
                row["piece_mass_unit"] = line["piece_mass"]["unit"]
            rows.append(row)
            if line.get("lines"):
                lines(line["lines"], ref, f"{ref}.")

    lines(data.get("lines") or [], None, "L")
    m = data.get("manufacturing") or {}
    for section, key in MANUFACTURING.items():
        for e in m.get(key) or []:
            row = {
                "section": section,
                "name": e.get("gas") if section == "refrigerant" else e.get("name"),
                "amount": e["amount"],
                "unit": e.get("unit"),
                "dataset": e.get("dataset"),
                **_supplier_cols(e.get("supplier_value")),
                **_dqr_cols(e.get("dqr")),
            }
            rows.append(row)
    for leg in data.get("transport") or []:
        rows.append(
            {
                "section": "transport",
                "name": leg.get("name"),
                "leg": leg["leg"],
                "mode": leg["mode"],
                "distance": leg["distance"]["value"],
                "distance_unit": leg["distance"]["unit"],
                "mass": (leg.get("mass") or {}).get("value"),
                "mass_unit": (leg.get("mass") or {}).get("unit"),
                "dataset": leg.get("dataset"),
            }
        )
    for group, routes in (data.get("eol_datasets") or {}).items():
        for route, ds in routes.items():
            rows.append({"section": "eol_dataset", "key": f"{group}/{route}", "dataset": ds})
    return [{k: _fmt(v) for k, v in r.items() if v is not None} for r in rows]


def _input_rows(key: str, value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict) and set(value) <= {"value", "unit", "dataset"}:
        yield {"section": "input", "key": key, **value}
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _input_rows(f"{key}/{k}", v)
    else:
        yield {"section": "input", "key": key, "value": value}


# ============================================================================ rows → JSON
@dataclass
class Parsed:
    data: dict[str, Any]
    rows: dict[str, int] = field(default_factory=dict)  # JSON pointer → row number

    def row_of(self, pointer: str) -> int | None:
        best = None
        for p, row in self.rows.items():
            if (pointer == p or pointer.startswith(p + "/")) and (
                best is None or len(p) > len(best[0])
            ):
                best = (p, row)
        return best[1] if best else None

    def with_rows(self, exc: ValidationFailed) -> ValidationFailed:
        errors = []
        for e in exc.errors:
            row = self.row_of(e.pointer)
            errors.append(
                FieldError(e.pointer, e.code, e.message, {**e.extra, "row": row})
                if row is not None
                else e
            )
        out = ValidationFailed(exc.detail, errors=errors, code=exc.code, **exc.extra)
        return out


def _num(v: Any) -> Any:
    if isinstance(v, int | float) and not isinstance(v, bool):
        return v
    if isinstance(v, str):
        t = v.strip()
        try:
            return int(t)
        except ValueError:
            try:
                return float(t)
            except ValueError:
                return t
    return v


def _bool(v: Any) -> Any:
    if isinstance(v, str) and v.strip().lower() in ("true", "yes", "1", "y"):
        return True
    if isinstance(v, str) and v.strip().lower() in ("false", "no", "0", "n", ""):
        return False
    return v


def _supplier(r: dict[str, Any]) -> dict[str, Any] | None:
    if r.get("value") in (None, ""):
        return None
    sv: dict[str, Any] = {
        "value": _num(r["value"]),
        "unit": r.get("value_unit"),
        "source": r.get("source"),
    }
    if r.get("instrument"):
        sv["contractual_instrument"] = {
            "type": r["instrument"],
            "reference": r.get("instrument_ref"),
        }
    return sv


def _dqr(r: dict[str, Any]) -> dict[str, Any] | None:
    if all(r.get(k) in (None, "") for k in ("ter", "ger", "tir", "p")):
        return None
    return {k: _num(r.get(k)) for k in ("ter", "ger", "tir", "p")}


def _set_path(target: dict[str, Any], path: list[str], value: Any) -> None:
    for p in path[:-1]:
        target = target.setdefault(p, {})
    target[path[-1]] = value


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v not in (None, "")}


def from_rows(rows: list[tuple[int, dict[str, Any]]]) -> Parsed:
    """Template rows (with their row numbers) → the JSON input and the pointer → row map."""
    data: dict[str, Any] = {"product": {}, "inputs": {}, "lines": []}
    where: dict[str, int] = {}
    errors: list[FieldError] = []
    product: dict[str, Any] = data["product"]
    site: dict[str, Any] = {}
    period: dict[str, Any] = {}
    by_ref: dict[str, dict[str, Any]] = {}
    pointer_of: dict[str, str] = {}
    m: dict[str, list[dict[str, Any]]] = {}
    for n, r in rows:
        section = str(r.get("section") or "").strip().lower()
        key = str(r.get("key") or "").strip()
        if section == "product":
            value = r.get("value")
            if key in ("mass", "reference_amount"):
                entry = {"value": _num(value), "unit": r.get("unit")}
                if key == "mass":
                    product["mass"] = entry
                    where["/product/mass"] = n
                else:
                    data["reference_amount"] = entry
                    where["/reference_amount"] = n
            elif key in ("period_start", "period_end"):
                period[key.removeprefix("period_")] = str(value)
                where["/product/reference_period"] = n
            elif key in ("country", "province", "site_name"):
                site["name" if key == "site_name" else key] = str(value)
                where["/product/production_site"] = n
            elif key in ("boundary", "gwp_set"):
                data[key] = value
                where["/" + key] = n
            else:
                product[key] = str(value) if value is not None else None
                where["/product/" + key] = n
        elif section == "input":
            path = [p for p in key.split("/") if p]
            if not path:
                errors.append(FieldError(f"/row/{n}", "key_missing", f"row {n}: an input key"))
                continue
            if r.get("dataset"):
                value = {"dataset": r["dataset"]}
            elif r.get("unit"):
                value = {"value": _num(r.get("value")), "unit": r["unit"]}
            else:
                value = _num(r.get("value"))
            _set_path(data["inputs"], path, value)
            where["/inputs/" + "/".join(path)] = n
        elif section == "line":
            line = _clean(
                {
                    "ref": r.get("ref"),
                    "name": r.get("name"),
                    "stage": r.get("stage"),
                    "category": r.get("category"),
                    "amount": _num(r.get("amount")),
                    "unit": r.get("unit"),
                    "dataset": r.get("dataset"),
                    "supplier_value": _supplier(r),
                    "dqr": _dqr(r),
                    "material_group": r.get("material_group"),
                    "cn_code": str(r["cn_code"]) if r.get("cn_code") not in (None, "") else None,
                    "packaging": _bool(r.get("packaging")) or None,
                    "reusable": _bool(r.get("reusable")) or None,
                    "trips": _num(r.get("trips")),
                    "excluded": _bool(r.get("excluded")) or None,
                    "estimated_share": _num(r.get("estimated_share")),
                }
            )
            if r.get("piece_mass") not in (None, ""):
                line["piece_mass"] = {
                    "value": _num(r["piece_mass"]),
                    "unit": r.get("piece_mass_unit") or "kg",
                }
            parent = str(r.get("parent") or "").strip()
            if parent:
                owner = by_ref.get(parent)
                if owner is None:
                    errors.append(
                        FieldError(
                            f"/row/{n}/parent",
                            "parent_unknown",
                            f"row {n}: no line with ref {parent} above this row",
                            {"row": n},
                        )
                    )
                    continue
                siblings = owner.setdefault("lines", [])
                ptr = f"{pointer_of[parent]}/lines/{len(siblings)}"
                siblings.append(line)
            else:
                ptr = f"/lines/{len(data['lines'])}"
                data["lines"].append(line)
            where[ptr] = n
            if line.get("ref"):
                by_ref[str(line["ref"])] = line
                pointer_of[str(line["ref"])] = ptr
        elif section in MANUFACTURING:
            k = MANUFACTURING[section]
            if section == "refrigerant":
                entry = _clean(
                    {
                        "gas": r.get("name"),
                        "amount": _num(r.get("amount")),
                        "unit": r.get("unit"),
                        "dataset": r.get("dataset"),
                    }
                )
            else:
                entry = _clean(
                    {
                        "name": r.get("name"),
                        "amount": _num(r.get("amount")),
                        "unit": r.get("unit"),
                        "dataset": r.get("dataset") if section != "electricity" else None,
                        "supplier_value": _supplier(r),
                        "dqr": _dqr(r),
                    }
                )
            m.setdefault(k, []).append(entry)
            where[f"/manufacturing/{k}/{len(m[k]) - 1}"] = n
        elif section == "transport":
            leg = _clean(
                {
                    "name": r.get("name"),
                    "leg": r.get("leg"),
                    "mode": r.get("mode"),
                    "distance": {
                        "value": _num(r.get("distance")),
                        "unit": r.get("distance_unit") or "km",
                    },
                    "mass": (
                        {"value": _num(r["mass"]), "unit": r.get("mass_unit") or "kg"}
                        if r.get("mass") not in (None, "")
                        else None
                    ),
                    "dataset": r.get("dataset"),
                }
            )
            data.setdefault("transport", []).append(leg)
            where[f"/transport/{len(data['transport']) - 1}"] = n
        elif section == "eol_dataset":
            group, _, route = key.partition("/")
            data.setdefault("eol_datasets", {}).setdefault(group, {})[route] = r.get("dataset")
            where[f"/eol_datasets/{group}/{route}"] = n
        elif section:
            errors.append(
                FieldError(
                    f"/row/{n}/section",
                    "section_unknown",
                    f"row {n}: unknown section {section}; one of product, input, line, "
                    + ", ".join(MANUFACTURING)
                    + ", transport, eol_dataset",
                    {"row": n},
                )
            )
    if site:
        product["production_site"] = site
    if period:
        product["reference_period"] = period
    if m:
        data["manufacturing"] = m
    if errors:
        raise ValidationFailed(
            f"{len(errors)} problem(s) in the file; see errors[].",
            code="upload_invalid",
            errors=errors,
        )
    return Parsed(data, where)


# ============================================================================ files
def _cell(v: Any) -> Any:
    if isinstance(v, str):
        v = v.strip()
        return v or None
    return v


def read_upload(filename: str, content_type: str, data: bytes, max_rows: int) -> Parsed:
    name = filename.lower()
    if name.endswith(".xlsx") or content_type == XLSX:
        rows = _xlsx_rows(data)
    elif name.endswith(".csv") or content_type.startswith("text/csv"):
        rows = _csv_rows(data)
    else:
        raise ValidationFailed(
            "Upload a .csv or .xlsx file in the template.",
            code="unsupported_file",
            errors=[FieldError("/file", "unsupported_file", "a .csv or .xlsx file is expected")],
        )
    if len(rows) > max_rows:
        raise ValidationFailed(
            f"The file has more than PCF_FOOTPRINT_MAX_UPLOAD_ROWS ({max_rows}) rows.",
            code="limit_upload_rows",
            errors=[FieldError("/file", "limit_upload_rows", f"at most {max_rows} rows")],
            limit="PCF_FOOTPRINT_MAX_UPLOAD_ROWS",
            max=max_rows,
        )
    return from_rows(rows)


def _with_header(table: list[list[Any]]) -> list[tuple[int, dict[str, Any]]]:
    header_at = next(
        (
            i
            for i, row in enumerate(table)
            if row and str(row[0] or "").strip().lower() == "section"
        ),
        None,
    )
    if header_at is None:
        raise ValidationFailed(
            "The file has no header row starting with 'section'.",
            code="upload_invalid",
            errors=[FieldError("/file", "header_missing", "a header row: " + ", ".join(COLUMNS))],
        )
    header = [str(h or "").strip().lower() for h in table[header_at]]
    out = []
    for i, row in enumerate(table[header_at + 1 :], start=header_at + 2):
        cells = {h: _cell(v) for h, v in zip(header, row, strict=False) if h}
        if not any(v is not None for v in cells.values()):
            continue
        if str(cells.get("section") or "").startswith("#"):
            continue  # a comment row
        out.append((i, cells))
    return out


def _csv_rows(data: bytes) -> list[tuple[int, dict[str, Any]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed(
            "The CSV file is not UTF-8.",
            code="upload_invalid",
            errors=[FieldError("/file", "encoding", "save the CSV as UTF-8")],
        ) from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        table = [list(r) for r in reader]
    except csv.Error as exc:
        raise ValidationFailed(
            f"The CSV file cannot be read (line {reader.line_num}).",
            code="upload_invalid",
            errors=[FieldError("/file", "csv_malformed", f"line {reader.line_num}: {exc}")],
        ) from exc
    return _with_header(table)


def _xlsx_rows(data: bytes) -> list[tuple[int, dict[str, Any]]]:
    from openpyxl import load_workbook

    try:  # read-only workbooks parse lazily: a broken sheet fails while its rows are read
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            ws = wb["footprint"] if "footprint" in wb.sheetnames else wb.worksheets[0]
            table = [list(r) for r in ws.iter_rows(values_only=True)]
        finally:
            wb.close()
    except Exception as exc:  # openpyxl (zipfile, lxml) raises many kinds for a broken file
        raise ValidationFailed(
            "The XLSX file cannot be read.",
            code="upload_invalid",
            errors=[FieldError("/file", "xlsx_unreadable", str(exc)[:200])],
        ) from exc
    return _with_header(table)


def template_xlsx(pcr_code: str) -> bytes:
    """The template workbook, filled with the rule's example."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    rows = to_rows(example_data(pcr_code))
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "footprint"
    ws.append(list(COLUMNS))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for r in rows:
        ws.append([r.get(c) for c in COLUMNS])
    ws.freeze_panes = "A2"
    readme = wb.create_sheet("README")
    doc = (__doc__ or "").strip().splitlines()
    readme.append([f"Footprint input template, rule {pcr_code}"])
    for line in doc:
        readme.append([line])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def template_csv(pcr_code: str) -> str:
    rows = to_rows(example_data(pcr_code))
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow(["" if r.get(c) is None else r.get(c) for c in COLUMNS])
    return buf.getvalue()
