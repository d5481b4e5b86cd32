"""Steps 2 and 3: idiomatic frames removed, then the patterns read; the public questions.

Negation is never read as reassurance (see the package docstring): no step sets a crisis
pattern aside because a "not" stands before it.
"""

from __future__ import annotations

import re

from services.conversations.crisis.frames import (
    ABOUT_OTHERS_PATTERNS,
    DISTRESS_PATTERNS,
    IDIOM_PATTERNS,
)
from services.conversations.crisis.language import compile_patterns
from services.conversations.crisis.normalisation import normalise
from services.conversations.crisis.patterns import CRISIS_PATTERNS

_CRISIS_RE: dict[str, re.Pattern[str]] = {
    name: compile_patterns(group) for name, group in CRISIS_PATTERNS.items()
}
_CRISIS_ANY = compile_patterns(tuple(p for group in CRISIS_PATTERNS.values() for p in group))
_IDIOM_RE = compile_patterns(IDIOM_PATTERNS, frame=True)
_ABOUT_OTHERS_RE = compile_patterns(ABOUT_OTHERS_PATTERNS, frame=True)
_DISTRESS_RE = compile_patterns(DISTRESS_PATTERNS)


def _blank(regex: re.Pattern[str], normal: str) -> str:
    """Each frame's own words become '_' (one per word, so gaps still measure distance); the
    words in its gaps stay. "I took a handful of tablets, dead tired" once lost its tablets to a
    "tablet ... dead" frame that reached across the comma: a frame is one clause, and the words
    between its parts are not its own."""

    def own_words_blanked(m: re.Match[str]) -> str:
        start = m.start()
        kept = [m.span(i) for i in range(1, (m.re.groups or 0) + 1) if m.start(i) != -1]
        out: list[str] = []
        for word in re.finditer(r"\S+", m.group()):
            at = start + word.start()
            inside_gap = any(a <= at < b for a, b in kept)
            out.append(word.group() if inside_gap else "_")
        return " ".join(out)

    return regex.sub(own_words_blanked, normal)


def _without_idioms(normal: str) -> str:
    return _blank(_ABOUT_OTHERS_RE, _blank(_IDIOM_RE, normal))


def idiom_words(text: str) -> frozenset[str]:
    """The words of a reply that sit inside a known idiomatic frame ("phone about to die",
    "dead keen"), in canonical form: ordinary speech a reply parser may treat as explained."""
    normal = normalise(text)
    return frozenset(w for m in _IDIOM_RE.finditer(normal) for w in m.group().split())


def crisis_signs(text: str) -> list[str]:
    """The warning-sign groups a reply matches (empty: none); for review and the benchmark."""
    normal = _without_idioms(normalise(text))
    return [name for name, regex in _CRISIS_RE.items() if regex.search(normal)]


def signals_crisis(text: str) -> bool:
    """True when a reply shows any sign of crisis; false alarms are accepted, misses are not."""
    return _CRISIS_ANY.search(_without_idioms(normalise(text))) is not None


def signals_distress(text: str) -> bool:
    """True when a reply shows distress (or crisis): a person a coordinator should look at.

    The same idiom frames are removed first: "that cake was to die for" is nobody's distress.
    """
    normal = _blank(_IDIOM_RE, normalise(text))
    if _DISTRESS_RE.search(normal) or _ABOUT_OTHERS_RE.search(normal):
        return True
    return signals_crisis(text)
