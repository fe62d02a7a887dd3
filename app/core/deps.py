"""Generic request dependencies: the database session of a request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session


def get_session(request: Request) -> Iterator[Session]:
    """One session per request: committed when the route returns, rolled back on error.

    Function-scoped, so the commit happens *before* the response is sent: a failed commit is
    an error response, never a success the database does not hold.
    """
    with request.app.state.db.session() as session:
        yield session


DbSession = Annotated[Session, Depends(get_session, scope="function")]
