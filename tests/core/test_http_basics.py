"""Health probes, request ids and the problem+json error shape."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.core.errors import Conflict, FieldError


def test_healthz_and_docs(client_factory, empty_data_dir) -> None:  # type: ignore[no-untyped-def]
    c = client_factory(empty_data_dir)
    assert c.get("/healthz").json() == {"status": "ok"}
    assert c.get("/docs").status_code == 200
    spec = c.get("/openapi.json").json()
    assert "/healthz" in spec["paths"] and "/readyz" in spec["paths"]


def test_readyz_says_plainly_that_no_release_is_loaded(client_factory, empty_data_dir) -> None:  # type: ignore[no-untyped-def]
    r = client_factory(empty_data_dir).get("/readyz")
    assert r.status_code == 503
    body = r.json()
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["background_release"]["release_id"] is None
    assert "pcf data build" in body["checks"]["background_release"]["message"]


def test_request_id_is_echoed_or_generated(client_factory, empty_data_dir) -> None:  # type: ignore[no-untyped-def]
    c = client_factory(empty_data_dir)
    assert (
        c.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    )
    generated = c.get("/healthz").headers["x-request-id"]
    assert len(generated) == 32
    # An unsafe id (header injection, too long) is replaced, never echoed.
    assert (
        c.get("/healthz", headers={"X-Request-ID": "x" * 500}).headers["x-request-id"] != "x" * 500
    )


def test_unknown_route_is_problem_json(client_factory, empty_data_dir) -> None:  # type: ignore[no-untyped-def]
    r = client_factory(empty_data_dir).get("/no/such/route")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert {"type", "title", "status", "detail", "code", "errors"} <= body.keys()
    assert body["code"] == "not_found" and body["status"] == 404


class _Body(BaseModel):
    name: str
    amount: float = Field(gt=0)
    lines: list[int]


def _probe_router() -> APIRouter:
    r = APIRouter()

    @r.post("/_probe/validate")
    def validate(body: _Body) -> dict[str, str]:
        return {"ok": body.name}

    @r.get("/_probe/conflict")
    def conflict() -> None:
        raise Conflict(
            "Version 1.0.0 is published and cannot change.",
            errors=[FieldError("/version", "immutable", "published versions never change")],
        )

    @r.get("/_probe/boom")
    def boom() -> None:
        raise RuntimeError("secret internals /etc/passwd")

    return r


def test_validation_errors_list_every_field_with_a_pointer(client_factory, empty_data_dir) -> None:  # type: ignore[no-untyped-def]
    c = client_factory(empty_data_dir)
    c.app.include_router(_probe_router())
    r = c.post("/_probe/validate", json={"amount": -1, "lines": [1, "x"]})
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "validation_failed"
    pointers = {e["pointer"] for e in body["errors"]}
    assert pointers == {"/name", "/amount", "/lines/1"}


def test_app_errors_keep_their_code_and_status(client_factory, empty_data_dir) -> None:  # type: ignore[no-untyped-def]
    c = client_factory(empty_data_dir)
    c.app.include_router(_probe_router())
    r = c.get("/_probe/conflict")
    assert r.status_code == 409
    assert r.json()["code"] == "conflict"
    assert r.json()["errors"] == [
        {"pointer": "/version", "code": "immutable", "message": "published versions never change"}
    ]


def test_unexpected_error_is_a_500_without_stack_trace(client_factory, empty_data_dir) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    c = client_factory(empty_data_dir)
    c.app.include_router(_probe_router())
    quiet = TestClient(c.app, raise_server_exceptions=False)
    r = quiet.get("/_probe/boom", headers={"X-Request-ID": "corr-1"})
    assert r.status_code == 500
    body = r.json()
    assert body["code"] == "internal_error"
    assert body["request_id"] == "corr-1"
    assert "passwd" not in r.text and "Traceback" not in r.text
