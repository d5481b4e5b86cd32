"""A refusal never carries back what was sent (services.api._unechoed), and cuts out only the
value itself: an input of 0 turned the message's own example date "2026-..." into
"2the value given26-..." (found by the fuzzing)."""

from __future__ import annotations

from services.api import _unechoed


def test_the_value_sent_is_cut_out_quoted_or_bare() -> None:
    err = {"input": "Jane Smith"}
    assert _unechoed("'Jane Smith' is not a whole number", err) == (
        "the value given is not a whole number"
    )
    assert _unechoed("unable to parse Jane Smith as a date", err) == (
        "unable to parse the value given as a date"
    )


def test_a_value_inside_another_word_or_number_is_left_alone() -> None:
    msg = "give a time as a date-time, e.g. 2026-11-30T02:10:00Z"
    assert _unechoed(msg, {"input": 0}) == msg
    assert _unechoed("0 is not allowed", {"input": 0}) == "the value given is not allowed"
