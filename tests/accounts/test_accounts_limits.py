"""Body size, BOM size and depth, and per-client rate limits: each names its limit."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from app.core.errors import ValidationFailed
from app.core.limits import RateLimiter, check_bom_limits
from tests.accounts.accounts_helpers import Creds, bearer, mint


def test_body_over_the_limit_by_content_length_is_413(
    client_factory: Any, empty_data_dir: Path, admin: Creds
) -> None:
    api = client_factory(empty_data_dir, max_body_bytes=2048)
    r = api.post(
        "/v1/organisations",
        headers=bearer(mint(admin)) | {"content-type": "application/json"},
        content=b'{"name": "' + b"x" * 4000 + b'", "kind": "operator"}',
    )
    assert r.status_code == 413
    body = r.json()
    assert body["code"] == "payload_too_large" and body["limit"] == "PCF_MAX_BODY_BYTES"
    assert body["max"] == 2048 and "PCF_MAX_BODY_BYTES" in body["detail"]
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["x-request-id"]


def test_streamed_body_over_the_limit_is_413(
    client_factory: Any, empty_data_dir: Path, admin: Creds
) -> None:
    api = client_factory(empty_data_dir, max_body_bytes=2048)

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'", "kind": "operator"}'

    r = api.post(
        "/v1/organisations",
        headers=bearer(mint(admin)) | {"content-type": "application/json"},
        content=chunks(),
    )
    assert r.status_code == 413
    assert r.json()["limit"] == "PCF_MAX_BODY_BYTES"
    # Unauthenticated and on the token endpoint, too.
    form = {"content-type": "application/x-www-form-urlencoded"}
    r = api.post("/auth/token", content=chunks(), headers=form)
    assert r.status_code == 413


def test_body_under_the_limit_passes(
    client_factory: Any, empty_data_dir: Path, admin: Creds
) -> None:
    api = client_factory(empty_data_dir, max_body_bytes=2048)
    r = api.post(
        "/v1/organisations",
        headers=bearer(mint(admin)),
        json={"name": "small", "kind": "operator"},
    )
    assert r.status_code == 201


@dataclass
class Line:
    name: str
    components: list[Line] = field(default_factory=list)


def _chain(depth: int) -> list[dict[str, Any]]:
    top: dict[str, Any] = {"name": "d1", "components": []}
    cur = top
    for d in range(2, depth + 1):
        nxt: dict[str, Any] = {"name": f"d{d}", "components": []}
        cur["components"] = [nxt]
        cur = nxt
    return [top]


def test_check_bom_limits_counts_lines_at_every_depth() -> None:
    lines = [Line("a", [Line("a1"), Line("a2")]), Line("b")]
    check_bom_limits(lines, max_lines=4, max_depth=2)
    with pytest.raises(ValidationFailed) as exc:
        check_bom_limits(lines, max_lines=3, max_depth=2)
    e = exc.value
    assert e.status == 422 and e.code == "limit_bom_lines"
    assert e.extra == {"limit": "PCF_MAX_BOM_LINES", "max": 3}
    assert e.errors[0].pointer == "/lines"


def test_check_bom_limits_names_the_depth_and_where() -> None:
    check_bom_limits(_chain(3), max_lines=100, max_depth=3)
    with pytest.raises(ValidationFailed) as exc:
        check_bom_limits(_chain(4), max_lines=100, max_depth=3)
    e = exc.value
    assert e.code == "limit_bom_depth" and e.extra["limit"] == "PCF_MAX_BOM_DEPTH"
    assert e.errors[0].pointer == "/lines/0/components/0/components/0/components"


def test_check_bom_limits_survives_hostile_depth() -> None:
    with pytest.raises(ValidationFailed) as exc:
        check_bom_limits(_chain(50_000), max_lines=10**6, max_depth=8)
    assert exc.value.code == "limit_bom_depth"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_refills_over_time() -> None:
    clock = FakeClock()
    rl = RateLimiter(60, clock=clock)  # one a second, bursts of 60
    assert all(rl.hit("c") == 0 for _ in range(60))
    wait = rl.hit("c")
    assert 0 < wait <= 1.0
    assert rl.hit("other") == 0  # per client
    clock.now += 1.0
    assert rl.hit("c") == 0
    assert RateLimiter(0).hit("c") == 0  # 0 disables


def test_rate_limit_is_429_with_retry_after(
    client_factory: Any, empty_data_dir: Path, admin: Creds, creds_factory: Any
) -> None:
    api = client_factory(empty_data_dir, rate_limit_per_minute=3)
    t = mint(admin)
    for _ in range(3):
        assert api.get("/v1/me", headers=bearer(t)).status_code == 200
    r = api.get("/v1/me", headers=bearer(t))
    assert r.status_code == 429
    body = r.json()
    assert body["code"] == "rate_limited" and body["limit"] == "PCF_RATE_LIMIT_PER_MINUTE"
    assert body["max"] == 3
    assert int(r.headers["retry-after"]) >= 1
    # Another client is not affected.
    other = creds_factory("Maker", "manufacturer", "viewer")
    assert api.get("/v1/me", headers=bearer(mint(other))).status_code == 200


def test_token_endpoint_is_rate_limited_per_client_id(
    client_factory: Any, empty_data_dir: Path, admin: Creds
) -> None:
    api = client_factory(empty_data_dir, rate_limit_per_minute=2)
    grant = {"grant_type": "client_credentials"}
    codes = [
        api.post("/auth/token", auth=(admin.client_id, "wrong"), data=grant).status_code
        for _ in range(3)
    ]
    assert codes == [401, 401, 429]
