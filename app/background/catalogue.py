"""The dataset catalogue of a release: lookup by id, search in English and Chinese, filters.

Read once from ``<release>/catalogue.json`` (written by ``pcf data build``); immutable afterwards,
so it is safe to share between threads.
"""

from __future__ import annotations

import difflib
import json
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    total: int
    page: int
    page_size: int


class Catalogue:
    def __init__(self, records: Iterable[dict[str, Any]], gaps: Iterable[dict[str, Any]] = ()):
        self._records: list[dict[str, Any]] = list(records)
        self._by_id: dict[str, dict[str, Any]] = {r["pcf_id"]: r for r in self._records}
        self._by_key: dict[tuple[str, str], dict[str, Any]] = {
            (r["brightway"]["database"], r["brightway"]["code"]): r for r in self._records
        }
        self._haystack: list[str] = [
            _fold(
                " ".join(
                    str(r.get(k) or "")
                    for k in ("pcf_id", "name", "name_zh", "category", "source", "location")
                )
            )
            for r in self._records
        ]
        self.gaps: list[dict[str, Any]] = list(gaps)

    @classmethod
    def load(cls, release_dir: Path) -> Catalogue:
        records = json.loads((release_dir / "catalogue.json").read_text(encoding="utf-8"))
        gaps_path = release_dir / "gaps.json"
        gaps = json.loads(gaps_path.read_text(encoding="utf-8")) if gaps_path.is_file() else []
        if isinstance(gaps, dict):
            gaps = gaps.get("gaps", [])
        return cls(records, gaps)

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, pcf_id: object) -> bool:
        return pcf_id in self._by_id

    def get(self, pcf_id: str) -> dict[str, Any] | None:
        return self._by_id.get(pcf_id)

    def by_brightway_key(self, database: str, code: str) -> dict[str, Any] | None:
        return self._by_key.get((database, code))

    def all(self) -> list[dict[str, Any]]:
        return self._records

    def closest(self, wanted: str, n: int = 5) -> list[str]:
        """Ids (and names) nearest to an unknown id, for "did you mean" errors."""
        ids = list(self._by_id)
        hits = difflib.get_close_matches(wanted, ids, n=n, cutoff=0.5)
        if len(hits) < n:
            q = _fold(wanted)
            for i, hay in enumerate(self._haystack):
                if q and q in hay and self._records[i]["pcf_id"] not in hits:
                    hits.append(self._records[i]["pcf_id"])
                if len(hits) >= n:
                    break
        return hits[:n]

    def search(
        self,
        q: str | None = None,
        *,
        category: str | None = None,
        geography: str | None = None,
        source: str | None = None,
        variant: str | None = None,
        page: int = 1,
        page_size: int = 50,
    ) -> Page:
        terms = [_fold(t) for t in (q or "").split() if t.strip()]
        out = []
        for rec, hay in zip(self._records, self._haystack, strict=True):
            if terms and not all(t in hay for t in terms):
                continue
            if category and _fold(str(rec.get("category") or "")) != _fold(category):
                continue
            if geography and _fold(str(rec.get("location") or "")) != _fold(geography):
                continue
            if source and _fold(source) not in _fold(str(rec.get("source") or "")):
                continue
            if variant and rec.get("variant") != variant:
                continue
            out.append(rec)
        start = (page - 1) * page_size
        return Page(out[start : start + page_size], len(out), page, page_size)
