"""What every feed adapter's tests check the same way: the sample files, and that no patient
detail from a sample reaches a record, a refusal or an answer."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from services.feeds.record import FeedRefused

SAMPLES = Path(__file__).resolve().parents[2] / "services" / "feeds" / "samples"


def sample(source: str, name: str) -> bytes:
    return (SAMPLES / source / name).read_bytes()


def phi_in(text: str, phi: Iterable[str]) -> list[str]:
    """The patient details found anywhere in `text`, ignoring case: a substring, not a
    word, so a detail glued to other text is found too."""
    folded = text.casefold()
    return [item for item in phi if item.casefold() in folded]


def assert_no_phi(text: str, phi: Iterable[str]) -> None:
    leaked = phi_in(text, phi)
    assert not leaked, f"patient data leaked: {leaked}"


def refusal(call: Callable[[], object], phi: Iterable[str]) -> FeedRefused:
    """The refusal `call` raises, checked for patient details in its text and problems."""
    with pytest.raises(FeedRefused) as caught:
        call()
    assert_no_phi(str(caught.value), phi)
    assert_no_phi(repr(caught.value.problems), phi)
    return caught.value
