"""Principals of verified tokens, kept while this process is told of every change to API clients.

Every authenticated request checks that its client still exists, is not revoked and still has
the secret version its token was issued with (``service.principal_for``: one query). On
PostgreSQL this cache saves that query without weakening the check:

* a change to a client (rotate, revoke) sends ``NOTIFY pcf_clients, '<client_id>'`` in the
  transaction that makes it (``notify_client_changed``), so PostgreSQL delivers it when, and
  only if, the change commits;
* each process keeps one listening connection (a daemon thread) and drops the client's entries
  as soon as a notification arrives; the process that made the change drops them at once;
* while that connection is not listening (start-up, a lost connection, SQLite), nothing is
  cached and every request reads the database, as before; on reconnecting the cache starts
  empty, since notifications may have been missed;
* an entry read from the database before a change committed is never stored after the change
  was heard of (a generation counter), and no entry lives longer than ``ttl`` seconds.

So a revoked or rotated client stops working in every process within the time PostgreSQL takes
to deliver a notification (milliseconds), not at the token's expiry. Changing ``api_client`` rows
by hand in SQL bypasses the notification: do it through the service or ``pcf clients``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from app.accounts.principal import Principal
from app.core.security import TokenClaims

log = logging.getLogger("pcf.auth")

CHANNEL = "pcf_clients"
ALL = "*"  # payload: forget every client


def notify_client_changed(session: Session, client_id: str = ALL) -> None:
    """Tell every process (at commit) that ``client_id`` changed; local caches forget it now."""
    for cache in list(_CACHES):
        cache.forget(client_id)
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.connection().execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {"channel": CHANNEL, "payload": client_id},
        )


_CACHES: set[PrincipalCache] = set()


class PrincipalCache:
    """See the module docstring. ``get``/``put`` are cheap and thread-safe."""

    def __init__(self, database_url: str, *, ttl: float = 60.0, max_entries: int = 10_000):
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, tuple[tuple[int, Any, str], Principal, float]] = {}
        self._lock = threading.Lock()
        self._generation = 0
        self._listening = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        url = make_url(database_url)
        self._dsn = (
            url.set(drivername="postgresql").render_as_string(hide_password=False)
            if url.get_backend_name() == "postgresql"
            else None
        )

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start listening (PostgreSQL); without it the cache stays off."""
        _CACHES.add(self)
        if self._dsn is None or self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._listen, name="pcf-principal-cache", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        _CACHES.discard(self)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._set_listening(False)

    @property
    def listening(self) -> bool:
        return self._listening

    def wait_listening(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while not self._listening and time.monotonic() < deadline:
            time.sleep(0.01)
        return self._listening

    # ------------------------------------------------------------------ cache
    @property
    def generation(self) -> int:
        """Changes whenever entries may have become stale; ``put`` refuses an older read."""
        return self._generation

    def get(self, claims: TokenClaims) -> Principal | None:
        if not self._listening:
            return None
        hit = self._entries.get(claims.client_id)
        if hit is None:
            return None
        key, principal, stored = hit
        if key != _key(claims) or time.monotonic() - stored > self.ttl:
            return None
        return principal

    def put(self, claims: TokenClaims, principal: Principal, generation: int) -> None:
        """Remember ``principal``, read from the database while ``generation`` was current."""
        with self._lock:
            if not self._listening or generation != self._generation:
                return
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[claims.client_id] = (_key(claims), principal, time.monotonic())

    def forget(self, client_id: str) -> None:
        with self._lock:
            self._generation += 1
            if client_id == ALL:
                self._entries.clear()
            else:
                self._entries.pop(client_id, None)

    # ------------------------------------------------------------------ listener
    def _set_listening(self, on: bool) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()
            self._listening = on

    def _listen(self) -> None:
        import psycopg

        backoff = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._dsn or "", autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._set_listening(True)
                    backoff = 0.5
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self.forget(note.payload or ALL)
            except Exception as exc:  # a lost or refused connection: cache off, retry
                if self._stop.is_set():
                    break
                log.warning("principal cache not listening", extra={"error": str(exc)[:200]})
            self._set_listening(False)
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 30.0)


def _key(claims: TokenClaims) -> tuple[int, Any, str]:
    return (claims.secret_version, claims.org_id, claims.role)
