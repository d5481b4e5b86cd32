"""People who sign in: created by an administrator (or the bootstrap), never self-registered."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.config import Settings
from services.identity import passwords, sessions, tokens
from services.identity.models import USER_ROLES, Role, Site, User
from services.people.models import PeerSupporter, Staff


class UserRefused(ValueError):
    """A user that cannot be made as asked; `field` names what to correct."""

    def __init__(self, field: str, why: str) -> None:
        super().__init__(why)
        self.field = field


def generated_password() -> str:
    """Four random words' worth of entropy in a form people can type on a phone."""
    return "-".join(secrets.token_urlsafe(6) for _ in range(3))


NOT_A_PERSON = "a hospital feed holds a token; it is not a person who signs in"


async def create_user(
    session: AsyncSession,
    *,
    username: str,
    display_name: str,
    role: Role,
    password: str,
    staff_id: str | None = None,
    site: str | None = None,
) -> User:
    username = username.strip().lower()
    if (
        not username
        or len(username) > 64
        or not username.replace(".", "")
        .replace("-", "")
        .replace("_", "")
        .replace("@", "")
        .isalnum()
    ):
        raise UserRefused("username", "1 to 64 letters, digits, '.', '-', '_' or '@'")
    if role not in USER_ROLES:
        raise UserRefused("role", NOT_A_PERSON)
    if not display_name.strip() or len(display_name) > 120:
        raise UserRefused("display_name", "1 to 120 characters")
    if await session.scalar(select(User.id).where(User.username == username)):
        raise UserRefused("username", "already taken")
    if role is Role.peer:
        if not staff_id:
            raise UserRefused("staff_id", "a peer supporter is linked to their staff record")
        if await session.get(PeerSupporter, staff_id) is None:
            raise UserRefused("staff_id", "not on the peer roster")
    elif staff_id and await session.get(Staff, staff_id) is None:
        raise UserRefused("staff_id", "no such staff member")
    if staff_id and await session.scalar(select(User.id).where(User.staff_id == staff_id)):
        raise UserRefused("staff_id", "already has an account")
    if site and await session.get(Site, site) is None:
        raise UserRefused("site", "no such site")
    try:
        hashed = passwords.hash_password(password)
    except passwords.WeakPassword as exc:
        raise UserRefused("password", str(exc)) from exc
    user = User(
        id=uuid.uuid4(),
        username=username,
        display_name=display_name.strip(),
        role=role.value,
        staff_id=staff_id or None,
        site=site or None,
        password_hash=hashed,
        active=True,
    )
    session.add(user)
    await session.flush()
    return user


async def set_password(session: AsyncSession, user: User, password: str, now: datetime) -> None:
    try:
        user.password_hash = passwords.hash_password(password)
    except passwords.WeakPassword as exc:
        raise UserRefused("password", str(exc)) from exc
    user.updated_at = now
    await sessions.close_sessions_of(session, user.id)


async def change_own_password(
    session: AsyncSession,
    user_id: uuid.UUID,
    current: str,
    new: str,
    ip: str,
    now: datetime,
    settings: Settings,
) -> User | None:
    """A person's own new password, given their current one; None when the current one is
    wrong (the failure is recorded: commit it), UserRefused for a new one that will not do.

    Why ask for the current one: a session left open on a ward computer must not let a
    passer-by take the account over. A wrong current password counts against the account
    and the address exactly as a failed sign-in does (and is throttled with them), so an
    open session is no way around the sign-in throttle. Every session of the person ends,
    this one too: the caller opens a new one for the browser that made the change.
    """
    user = await session.get(User, user_id, with_for_update=True)
    if user is None or not user.active:
        raise UserRefused("current", "this account is no longer active")
    await sessions.check_throttle(session, user.username, ip, now, settings)
    ok, _ = passwords.verify(user.password_hash, current)
    if not ok:
        await sessions.record_failure(session, user.username, ip, now)
        return None
    if new == current:
        raise UserRefused("new", "choose a password other than the one you have")
    try:
        await set_password(session, user, new, now)
    except UserRefused as exc:
        raise UserRefused("new", str(exc)) from exc
    return user


async def set_access(
    session: AsyncSession, user: User, *, role: Role, active: bool, now: datetime
) -> None:
    """A change of role or a deactivation ends the person's sessions at once."""
    if role not in USER_ROLES:
        raise UserRefused("role", NOT_A_PERSON)
    if role is Role.peer and not user.staff_id:
        raise UserRefused("role", "a peer supporter must be linked to their staff record")
    if role.value != user.role or active != user.active:
        user.role, user.active, user.updated_at = role.value, active, now
        await sessions.close_sessions_of(session, user.id)


async def bootstrap(session: AsyncSession, settings: Settings) -> list[str]:
    """What the environment may still decide: the first administrator, and integration
    tokens the store has not yet seen. Returns what it did, for the terminal."""
    done: list[str] = []
    for token in settings.api_token_set:
        if await tokens.adopt(session, token, "bootstrap risk management", Role.risk_manager):
            done.append("integration token adopted (risk_manager)")
    for token in settings.admin_token_set:
        if await tokens.adopt(session, token, "bootstrap coordinator", Role.coordinator):
            done.append("integration token adopted (coordinator)")
    for token in settings.feed_token_set:
        if await tokens.adopt(session, token, "bootstrap hospital feed", Role.feed):
            done.append("integration token adopted (feed)")
    name, password = settings.bootstrap_admin_username, settings.bootstrap_admin_password
    if name and password:
        has_admin = await session.scalar(
            select(User.id).where(User.role == Role.admin.value, User.active).limit(1)
        )
        if has_admin is None:
            existing = await session.scalar(select(User).where(User.username == name.lower()))
            if existing is None:
                await create_user(
                    session,
                    username=name,
                    display_name="Administrator",
                    role=Role.admin,
                    password=password,
                )
            else:
                await session.execute(
                    update(User)
                    .where(User.id == existing.id)
                    .values(role=Role.admin.value, active=True)
                )
            done.append(f"administrator {name.lower()} created")
    return done
