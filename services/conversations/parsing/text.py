"""A reply folded to plain words, and the phrase lists compiled against the same folding.

Every phrase list in this package is written in plain forms ("dont", "im", "ok"): a reply and a
phrase are folded by the same rules, so "I don't", "I dont" and "i do not" match one phrase.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_APOSTROPHES = str.maketrans("", "", "'\u2019\u2018\u02bc`\u00b4")
_TRIPLED = re.compile(r"([a-z])\1{2,}")


def _fold(text: str) -> str:
    """Phones send curly apostrophes, accents and full-width letters: fold all to plain ASCII.

    Apostrophes are dropped rather than spaced, so "can't", "can’t" and "cant" become one word.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return plain.lower().translate(_APOSTROPHES)


def fold_case_kept(text: str) -> str:
    """Folded like a reply but with its capitals: a name is found by its capital letter."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).translate(_APOSTROPHES)


# Applied in order to the folded reply; the phrase lists are written in the plain forms.
_REWRITES: tuple[tuple[str, str], ...] = (
    (r"\b(?:i m|iam|i am)\b", "im"),
    (r"\b(?:can not|cannot|cnt|carnt)\b", "cant"),
    (r"\b(?:do not|dnt)\b", "dont"),
    (r"\bwill not\b", "wont"),
    (r"\b(?:i will)\b", "ill"),
    (r"\b(?:i would)\b", "id"),
    (r"\b(?:all right|alrite|aight)\b", "alright"),
    (r"\b(?:okay|okey|okie|okk|kk|k)\b", "ok"),
    (r"\b(?:pls|plz|plse|pleas)\b", "please"),
    (r"\b(?:thank you|thankyou|thanx|thx|ty|cheers|ta)\b", "thanks"),
    (r"\b(?:wanna|wana)\b", "want to"),
    (r"\btil\b", "till"),
    (r"\b(?:gonna|gna)\b", "going to"),
    (r"\brn\b", "right now"),
    (r"\b(?:txt|tx)\b", "text"),
    (r"\bb4\b", "before"),
    (r"\b(?:sry|soz)\b", "sorry"),
    (r"\b(?:yeah|yea|yep|yup|ya|yah|yeh|yess|yas|aye|y)\b", "yes"),
    (r"\b(?:nope|nah|nay|n)\b", "no"),
    (r"\blets\b", "let us"),
)
_COMPILED_REWRITES = tuple((re.compile(p), r) for p, r in _REWRITES)


def normalise_reply(text: str, *, meridiem: bool) -> str:
    """Lower-case words, numbers and times, with ',' '.' '!' '?' kept as a clause mark '|'.

    Clause marks stop a phrase from spanning "no, call me" (an accept) as if it said "no call".
    "7 a.m." always becomes "7am"; `meridiem` also reads "6p" as "6pm", which for a peer would
    swallow the code "6P".
    """
    t = _fold(text).replace("@", " at ").replace("&", " and ")
    t = re.sub(r"(\d)\s*([ap])\.?\s?m\b\.?", r"\1\2m", t)
    if meridiem:
        t = re.sub(r"\b(\d{1,2}(?::\d{2})?)([ap])\b", r"\1\2m", t)
        t = re.sub(r"\b(\d{1,2})\s*(?:o\s*clock|oclock)\b", r"\1 oclock", t)
        t = re.sub(r"\b(\d{1,2}(?:[:.]\d{2})?(?:am|pm)?)ish\b", r"\1 ish", t)
    t = re.sub(r"(?<!\d)[.:]|[.:](?!\d)", " | ", t)  # a '.' or ':' not inside "6.30"
    t = re.sub(r"[,;!?\n]+", " | ", t)
    t = re.sub(r"[^a-z0-9:.| ]+", " ", t)
    t = _TRIPLED.sub(r"\1", t)
    for pattern, replacement in _COMPILED_REWRITES:
        t = pattern.sub(replacement, t)
    words = t.split()
    out: list[str] = []
    for w in words:
        if w == "|" and (not out or out[-1] == "|"):
            continue
        out.append(w)
    while out and out[-1] == "|":
        out.pop()
    return " ".join(out)


def _phrase_regex(phrase: str) -> str:
    """A listed phrase as a whole-word pattern; "..." stands for up to three other words."""
    parts = []
    for chunk in phrase.split("..."):
        words = normalise_reply(chunk, meridiem=False).replace("|", " ").split()
        if words:
            parts.append(r"\s".join(re.escape(w) for w in words))
    return r"(?<![\w|])" + r"(?:\s[a-z0-9]+){0,3}\s".join(parts) + r"(?![\w|])"


def phrase_group(phrases: Iterable[str]) -> re.Pattern[str]:
    """Longest first, so "no need to talk" is taken whole before "talk" could be."""
    ordered = sorted(phrases, key=lambda p: len(p.split()), reverse=True)
    return re.compile("|".join(_phrase_regex(p) for p in ordered))


def plain_forms(words: Iterable[str]) -> set[str]:
    """Listed words as a folded reply spells them, for membership tests on its words."""
    return {normalise_reply(w, meridiem=False) for w in words}
