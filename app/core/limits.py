"""Configurable limits: request body size, BOM size and depth, per-client request rate.

Every limit answers with a problem that names it: ``code`` (``payload_too_large``,
``limit_bom_lines``, ``limit_bom_depth``, ``rate_limited``), ``limit`` (the setting's name) and
``max`` (its value).
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import mmap
import os
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import (
    FieldError,
    PayloadTooLarge,
    RateLimited,
    ValidationFailed,
    problem_response,
)

# ---------------------------------------------------------------------------- body size


class BodyTooLarge(PayloadTooLarge, StarletteHTTPException):  # type: ignore[misc]
    """413 naming PCF_MAX_BODY_BYTES.

    Also a Starlette ``HTTPException``, so FastAPI's body parsing lets it through unchanged
    (instead of turning it into a generic 400); the ``AppError`` handler formats it.
    """

    def __init__(self, max_bytes: int) -> None:
        detail = f"The request body is larger than PCF_MAX_BODY_BYTES ({max_bytes} bytes)."
        StarletteHTTPException.__init__(self, 413, detail)
        self.detail = detail
        self.errors = [
            FieldError("", "limit_body_bytes", f"at most {max_bytes} bytes are accepted")
        ]
        self.headers = {"Connection": "close"}
        self.extra = {"limit": "PCF_MAX_BODY_BYTES", "max": max_bytes}


def _too_large_response(max_bytes: int) -> Any:
    exc = BodyTooLarge(max_bytes)
    return problem_response(
        exc.status, exc.code, exc.title, exc.detail, exc.errors, exc.headers, **exc.extra
    )


class BodySizeLimitMiddleware:
    """Refuse bodies above ``max_bytes``: by ``Content-Length`` up front, and while streaming
    (chunked bodies, or a Content-Length that lies) by counting what the app reads."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                try:
                    declared = int(v)
                except ValueError:
                    declared = -1
                if declared > self.max_bytes:
                    await _too_large_response(self.max_bytes)(scope, receive, send)
                    return
                break

        received = 0
        started = False
        exceeded = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except Exception:
            if not exceeded or started:
                raise
            await _too_large_response(self.max_bytes)(scope, receive, send)


# ---------------------------------------------------------------------------- bill of materials


def _default_children(line: Any) -> Sequence[Any] | None:
    """Sub-assembly lines of a BOM line: ``components``/``lines`` key or attribute."""
    for name in ("components", "lines", "children"):
        value = line.get(name) if isinstance(line, Mapping) else getattr(line, name, None)
        if value:
            return value
    return None


def check_bom_limits(
    lines: Sequence[Any],
    *,
    max_lines: int,
    max_depth: int,
    children: Callable[[Any], Sequence[Any] | None] = _default_children,
    pointer: str = "/lines",
    child_key: str = "components",
) -> None:
    """Raise a 422 naming the limit when a BOM has too many lines or nests too deep.

    ``lines`` is the top level (depth 1); ``children(line)`` gives a line's sub-assembly lines
    (by default its ``components``/``lines``/``children``). Every line at every depth counts
    towards ``max_lines``. Iterative, so a hostile depth cannot exhaust the stack.
    """
    count = 0
    stack: list[tuple[Sequence[Any], int, str]] = [(lines, 1, pointer)]
    while stack:
        level, depth, ptr = stack.pop()
        if depth > max_depth:
            raise ValidationFailed(
                f"Sub-assemblies nest deeper than PCF_MAX_BOM_DEPTH ({max_depth} levels).",
                code="limit_bom_depth",
                errors=[
                    FieldError(
                        ptr, "limit_bom_depth", f"at most {max_depth} levels of sub-assemblies"
                    )
                ],
                limit="PCF_MAX_BOM_DEPTH",
                max=max_depth,
            )
        count += len(level)
        if count > max_lines:
            raise ValidationFailed(
                f"The bill of materials has more than PCF_MAX_BOM_LINES ({max_lines}) lines.",
                code="limit_bom_lines",
                errors=[
                    FieldError(pointer, "limit_bom_lines", f"at most {max_lines} lines in one BOM")
                ],
                limit="PCF_MAX_BOM_LINES",
                max=max_lines,
            )
        for i, line in enumerate(level):
            sub = children(line)
            if sub:
                stack.append((sub, depth + 1, f"{ptr}/{i}/{child_key}"))


# ---------------------------------------------------------------------------- rate


def _take(
    tokens: float, last: float, now: float, capacity: float, rate: float
) -> tuple[float, float]:
    """One token bucket step: (tokens left, seconds to wait: 0.0 if the request may go)."""
    tokens = min(capacity, tokens + max(0.0, now - last) * rate)
    if tokens >= 1.0:
        return tokens - 1.0, 0.0
    return tokens, (1.0 - tokens) / rate


class SharedBuckets:
    """Token buckets in a file mapped into memory, shared by the worker processes of one host.

    ``pcf serve --workers N`` creates the file (``create``) before it starts the workers; each
    worker maps it (``share_between_workers``), so a client gets its limit once per host, not
    once per worker. Open addressing over ``slots`` fixed-size slots (64-bit key hash, tokens,
    time of the last update), ``PROBES`` slots per key; when all of a key's slots are taken the
    one updated longest ago is reused (that client starts again with a full bucket, as in the
    in-memory limiter's least-recently-used eviction). Updates hold a ``flock`` on the file,
    which the kernel releases when a process dies, so a killed worker cannot wedge the others;
    a ``threading.Lock`` orders the threads of one process (``flock`` does not). Times are
    ``time.monotonic``, one clock for every process of the host.
    """

    SLOT = struct.Struct("<Qdd")
    PROBES = 32
    DEFAULT_SLOTS = 16_384

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._file = open(self.path, "r+b")  # noqa: SIM115 - kept open: mapped and locked
        size = os.fstat(self._file.fileno()).st_size
        if size == 0 or size % self.SLOT.size:
            self._file.close()
            raise ValueError(f"{self.path} is not a rate-limit table ({size} bytes)")
        self.slots = size // self.SLOT.size
        self._map = mmap.mmap(self._file.fileno(), size)
        self._lock = threading.Lock()

    @classmethod
    def create(cls, path: str | os.PathLike[str], slots: int = DEFAULT_SLOTS) -> SharedBuckets:
        """A new, empty table of ``slots`` slots at ``path`` (replacing what was there)."""
        with open(path, "wb") as f:
            f.truncate(slots * cls.SLOT.size)
        return cls(path)

    def close(self) -> None:
        self._map.close()
        self._file.close()

    @staticmethod
    @lru_cache(maxsize=4096)
    def _hash(key: str) -> int:
        digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "little") | 1  # 0 marks an empty slot

    def take(self, key: str, now: float, capacity: float, rate: float) -> float:
        """``_take`` on ``key``'s shared bucket (a full one if it has none yet)."""
        h = self._hash(key)
        slot, unpack, pack = self.SLOT.size, self.SLOT.unpack_from, self.SLOT.pack_into
        buf, n, start = self._map, self.slots, h % self.slots
        fd = self._file.fileno()
        with self._lock:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                at, tokens, last = -1, capacity, now
                oldest, oldest_at = math.inf, start
                for i in range(self.PROBES):
                    pos = (start + i) % n * slot
                    kh, t, seen = unpack(buf, pos)
                    if kh == h:
                        at, tokens, last = pos, t, seen
                        break
                    if kh == 0:
                        at = pos
                        break
                    if seen < oldest:
                        oldest, oldest_at = seen, pos
                if at < 0:
                    at = oldest_at
                tokens, wait = _take(tokens, last, now, capacity, rate)
                pack(buf, at, h, tokens, now)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        return wait


_shared_path: str | None = None


def share_between_workers(path: str | None) -> None:
    """Make rate limiters built after this call (``install_limits``) use the shared table at
    ``path`` (``None``: each process its own buckets). Called by ``pcf serve`` in each worker
    before the app is imported."""
    global _shared_path
    _shared_path = path


class RateLimiter:
    """Token bucket per key (API client): ``per_minute`` requests a minute, bursts up to it.

    In this process's memory, or in ``shared`` buckets that all workers of the host use (what
    ``pcf serve`` sets up when it runs several workers).
    """

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
        shared: SharedBuckets | None = None,
    ) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.max_keys = max_keys
        self.shared = shared
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def hit(self, key: str) -> float:
        """Take one token for ``key``: 0.0 if allowed, else seconds until the next is due."""
        if not self.enabled:
            return 0.0
        capacity, rate = float(self.per_minute), self.per_minute / 60.0
        now = self.clock()
        if self.shared is not None:
            return self.shared.take(key, now, capacity, rate)
        with self._lock:
            tokens, last = self._buckets.pop(key, (capacity, now))
            tokens, wait = _take(tokens, last, now, capacity, rate)
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return wait

    def check(self, key: str) -> None:
        """Raise a 429 problem with ``Retry-After`` when ``key`` is over its rate."""
        wait = self.hit(key)
        if wait > 0:
            retry = max(1, math.ceil(wait))
            raise RateLimited(
                f"More than PCF_RATE_LIMIT_PER_MINUTE ({self.per_minute}) requests a minute "
                f"from this client; retry in {retry} s.",
                headers={"Retry-After": str(retry)},
                limit="PCF_RATE_LIMIT_PER_MINUTE",
                max=self.per_minute,
                retry_after=retry,
            )


def install_limits(app: Any, settings: Any) -> None:
    """Body-size middleware and the per-client rate limiter, from settings (its buckets shared
    between the workers when ``share_between_workers`` named a table).

    Call before adding ``RequestIdMiddleware`` so that one stays outermost (a 413 answered
    up front still carries the request id).
    """
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    per_minute = settings.rate_limit_per_minute
    shared = SharedBuckets(_shared_path) if _shared_path and per_minute > 0 else None
    app.state.rate_limiter = RateLimiter(per_minute, shared=shared)
