"""Step 1: a reply as the patterns read it (lemmas, plain spellings, '|' for punctuation).

Case, accents and apostrophes are folded, stretched letters squeezed, texting forms expanded,
one typo corrected towards the crisis vocabulary only, and inflections reduced to the lemmas
the patterns name. The lexicon is built from the patterns' own words, so a word the patterns
use is never "corrected" into another.
"""

from __future__ import annotations

import re
import unicodedata

from services.conversations.crisis.frames import (
    ABOUT_OTHERS_PATTERNS,
    DISTRESS_PATTERNS,
    IDIOM_PATTERNS,
)
from services.conversations.crisis.patterns import CRISIS_PATTERNS
from services.conversations.crisis.slots import SLOTS
from services.conversations.crisis.vocabulary import (
    COMMON_WORDS,
    FUZZY_EXCLUDED,
    IRREGULAR,
    LEMMAS,
    TEXTING,
)

_APOSTROPHES = str.maketrans("", "", "'\u2019\u2018\u02bc`\u00b4")
_PAUSE = "|"


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return plain.lower().translate(_APOSTROPHES)


_TOKEN = re.compile(r"[a-z0-9]+|[^a-z0-9\s]+")
_HYPHEN = re.compile(r"(?<=[a-z0-9])[-_/](?=[a-z0-9])")
_TRIPLE = re.compile(r"([a-z])\1{2,}")


_OD_PAST = re.compile(r"\bo\.?d\.?['\u2019]d\b", re.IGNORECASE)


def _raw_tokens(text: str) -> list[str]:
    """Words, with _PAUSE where punctuation or an emoji stood ("self-harm" is two words)."""
    folded = _HYPHEN.sub(" ", _fold(_OD_PAST.sub("od", text)))
    return [t if t[0].isalnum() else _PAUSE for t in _TOKEN.findall(folded)]


def _squeeze(word: str) -> str:
    return re.sub(r"(.)\1+", r"\1", word)


def _within_one_edit(a: str, b: str) -> bool:
    """One insertion, deletion, substitution or swap of neighbours: the typos thumbs make."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diffs) == 1:
            return True
        i, j = diffs[0], diffs[-1]
        return len(diffs) == 2 and j == i + 1 and a[i] == b[j] and a[j] == b[i]
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1 :]


def _suffix_candidates(word: str) -> list[str]:
    """Possible lemmas of a regular inflection, most likely first."""
    out: list[str] = []
    if word.endswith("ying") and len(word) > 5:
        out.append(word[:-4] + "ie")
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            base = word[: -len(suffix)]
            out += [base, base + "e"]
            if len(base) > 2 and base[-1] == base[-2]:
                out.append(base[:-1])  # "cutting", "planned"
    if word.endswith("ies") and len(word) > 4:
        out.append(word[:-3] + "y")
    if word.endswith("es") and len(word) > 3:
        out.append(word[:-2])
    if word.endswith("s") and len(word) > 3 and not word.endswith("ss"):
        out.append(word[:-1])
    if word.endswith("ied") and len(word) > 4:
        out.append(word[:-3] + "y")
    return out


class _Lexicon:
    """Maps one token to the word the patterns use: lemma, texting form, typo, stretching."""

    def __init__(self, pattern_words: set[str], crisis_words: set[str]) -> None:
        self.known = pattern_words | set(LEMMAS) | set(IRREGULAR.values()) | COMMON_WORDS
        self.cache: dict[str, str] = {}
        self.squeezed: dict[str, str] = {}
        for w in sorted(self.known):
            if len(w) >= 3:
                self.squeezed.setdefault(_squeeze(w), w)
        self.fuzzy_targets = [w for w in crisis_words if len(w) >= 5]
        self.by_deletion: dict[str, list[str]] = {}
        for w in self.fuzzy_targets:
            for key in {w} | {w[:i] + w[i + 1 :] for i in range(len(w))}:
                self.by_deletion.setdefault(key, []).append(w)

    def lemma(self, word: str) -> str:
        if word in IRREGULAR:
            return IRREGULAR[word]
        if word in LEMMAS:
            return word
        for candidate in _suffix_candidates(word):
            if candidate in LEMMAS:
                return candidate
        return word

    def canon(self, word: str) -> str:
        found = self.cache.get(word)
        if found is None:
            found = self._canon(word)
            if len(self.cache) < 50_000:  # bounded: replies are short, words repeat
                self.cache[word] = found
        return found

    def _canon(self, word: str) -> str:
        lemma = self.lemma(word)
        if lemma in self.known or lemma != word or word.isdigit():
            return lemma
        # A dropped g: "endin", "wakin", "thinkin", "lookin".
        if word.endswith("in") and len(word) > 4:
            lemma = self.lemma(word + "g")
            if lemma != word + "g" or lemma in self.known:
                return lemma
        # Stretched letters: "killlll" -> "kill", "dieeee" -> "die", "soooo" -> "so".
        if _TRIPLE.search(word):
            for shorter in (_TRIPLE.sub(r"\1\1", word), _TRIPLE.sub(r"\1", word)):
                if shorter in TEXTING:
                    return shorter
                lemma = self.lemma(shorter)
                if lemma in self.known:
                    return lemma
        squeezed = _squeeze(word)
        if len(squeezed) >= 3 and squeezed in self.squeezed and word not in FUZZY_EXCLUDED:
            return self.squeezed[squeezed]
        if len(word) >= 6 and word not in FUZZY_EXCLUDED:
            keys = {word} | {word[:i] + word[i + 1 :] for i in range(len(word))}
            for key in keys:
                for target in self.by_deletion.get(key, ()):
                    if target[0] == word[0] and _within_one_edit(word, target):
                        return self.lemma(target)
        return word


_TEXTING_PAIRS = {tuple(k.split()): tuple(v.split()) for k, v in TEXTING.items() if " " in k}
_TEXTING_ONE = {k: tuple(v.split()) for k, v in TEXTING.items() if " " not in k}


def _texting_key(word: str) -> str:
    """The word as TEXTING lists it, allowing stretched letters ("kmsss", "wannaaa")."""
    if word in _TEXTING_ONE or not _TRIPLE.search(word):
        return word
    for shorter in (_TRIPLE.sub(r"\1\1", word), _TRIPLE.sub(r"\1", word)):
        if shorter in _TEXTING_ONE:
            return shorter
    return word


def expand_texting(words: list[str]) -> list[str]:
    """Texting forms to plain words; a fixed pair ("can not", "self harm") first."""
    out: list[str] = []
    i = 0
    while i < len(words):
        pair = tuple(words[i : i + 2])
        if len(pair) == 2 and pair in _TEXTING_PAIRS:
            out.extend(_TEXTING_PAIRS[pair])
            i += 2
            continue
        w = _texting_key(words[i])
        out.extend(_TEXTING_ONE.get(w, (w,)))
        i += 1
    return out


def _crisis_words() -> set[str]:
    """The vocabulary a typo may be corrected towards: the crisis patterns' own words."""
    text = (
        " ".join(SLOTS.values())
        + " "
        + " ".join(p for group in CRISIS_PATTERNS.values() for p in group)
    )
    return set(re.findall(r"[a-z][a-z0-9]*", text)) - COMMON_WORDS


def _pattern_words() -> set[str]:
    text = (
        " ".join(SLOTS.values())
        + " "
        + " ".join(p for group in CRISIS_PATTERNS.values() for p in group)
    )
    text += " " + " ".join(IDIOM_PATTERNS + ABOUT_OTHERS_PATTERNS + DISTRESS_PATTERNS)
    return set(re.findall(r"[a-z][a-z0-9]*", text))


_LEXICON = _Lexicon(_pattern_words(), _crisis_words())


def normalise(text: str) -> str:
    """The reply as the patterns read it: lemmas and plain spellings, '|' for punctuation."""
    words = expand_texting(_raw_tokens(text))
    out: list[str] = []
    for w in words:
        if w == _PAUSE:
            if out and out[-1] != _PAUSE:
                out.append(w)
            continue
        out.append(_LEXICON.canon(w))
    while out and out[-1] == _PAUSE:
        out.pop()
    return " ".join(out)


def canonical(word: str) -> str:
    """One word as the patterns read it (lemma, plain spelling): for callers that compare."""
    return _LEXICON.canon(word)
