"""The request id of the request being served (a context variable), for logs and errors."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar, Token

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_SAFE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
HEADER = "X-Request-ID"


def current_request_id() -> str | None:
    return _request_id.get()


def accept_or_generate(value: str | None) -> str:
    """Keep a caller's id when it is safe to echo, else make a new one."""
    if value and _SAFE.match(value):
        return value
    return uuid.uuid4().hex


def set_request_id(value: str | None) -> Token[str | None]:
    return _request_id.set(value)


def reset_request_id(token: Token[str | None]) -> None:
    _request_id.reset(token)
