"""Password hashing with argon2id (argon2-cffi), the OWASP-recommended memory-hard hash.

Why a policy of length only: NIST SP 800-63B asks for length and a check against common
passwords, not composition rules, which push people to predictable patterns.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()
MIN_LENGTH = 12
MAX_LENGTH = 256
_COMMON = frozenset(
    {
        "password1234",
        "passwordpassword",
        "123456789012",
        "qwertyuiopas",
        "letmeinletmein",
        "welcome12345",
        "changemechangeme",
        "hospital1234",
    }
)
# Verified when the username is unknown, so a wrong name costs as long as a wrong password
# and the timing does not tell which names exist.
_DUMMY = _hasher.hash("not a password anyone has")


class WeakPassword(ValueError):
    pass


def check_policy(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"at most {MAX_LENGTH} characters")
    if password.lower() in _COMMON or len(set(password)) < 4:
        raise WeakPassword("too easy to guess; a few unrelated words make a good password")


def hash_password(password: str) -> str:
    check_policy(password)
    return _hasher.hash(password)


def rehash(password: str) -> str:
    """A known-good password under today's parameters (no policy check: it already
    passed the policy of its day, and refusing a sign-in over it would lock people out)."""
    return _hasher.hash(password)


def verify(stored: str | None, password: str) -> tuple[bool, bool]:
    """(matches, needs a new hash): parameters raised since it was made are applied at the
    next successful sign-in."""
    if stored is None:
        try:
            _hasher.verify(_DUMMY, password)
        except VerificationError:
            pass
        return False, False
    try:
        _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, False
    return True, _hasher.check_needs_rehash(stored)
