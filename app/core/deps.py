"""Generic request dependencies: the database session of a request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request: committed when the route returns, rolled back on error.

    Function-scoped, so the commit happens *before* the response is sent: a failed commit is
    an error response, never a success the database does not hold.

    An async generator on purpose: FastAPI would run a sync one in its thread pool, two thread
    hops per request. Opening a session does no I/O (the connection is taken at the first
    query); the commit at the end is one short round trip, done on the event loop.
    """
    with request.app.state.db.session() as session:
        yield session


DbSession = Annotated[Session, Depends(get_session, scope="function")]
