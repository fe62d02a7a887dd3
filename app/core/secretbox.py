"""Secrets the service must read back (not hashes): encrypted at rest with a key derived from
``PCF_SECRET_KEY``.

Used for the client credentials a PACT recipient issued to us (we authenticate at its token
endpoint to deliver events). Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) with a key
derived by HKDF-SHA256 for this one purpose, so the token-signing key itself is never used to
encrypt. Changing ``PCF_SECRET_KEY`` makes the stored values unreadable: ``open`` then raises
``SecretUnreadable`` and the caller says the credentials must be registered again.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PURPOSE = b"pcf-service: stored outbound credentials v1"


class SecretUnreadable(ValueError):
    """A stored secret cannot be decrypted with the current PCF_SECRET_KEY."""


@lru_cache(maxsize=4)
def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=PURPOSE).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret_key: str, plaintext: str) -> str:
    """``plaintext`` encrypted and authenticated (a URL-safe text token)."""
    return _fernet(secret_key).encrypt(plaintext.encode()).decode("ascii")


def open_sealed(secret_key: str, token: str) -> str:
    """The plaintext ``seal`` encrypted; ``SecretUnreadable`` if the key changed or the token was
    tampered with."""
    try:
        return _fernet(secret_key).decrypt(token.encode("ascii")).decode()
    except (InvalidToken, ValueError) as exc:
        raise SecretUnreadable(
            "a stored secret cannot be decrypted with the current PCF_SECRET_KEY"
        ) from exc
