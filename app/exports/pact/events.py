"""PACT v3 events: checking an incoming CloudEvent, and delivering our replies asynchronously.

Replies (``RequestFulfilledEvent`` / ``RequestRejectedEvent``) and notifications
(``PublishedEvent``) are stored as ``pact_event`` rows (``direction='out'``, ``pending``) in the
request's transaction, then handed to a per-application delivery worker: a daemon thread that
POSTs each event to the recipient's registered events endpoint (with a bearer token from the
recipient's host when we hold credentials for it, to public addresses only in prod: see
``outbound``) and retries failures with
exponential backoff (``DeliveryPolicy``), up to a bounded number of attempts; the row records every
attempt and ends ``delivered`` or ``failed``. The thread stops by itself when idle.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlmodel import Session, col, select

from app.core.secretbox import SecretUnreadable, open_sealed
from app.core.tenancy import unscoped
from app.exports.models import PactEvent, PactRecipient
from app.exports.pact.outbound import (
    AuthFailed,
    Credentials,
    TargetRefused,
    TokenSource,
    auth_base_of,
    check_public,
)

log = logging.getLogger("pcf.pact.events")

PREFIX = "org.wbcsd.pact.ProductFootprint."
PUBLISHED = PREFIX + "PublishedEvent.3"
REQUEST_CREATED = PREFIX + "RequestCreatedEvent.3"
REQUEST_FULFILLED = PREFIX + "RequestFulfilledEvent.3"
REQUEST_REJECTED = PREFIX + "RequestRejectedEvent.3"
TYPES = (PUBLISHED, REQUEST_CREATED, REQUEST_FULFILLED, REQUEST_REJECTED)
FILTER_KEYS = (
    "productId",
    "companyId",
    "geography",
    "classification",
    "validOn",
    "validAfter",
    "validBefore",
    "status",
)


class InvalidEvent(ValueError):
    """The body is not a valid PACT v3 event (the message says what is wrong)."""


def _uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
        return True
    except ValueError:
        return False


def _datetime(value: Any) -> bool:
    if not isinstance(value, str) or "T" not in value:
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
        return True
    except ValueError:
        return False


def check_event(body: Any) -> dict[str, Any]:
    """The event if it is a valid PACT v3 CloudEvent (structured mode); ``InvalidEvent`` else."""
    if not isinstance(body, dict):
        raise InvalidEvent("the body must be a JSON object (a CloudEvent)")
    for key in ("type", "specversion", "id", "source", "time", "data"):
        if key not in body:
            raise InvalidEvent(f"missing CloudEvents attribute {key!r}")
    for key in ("type", "specversion", "id", "source"):
        if not isinstance(body[key], str) or not body[key]:
            raise InvalidEvent(f"{key!r} must be a non-empty string")
    if body["type"] not in TYPES:
        raise InvalidEvent(f"unknown event type {body['type']!r}")
    if body["specversion"] != "1.0":
        raise InvalidEvent("specversion must be '1.0'")
    if len(body["id"]) > 200:
        raise InvalidEvent("'id' is too long")
    if not _datetime(body["time"]):
        raise InvalidEvent("'time' must be an RFC 3339 date-time")
    data = body["data"]
    if not isinstance(data, dict):
        raise InvalidEvent("'data' must be an object")
    t = body["type"]
    if t == PUBLISHED:
        ids = data.get("pfIds")
        if not isinstance(ids, list) or not ids or not all(_uuid(i) for i in ids):
            raise InvalidEvent("data.pfIds must be a non-empty list of footprint ids (UUIDs)")
    elif t == REQUEST_CREATED:
        for key, value in data.items():
            if key in {"validOn", "validAfter", "validBefore"}:
                if not _datetime(value):
                    raise InvalidEvent(f"data.{key} must be a date-time")
            elif key in {"productId", "companyId", "geography", "classification"}:
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise InvalidEvent(f"data.{key} must be a list of strings")
            elif key == "status":
                if not isinstance(value, str) or value.lower() not in {"active", "deprecated"}:
                    raise InvalidEvent("data.status must be Active or Deprecated")
            elif key == "comment" and not isinstance(value, str):
                raise InvalidEvent("data.comment must be a string")
    elif t == REQUEST_FULFILLED:
        if not isinstance(data.get("requestEventId"), str):
            raise InvalidEvent("data.requestEventId is required")
        if not isinstance(data.get("pfs"), list) or not data["pfs"]:
            raise InvalidEvent("data.pfs must be a non-empty list")
    elif t == REQUEST_REJECTED:
        err = data.get("error")
        if not isinstance(data.get("requestEventId"), str):
            raise InvalidEvent("data.requestEventId is required")
        if not isinstance(err, dict) or not {"code", "message"} <= err.keys():
            raise InvalidEvent("data.error must have code and message")
    return body


def cloud_event(event_type: str, source: str, data: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "type": event_type,
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": source,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": dict(data),
    }


# ============================================================================ delivery
@dataclass(frozen=True)
class DeliveryPolicy:
    """Bounded retries with exponential backoff: attempt n waits base × 2^(n-1), at most cap.

    The defaults spread 12 attempts over about 3 hours; the PACT spec asks to give up after 72 h.
    """

    max_attempts: int = 12
    base_delay: float = 2.0
    max_delay: float = 3600.0
    timeout: float = 10.0
    idle_exit: float = 30.0  # the thread ends after this long without work

    def delay(self, attempt: int) -> float:
        return float(min(self.base_delay * 2 ** (attempt - 1), self.max_delay))


Sender = Callable[[str, dict[str, Any], float, Mapping[str, str]], int]


def http_send(url: str, body: dict[str, Any], timeout: float, headers: Mapping[str, str]) -> int:
    r = httpx.post(
        url,
        json=body,
        headers={"Content-Type": "application/cloudevents+json", **headers},
        timeout=timeout,
        follow_redirects=False,
    )
    return r.status_code


class DeliveryWorker:
    """Delivers pending outbound events of one application (see the module docstring)."""

    def __init__(
        self,
        session_factory: Callable[[], Any],
        policy: DeliveryPolicy | None = None,
        sender: Sender = http_send,
        secret_key: str | None = None,
        private_targets: bool = False,
    ) -> None:
        self.session_factory = session_factory
        self.policy = policy or DeliveryPolicy()
        self.sender = sender
        self.secret_key = secret_key
        self.private_targets = private_targets
        self.tokens = TokenSource(timeout=self.policy.timeout, private_targets=private_targets)
        self._queue: queue.PriorityQueue[tuple[float, int, uuid.UUID]] = queue.PriorityQueue()
        self._seq = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def submit(self, event_row_id: uuid.UUID, delay: float = 0.0) -> None:
        with self._lock:
            self._seq += 1
            self._queue.put((time.monotonic() + delay, self._seq, event_row_id))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="pact-events", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        idle_since = time.monotonic()
        while not self._stop.is_set():
            try:
                due, seq, row_id = self._queue.get(timeout=0.2)
            except queue.Empty:
                with self._lock:
                    if (
                        time.monotonic() - idle_since > self.policy.idle_exit
                        and self._queue.empty()
                    ):
                        self._thread = None
                        return
                continue
            wait = due - time.monotonic()
            if wait > 0:
                self._queue.put((due, seq, row_id))
                self._stop.wait(min(wait, 0.2))
                continue
            try:
                self._attempt(row_id)
            except Exception:  # never let one event kill the worker
                log.exception(
                    "pact event delivery failed unexpectedly", extra={"event": str(row_id)}
                )
            idle_since = time.monotonic()

    def _attempt(self, row_id: uuid.UUID) -> None:
        with self.session_factory() as s:
            session: Session = unscoped(s)
            row = session.get(PactEvent, row_id)
            if row is None or row.status != "pending" or not row.target_url:
                return
            row.attempts += 1
            try:
                status = self._send(session, row)
                ok = 200 <= status < 300
                error = None if ok else f"HTTP {status}"
            except httpx.HTTPError as exc:
                ok, error = False, f"{type(exc).__name__}: {exc}"[:500]
            except (AuthFailed, TargetRefused) as exc:
                ok, error = False, str(exc)[:500]
            row.updated_at = datetime.now(UTC)
            row.last_error = error
            if ok:
                row.status = "delivered"
            elif row.attempts >= self.policy.max_attempts:
                row.status = "failed"
            session.add(row)
            retry = not ok and row.status == "pending"
            attempts = row.attempts
        log.info(
            "pact event delivery",
            extra={"event": str(row_id), "ok": ok, "attempt": attempts, "error": error},
        )
        if retry:
            self.submit(row_id, self.policy.delay(attempts))

    def _send(self, session: Session, row: PactEvent) -> int:
        """POST the event, with a bearer token from the recipient's host when we hold
        credentials for it; a 401 gets one fresh token and one more try."""
        assert row.target_url is not None
        if not self.private_targets:
            check_public(row.target_url)
        cred = self._credentials(session, row)
        if cred is None:
            return self.sender(row.target_url, row.body, self.policy.timeout, {})
        headers = {"Authorization": f"Bearer {self.tokens.token(cred)}"}
        status = self.sender(row.target_url, row.body, self.policy.timeout, headers)
        if status == 401:
            self.tokens.forget(cred)
            headers = {"Authorization": f"Bearer {self.tokens.token(cred)}"}
            status = self.sender(row.target_url, row.body, self.policy.timeout, headers)
        return status

    def _credentials(self, session: Session, row: PactEvent) -> Credentials | None:
        """The credentials registered with the endpoint this event goes to (read at every
        attempt: registering them again fixes the deliveries still pending)."""
        stmt = select(PactRecipient).where(
            PactRecipient.client_id == row.client_id, PactRecipient.events_url == row.target_url
        )
        if row.owner_org_id is not None:
            stmt = stmt.where(PactRecipient.org_id == row.owner_org_id)
        rec = session.exec(stmt.order_by(col(PactRecipient.created_at).desc())).first()
        if rec is None or rec.auth_client_id is None or rec.auth_secret_sealed is None:
            return None
        if self.secret_key is None:
            raise AuthFailed("auth: no PCF_SECRET_KEY to read the stored client secret")
        try:
            secret = open_sealed(self.secret_key, rec.auth_secret_sealed)
        except SecretUnreadable:
            raise AuthFailed(
                "auth: the stored client secret cannot be decrypted (PCF_SECRET_KEY changed?): "
                "register the recipient's credentials again"
            ) from None
        return Credentials(rec.auth_url or auth_base_of(rec.events_url), rec.auth_client_id, secret)


def worker_of(app: Any) -> DeliveryWorker:
    """The application's worker (created on first use; ``app.state.pact_delivery_policy`` and
    ``app.state.pact_sender`` override the defaults, e.g. in tests)."""
    state = app.state
    w = getattr(state, "pact_worker", None)
    if isinstance(w, DeliveryWorker):
        return w
    policy = getattr(state, "pact_delivery_policy", None) or DeliveryPolicy()
    sender = getattr(state, "pact_sender", None) or http_send
    settings = getattr(state, "settings", None)
    w = DeliveryWorker(
        state.db.session,
        policy,
        sender,
        getattr(settings, "secret_key", None),
        bool(getattr(settings, "private_targets_allowed", False)),
    )
    state.pact_worker = w
    return w


def stop_delivery(app: Any) -> None:
    """Stop the application's delivery thread, if it has one (at shutdown)."""
    w = getattr(app.state, "pact_worker", None)
    if isinstance(w, DeliveryWorker):
        w.stop()


def resume_pending(app: Any) -> int:
    """Re-queue the outbound events still ``pending`` (a restart stopped their delivery).

    Called at start-up. Each keeps its attempt count and resumes at its next backoff delay; an
    event delivered twice across processes carries the same CloudEvents ``id``, which PACT
    recipients use to recognise a repeat."""
    with app.state.db.session() as s:
        session: Session = unscoped(s)
        rows = session.exec(
            select(PactEvent.id, PactEvent.attempts).where(
                PactEvent.direction == "out", PactEvent.status == "pending"
            )
        ).all()
    if not rows:
        return 0
    worker = worker_of(app)
    for row_id, attempts in rows:
        worker.submit(row_id, worker.policy.delay(attempts) if attempts else 0.0)
    log.info("pact events resumed", extra={"count": len(rows)})
    return len(rows)
