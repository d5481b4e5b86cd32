"""The tests' leak scan (tests.stack.leaked): a detail counts only as a word of its own."""

from __future__ import annotations

from tests.stack import leaked


def test_a_detail_inside_a_random_identifier_is_not_a_leak() -> None:
    assert leaked("Case C-FF0E4E: csrf 9a4e1b", ["4E"]) == []


def test_a_detail_as_a_word_is_found_in_any_case_and_punctuation() -> None:
    assert leaked("unit 4e.", ["4E"]) == ["4E"]
    assert leaked("(4E)", ["4E"]) == ["4E"]
    assert leaked("after a code_blue on 5 West", ["code_blue", "5 West", "death"]) == [
        "code_blue",
        "5 West",
    ]
