"""Request examples in the OpenAPI document, in one place (shown in /docs and used by clients).

The footprint examples are the files in ``examples/`` (each is checked against a hand calculation
in tests/footprints); the others are small valid bodies.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI

from app.core.settings import PROJECT_ROOT

EXAMPLES_DIR = PROJECT_ROOT / "examples"

_STEEL_LINE = {
    "name": "Cabinet and doors, steel sheet",
    "stage": "raw_materials",
    "amount": 28,
    "unit": "kg",
    "dataset": "factor:worldsteel_crude_steel_co2_intensity_2022",
    "material_group": "steel",
    "cn_code": "7210",
}

STATIC: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/v1/organisations"): {
        "manufacturer": {
            "summary": "A brewery",
            "value": {"name": "Qingdao Example Brewery", "kind": "manufacturer"},
        },
        "association": {
            "summary": "A tyre association owning two families",
            "value": {
                "name": "Example Tyre Association",
                "kind": "association",
                "families": ["passenger-car-tyre", "truck-bus-tyre"],
            },
        },
    },
    ("post", "/v1/organisations/{org_id}/clients"): {
        "manufacturer": {"value": {"role": "manufacturer", "description": "ERP integration"}}
    },
    ("post", "/v1/pcrs/{code}/drafts"): {"latest": {"value": {"from_version": "1.0.0"}}},
    ("post", "/v1/pcrs/{code}/drafts/{draft_id}/publish"): {
        "minor": {"value": {"bump": "minor", "note": "Stricter cut-off coverage (98 %)"}}
    },
    ("post", "/v1/pcrs/{code}/versions/{version}/deprecate"): {
        "superseded": {"value": {"reason": "Superseded by 1.1.0 (new grid factor)"}}
    },
    ("post", "/v1/pcrs/{code}/validate"): {
        "one_line": {
            "summary": "Check one steel line against the refrigerator rule",
            "value": {"boundary": "cradle_to_gate", "lines": [_STEEL_LINE]},
        }
    },
    ("post", "/v1/footprints/compare"): {
        "two": {
            "summary": "Two stored footprints, stage by stage",
            "value": {
                "a": "0f8fad5b-d9cb-469f-a165-70867728950e",
                "b": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
            },
        },
        "scenario": {
            "summary": "One footprint and a scenario: a better label class",
            "value": {
                "a": "0f8fad5b-d9cb-469f-a165-70867728950e",
                "scenario": {"set": {"/inputs/label_class": "A"}},
            },
        },
    },
    ("post", "/v1/footprints/{footprint_id}/recalculate"): {
        "latest": {"summary": "Latest rule version, current release", "value": {}},
        "version": {"summary": "A named rule version", "value": {"pcr_version": "1.0.0"}},
    },
    ("post", "/v1/footprints/{footprint_id}/pact/shares"): {
        "buyer": {"value": {"client_id": "pcf_buyer_client_id"}}
    },
    ("put", "/v1/pact/recipients/{client_id}"): {
        "endpoint": {"value": {"events_url": "https://buyer.example.com/3/events"}},
        "with credentials": {
            "summary": "A PACT host that wants a token (issued to you by the recipient)",
            "value": {
                "events_url": "https://pact.buyer.example.com/3/events",
                "auth": {"client_id": "issued-to-acme", "client_secret": "…"},
            },
        },
    },
}


def footprint_examples() -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not EXAMPLES_DIR.is_dir():
        return out
    for path in sorted(EXAMPLES_DIR.glob("*.json")):
        body = json.loads(path.read_text(encoding="utf-8"))
        product = body.get("product") or {}
        out[path.stem] = {"summary": str(product.get("name") or path.stem), "value": body}
    return out


def _add(schema: dict[str, Any], method: str, path: str, examples: dict[str, Any]) -> None:
    op = schema.get("paths", {}).get(path, {}).get(method)
    if not op or not examples:
        return
    content = op.get("requestBody", {}).get("content", {})
    media = content.get("application/json")
    if media is not None and "examples" not in media:
        media["examples"] = examples


def install_request_examples(app: FastAPI) -> None:
    """Add the examples when the OpenAPI document is generated (wraps ``app.openapi``)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        for (method, path), examples in STATIC.items():
            _add(schema, method, path, examples)
        _add(schema, "post", "/v1/footprints", footprint_examples())
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
