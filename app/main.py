"""The ASGI application: ``app.main:app`` (built by ``create_app``)."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app import __version__
from app.accounts.openapi import install_openapi
from app.accounts.principal_cache import PrincipalCache
from app.accounts.routes import auth_router
from app.accounts.routes import router as accounts_router
from app.background.loader import BackgroundData, load_background
from app.background.routes import router as background_router
from app.core.database import Database
from app.core.errors import install_error_handlers
from app.core.limits import install_limits
from app.core.logging import configure_logging
from app.core.middleware import HttpsRequiredMiddleware, RequestIdMiddleware
from app.core.openapi_examples import install_request_examples
from app.core.settings import Settings, get_settings
from app.exports.pact.events import resume_pending as resume_pending_events
from app.exports.pact.events import stop_delivery as stop_event_delivery
from app.exports.pact.host import install_openapi as install_pact_openapi
from app.exports.pact.host import router as pact_router
from app.exports.routes import router as exports_router
from app.footprints.routes import router as footprints_router
from app.health.routes import router as health_router
from app.rules.routes import router as rules_router

log = logging.getLogger("pcf")

GC_THRESHOLDS = (20_000, 20, 20)

DESCRIPTION = """
Product carbon footprints (ISO 14067 / GB/T 24067) for **beer, household appliances and rubber
tyres**, computed with Brightway 2.5 on a versioned, sourced background-data release.

Errors are RFC 9457 `application/problem+json` with a stable machine `code` and `errors[]`
(one entry per problem, each with a JSON `pointer` into your request).
"""


def _load_background(settings: Settings) -> BackgroundData | None:
    """The current release, catalogue and engine; None (and /readyz says so) if unavailable."""
    try:
        return load_background(settings.data_dir)
    except Exception:
        log.exception(
            "background release could not be loaded", extra={"data_dir": str(settings.data_dir)}
        )
        return None


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.db = Database(settings.database_url)
        app.state.principal_cache = PrincipalCache(settings.database_url)
        app.state.principal_cache.start()
        app.state.background = _load_background(settings)
        app.state.release = app.state.background.release if app.state.background else None
        resume_pending_events(app)
        # Everything loaded so far (release catalogue, rules, ORM and pydantic machinery) lives
        # as long as the process: keep it out of the garbage collector's full collections,
        # which would otherwise walk it again and again under load.
        gc.collect()
        gc.freeze()
        # A footprint request allocates tens of thousands of short-lived objects; with the
        # default threshold (700) the young generation is collected dozens of times per request.
        # 20,000 cuts a request's CPU by ~10 % (measured in-process, bench/README.md) for a few
        # MB more of not-yet-collected cycles at most.
        gc.set_threshold(*GC_THRESHOLDS)
        log.info(
            "started",
            extra={
                "env": settings.env.value,
                "database": app.state.db.engine.dialect.name,
                "release_id": app.state.release.release_id if app.state.release else None,
            },
        )
        try:
            yield
        finally:
            app.state.principal_cache.stop()
            stop_event_delivery(app)  # pending events stay pending: resumed at the next start
            await app.state.db.aclose()

    app = FastAPI(
        title="PCF Service",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    install_limits(app, settings)  # inside RequestIdMiddleware: a 413 still has the request id
    if settings.https_required:
        app.add_middleware(
            HttpsRequiredMiddleware, prefixes=("/3/", "/auth/token", "/.well-known/")
        )
    app.add_middleware(RequestIdMiddleware)
    install_error_handlers(app)
    install_openapi(app)
    install_pact_openapi(app)  # after install_openapi: PACT error bodies on /3/…
    install_request_examples(app)
    # Routes are matched in this order: the busiest first (footprints), so that the common
    # request does not walk every other router's routes. No two routers share a path.
    app.include_router(footprints_router)
    app.include_router(health_router)
    app.include_router(auth_router)
    app.include_router(accounts_router)
    app.include_router(background_router)
    app.include_router(rules_router)
    app.include_router(exports_router)
    app.include_router(pact_router)
    return app


app = create_app()
