"""Reply codes: the lowest code free on a number, found without scanning from 1 each time."""

from __future__ import annotations

import random

from services.paging.codes import Codes, next_code


def test_next_code_is_the_lowest_free_code() -> None:
    used = Codes({"1", "2", "4"})
    assert [next_code(used) for _ in range(3)] == ["3", "5", "6"]
    assert next_code(set()) == "1"  # a plain set works too


def test_a_code_given_back_is_handed_out_again() -> None:
    used = Codes()
    assert [next_code(used) for _ in range(5)] == ["1", "2", "3", "4", "5"]
    used.discard("2")
    assert next_code(used) == "2"
    used -= {"1", "3"}
    assert next_code(used) == "1"


def test_codes_agree_with_a_plain_set_whatever_is_added_and_removed() -> None:
    rng = random.Random(11)
    for _ in range(500):
        base = {str(rng.randint(1, 30)) for _ in range(rng.randint(0, 25))}
        fast, plain = Codes(base), set(base)
        for _ in range(40):
            roll = rng.random()
            if roll < 0.6:
                assert next_code(fast) == next_code(plain)
            elif roll < 0.8:
                code = str(rng.randint(1, 40))
                fast.discard(code)
                plain.discard(code)
            else:
                gone = {str(rng.randint(1, 40)) for _ in range(3)}
                fast -= gone
                plain -= gone
        assert fast == plain


def test_thousands_of_open_pages_on_one_number_stay_cheap() -> None:
    used = Codes()
    codes = [next_code(used) for _ in range(20_000)]
    assert codes[-1] == "20000" and used.floor == 20_001
