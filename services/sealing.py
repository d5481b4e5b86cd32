"""Phone numbers and what people write, sealed in the store.

Why at the application layer: the database's own files, its backups, a replica, a dump
taken for a bug report and a query by anyone with a read role all hold ciphertext. Only a
process holding the data keys reads a number or a reply. Disk encryption protects none of
those.

- **Sealed** values use AES-256-GCM (pyca `cryptography`) with a fresh 96-bit nonce each
  time, so sealing the same number twice gives two different values. The column's name is
  the associated data, so a value copied into another column fails to open instead of
  reading as that column's.
- **Lookup** values serve search by number (an inbound SMS finds its sender, an opt-out
  finds its number). Randomised encryption cannot be searched, so each sealed number has
  beside it an HMAC-SHA256 of the number under a separate lookup key. Without the key, it
  says only which rows share a number. With it, the ten billion numbers of a country can be
  hashed in hours, so the lookup key is as secret as the data keys.

A sealed value reads `v1.<key id>.<base64url(nonce | ciphertext | tag)>`: the key id lets
keys rotate without a flag day (docs/data-at-rest.md). DATA_KEYS lists `id:base64` keys,
newest first. The first seals; every key listed opens. `svrr keys rotate` reseals
everything still under an older key, and recomputes every lookup value under the current
lookup key.

ORM columns typed Sealed or Lookup seal, open and hash by themselves. Raw SQL (the hot
paths' set-based statements) calls the keyring itself: `keyring_of(session)`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import BindParameter, Text, bindparam, event
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.types import TypeDecorator

from services.config import Settings, get_settings

VERSION = "v1"
KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
NONCE_BYTES = 12
KEY_BYTES = 32
# A lookup value: the hex of an HMAC-SHA256.
LOOKUP_PATTERN = re.compile(r"^[0-9a-f]{64}$")


class BadKeys(ValueError):
    """The keys configured cannot be used: said at start, never at the first SMS."""


class SealError(ValueError):
    """A stored value does not open: not sealed, sealed under a key we no longer hold, or
    altered. Never carries the value itself: the message reaches logs."""


def new_key() -> str:
    """A fresh random 256-bit key, base64: what `svrr keys new` prints."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


def _key_bytes(text: str, where: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise BadKeys(f"{where}: not base64") from None
    if len(raw) != KEY_BYTES:
        raise BadKeys(f"{where}: {len(raw)} bytes, a key is {KEY_BYTES} (svrr keys new)")
    return raw


def parse_data_keys(text: str, where: str) -> list[tuple[str, bytes]]:
    """`id:base64` entries separated by commas or lines, newest first."""
    keys: list[tuple[str, bytes]] = []
    entries = [e.strip() for e in re.split(r"[,\n]", text) if e.strip() and not e.startswith("#")]
    for n, entry in enumerate(entries, 1):
        kid, sep, material = entry.partition(":")
        if not sep or not KEY_ID.match(kid):
            raise BadKeys(
                f"{where}, key {n}: expected id:base64 with an id of 1-16 letters, digits, _ or -"
            )
        if any(kid == k for k, _ in keys):
            raise BadKeys(f"{where}: key id {kid!r} is listed twice")
        keys.append((kid, _key_bytes(material, f"{where}, key {kid!r}")))
    if not keys:
        raise BadKeys(f"{where}: no key")
    return keys


def _read(value: str, file: str, name: str) -> tuple[str, str]:
    """The setting's text and where it came from; exactly one of the two must be set."""
    if value and file:
        raise BadKeys(f"set {name} or {name}_FILE, not both")
    if file:
        try:
            return Path(file).read_text(), f"{name}_FILE"
        except OSError as exc:
            raise BadKeys(f"{name}_FILE cannot be read: {exc.strerror}") from None
    if value:
        return value, name
    raise BadKeys(
        f"{name} (or {name}_FILE) is not set: phone numbers and replies are sealed in the store "
        "and no process may run without its keys (svrr keys new makes one)"
    )


@dataclass(frozen=True)
class Keyring:
    """The data keys (newest first) and the lookup key of one deployment."""

    data: tuple[tuple[str, bytes], ...]
    lookup_key: bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> Keyring:
        text, where = _read(settings.data_keys, settings.data_keys_file, "DATA_KEYS")
        data = parse_data_keys(text, where)
        text, where = _read(settings.lookup_key, settings.lookup_key_file, "LOOKUP_KEY")
        lookup = _key_bytes(text, where)
        if any(lookup == material for _, material in data):
            raise BadKeys("LOOKUP_KEY must not be one of the data keys")
        return cls(tuple(data), lookup)

    @property
    def current(self) -> str:
        return self.data[0][0]

    def _aead(self, kid: str) -> AESGCM:
        return _aead(self, kid)

    def seal(self, plaintext: str, column: str) -> str:
        kid = self.current
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead(kid).encrypt(nonce, plaintext.encode(), column.encode())
        return f"{VERSION}.{kid}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def key_id(self, sealed: str) -> str:
        """The id of the key a value was sealed under (what rotation asks of a row)."""
        version, _, rest = sealed.partition(".")
        kid, _, _ = rest.partition(".")
        if version != VERSION or not kid:
            raise SealError(f"not a sealed value of version {VERSION}")
        return kid

    def open(self, sealed: str, column: str) -> str:
        kid = self.key_id(sealed)
        if all(kid != k for k, _ in self.data):
            raise SealError(f"sealed under key {kid!r}, which DATA_KEYS no longer lists")
        try:
            raw = base64.urlsafe_b64decode(sealed.rsplit(".", 1)[1])
            plain = self._aead(kid).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], column.encode())
        except (binascii.Error, ValueError, InvalidTag):
            raise SealError(f"a value in {column} does not open under key {kid!r}") from None
        return plain.decode()

    def lookup(self, number: str) -> str:
        """The searchable keyed hash of a number: equal numbers, equal values."""
        return hmac.new(self.lookup_key, number.encode(), hashlib.sha256).hexdigest()

    def by_lookup(self, numbers: Iterable[str | None]) -> dict[str, str]:
        """Each number's lookup value, to the number (None skipped: a purged row's): what a
        statement that asks by lookup value answers is mapped back through it."""
        return {self.lookup(n): n for n in set(numbers) if n is not None}


@lru_cache(maxsize=64)
def _aead(keyring: Keyring, kid: str) -> AESGCM:
    return AESGCM(dict(keyring.data)[kid])


@lru_cache(maxsize=1)
def default_keyring() -> Keyring:
    return Keyring.from_settings(get_settings())


def keyring_for(dialect: Dialect) -> Keyring:
    """The keyring of an engine: one attached (attach), or the deployment's own."""
    attached: Keyring | None = getattr(dialect, "svrr_keyring", None)
    return attached if attached is not None else default_keyring()


def attach(engine: Any, keyring: Keyring) -> None:
    """Give one engine (sync or async) its own keys: a test, or `svrr keys rotate` opening
    with the old keys what it reseals with the new."""
    sync = getattr(engine, "sync_engine", engine)
    sync.dialect.svrr_keyring = keyring


def keyring_of(session: AsyncSession) -> Keyring:
    """For raw SQL: the keys of the engine the session runs on."""
    bind = session.bind
    sync = getattr(bind, "sync_engine", bind)
    return keyring_for(sync.dialect)


class Sealed(TypeDecorator[str]):
    """A text column stored sealed under `column`'s name (table.column)."""

    impl = Text
    cache_ok = True

    def __init__(self, column: str) -> None:
        super().__init__()
        self.column = column

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else keyring_for(dialect).seal(value, self.column)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else keyring_for(dialect).open(value, self.column)


class Lookup(TypeDecorator[str]):
    """A number's keyed hash. Bound values are numbers (hashed on the way in), so a query
    reads `Staff.mobile_key == number`; read back, it is the hash."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else keyring_for(dialect).lookup(value)


def as_stored(lookup: str) -> BindParameter[str]:
    """A lookup value already computed, compared as stored (a Lookup column would hash a
    plain bound value again)."""
    return bindparam(None, lookup, type_=Text)


# (table, sealed number column) -> its lookup column, as the models pair them (mirror).
LOOKUP_OF: dict[tuple[str, str], str] = {}


def mirror(number: InstrumentedAttribute[Any], key: InstrumentedAttribute[Any]) -> None:
    """Whatever sets a mapped object's number sets its lookup value too (the Lookup type
    hashes it at flush), so no constructor or renumbering can leave the two apart."""

    def copy(target: object, value: str | None, _old: object, _initiator: object) -> None:
        setattr(target, key.key, value)

    event.listen(number, "set", copy)
    LOOKUP_OF[(number.class_.__table__.name, number.key)] = key.key
