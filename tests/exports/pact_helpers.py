"""Shared by the PACT event tests: a fast delivery policy, waiting for the delivery thread, and
the outbound event rows."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlmodel import select

from app.core.database import Database
from app.core.tenancy import unscoped
from app.exports.models import PactEvent
from app.exports.pact.events import DeliveryPolicy
from tests.exports.conftest import ExportApi

WAIT_S = 60.0  # an upper bound for the delivery thread, never an expectation of speed


def fast_delivery(exp: ExportApi, **kw: Any) -> None:
    """Retries within fractions of a second (the defaults wait seconds to an hour)."""
    policy = DeliveryPolicy(**{"base_delay": 0.05, "max_delay": 0.2, "idle_exit": 2.0, **kw})
    exp.client.app.state.pact_delivery_policy = policy  # type: ignore[attr-defined]


def wait_for(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def outbound(exp: ExportApi) -> list[PactEvent]:
    db = Database(exp.db_url)
    try:
        with db.session() as s:
            unscoped(s)
            return list(s.exec(select(PactEvent).where(PactEvent.direction == "out")).all())
    finally:
        db.dispose()
