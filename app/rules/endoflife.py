"""End-of-life models: where each material of the product (and its packaging) goes.

``eol_route_shares`` splits the mass of every material group over the rule's treatment routes
(recycling, landfill, incineration, …) with shares per material group — a ``"*"`` entry applies to
every group without its own. Under the cut-off method (the default, docs/domain.md §1.2 and §6.3)
recycling carries only the burden of getting the material to the recycler and earns no credit;
the engine picks the treatment datasets, this model only says how many kg go where.

Option ``materials``: ``all`` (the default: the product and its packaging, as for an appliance or
a tyre) or ``packaging`` (only the packaging: a product that is consumed, such as beer, leaves
its packaging behind and nothing else; its ingredients never reach an end-of-life route).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from app.rules.modelkit import (
    Args,
    MaterialMass,
    ModelContext,
    ModelDef,
    ModelOutput,
    ModelProblem,
    Param,
    register,
)
from app.rules.schema import InputType, Stage

WILDCARD = "*"
SHARE_TOLERANCE = 1e-6


class EolOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    materials: Literal["all", "packaging"] = "all"


def _disposed(ctx: ModelContext, opts: Any) -> tuple[MaterialMass, ...]:
    """The materials that reach end of life under the rule's ``materials`` option."""
    if isinstance(opts, EolOptions) and opts.materials == "packaging":
        return tuple(m for m in ctx.materials if m.packaging)
    return ctx.materials


def shares_for(group: str, shares: Mapping[str, Mapping[str, float]]) -> Mapping[str, float] | None:
    return shares.get(group) or shares.get(WILDCARD)


def route_masses(
    materials: tuple[MaterialMass, ...], shares: Mapping[str, Mapping[str, float]]
) -> list[tuple[MaterialMass, str, float]]:
    """(material, route, kg) for every material and route with a non-zero share."""
    out: list[tuple[MaterialMass, str, float]] = []
    for m in materials:
        split = shares_for(m.group, shares)
        if split is None:
            raise ValueError(f"no end-of-life shares for material group {m.group}")
        for route, share in split.items():
            if share > 0:
                out.append((m, route, m.kg * share))
    return out


def _run(args: Args, opts: Any, ctx: ModelContext) -> list[ModelOutput]:
    shares: Mapping[str, Mapping[str, float]] = args["shares"]
    eol = Stage.end_of_life
    return [
        # stage, flow, kind, amount, unit, factor, gas, packaging, detail
        ModelOutput(
            eol,
            f"waste:{m.group}:{route}",
            "waste",
            kg,
            "kg",
            None,
            None,
            m.packaging,
            {"material_group": m.group, "route": route},
        )
        for m, route, kg in route_masses(_disposed(ctx, opts), shares)
    ]


def _check(args: Args, opts: Any, ctx: ModelContext) -> list[ModelProblem]:
    shares: Mapping[str, Mapping[str, float]] = args.get("shares") or {}
    problems: list[ModelProblem] = []
    for group, split in shares.items():
        unknown = sorted(set(split) - set(ctx.routes))
        if unknown:
            problems.append(
                ModelProblem(
                    "shares",
                    "unknown_route",
                    f"unknown end-of-life route(s) {', '.join(unknown)}; the rule's routes are "
                    f"{', '.join(ctx.routes)}",
                    sub=group,
                )
            )
        total = sum(split.values())
        if abs(total - 1) > SHARE_TOLERANCE:
            problems.append(
                ModelProblem(
                    "shares", "shares_not_one", f"shares add up to {total:g}, not 1", sub=group
                )
            )
    seen: set[str] = set()
    for m in _disposed(ctx, opts):
        if m.group in seen:
            continue
        seen.add(m.group)
        if shares_for(m.group, shares) is None:
            problems.append(
                ModelProblem(
                    "shares",
                    "missing_input",
                    f"end-of-life shares for material group '{m.group}' are missing "
                    f"(or give '{WILDCARD}' for all groups)",
                    sub=m.group,
                )
            )
    return problems


EOL_ROUTE_SHARES = register(
    ModelDef(
        name="eol_route_shares",
        title="End-of-life routes per material group",
        formula="kg to route r = Σ lines of material group g (kg per reference flow, divided by "
        "trips for reusable packaging) × share(g, r); cut-off: no credit for recycling",
        stages=(Stage.end_of_life,),
        params=(Param("shares", InputType.shares, None, True, "route shares per material group"),),
        run=_run,
        check=_check,
        options=EolOptions,
    )
)
