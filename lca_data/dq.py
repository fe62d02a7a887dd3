"""PEF-style data-quality scores from the written rules in rules/dq_rules.yaml."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from . import rules as _rules

CRITERIA = ("TeR", "GeR", "TiR", "P")


def _apply(value: int, change: Any) -> int:
    if isinstance(change, str) and change.startswith(("+", "-")):
        return value + int(change)
    return max(value, int(change))


def geography_class(location: str | None, target: str) -> str:
    if not location or location.lower() in ("unknown", "unspecified"):
        return "unknown"
    if location == target or location.startswith(target + "-"):
        return "same"
    if location == "GLO":
        return "global"
    return "other"


def time_score(reference_year: int | None, cfg: dict[str, Any]) -> tuple[int, str]:
    if reference_year is None:
        return int(cfg["time"]["unknown"]), "time:unknown"
    age = int(cfg["assessment_year"]) - int(reference_year)
    for band in cfg["time"]["bands"]:
        if age <= band["max_age"]:
            return int(band["score"]), f"time:age<={band['max_age']}"
    raise ValueError(f"time bands do not cover age {age}")  # pragma: no cover


def score(
    profile: str,
    *,
    location: str | None,
    reference_year: int | None,
    flags: Iterable[str] = (),
    cut_off_share: float | None = None,
    partially_regionalised: bool = False,
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return {"dq": {...}, "proxy": bool, "uncertainty": {...}} for one dataset."""
    cfg = config if config is not None else _rules.load("dq_rules")
    flags = tuple(flags)
    prof = cfg["profiles"][profile]
    fired = [f"profile:{profile}"]
    s = {"TeR": int(prof["TeR"]), "P": int(prof["P"])}

    geo = (
        "partially_regionalised"
        if partially_regionalised
        else geography_class(location, cfg["target_geography"])
    )
    s["GeR"] = int(cfg["geography"][geo])
    fired.append(f"geography:{geo}")

    s["TiR"], why = time_score(reference_year, cfg)
    fired.append(why)

    for flag in sorted(set(flags)):
        adj = cfg["adjustments"].get(flag)
        if adj is None:
            continue
        for crit in CRITERIA:
            if crit in adj:
                s[crit] = _apply(s[crit], adj[crit])
        fired.append(f"flag:{flag}")

    if cut_off_share is not None:
        for band in cfg["cut_off_share"]:
            if cut_off_share <= band["max_share"] + 1e-12:
                s["P"] = _apply(s["P"], band["P"])
                fired.append(f"cut_off_share<={band['max_share']}")
                break

    for crit in CRITERIA:
        s[crit] = min(5, max(1, s[crit]))
    dqr = (s["TeR"] + s["GeR"] + s["TiR"] + s["P"]) / 4
    sigma = None
    for band in cfg["uncertainty_by_dqr"]:
        if dqr <= band["max_dqr"]:
            sigma = float(band["sigma"])
            break
    proxy = (
        s["GeR"] >= int(cfg["proxy_if_GeR_at_least"])
        or profile in cfg.get("proxy_profiles", [])
        or bool(set(flags) & set(cfg.get("proxy_flags", [])))
    )
    return {
        "dq": {
            "TeR": s["TeR"],
            "GeR": s["GeR"],
            "TiR": s["TiR"],
            "P": s["P"],
            "DQR": dqr,
            "rules": fired,
        },
        "proxy": bool(proxy),
        "uncertainty": {
            "distribution": "lognormal",
            "sigma": sigma,
            "basis": f"rules/dq_rules.yaml uncertainty_by_dqr (DQR {dqr:g}); [derived] rule of thumb, not measured",
        },
    }
