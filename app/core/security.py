"""Client secrets (argon2 hashes) and access tokens (signed, short-lived JWTs).

Nothing here says *why* a check failed to the caller: every failure is the same
``InvalidCredentials``/``InvalidToken`` and becomes one 401 without a hint.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

TOKEN_ALGORITHM = "HS256"
TOKEN_ISSUER = "pcf-service"
TOKEN_AUDIENCE = "pcf-service-api"

# RFC 9106 "second recommended option" (64 MiB, 3 passes, 4 lanes): the argon2-cffi defaults.
_hasher = PasswordHasher()
# Verified against when a client id is unknown, so that answer takes as long as a wrong secret.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(32))


class InvalidToken(Exception):
    """The token is missing, malformed, forged, expired or not for this service."""


def new_client_id() -> str:
    return "pcf_" + secrets.token_hex(12)


def new_client_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return _hasher.hash(secret)


def verify_secret(secret_hash: str | None, secret: str) -> bool:
    """Constant-effort check: an unknown client (``None``) costs as much as a wrong secret."""
    try:
        return _hasher.verify(secret_hash or _DUMMY_HASH, secret) and secret_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(secret_hash: str) -> bool:
    return _hasher.check_needs_rehash(secret_hash)


@dataclass(frozen=True)
class TokenClaims:
    client_id: str
    org_id: uuid.UUID
    role: str
    secret_version: int
    expires_at: int


def issue_token(
    key: str,
    *,
    client_id: str,
    org_id: uuid.UUID,
    role: str,
    secret_version: int,
    ttl_seconds: int,
    now: float | None = None,
) -> str:
    """A signed access token carrying the client, its organisation and its role."""
    iat = int(time.time() if now is None else now)
    payload: dict[str, Any] = {
        "iss": TOKEN_ISSUER,
        "aud": TOKEN_AUDIENCE,
        "sub": client_id,
        "org": str(org_id),
        "role": role,
        "ver": secret_version,
        "iat": iat,
        "nbf": iat,
        "exp": iat + ttl_seconds,
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(payload, key, algorithm=TOKEN_ALGORITHM)


def decode_token(key: str, token: str, *, leeway: int = 5) -> TokenClaims:
    """Verify signature, issuer, audience and lifetime; raise ``InvalidToken`` on any problem."""
    try:
        p = jwt.decode(
            token,
            key,
            algorithms=[TOKEN_ALGORITHM],
            audience=TOKEN_AUDIENCE,
            issuer=TOKEN_ISSUER,
            leeway=leeway,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
        )
        return TokenClaims(
            client_id=str(p["sub"]),
            org_id=uuid.UUID(str(p["org"])),
            role=str(p["role"]),
            secret_version=int(p["ver"]),
            expires_at=int(p["exp"]),
        )
    except (jwt.PyJWTError, KeyError, ValueError, TypeError) as exc:
        raise InvalidToken() from exc


# A client sends the same token with every request for its lifetime: the claims of a verified
# token are kept (keyed by the key and the whole token text, so only that exact, already verified
# string hits), and only its expiry is checked again. Bounded; emptied when full.
_VERIFIED: dict[tuple[str, str], TokenClaims] = {}
_VERIFIED_MAX = 4096


def verify_token(key: str, token: str, *, leeway: int = 5) -> TokenClaims:
    """``decode_token``, remembering what it verified (see ``_VERIFIED``)."""
    claims = _VERIFIED.get((key, token))
    if claims is not None:
        if time.time() < claims.expires_at + leeway:
            return claims
        _VERIFIED.pop((key, token), None)
        raise InvalidToken()
    claims = decode_token(key, token, leeway=leeway)
    if len(_VERIFIED) >= _VERIFIED_MAX:
        _VERIFIED.clear()
    _VERIFIED[(key, token)] = claims
    return claims
