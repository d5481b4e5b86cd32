"""Sealing (services/sealing.py): what a stolen dump reads, and what a key mistake gets."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.config import Settings
from services.sealing import BadKeys, Keyring, SealError, new_key, parse_data_keys

K1, K2, LOOKUP = new_key(), new_key(), new_key()


def keys_from(**given: str) -> Keyring:
    """Settings with all four key settings named, so the environment's (make test exports
    DATA_KEYS_FILE and LOOKUP_KEY_FILE) never mix in."""
    names = ("data_keys", "data_keys_file", "lookup_key", "lookup_key_file")
    return Keyring.from_settings(Settings(**({n: "" for n in names} | given)))


def ring(data: str, lookup: str = LOOKUP, **more: str) -> Keyring:
    return keys_from(data_keys=data, lookup_key=lookup, **more)


OLD = ring(f"k1:{K1}")
NEW = ring(f"k2:{K2},k1:{K1}")


@given(st.text(max_size=300))
def test_what_is_sealed_opens_to_itself(plain: str) -> None:
    assert OLD.open(OLD.seal(plain, "messages.body"), "messages.body") == plain


def test_the_same_number_seals_differently_each_time_and_shows_nowhere() -> None:
    number = "+15550100123"
    a, b = OLD.seal(number, "pages.to_number"), OLD.seal(number, "pages.to_number")
    assert a != b
    assert number not in a and "5550100123" not in a
    assert a.startswith("v1.k1.")


def test_a_value_moved_to_another_column_does_not_open() -> None:
    sealed = OLD.seal("+15550100123", "pages.to_number")
    with pytest.raises(SealError, match="messages.to_number"):
        OLD.open(sealed, "messages.to_number")


def test_an_altered_value_does_not_open_and_the_error_holds_no_value() -> None:
    sealed = OLD.seal("I cannot go on", "inbound_sms.body")
    head, payload = sealed.rsplit(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(payload))
    raw[-1] ^= 1
    with pytest.raises(SealError) as err:
        OLD.open(f"{head}.{base64.urlsafe_b64encode(bytes(raw)).decode()}", "inbound_sms.body")
    assert "cannot" not in str(err.value)


def test_plaintext_in_a_sealed_column_is_an_error_not_a_value() -> None:
    with pytest.raises(SealError, match="not a sealed value"):
        OLD.open("+15550100123", "staff.mobile_e164")


def test_after_rotation_old_values_open_and_new_ones_use_the_new_key() -> None:
    old = OLD.seal("Dana", "messages.body")
    assert NEW.open(old, "messages.body") == "Dana"
    assert NEW.key_id(NEW.seal("Dana", "messages.body")) == "k2"
    # Once the old key is dropped, what it sealed no longer opens: rotate first.
    with pytest.raises(SealError, match="no longer lists"):
        ring(f"k2:{K2}").open(old, "messages.body")


def test_a_lookup_is_the_same_for_the_same_number_and_depends_on_the_key() -> None:
    assert OLD.lookup("+15550100123") == NEW.lookup("+15550100123")  # same lookup key
    assert OLD.lookup("+15550100123") != OLD.lookup("+15550100124")
    assert ring(f"k1:{K1}", new_key()).lookup("+15550100123") != OLD.lookup("+15550100123")
    assert len(OLD.lookup("+15550100123")) == 64


@pytest.mark.parametrize(
    ("data", "lookup", "message"),
    [
        ("", LOOKUP, "DATA_KEYS .* is not set"),
        (f"k1:{K1}", "", "LOOKUP_KEY .* is not set"),
        ("k1:not base64!", LOOKUP, "not base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", LOOKUP, "5 bytes, a key is 32"),
        (f"k1:{K1},k1:{K2}", LOOKUP, "listed twice"),
        (K1, LOOKUP, "expected id:base64"),
        (f"a key with spaces:{K1}", LOOKUP, "expected id:base64"),
        (f"k1:{K1}", K1, "must not be one of the data keys"),
    ],
)
def test_every_key_mistake_stops_with_what_to_fix(data: str, lookup: str, message: str) -> None:
    with pytest.raises(BadKeys, match=message):
        ring(data, lookup)


def test_keys_come_from_files_too(tmp_path) -> None:
    data, lookup = tmp_path / "data-keys", tmp_path / "lookup-key"
    data.write_text(f"# newest first\nk2:{K2}\nk1:{K1}\n")
    lookup.write_text(LOOKUP + "\n")
    keys = keys_from(data_keys_file=str(data), lookup_key_file=str(lookup))
    assert keys.current == "k2" and keys.lookup("+1555") == OLD.lookup("+1555")
    with pytest.raises(BadKeys, match="not both"):
        ring(f"k1:{K1}", LOOKUP, data_keys_file=str(data))
    with pytest.raises(BadKeys, match="cannot be read"):
        keys_from(data_keys_file=str(tmp_path / "missing"), lookup_key=LOOKUP)


def test_parse_keeps_the_order_given() -> None:
    assert [k for k, _ in parse_data_keys(f"b:{K2}, a:{K1}", "DATA_KEYS")] == ["b", "a"]
