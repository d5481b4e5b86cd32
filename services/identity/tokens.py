"""Integration tokens: each with a role, stored as a hash, shown once, revocable.

Why sha256 and not argon2 here: a token is 256 random bits, so a fast hash is as safe as a
slow one, and the API checks one on every request. Lookups are cached for a few seconds per
process; a revoked token stops working within that time on every process.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from datetime import datetime

from sqlalchemy import insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.models import TOKEN_ROLES, ApiToken, Role
from services.identity.principal import Principal

PREFIX = "svrr_"
CACHE_SECONDS = 5.0
_cache: dict[str, tuple[Principal | None, float]] = {}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


async def issue(
    session: AsyncSession, name: str, role: Role, created_by: uuid.UUID | None
) -> tuple[uuid.UUID, str]:
    """(id, the token): the only time the token itself exists outside the caller's hands."""
    if role not in TOKEN_ROLES:
        raise ValueError("peers sign in; integration tokens are for systems")
    token = new_token()
    token_id = uuid.uuid4()
    await session.execute(
        insert(ApiToken).values(
            id=token_id,
            name=name,
            role=role.value,
            token_hash=token_hash(token),
            prefix=token[: len(PREFIX) + 4],
            created_by=created_by,
        )
    )
    return token_id, token


async def adopt(session: AsyncSession, token: str, name: str, role: Role) -> bool:
    """Bootstrap: a token from the environment becomes a stored one, once. A token the store
    has seen before (even revoked) is left as it is, so revoking one sticks."""
    stmt = (
        pg_insert(ApiToken)
        .values(
            id=uuid.uuid4(),
            name=name,
            role=role.value,
            token_hash=token_hash(token),
            prefix=token[:4] + "…",
        )
        .on_conflict_do_nothing(index_elements=["token_hash"])
    )
    return bool((await session.execute(stmt)).rowcount)


async def revoke(session: AsyncSession, token_id: uuid.UUID, now: datetime) -> bool:
    done = await session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    _cache.clear()
    return bool(done.rowcount)


MISS = object()
# "Last used" for the administrator's list, to the minute. Every API process's cache expires
# for a busy integration at about the same moment, and each request that misses would update
# the one token row: a queue on its row lock (under a burst, 845 ms per update on average,
# 3 s at worst, in the requests' own time). So at most once a minute, and a request that
# finds the row locked leaves the stamp to whoever holds it rather than waiting.
TOUCH = text(
    "UPDATE api_tokens SET last_used_at = :now WHERE id = (SELECT id FROM api_tokens "
    "WHERE id = :id AND (last_used_at IS NULL OR last_used_at < :now - interval '1 minute') "
    "FOR UPDATE SKIP LOCKED)"
)


def cached(token: str) -> Principal | None | object:
    """The token's principal (or None) as looked up in the last few seconds, else MISS:
    a request whose token was seen recently needs no transaction at all."""
    hit = _cache.get(token_hash(token))
    if hit is not None and hit[1] > time.monotonic():
        return hit[0]
    return MISS


async def lookup(session: AsyncSession, token: str, now: datetime) -> Principal | None:
    """The token's principal, or None for an unknown or revoked token."""
    digest = token_hash(token)
    cached = _cache.get(digest)
    if cached is not None and cached[1] > time.monotonic():
        return cached[0]
    row = await session.scalar(
        select(ApiToken).where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None))
    )
    found = None
    if row is not None:
        found = Principal(kind="token", id=row.id, name=row.name, role=Role(row.role))
        await session.execute(TOUCH, {"id": row.id, "now": now})
    if len(_cache) > 1000:
        _cache.clear()
    _cache[digest] = (found, time.monotonic() + CACHE_SECONDS)
    return found
