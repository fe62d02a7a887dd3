"""OpenAPI, completed in one place: roles, problem responses and the security scheme.

* every operation guarded by ``require(...)`` lists its roles (OAuth2 scopes on the security
  requirement, ``x-required-roles``, and a line in the description) and documents 401/403/429;
* every error response is ``application/problem+json`` with the ``Problem`` schema (FastAPI's
  default 422 body is replaced by it, operations with a body document 413, and a ``default``
  response covers every other error status).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi import routing as fastapi_routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from app.accounts.deps import SCHEME_NAME, required_roles
from app.accounts.principal import Role
from app.core.errors import PROBLEM_JSON

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details, with a stable machine `code` and `errors[]`.",
    "type": "object",
    "required": ["type", "title", "status", "detail", "code", "errors"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["pointer", "code", "message"],
                "properties": {
                    "pointer": {"type": "string"},
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
        "request_id": {"type": "string"},
        "limit": {"type": "string", "description": "The setting a limit problem names."},
        "max": {"type": "integer", "description": "That setting's value."},
    },
}

_DESCRIPTIONS = {
    401: "Missing, invalid or expired access token.",
    403: "The client's role may not do this.",
    413: "The request body is larger than PCF_MAX_BODY_BYTES.",
    422: "The request is not valid; `errors[]` lists every problem with a JSON pointer.",
    429: "More than PCF_RATE_LIMIT_PER_MINUTE requests a minute; see `Retry-After`.",
    "default": "An error, as problem+json.",
}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}}}


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for d in dependant.dependencies:
        yield from _walk(d)


@dataclass(frozen=True)
class RouteInfo:
    """One API operation group as served: full path, methods, dependencies."""

    path: str
    methods: frozenset[str]
    name: str
    dependant: Dependant
    include_in_schema: bool
    status_code: int | None


def api_routes(app: FastAPI) -> list[RouteInfo]:
    """Every API route of ``app`` with its full path (routers included at any depth)."""
    out: list[RouteInfo] = []
    iterate = getattr(fastapi_routing, "iter_route_contexts", None)
    contexts: Iterable[Any] = iterate(app.routes) if iterate is not None else app.routes
    for ctx in contexts:
        original = getattr(ctx, "original_route", ctx)
        if not isinstance(original, APIRoute):
            continue
        out.append(
            RouteInfo(
                path=str(ctx.path_format),
                methods=frozenset(ctx.methods or ()),
                name=str(ctx.name),
                dependant=ctx.dependant,
                include_in_schema=bool(ctx.include_in_schema),
                status_code=ctx.status_code,
            )
        )
    return out


def route_roles(route: RouteInfo | APIRoute) -> frozenset[Role] | None:
    """The roles a route accepts, from its ``require`` dependencies (None: public)."""
    found: frozenset[Role] | None = None
    for d in _walk(route.dependant):
        roles = required_roles(d.call) if d.call is not None else None
        if roles is not None:
            found = roles if found is None else found & roles
    return found


def _decorate(app: FastAPI, schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    paths = schema.get("paths", {})
    for route in api_routes(app):
        if not route.include_in_schema:
            continue
        roles = route_roles(route)
        for method in route.methods:
            op = paths.get(route.path, {}).get(method.lower())
            if op is None:
                continue
            responses: dict[str, Any] = op.setdefault("responses", {})
            if roles is not None:
                names = sorted(r.value for r in roles)
                op["x-required-roles"] = names
                op["security"] = [{SCHEME_NAME: names}]
                line = (
                    "**Requires role:** any authenticated client."
                    if roles == frozenset(Role)
                    else f"**Requires role:** {' or '.join(names)}."
                )
                op["description"] = (op.get("description", "") + "\n\n" + line).strip()
                responses.setdefault("401", {})
                if roles != frozenset(Role):
                    responses.setdefault("403", {})
                responses.setdefault("429", {})
            if "requestBody" in op:
                responses.setdefault("413", {})
            if "422" in responses:
                responses["422"] = {}
            responses.setdefault("default", {})
            for status, resp in list(responses.items()):
                # Client errors are always problems; a documented 5xx keeps its own shape.
                if status == "default" or (status.isdigit() and 400 <= int(status) < 500):
                    key: int | str = int(status) if status.isdigit() else status
                    desc = resp.get("description") or _DESCRIPTIONS.get(key, "Error.")
                    if desc == "Validation Error":
                        desc = _DESCRIPTIONS[422]
                    content = resp.get("content", {})
                    if not content or "application/json" in content:
                        responses[status] = _problem(desc)
    # FastAPI's own validation-error schemas are no longer referenced.
    for name in ("HTTPValidationError", "ValidationError"):
        components["schemas"].pop(name, None)


def install_openapi(app: FastAPI) -> None:
    """Complete the app's OpenAPI document (roles, problem responses) when it is generated."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        _decorate(app, schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
