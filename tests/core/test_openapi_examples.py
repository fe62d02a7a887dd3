"""Every request example in the OpenAPI document is valid against its own request schema."""

from __future__ import annotations

from typing import Any

import jsonschema

from app.main import create_app


def _examples() -> list[tuple[str, str, Any, dict[str, Any]]]:
    spec = create_app().openapi()
    out = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            media = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            for name, ex in (media.get("examples") or {}).items():
                schema = {**media["schema"], "components": spec["components"]}
                out.append((f"{method.upper()} {path} [{name}]", name, ex["value"], schema))
    return out


def test_examples_exist_for_the_main_write_routes() -> None:
    where = {label.split(" [")[0] for label, *_ in _examples()}
    assert {
        "POST /v1/footprints",
        "POST /v1/organisations",
        "POST /v1/pcrs/{code}/validate",
        "POST /v1/footprints/compare",
    } <= where


def test_every_example_matches_its_schema() -> None:
    bad = []
    for label, _, value, schema in _examples():
        errors = list(jsonschema.Draft202012Validator(schema).iter_errors(value))
        if errors:
            bad.append(f"{label}: {errors[0].message}")
    assert not bad, "\n".join(bad)
