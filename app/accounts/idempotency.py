"""``Idempotency-Key`` for create routes.

The first response to (organisation, key) is stored in the same transaction as what it created;
the same key with the same request answers that stored response again (``Idempotency-Replayed:
true``) without creating anything; the same key with a different request is a 422
``idempotency_key_reused``. Keys are remembered for ``PCF_IDEMPOTENCY_TTL_HOURS``.

In a create route::

    @router.post("/v1/things", status_code=201, response_model=ThingOut)
    def create_thing(body: ThingIn, p: Maker, session: DbSession, idem: Idempotent) -> Response:
        return idem.respond(201, lambda: ThingOut.model_validate(create(session, p, body)))
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.accounts.deps import authenticated_principal
from app.accounts.models import IdempotencyRecord
from app.accounts.principal import Principal
from app.core import jsonio
from app.core.deps import DbSession
from app.core.errors import Conflict, FieldError, ValidationFailed

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotency-Replayed"
KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"


def request_hash(method: str, path: str, body: bytes) -> str:
    """Hash of what the request asks for: method, path and the body (canonical if JSON)."""
    try:
        canonical = json.dumps(
            json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8", "surrogatepass")
    except (ValueError, UnicodeDecodeError):
        canonical = body
    h = hashlib.sha256()
    for part in (method.upper().encode(), b"\n", path.encode(), b"\n", canonical):
        h.update(part)
    return h.hexdigest()


class Idempotency:
    """Per-request helper: replays a remembered response or runs and remembers a new one."""

    def __init__(
        self,
        session: Session,
        request: Request,
        key: str | None,
        method: str,
        path: str,
        digest: str,
        ttl: timedelta,
    ) -> None:
        self.session = session
        self.request = request
        self.key = key
        self.method = method
        self.path = path
        self.digest = digest
        self.ttl = ttl

    @property
    def principal(self) -> Principal:
        p = authenticated_principal(self.request)
        if p is None:  # a programming error: the route must require a role
            raise RuntimeError("Idempotent routes need an authenticated principal (require())")
        return p

    def _existing(self) -> IdempotencyRecord | None:
        rec = self.session.exec(
            select(IdempotencyRecord).where(
                IdempotencyRecord.org_id == self.principal.org_id,
                IdempotencyRecord.key == self.key,
            )
        ).first()
        if rec is None:
            return None
        created = rec.created_at if rec.created_at.tzinfo else rec.created_at.replace(tzinfo=UTC)
        if created < datetime.now(UTC) - self.ttl:
            self.session.delete(rec)
            self.session.flush()
            return None
        return rec

    def respond(
        self,
        status_code: int,
        create: Callable[[], BaseModel | Mapping[str, Any]],
        *,
        redact: Sequence[str] = (),
    ) -> JSONResponse:
        """Run ``create`` once per key and answer ``status_code`` with its result.

        ``redact`` names top-level fields never stored (e.g. a client secret): a replay answers
        them as null.
        """
        replay, record = self._begin()
        if replay is not None:
            return replay
        return self._finish(status_code, create(), record, redact)

    async def respond_async(
        self,
        status_code: int,
        create: Callable[[], Awaitable[BaseModel | Mapping[str, Any]]],
        *,
        redact: Sequence[str] = (),
    ) -> JSONResponse:
        """``respond`` for a ``create`` that is a coroutine function."""
        replay, record = self._begin()
        if replay is not None:
            return replay
        return self._finish(status_code, await create(), record, redact)

    def _begin(self) -> tuple[JSONResponse | None, IdempotencyRecord | None]:
        """(the remembered response to replay, None) or (None, the key's claim if any)."""
        if self.key is None:
            return None, None
        rec = self._existing()
        if rec is not None:
            if rec.request_hash != self.digest:
                raise ValidationFailed(
                    f"The {HEADER} was used before with a different request.",
                    code="idempotency_key_reused",
                    errors=[
                        FieldError(
                            f"/header:{HEADER}",
                            "idempotency_key_reused",
                            "use a new key for a different request",
                        )
                    ],
                )
            replay = JSONResponse(
                json.loads(rec.response_body),
                status_code=rec.status_code,
                headers={REPLAY_HEADER: "true"},
            )
            return replay, None
        # Claim the key before creating anything: a concurrent request with the same key
        # blocks on the unique (org, key) index until this transaction ends, then gets a 409
        # "retry" (and its retry replays this response) instead of racing the creation.
        record = IdempotencyRecord(
            org_id=self.principal.org_id,
            key=self.key,
            method=self.method,
            path=self.path,
            request_hash=self.digest,
            status_code=0,
            response_body="",
        )
        self.session.add(record)
        try:
            self.session.flush()
        except IntegrityError as exc:  # the same key, concurrently: the other one wins
            raise Conflict(
                f"A request with this {HEADER} is being processed; retry shortly.",
                code="idempotency_key_in_use",
                headers={"Retry-After": "1"},
            ) from exc
        return None, record

    def _finish(
        self,
        status_code: int,
        result: BaseModel | Mapping[str, Any],
        record: IdempotencyRecord | None,
        redact: Sequence[str],
    ) -> JSONResponse:
        # A model is dumped in JSON mode; a dict is taken as the JSON body it already is (JSON
        # types, plus UUIDs and datetimes, which the encoder writes natively).
        content = (
            result.model_dump(mode="json", by_alias=True)
            if isinstance(result, BaseModel)
            else result
        )
        if record is not None:
            stored = {k: (None if k in redact else v) for k, v in content.items()}
            record.status_code = status_code
            record.response_body = jsonio.dumps(stored)
            self.session.add(record)
            self.session.flush()
        return jsonio.FastJSONResponse(content, status_code=status_code)


async def idempotency(
    request: Request,
    session: DbSession,
    key: Annotated[
        str | None,
        Header(
            alias=HEADER,
            pattern=KEY_PATTERN,
            description="Makes this create safe to retry: the same key with the same body "
            "answers the first response again without creating twice; with a different body, "
            "422. Printable ASCII, at most 255 characters; remembered for "
            "PCF_IDEMPOTENCY_TTL_HOURS.",
        ),
    ] = None,
) -> Idempotency:
    body = await request.body()
    settings = request.app.state.settings
    return Idempotency(
        session,
        request,
        key,
        request.method,
        request.url.path,
        # Only a request with a key is ever compared or remembered: no hash without one.
        request_hash(request.method, request.url.path, body) if key is not None else "",
        timedelta(hours=settings.idempotency_ttl_hours),
    )


Idempotent = Annotated[Idempotency, Depends(idempotency)]
