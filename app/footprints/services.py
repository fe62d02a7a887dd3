"""Footprint services: parse and check an input, calculate, store (once), read, list, recalculate
and compare. Functions take the session and the principal; they never commit (the request does).
"""

from __future__ import annotations

import copy
import dataclasses
import uuid
from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session, col, func, select

from app.accounts import audit
from app.accounts.principal import Principal
from app.core.database import insert_together, write_together
from app.core.errors import FieldError, NotFound, ValidationFailed
from app.core.tenancy import check_insert
from app.footprints.calculator import (
    CalcConfig,
    Calculation,
    RuleRef,
    calculate,
    check_limits,
    dataset_problems,
)
from app.footprints.engine_port import engine_view
from app.footprints.models import Footprint, StoredFootprint, utcnow
from app.footprints.normalise import check_numbers
from app.footprints.schemas import CompareIn, FootprintInput, Overrides, RecalculateIn
from app.rules import services as rules
from app.rules.interpreter import ptr
from app.rules.schema import STAGE_ORDER


def config(settings: Any) -> CalcConfig:
    return CalcConfig(
        max_lines=settings.max_bom_lines,
        max_depth=settings.max_bom_depth,
        max_amount=settings.footprint_max_amount,
        mc_iterations=settings.footprint_mc_iterations,
        mc_seed=settings.footprint_mc_seed,
    )


def _pyd_errors(exc: ValidationError) -> list[FieldError]:
    out = []
    for e in exc.errors():
        loc = [p for p in e.get("loc", ()) if not (isinstance(p, str) and "[" in p)]
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        out.append(FieldError(ptr(*loc), str(e.get("type", "invalid")), msg))
    return out


def _raise(errors: list[FieldError]) -> None:
    n = len(errors)
    raise ValidationFailed(
        f"{n} problem{'s' if n != 1 else ''} found in the footprint input; see errors[].",
        errors=errors,
    )


def parse_input(raw: Any, bg: Any, cfg: CalcConfig) -> FootprintInput:
    """A request body → a checked input; every structural problem, unknown dataset and bad number
    at once (the limits first: a body over a limit is refused as such)."""
    if not isinstance(raw, Mapping):
        _raise([FieldError("", "object_expected", "the body must be a JSON object")])
    lines = raw.get("lines") if isinstance(raw, Mapping) else None
    if isinstance(lines, list):
        check_limits(lines, cfg)
    errors: list[FieldError] = []
    inp: FootprintInput | None = None
    try:
        inp = FootprintInput.model_validate(raw)
    except ValidationError as exc:
        errors.extend(_pyd_errors(exc))
    errors.extend(dataset_problems(raw, bg))
    reported = {e.pointer for e in errors}
    errors.extend(e for e in check_numbers(raw, cfg.max_amount) if e.pointer not in reported)
    if errors or inp is None:
        _raise(errors)
    assert inp is not None
    return inp


def _rule_for(session: Session, inp: FootprintInput) -> tuple[Any, RuleRef]:
    try:
        v = rules.resolve_ref_for_footprint(session, inp.product.pcr_code, inp.product.pcr_version)
    except NotFound as exc:
        where = "/product/pcr_version" if inp.product.pcr_version else "/product/pcr_code"
        raise ValidationFailed(
            exc.detail,
            code="rule_not_found",
            errors=[FieldError(where, "rule_not_found", exc.detail)],
        ) from exc
    ref = RuleRef(code=v.rule_code, version=v.version, content_hash=v.content_hash)
    return rules.compiled_ref(session, v), ref


def run(session: Session, inp: FootprintInput, bg: Any, cfg: CalcConfig) -> Calculation:
    rule, ref = _rule_for(session, inp)
    return calculate(inp, rule, ref, bg, engine_view(bg), cfg)


def store(
    session: Session,
    principal: Principal,
    inp: FootprintInput,
    calc: Calculation,
    recalculated_from: uuid.UUID | None = None,
) -> StoredFootprint:
    """Write the footprint and its audit entry, both or neither (``insert_together``: one
    statement on PostgreSQL when nothing else was written; the row is never changed afterwards,
    so no ORM object tracks it). The request's last write."""
    fp, rows = _rows(session, principal, inp, calc, recalculated_from)
    insert_together(session, rows)
    return fp


def _rows(
    session: Session,
    principal: Principal,
    inp: FootprintInput,
    calc: Calculation,
    recalculated_from: uuid.UUID | None = None,
) -> tuple[StoredFootprint, list[tuple[Any, dict[str, Any]]]]:
    """The footprint and the rows that store it with its audit entry (not written yet)."""
    check_insert(session, principal.org_id)
    fp = StoredFootprint(
        id=uuid.uuid4(),
        org_id=principal.org_id,
        pcr_code=calc.rule.code,
        pcr_version=calc.rule.version,
        product_name=inp.product.name,
        product_model=inp.product.model or inp.product.sku,
        release_id=calc.result["provenance"]["release_id"],
        input_hash=calc.input_hash,
        total_kgco2e=calc.result["total_kgco2e"],
        normalised_input=calc.normalised_input,
        result=calc.result,
        recalculated_from=recalculated_from,
        created_by=principal.client_id,
        created_at=utcnow(),
    )
    entry = audit.entry(
        principal,
        resource="footprint",
        resource_id=str(fp.id),
        action="recalculate" if recalculated_from else "create",
        before=None,
        after={
            "id": str(fp.id),
            "input_hash": fp.input_hash,
            "total_kgco2e": fp.total_kgco2e,
            "pcr": f"{fp.pcr_code}@{fp.pcr_version}",
            "release_id": fp.release_id,
            "recalculated_from": str(recalculated_from) if recalculated_from else None,
        },
    )
    # the columns as they are (``dataclasses.asdict`` would deep-copy the result)
    row = {f: getattr(fp, f) for f in _COLUMNS}
    return fp, [(_TABLE, row), (audit.TABLE, entry)]


_TABLE = Footprint.__table__  # type: ignore[attr-defined]
_COLUMNS = tuple(f.name for f in dataclasses.fields(StoredFootprint))


async def create(
    session: Session, principal: Principal, raw: Any, bg: Any, settings: Any
) -> StoredFootprint:
    """Parse, calculate and store a footprint from a request body.

    The calculation runs on the event loop (about a millisecond of CPU: handing it to a thread
    would cost more than it saves); the write is awaited (``write_together``), so the worker
    serves other requests while the database commits."""
    cfg = config(settings)
    inp = parse_input(raw, bg, cfg)
    fp, rows = _rows(session, principal, inp, run(session, inp, bg, cfg))
    await write_together(session, rows)
    return fp


def get(session: Session, principal: Principal, footprint_id: uuid.UUID) -> Footprint:
    fp = session.get(Footprint, footprint_id)
    if fp is None or fp.org_id != principal.org_id:
        raise NotFound(f"No footprint {footprint_id}.")
    return fp


def list_footprints(
    session: Session,
    principal: Principal,
    *,
    pcr_code: str | None,
    product: str | None,
    created_from: date | None,
    created_to: date | None,
    page: int,
    page_size: int,
) -> tuple[list[Footprint], int]:
    stmt = select(Footprint).where(Footprint.org_id == principal.org_id)
    if pcr_code:
        stmt = stmt.where(Footprint.pcr_code == pcr_code)
    if product:
        like = f"%{product.lower()}%"
        stmt = stmt.where(
            func.lower(Footprint.product_name).like(like)
            | func.lower(func.coalesce(Footprint.product_model, "")).like(like)
        )
    if created_from:
        stmt = stmt.where(Footprint.created_at >= datetime.combine(created_from, time.min))
    if created_to:
        stmt = stmt.where(Footprint.created_at <= datetime.combine(created_to, time.max))
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    rows = session.exec(
        stmt.order_by(col(Footprint.created_at).desc(), col(Footprint.id))
        .offset((page - 1) * page_size)
        .limit(page_size)
    ).all()
    return list(rows), int(total)


def recalculate(
    session: Session,
    principal: Principal,
    footprint_id: uuid.UUID,
    body: RecalculateIn,
    bg: Any,
    settings: Any,
) -> StoredFootprint:
    old = get(session, principal, footprint_id)
    if body.release_id is not None and body.release_id != bg.release_id:
        raise ValidationFailed(
            f"Release {body.release_id} is not the one this service runs on ({bg.release_id}).",
            code="release_unavailable",
            errors=[
                FieldError(
                    "/release_id", "release_unavailable", f"the service runs on {bg.release_id}"
                )
            ],
        )
    raw = copy.deepcopy(old.normalised_input)
    raw["product"].pop("pcr_version", None)
    if body.pcr_version is not None:
        raw["product"]["pcr_version"] = body.pcr_version
    cfg = config(settings)
    inp = parse_input(raw, bg, cfg)
    return store(session, principal, inp, run(session, inp, bg, cfg), recalculated_from=old.id)


# ============================================================================ compare
def apply_overrides(data: dict[str, Any], overrides: Overrides) -> dict[str, Any]:
    out = copy.deepcopy(data)
    errors: list[FieldError] = []
    for pointer, value in overrides.set.items():
        at = "/scenario/set" + ptr(pointer)
        if not pointer.startswith("/"):
            errors.append(FieldError(at, "pointer_invalid", "a JSON pointer starts with /"))
            continue
        parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/")]
        node: Any = out
        ok = True
        for p in parts[:-1]:
            if isinstance(node, dict) and p in node:
                node = node[p]
            elif isinstance(node, list) and p.isdigit() and int(p) < len(node):
                node = node[int(p)]
            else:
                ok = False
                break
        last = parts[-1]
        if ok and isinstance(node, dict):
            node[last] = value
        elif ok and isinstance(node, list) and last.isdigit() and int(last) < len(node):
            node[int(last)] = value
        else:
            errors.append(
                FieldError(at, "pointer_not_found", f"{pointer} is not in the footprint's input")
            )
    if overrides.green_electricity is not None:
        m = out.get("manufacturing") or {}
        entries = m.get("electricity") or []
        if not entries:
            errors.append(
                FieldError(
                    "/scenario/green_electricity",
                    "no_electricity",
                    "the input has no manufacturing electricity entries",
                )
            )
        for e in entries:
            e["supplier_value"] = overrides.green_electricity.model_dump(
                mode="json", exclude_none=True
            )
    if errors:
        _raise(errors)
    return out


def _summary(fp_id: str | None, result: Mapping[str, Any], label: str) -> dict[str, Any]:
    prov = result["provenance"]
    return {
        "id": fp_id,
        "label": label,
        "total_kgco2e": result["total_kgco2e"],
        "functional_unit": result["functional_unit"],
        "pcr": f"{prov['pcr_code']}@{prov['pcr_version']}",
        "release_id": prov["release_id"],
        "boundary": prov["boundary"],
        "input_hash": prov["input_hash"],
    }


def compare(
    session: Session, principal: Principal, body: CompareIn, bg: Any, settings: Any
) -> dict[str, Any]:
    a = get(session, principal, body.a)
    ra: Mapping[str, Any] = a.result
    if body.b is not None:
        b = get(session, principal, body.b)
        rb: Mapping[str, Any] = b.result
        b_summary = _summary(str(b.id), rb, b.product_name)
    else:
        assert body.scenario is not None
        raw = apply_overrides(a.normalised_input, body.scenario)
        cfg = config(settings)
        inp = parse_input(raw, bg, cfg)
        calc = run(session, inp, bg, cfg)  # a scenario is calculated, never stored
        rb = calc.result
        b_summary = _summary(None, rb, f"{a.product_name} (scenario)")
    pa, pb = ra["provenance"], rb["provenance"]
    notes: list[str] = []
    same_rule = pa["pcr_code"] == pb["pcr_code"]
    if not same_rule:
        notes.append("different product category rules: the functional units differ")
    if pa["boundary"] != pb["boundary"]:
        notes.append("different boundaries")
    if pa["release_id"] != pb["release_id"]:
        notes.append("different background releases")
    if pa["pcr_version"] != pb["pcr_version"]:
        notes.append("different rule versions")
    sa = {s["stage"]: s for s in ra["stages"]}
    sb = {s["stage"]: s for s in rb["stages"]}
    stages = []
    for st in STAGE_ORDER:
        if st.value not in sa and st.value not in sb:
            continue
        x = sa.get(st.value, {}).get("kgco2e", 0.0)
        y = sb.get(st.value, {}).get("kgco2e", 0.0)
        stages.append(_delta(st.value, x, y))
    indicators = {
        k: {"a": v, "b": rb["indicators"].get(k, 0.0), "delta": rb["indicators"].get(k, 0.0) - v}
        for k, v in ra["indicators"].items()
    }
    return {
        "a": _summary(str(a.id), ra, a.product_name),
        "b": b_summary,
        "same_rule": same_rule,
        "comparable": same_rule and pa["boundary"] == pb["boundary"],
        "notes": notes,
        "total": _delta("total", ra["total_kgco2e"], rb["total_kgco2e"]),
        "stages": stages,
        "indicators": indicators,
    }


def _delta(stage: str, a: float, b: float) -> dict[str, Any]:
    return {
        "stage": stage,
        "a_kgco2e": a,
        "b_kgco2e": b,
        "delta_kgco2e": b - a,
        "delta_share": (b - a) / a if a else None,
    }
