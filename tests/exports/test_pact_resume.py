"""Outbound PACT events still pending when the service stopped are delivered after a restart."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from app.core.database import Database
from app.core.tenancy import unscoped
from app.exports.models import PactEvent
from app.exports.pact.events import DeliveryPolicy, worker_of
from app.main import create_app
from tests.conftest import make_settings


def test_pending_events_resume_on_start(db_url: str, empty_data_dir: Path) -> None:
    db = Database(db_url)
    ids = []
    with db.session() as s:
        unscoped(s)
        for attempts in (0, 2):
            row = PactEvent(
                direction="out",
                event_id=str(uuid.uuid4()),
                type="org.wbcsd.pact.ProductFootprint.PublishedEvent.3",
                client_id="buyer-client",
                body={"type": "org.wbcsd.pact.ProductFootprint.PublishedEvent.3", "n": attempts},
                status="pending",
                attempts=attempts,
                target_url="http://127.0.0.1:9/3/events",
            )
            s.add(row)
            ids.append(row.id)
        s.add(
            PactEvent(
                direction="out",
                event_id="done",
                type="x",
                client_id="buyer-client",
                body={},
                status="delivered",
                target_url="http://127.0.0.1:9/3/events",
            )
        )
    sent: list[dict[str, Any]] = []

    def sender(url: str, body: dict[str, Any], timeout: float, headers: Any) -> int:
        sent.append(body)
        return 200

    app = create_app(make_settings(db_url, empty_data_dir))
    app.state.pact_sender = sender
    app.state.pact_delivery_policy = DeliveryPolicy(base_delay=0.01, max_delay=0.05, idle_exit=1.0)
    with TestClient(app):
        deadline = time.monotonic() + 10
        while len(sent) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    with db.session() as s:
        unscoped(s)
        rows = [s.get(PactEvent, i) for i in ids]
    db.dispose()
    assert sorted(b["n"] for b in sent) == [0, 2]  # the delivered one is not sent again
    assert all(r is not None and r.status == "delivered" for r in rows)
    assert [r.attempts for r in rows if r] == [1, 3]


def test_shutdown_stops_the_delivery_thread(db_url: str, empty_data_dir: Path) -> None:
    """At shutdown the worker stops (what is still pending resumes at the next start) instead of
    retrying against a database that is going away."""
    app = create_app(make_settings(db_url, empty_data_dir))
    app.state.pact_delivery_policy = DeliveryPolicy(idle_exit=60.0)
    with TestClient(app):
        worker = worker_of(app)
        worker.submit(uuid.uuid4())  # no such row: the thread starts and then idles
        thread = worker._thread
        assert thread is not None and thread.is_alive()
    thread.join(timeout=5)
    assert not thread.is_alive()
