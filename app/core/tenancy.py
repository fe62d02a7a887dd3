"""Tenant isolation in one place.

Tables holding an organisation's data inherit ``OrgOwned`` (an ``org_id`` column). A session that
serves an authenticated request is bound to the caller's organisation (``bind_tenant``, done by
the auth dependency); from then on, in that session:

* every ORM ``SELECT``/``UPDATE``/``DELETE`` touching an ``OrgOwned`` table is filtered to that
  organisation automatically (``with_loader_criteria``), so another organisation's row behaves
  exactly like a row that does not exist;
* a new ``OrgOwned`` row gets the caller's ``org_id``; a row for another organisation, or moving
  a row to another organisation, is refused at flush (and by ``check_insert`` for the few rows
  written with a Core ``INSERT``, such as a footprint).

A session with no tenant at all refuses to touch ``OrgOwned`` tables (fail closed). Code that
legitimately works across organisations (CLI, background jobs, migrations) says so explicitly with
``unscoped(session)``.

``scoped(stmt, principal)`` and ``get_owned_or_404(...)`` make the filter explicit at call sites
that prefer to read it; they add the same condition the session adds anyway.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, with_loader_criteria
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.sql import Select
from sqlmodel import Field, Session, SQLModel, col

from app.core.database import metadata as _metadata  # noqa: F401 - naming convention first
from app.core.errors import NotFound

TENANT_KEY = "pcf_tenant_org_id"
_UNSCOPED = "pcf_unscoped"

T = TypeVar("T", bound=SQLModel)
S = TypeVar("S", bound=Select[Any])


class TenantScopeError(RuntimeError):
    """Organisation-owned data was touched without a tenant (a programming error)."""


class HasOrg(Protocol):
    @property
    def org_id(self) -> uuid.UUID: ...


class OrgOwned(SQLModel):
    """Mixin for tables whose rows belong to one organisation."""

    org_id: uuid.UUID = Field(foreign_key="organisation.id", index=True, ondelete="CASCADE")


def bind_tenant(session: Session, org_id: uuid.UUID) -> None:
    """Scope every later query of ``session`` to ``org_id``."""
    current = session.info.get(TENANT_KEY)
    if current is not None and current != org_id:
        raise TenantScopeError("session is already bound to another organisation")
    session.info[TENANT_KEY] = org_id
    session.info.pop(_UNSCOPED, None)


def unscoped(session: Session) -> Session:
    """Declare that ``session`` works across organisations (CLI, jobs). Returns it."""
    if session.info.get(TENANT_KEY) is not None:
        raise TenantScopeError("a tenant-bound session cannot be made unscoped")
    session.info[_UNSCOPED] = True
    return session


def tenant_of(session: OrmSession) -> uuid.UUID | None:
    value = session.info.get(TENANT_KEY)
    return value if isinstance(value, uuid.UUID) else None


def _is_org_owned(mapper_class: Any) -> bool:
    return isinstance(mapper_class, type) and issubclass(mapper_class, OrgOwned)


def _touches_org_owned(state: ORMExecuteState) -> bool:
    return any(_is_org_owned(m.class_) for m in state.all_mappers)


def org_owned_classes() -> list[type[OrgOwned]]:
    """Every mapped table class that inherits ``OrgOwned``."""
    return [m.class_ for m in SQLModel._sa_registry.mappers if _is_org_owned(m.class_)]


@event.listens_for(OrmSession, "do_orm_execute")
def _scope_queries(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    org_id = tenant_of(state.session)
    if org_id is None:
        if state.session.info.get(_UNSCOPED) or not _touches_org_owned(state):
            return
        raise TenantScopeError(
            "query on an organisation-owned table in a session without a tenant; "
            "bind it (bind_tenant) or declare it cross-organisation (unscoped)"
        )
    # Criteria for every org-owned class, wherever it appears (joins, subqueries, loads).
    state.statement = state.statement.options(
        *(
            with_loader_criteria(cls, col(cls.org_id) == org_id, include_aliases=True)
            for cls in org_owned_classes()
        )
    )


@event.listens_for(OrmSession, "before_flush")
def _stamp_and_guard(session: OrmSession, _ctx: Any, _instances: Any) -> None:
    org_id = tenant_of(session)
    for obj in list(session.new) + list(session.dirty) + list(session.deleted):
        if not isinstance(obj, OrgOwned):
            continue
        if org_id is None:
            if session.info.get(_UNSCOPED):
                continue
            raise TenantScopeError("writing organisation-owned data without a tenant")
        if obj in session.new and getattr(obj, "org_id", None) is None:
            obj.org_id = org_id
        if obj.org_id != org_id:
            raise TenantScopeError("writing another organisation's data")


def check_insert(session: OrmSession, org_id: uuid.UUID) -> None:
    """The flush rule for a row written with a Core ``INSERT`` (hot paths that skip the unit of
    work): allowed only for the session's own organisation, or in an unscoped session."""
    bound = tenant_of(session)
    if bound is None:
        if session.info.get(_UNSCOPED):
            return
        raise TenantScopeError("writing organisation-owned data without a tenant")
    if org_id != bound:
        raise TenantScopeError("writing another organisation's data")


def scoped(stmt: S, principal: HasOrg) -> S:
    """``stmt`` restricted to the principal's organisation (its first entity must be OrgOwned)."""
    entity = stmt.column_descriptions[0].get("entity") if stmt.column_descriptions else None
    if not _is_org_owned(entity):
        raise TypeError(f"{entity!r} is not organisation-owned")
    return stmt.where(entity.org_id == principal.org_id)  # type: ignore[union-attr]


def get_owned_or_404(session: Session, model: type[T], id_: Any, principal: HasOrg) -> T:
    """The row ``id_`` of ``model`` if it belongs to the principal's organisation, else 404.

    Another organisation's row answers exactly like a missing one.
    """
    if not issubclass(model, OrgOwned):
        raise TypeError(f"{model.__name__} is not organisation-owned")
    obj = session.get(model, id_)
    if obj is None or obj.org_id != principal.org_id:
        raise NotFound(f"No {model.__name__.lower()} with id {id_}.")
    return obj
