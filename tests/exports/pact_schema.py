"""Validation against the official PACT v3 OpenAPI schema (app/exports/pact/spec/openapi.yaml)."""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC = Path(__file__).resolve().parents[2] / "app" / "exports" / "pact" / "spec" / "openapi.yaml"
BASE = "urn:pact:v3:openapi"


RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _formats() -> FormatChecker:
    fc = FormatChecker()

    @fc.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not RFC3339.match(value):
            raise ValueError(f"{value!r} is not an RFC 3339 date-time")
        datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        return True

    return fc


@lru_cache(maxsize=1)
def _registry() -> Registry:
    doc = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    return Registry().with_resource(
        BASE, Resource.from_contents(doc, default_specification=DRAFT202012)
    )


@lru_cache(maxsize=16)
def validator(component: str) -> Draft202012Validator:
    schema = {"$ref": f"{BASE}#/components/schemas/{component}"}
    return Draft202012Validator(schema, registry=_registry(), format_checker=_formats())


def errors(instance: Any, component: str = "ProductFootprint") -> list[str]:
    return [
        f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in validator(component).iter_errors(instance)
    ]


def assert_valid(instance: Any, component: str = "ProductFootprint") -> None:
    problems = errors(instance, component)
    assert not problems, f"not a valid PACT v3 {component}: {problems[:10]}"
