"""API keys: created once, shown once, stored only as a SHA-256 hash.

A key is 32 random bytes (256 bits), so nobody can guess one or brute-force its hash: a slow
password hash (bcrypt, argon2) protects guessable secrets and would cost every request ~100 ms
for nothing here. Looking a key up by its hash also means no secret is ever compared in Python.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from datetime import datetime
from typing import TYPE_CHECKING

from invoiceai.errors import ConfigurationError
from invoiceai.server.clock import utcnow
from invoiceai.server.db import reading
from invoiceai.server.models import api_keys

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["ANONYMOUS", "KEY_PREFIX", "ApiKey", "authenticate", "create_key", "hash_key", "list_keys", "revoke_key"]

KEY_PREFIX = "iai_"
ANONYMOUS = "anonymous"
"""The owner of every job when the service runs with ``--no-auth``."""


@dataclasses.dataclass(frozen=True)
class ApiKey:
    """A stored key, without its secret.

    Attributes:
        id: Public id (``key_...``): audit rows and jobs name it.
        name: What the key is for.
        created_at: When it was created (UTC).
        revoked_at: When it was revoked, if it was.
        daily_quota: This key's documents per UTC day, overriding the service's (``None``: the service's).
    """

    id: str
    name: str
    created_at: datetime
    revoked_at: datetime | None = None
    daily_quota: int | None = None


def hash_key(key: str) -> str:
    """SHA-256 of a key, hex: what the store keeps."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(engine: Engine, name: str, *, daily_quota: int | None = None) -> tuple[ApiKey, str]:
    """Creates a key; returns it and its secret, which is not stored and cannot be shown again."""
    if daily_quota is not None and daily_quota < 0:
        raise ConfigurationError("A key's daily quota must not be negative.")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(id="key_" + secrets.token_hex(6), name=name, created_at=utcnow(), daily_quota=daily_quota)
    with engine.begin() as connection:
        connection.execute(
            api_keys.insert().values(
                id=key.id, name=name, key_hash=hash_key(secret), created_at=key.created_at, daily_quota=daily_quota
            )
        )
    return key, secret


def list_keys(engine: Engine) -> list[ApiKey]:
    """Every key, oldest first (revoked ones included)."""
    with reading(engine) as connection:
        rows = connection.execute(api_keys.select().order_by(api_keys.c.created_at, api_keys.c.id)).mappings()
        return [_key(row) for row in rows]


def revoke_key(engine: Engine, key_id: str) -> bool:
    """Revokes a key; ``False`` when no active key has that id."""
    with engine.begin() as connection:
        result = connection.execute(
            api_keys.update()
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        return bool(result.rowcount)


def authenticate(engine: Engine, secret: str) -> ApiKey | None:
    """The active key whose secret this is, or ``None``."""
    if not secret.startswith(KEY_PREFIX):
        return None
    with reading(engine) as connection:
        row = (
            connection.execute(
                api_keys.select().where(api_keys.c.key_hash == hash_key(secret), api_keys.c.revoked_at.is_(None))
            )
            .mappings()
            .first()
        )
    return None if row is None else _key(row)


def _key(row: object) -> ApiKey:
    values = dict(row)  # type: ignore[call-overload]
    return ApiKey(
        id=values["id"],
        name=values["name"],
        created_at=values["created_at"],
        revoked_at=values["revoked_at"],
        daily_quota=values["daily_quota"],
    )
