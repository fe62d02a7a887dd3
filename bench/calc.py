"""Benchmark: CPU time of the in-process footprint calculation (``calculator.calculate``).

    python bench/calc.py                    # 300 rounds over the 7 examples
    python bench/calc.py --rounds 50 --phases
    python bench/calc.py --json /tmp/calc.json

Loads the current release (``var/data``, or ``PCF_DATA_DIR``) with its engine, the reference rules
(compiled once, as the service caches them by content hash) and every ``examples/*.json`` parsed
once (``parse_input``, not timed: it belongs to the request path). It warms up (factorization, the
engine's caches, pint's caches), then times ``calculate`` ``--rounds`` times per example with
``time.process_time`` (CPU of this process, all threads) and prints the mean CPU milliseconds per
calculation, overall and per example.

``--phases`` adds a breakdown: the pipeline's steps are wrapped with CPU timers (inclusive times,
so nested steps are also counted in their parent; the wrappers add a little overhead of their own,
which is why the phases are timed in separate rounds).

The configuration is the service's (``Settings`` defaults: 500 Monte Carlo iterations, its seed);
native thread pools are limited to one thread as in the service (``engine_view``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# bench/ itself must not be on the path: bench/http.py would shadow the standard library's http.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

warnings.filterwarnings("ignore")

from app.background.loader import BackgroundData, load_background  # noqa: E402
from app.core.settings import Settings  # noqa: E402
from app.footprints import calculator  # noqa: E402
from app.footprints.calculator import CalcConfig, RuleRef, calculate  # noqa: E402
from app.footprints.engine_port import EngineView, engine_view  # noqa: E402
from app.footprints.schemas import FootprintInput  # noqa: E402
from app.footprints.services import parse_input  # noqa: E402
from app.rules.interpreter import Rule, load_reference_rules  # noqa: E402

EXAMPLES = ROOT / "examples"


def service_config() -> CalcConfig:
    s = Settings()
    return CalcConfig(
        max_lines=s.max_bom_lines,
        max_depth=s.max_bom_depth,
        max_amount=s.footprint_max_amount,
        mc_iterations=s.footprint_mc_iterations,
        mc_seed=s.footprint_mc_seed,
    )


Case = tuple[str, FootprintInput, Rule, RuleRef]


def load_cases(bg: BackgroundData, cfg: CalcConfig) -> list[Case]:
    rules = {code: Rule(doc) for code, doc in load_reference_rules().items()}
    cases = []
    for path in sorted(EXAMPLES.glob("*.json")):
        inp = parse_input(json.loads(path.read_text(encoding="utf-8")), bg, cfg)
        code = inp.product.pcr_code
        cases.append((path.stem, inp, rules[code], RuleRef(code, "1.0.0", "bench")))
    return cases


def time_rounds(
    cases: list[Case], bg: BackgroundData, view: EngineView, cfg: CalcConfig, rounds: int
) -> dict[str, float]:
    """Mean CPU ms per calculation of each example (examples interleaved round by round)."""
    spent: dict[str, float] = defaultdict(float)
    clock = time.process_time
    for _ in range(rounds):
        for name, inp, rule, ref in cases:
            t0 = clock()
            calculate(inp, rule, ref, bg, view, cfg)
            spent[name] += clock() - t0
    return {name: spent[name] / rounds * 1e3 for name, *_ in cases}


# ---------------------------------------------------------------------------- phases
PHASES: list[tuple[Any, str, str]] = [
    # (owner, attribute, label): wrapped while the phases are timed, restored afterwards
    (calculator, "check_numbers", "check_numbers"),
    (Rule, "resolve_inputs", "Rule.resolve_inputs (all calls)"),
    (calculator, "expand", "expand"),
    (Rule, "run_models", "Rule.run_models"),
    (Rule, "_check_bom", "  Rule.check_bom"),
    (calculator._Builder, "lines", "_Builder.lines"),
    (calculator._Builder, "model_outputs", "_Builder.model_outputs"),
    (calculator._Builder, "compute", "_Builder.compute"),
    (calculator, "_assemble", "_assemble"),
    (calculator, "_uncertainty", "  _uncertainty (Monte Carlo)"),
    (calculator, "normalised", "normalised"),
    (calculator, "input_hash", "input_hash"),
    (calculator, "normalised_and_hash", "normalised_and_hash"),
    (calculator.InputWalk, "__init__", "InputWalk (numbers checked, JSON built)")
    if hasattr(calculator, "InputWalk")
    else (calculator, "InputWalk", ""),
    (calculator.InputWalk, "normalised_and_hash", "InputWalk.normalised_and_hash")
    if hasattr(calculator, "InputWalk")
    else (calculator, "InputWalk", ""),
]


def _timed(fn: Callable[..., Any], label: str, acc: dict[str, float]) -> Callable[..., Any]:
    clock = time.process_time

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = clock()
        try:
            return fn(*args, **kwargs)
        finally:
            acc[label] += clock() - t0

    return wrapper


def time_phases(
    cases: list[Case], bg: BackgroundData, view: EngineView, cfg: CalcConfig, rounds: int
) -> dict[str, float]:
    """Mean CPU ms per calculation spent in each phase (inclusive), over all examples."""
    acc: dict[str, float] = defaultdict(float)
    phases = [(o, a, label) for o, a, label in PHASES if a in o.__dict__]  # this version's
    saved = [(owner, attr, owner.__dict__[attr]) for owner, attr, _ in phases]
    hot_label = "  EngineView.hotspots"
    view_hot = view.hotspots
    try:
        for owner, attr, label in phases:
            setattr(owner, attr, _timed(owner.__dict__[attr], label, acc))
        view.hotspots = _timed(view_hot, hot_label, acc)  # type: ignore[method-assign]
        time_rounds(cases, bg, view, cfg, rounds)
    finally:
        for owner, attr, original in saved:
            setattr(owner, attr, original)
        del view.hotspots  # back to the class attribute
    n = rounds * len(cases)
    order = [label for *_, label in PHASES] + [hot_label]
    return {label: acc[label] / n * 1e3 for label in order if label in acc}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=300, help="calculations of each example")
    ap.add_argument("--warmup", type=int, default=20, help="untimed rounds first")
    ap.add_argument("--phases", action="store_true", help="also time the pipeline's phases")
    ap.add_argument("--json", type=Path, help="write the numbers here")
    args = ap.parse_args()

    cfg = service_config()
    bg = load_background(cfg_dir := Settings().data_dir)
    if bg is None:
        sys.exit(f"no release in {cfg_dir}: run `pcf data build`")
    bg.engine.factorization()
    view = engine_view(bg)
    cases = load_cases(bg, cfg)
    time_rounds(cases, bg, view, cfg, args.warmup)

    per_example = time_rounds(cases, bg, view, cfg, args.rounds)
    overall = sum(per_example.values()) / len(per_example)
    print(
        f"release {bg.release_id}; {len(cases)} examples x {args.rounds} rounds; "
        f"Monte Carlo {cfg.mc_iterations} iterations"
    )
    print(f"{'example':<40} {'CPU ms / calculation':>22}")
    for name, ms in per_example.items():
        print(f"{name:<40} {ms:>22.3f}")
    print(f"{'mean':<40} {overall:>22.3f}")
    out: dict[str, Any] = {"rounds": args.rounds, "mean_ms": overall, "examples": per_example}
    if args.phases:
        phases = time_phases(cases, bg, view, cfg, max(1, args.rounds // 3))
        print(f"\n{'phase (inclusive; wrapped rounds)':<40} {'CPU ms / calculation':>22}")
        for label, ms in phases.items():
            print(f"{label:<40} {ms:>22.3f}")
        out["phases_ms"] = phases
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
