"""Console sign-in: sessions in the store, looked up by the hash of the cookie.

Why in the store and not a signed cookie: a session must end at once when a person signs
out, is deactivated or changes role, on every API process, which a self-contained cookie
cannot do.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.config import Settings
from services.identity import passwords
from services.identity.models import Role, SigninFailure, Site, User, UserSession
from services.identity.principal import Principal

COOKIE = "svrr_session"
# The last-seen time is written at most this often: a board that refreshes every second
# must not turn every view into a write.
TOUCH_EVERY = timedelta(seconds=60)


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def zone_or_utc(name: str | None) -> str:
    try:
        ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return name or "UTC"


async def principal_of(session: AsyncSession, user: User, ip: str | None) -> Principal:
    zone = None
    if user.site:
        zone = await session.scalar(select(Site.time_zone).where(Site.code == user.site))
    return Principal(
        kind="user",
        id=user.id,
        name=user.display_name,
        role=Role(user.role),
        staff_id=user.staff_id,
        site=user.site,
        time_zone=zone_or_utc(zone),
        ip=ip,
    )


async def open_session(
    session: AsyncSession, user: User, ip: str | None, now: datetime, settings: Settings
) -> str:
    """A new random id at every sign-in (no fixation); returns the cookie value."""
    value = secrets.token_urlsafe(32)
    await session.execute(
        insert(UserSession).values(
            id_hash=_hash(value),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=settings.session_max_hours),
            ip=ip,
        )
    )
    return value


async def close_session(session: AsyncSession, cookie: str) -> None:
    await session.execute(delete(UserSession).where(UserSession.id_hash == _hash(cookie)))


async def close_sessions_of(session: AsyncSession, user_id: uuid.UUID) -> None:
    """A deactivated person, a new role or a new password: every open session ends."""
    await session.execute(delete(UserSession).where(UserSession.user_id == user_id))


async def lookup(
    session: AsyncSession, cookie: str, ip: str | None, now: datetime, settings: Settings
) -> Principal | None:
    row = (
        await session.execute(
            select(UserSession, User)
            .join(User, User.id == UserSession.user_id)
            .where(UserSession.id_hash == _hash(cookie))
        )
    ).first()
    if row is None:
        return None
    held, user = row
    idle = timedelta(minutes=settings.session_idle_minutes)
    if not user.active or now >= held.expires_at or now >= held.last_seen_at + idle:
        await session.execute(delete(UserSession).where(UserSession.id_hash == held.id_hash))
        return None
    if now - held.last_seen_at >= TOUCH_EVERY:
        await session.execute(
            update(UserSession).where(UserSession.id_hash == held.id_hash).values(last_seen_at=now)
        )
    return await principal_of(session, user, ip)


class Throttled(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"throttled for {retry_after_s} s")
        self.retry_after_s = retry_after_s


async def check_throttle(
    session: AsyncSession, username: str, ip: str, now: datetime, settings: Settings
) -> None:
    """Refuse before any password is checked when either the account or the address has
    failed too often in the window; raises Throttled with the seconds until it eases."""
    since = now - timedelta(minutes=settings.signin_window_minutes)
    recent = SigninFailure.at > since
    mine, here = SigninFailure.username == username, SigninFailure.ip == ip
    acc_n, acc_first, ip_n, ip_first = (
        await session.execute(
            select(
                func.count().filter(mine),
                func.min(SigninFailure.at).filter(mine),
                func.count().filter(here),
                func.min(SigninFailure.at).filter(here),
            ).where(recent, or_(mine, here))
        )
    ).one()
    window = timedelta(minutes=settings.signin_window_minutes)
    for count, first, limit in (
        (acc_n, acc_first, settings.signin_max_per_account),
        (ip_n, ip_first, settings.signin_max_per_address),
    ):
        if count >= limit and first is not None:
            raise Throttled(max(1, int((first + window - now).total_seconds()) + 1))


async def record_failure(session: AsyncSession, username: str, ip: str, now: datetime) -> None:
    """A wrong password, counted against the account name and the address (check_throttle)."""
    await session.execute(insert(SigninFailure).values(username=username, ip=ip, at=now))


async def sign_in(
    session: AsyncSession,
    username: str,
    password: str,
    ip: str,
    now: datetime,
    settings: Settings,
) -> User | None:
    """The user when the password matches an active account; a failure is counted against
    the account name and the address whether or not the name exists."""
    username = username.strip().lower()[:64]
    await check_throttle(session, username, ip, now, settings)
    user = await session.scalar(select(User).where(User.username == username))
    ok, rehash = passwords.verify(user.password_hash if user and user.active else None, password)
    if not ok or user is None:
        await record_failure(session, username, ip, now)
        return None
    if rehash:
        user.password_hash = passwords.rehash(password)
    await session.execute(
        delete(SigninFailure).where(
            SigninFailure.username == username, SigninFailure.at < now - timedelta(days=1)
        )
    )
    return user
