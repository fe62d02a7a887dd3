"""Authentication and authorisation dependencies.

``current_principal`` turns a bearer token into a ``Principal`` (401 otherwise), applies the
per-client rate limit and binds the request's database session to the caller's organisation
(tenant isolation, see ``app.core.tenancy``). ``require(*roles)`` adds the role check (403) and
makes it visible in OpenAPI: the operation's OAuth2 security requirement lists the roles as
scopes, and ``x-required-roles`` repeats them.

    AdminP = Annotated[Principal, Depends(require(Role.admin))]

    @router.get("/v1/things")
    def list_things(principal: AdminP, session: DbSession) -> ...
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import OAuth2

from app.accounts import service
from app.accounts.principal import ROLE_DESCRIPTIONS, Principal, Role
from app.accounts.principal_cache import PrincipalCache
from app.core.deps import DbSession
from app.core.errors import Forbidden, Unauthorized
from app.core.limits import RateLimiter
from app.core.security import InvalidToken, verify_token
from app.core.tenancy import bind_tenant

SCHEME_NAME = "OAuth2ClientCredentials"
TOKEN_URL = "/auth/token"

oauth2_scheme = OAuth2(
    flows=OAuthFlows(
        clientCredentials=OAuthFlowClientCredentials(
            tokenUrl=TOKEN_URL,
            scopes={r.value: d for r, d in ROLE_DESCRIPTIONS.items()},
        )
    ),
    scheme_name=SCHEME_NAME,
    description="OAuth2 client credentials (as in PACT): POST /auth/token with HTTP Basic "
    "client id and secret and grant_type=client_credentials, then send "
    "`Authorization: Bearer <access_token>`. The scopes listed on an operation are the roles "
    "it accepts; a client's role is fixed when the client is created.",
    auto_error=False,
)

_PRINCIPAL_STATE = "pcf_principal"


def unauthorized() -> Unauthorized:
    """The one 401 for a missing, malformed, forged, expired or revoked token: no hints."""
    return Unauthorized(
        "A valid access token is required.",
        code="unauthorized",
        headers={"WWW-Authenticate": 'Bearer realm="pcf"'},
    )


def rate_limiter(request: Request) -> RateLimiter | None:
    limiter = getattr(request.app.state, "rate_limiter", None)
    return limiter if isinstance(limiter, RateLimiter) else None


def authenticated_principal(request: Request) -> Principal | None:
    """The principal ``current_principal`` resolved for this request, if any."""
    p = getattr(request.state, _PRINCIPAL_STATE, None)
    return p if isinstance(p, Principal) else None


async def current_principal(
    request: Request,
    session: DbSession,
    authorization: Annotated[str | None, Depends(oauth2_scheme)],
) -> Principal:
    """The authenticated caller; 401 problem otherwise. Also rate-limits and binds the tenant.

    Async so that FastAPI runs it inline: the token check is pure CPU and the client look-up one
    indexed query (a thread-pool hop per request would cost more than the query), or none when
    ``PrincipalCache`` (PostgreSQL) holds the client."""
    cached = authenticated_principal(request)
    if cached is not None:
        bind_tenant(session, cached.org_id)
        return cached
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized()
    try:
        claims = verify_token(request.app.state.settings.secret_key, token.strip())
    except InvalidToken:
        raise unauthorized() from None
    cache: PrincipalCache | None = getattr(request.app.state, "principal_cache", None)
    principal = cache.get(claims) if cache is not None else None
    if principal is None:
        generation = cache.generation if cache is not None else 0
        principal = service.principal_for(session, claims)
        if principal is None:
            raise unauthorized()
        if cache is not None:
            cache.put(claims, principal, generation)
    limiter = rate_limiter(request)
    if limiter is not None:
        limiter.check(principal.client_id)
    bind_tenant(session, principal.org_id)
    setattr(request.state, _PRINCIPAL_STATE, principal)
    return principal


# Roles required by each dependency ``require`` built (read by the OpenAPI hook and the tests).
_REQUIRED_ROLES: dict[Callable[..., Awaitable[Principal]], frozenset[Role]] = {}


def require(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency yielding the Principal if its role is one of ``roles`` (any role if none).

    401 without a valid token, 403 with a valid token of another role.
    """
    allowed = frozenset(roles) if roles else frozenset(Role)
    scopes = sorted(r.value for r in allowed)

    # A default rather than Annotated: the annotation is a string (postponed evaluation) and
    # could not see ``scopes``.
    # async: a pure check, so FastAPI runs it inline instead of hopping to its thread pool.
    async def dependency(
        principal: Principal = Security(current_principal, scopes=scopes),
    ) -> Principal:
        if principal.role not in allowed:
            raise Forbidden(
                f"This operation needs the role {' or '.join(scopes)}; "
                f"the client has {principal.role.value}.",
                code="forbidden_role",
                required_roles=scopes,
            )
        return principal

    dependency.__name__ = "require_" + "_or_".join(scopes)
    _REQUIRED_ROLES[dependency] = allowed
    return dependency


def required_roles(dependency: Callable[..., object]) -> frozenset[Role] | None:
    """The roles a ``require`` dependency accepts (None: not built by ``require``)."""
    return _REQUIRED_ROLES.get(dependency)  # type: ignore[arg-type]


AnyRole = Annotated[Principal, Depends(require())]
AdminP = Annotated[Principal, Depends(require(Role.admin))]
