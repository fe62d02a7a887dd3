"""Is a CN code a CBAM good today (Annex I), or on the proposed downstream list?

The lists are data (``cn_lists.yaml``): a code matches an entry when it starts with the entry's
digits and with none of its exclusions. The downstream list is dated and empty until its content
is sourced; the answer always says which list, of which date, was used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

DEFAULT_LISTS = Path(__file__).with_name("cn_lists.yaml")
SECTOR_LABELS = {"iron_steel": "iron and steel", "aluminium": "aluminium"}


@dataclass(frozen=True)
class Entry:
    cn: str
    sector: str
    label: str
    exclude: tuple[str, ...] = ()

    def matches(self, code: str) -> bool:
        return code.startswith(self.cn) and not any(code.startswith(x) for x in self.exclude)


@dataclass(frozen=True)
class CnList:
    source: str
    as_of: str
    entries: tuple[Entry, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)

    def match(self, code: str) -> Entry | None:
        best: Entry | None = None
        for e in self.entries:
            if e.matches(code) and (best is None or len(e.cn) > len(best.cn)):
                best = e
        return best

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "as_of": self.as_of,
            "entries": len(self.entries),
            **{k: v for k, v in self.meta.items() if k not in {"entries", "source", "as_of"}},
        }


@dataclass(frozen=True)
class Lists:
    annex_i: CnList
    downstream: CnList


@dataclass(frozen=True)
class Relevance:
    cn_code: str
    cbam_today: bool
    sector: str | None
    annex_entry: str | None
    proposed_downstream: bool

    def as_dict(self, lists: Lists) -> dict[str, Any]:
        return {
            "cn_code": self.cn_code,
            "cbam_today": self.cbam_today,
            "sector": self.sector,
            "annex_entry": self.annex_entry,
            "proposed_downstream": self.proposed_downstream,
            "downstream_list": lists.downstream.describe(),
        }


def _cn_list(data: Mapping[str, Any]) -> CnList:
    entries = tuple(
        Entry(
            cn=str(e["cn"]),
            sector=str(e.get("sector", "")),
            label=str(e.get("label", "")),
            exclude=tuple(str(x) for x in e.get("exclude") or ()),
        )
        for e in data.get("entries") or []
    )
    return CnList(str(data.get("source", "")), str(data.get("as_of", "")), entries, dict(data))


@lru_cache(maxsize=4)
def load_lists(path: Path = DEFAULT_LISTS) -> Lists:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return Lists(_cn_list(data["annex_i"]), _cn_list(data.get("proposed_downstream") or {}))


def check(cn_code: str, lists: Lists | None = None) -> Relevance:
    lists = lists or load_lists()
    code = "".join(ch for ch in cn_code if ch.isdigit())
    hit = lists.annex_i.match(code)
    down = lists.downstream.match(code)
    return Relevance(
        cn_code=code,
        cbam_today=hit is not None,
        sector=hit.sector if hit else (down.sector if down else None),
        annex_entry=f"{hit.cn} {hit.label}" if hit else None,
        proposed_downstream=down is not None,
    )
