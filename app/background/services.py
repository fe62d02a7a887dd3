"""Domain services for the background-data API (routes stay thin)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request

from app.background.catalogue import Catalogue
from app.background.loader import BackgroundData
from app.background.release import ReleaseRef, list_releases
from app.background.schemas import Dataset, DatasetPage, MissingMaterial, Release
from app.core.errors import NotFound, ServiceUnavailable


def require_background(request: Request) -> BackgroundData:
    bg: BackgroundData | None = getattr(request.app.state, "background", None)
    if bg is None:
        raise ServiceUnavailable(
            "No background-data release is loaded. Run `pcf data build` and restart.",
            code="no_release",
        )
    return bg


def to_dataset(bg: BackgroundData, rec: dict[str, Any]) -> Dataset:
    dq = rec.get("dq") or {}
    return Dataset(
        id=rec["pcf_id"],
        name=rec["name"],
        name_zh=rec.get("name_zh"),
        unit=rec["unit"],
        category=rec.get("category"),
        geography=rec.get("geography") or rec.get("location"),
        reference_year=rec.get("reference_year"),
        kind=rec.get("kind"),
        variant=rec.get("variant") or "original",
        factor_type=rec.get("factor_type"),
        source=rec.get("source") or "",
        citation=rec.get("citation"),
        licence=rec.get("licence") or "",
        proxy=bool(rec.get("proxy")),
        second_hand=bool(rec.get("second_hand")),
        flags=list(rec.get("flags") or []),
        data_quality={
            "TeR": dq.get("TeR", 5),
            "GeR": dq.get("GeR", 5),
            "TiR": dq.get("TiR", 5),
            "P": dq.get("P", 5),
            "DQR": dq.get("DQR", 5),
            "rules": dq.get("rules", []),
        },
        uncertainty=rec.get("uncertainty"),
        completeness=rec.get("completeness"),
        values=bg.unit_values(rec["pcf_id"]),
        brightway={
            "project": rec["brightway"].get("project", "pcf"),
            "database": rec["brightway"]["database"],
            "code": rec["brightway"]["code"],
        },
    )


def _matching_gaps(catalogue: Catalogue, q: str | None) -> list[MissingMaterial]:
    if not q:
        return []
    words = [w.casefold() for w in q.split()]
    out = []
    for g in catalogue.gaps:
        hay = f"{g.get('key', '')} {g.get('material', '')}".casefold()
        if any(w in hay for w in words):
            out.append(
                MissingMaterial(
                    key=g["key"],
                    material=g["material"],
                    status=g.get("status", "missing"),
                    note=g.get("note"),
                    datasets=g.get("datasets", []),
                )
            )
    return out


def search(
    bg: BackgroundData,
    q: str | None,
    category: str | None,
    geography: str | None,
    source: str | None,
    variant: str | None,
    page: int,
    page_size: int,
) -> DatasetPage:
    res = bg.catalogue.search(
        q,
        category=category,
        geography=geography,
        source=source,
        variant=variant,
        page=page,
        page_size=page_size,
    )
    return DatasetPage(
        release_id=bg.release_id,
        items=[to_dataset(bg, r) for r in res.items],
        total=res.total,
        page=res.page,
        page_size=res.page_size,
        missing=_matching_gaps(bg.catalogue, q),
    )


def dataset(bg: BackgroundData, dataset_id: str) -> Dataset:
    rec = bg.catalogue.get(dataset_id)
    if rec is None:
        close = bg.catalogue.closest(dataset_id)
        hint = f" Closest: {', '.join(close)}." if close else ""
        raise NotFound(
            f"No dataset {dataset_id!r} in release {bg.release_id}.{hint}",
            code="unknown_dataset",
            closest=close,
        )
    return to_dataset(bg, rec)


def release_out(ref: ReleaseRef, current: bool) -> Release:
    m = ref.manifest
    return Release(
        id=ref.release_id,
        current=current,
        content_hash=m.get("content_hash"),
        created_at=m.get("created_at"),
        manifest=m,
    )


def releases(data_dir: Path, current_id: str | None) -> list[Release]:
    return [release_out(r, r.release_id == current_id) for r in list_releases(data_dir)]
