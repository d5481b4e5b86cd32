"""A clinician's answer to "would you like to talk to a peer supporter?"."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from services.conversations.crisis import signals_crisis
from services.conversations.parsing.deferral import (
    DURATION,
    LATER_RE,
    MAX_DEFER,
    NOT_NOW,
    NOT_TODAY,
    place,
    read_when,
    time_explained,
)
from services.conversations.parsing.keywords import carrier_keyword
from services.conversations.parsing.offer_words import (
    ACK_EMOJI,
    ACK_FILLER,
    OFFER_ACCEPT_PHRASES,
    OFFER_ACK_PHRASES,
    OFFER_CONTEXT,
    OFFER_DECLINE_PHRASES,
    OFFER_DISTRESS_PHRASES,
    OFFER_EXPLAINED_PHRASES,
    OFFER_NEUTRAL_PHRASES,
    OFFER_QUESTION_PHRASES,
    OFFER_REFUSAL_PHRASES,
    OFFER_UNSURE_PHRASES,
    OFFER_WEAK_ACCEPT,
    OFFER_WEAK_DECLINE,
    OFFER_WILLING_PHRASES,
    QUESTION_FILLER,
)
from services.conversations.parsing.text import normalise_reply, phrase_group, plain_forms
from services.conversations.parsing.whole_message import (
    FILLER,
    VERB_SLOT_HELD,
    explained_by,
    is_known,
    names_in,
)
from services.conversations.walltime import require_aware

OfferKind = Literal[
    "accept",
    "defer",
    "decline",
    "stop",
    "start",
    "help",
    "crisis",
    "question",
    "acknowledge",
    "unknown",
]


@dataclass(frozen=True)
class OfferReply:
    """A clinician's answer to an offer; `until` (aware UTC) is set only for a deferral."""

    kind: OfferKind
    until: datetime | None = None


_EMOJI_MODIFIERS = frozenset(
    [chr(c) for c in range(0x1F3FB, 0x1F400)] + ["\ufe0f", "\u200d", "\ufe0e"]
)
_PLAIN_PUNCTUATION = frozenset(".,!?;:'\"-()\u2019\u2018\u201c\u201d\u2026")


def parse_offer_reply(text: str, now: datetime, tz: ZoneInfo) -> OfferReply:
    """Read a clinician's answer to "would you like to talk to a peer supporter?".

    Order: crisis; STOP/START/HELP; a reply that is wholly a question about us ("question":
    "who is this?", "wrong number", "is this confidential?") or wholly a thanks ("acknowledge":
    "thanks", "noted", "👍"), which the caller answers without asking a coordinator to look;
    any time words (defer); then accept/decline wording.
    A reply is an answer only when the whole of it reads as one (see _offer_unexplained):
    "tonight I keep seeing her face" has a time word but is not a deferral, and "no I just want
    to sleep" has a "no" but is not a decline. Both are "unknown", so the caller answers with
    the help text and, seeing signals_distress, tells a coordinator.
    Choices for ambiguous replies (the tests hold each one):
    - "later", "not now", "busy" and other defer words without a time: now + 2 h.
    - "tomorrow", a weekday ("Mon", strictly after today), "not today", "next week": 09:00
      local; "tomorrow morning/afternoon/evening": 09:00 / 14:00 / 19:00.
    - "tonight" / "this evening": 19:00 today, or now + 1 h when 19:00 has passed.
    - A bare hour (see _hours_for): 1-6 p.m.; 7-11 the next one; "tomorrow 8" is 08:00.
    - A time already past today rolls to the same wall time tomorrow (DST-exact).
    - Durations ("2h", "30 min", "in 45 minutes", "an hour", "in 3 days") count real elapsed
      time, so "in 2 hours" across a clock change is still two hours.
    - Further than 14 days ahead: "unknown", not clamped. Silently moving a date the clinician
      chose would misquote them; the caller asks again instead.
    - "I'm fine / OK / good" is a decline (voluntary, no pressure); "I'm not OK" is an accept.
    - A bare "1" accepts; any other bare number is not understood.
    """
    require_aware(now, "now")
    if signals_crisis(text):
        return OfferReply("crisis")
    normal = normalise_reply(text, meridiem=True)
    words = normal.split()
    keyword = carrier_keyword(words)
    if keyword is not None:
        return OfferReply(keyword)
    whole = _question_or_thanks(text, normal)
    if whole is not None:
        return OfferReply(whole)
    when = read_when(normal)
    if normal == "1":
        return OfferReply("accept")
    if _offer_unexplained(normal, explained_by(text), timed=when.found()):
        return OfferReply("unknown")
    if when.found():
        until = place(when, now, tz)
        if until is None or until <= now or until - now > MAX_DEFER:
            return OfferReply("unknown")
        return OfferReply("defer", until)
    return OfferReply(_offer_answer(normal))


def _symbols(text: str) -> list[str]:
    """Emoji and other marks in a reply, without plain punctuation or emoji modifiers."""
    return [
        c
        for c in unicodedata.normalize("NFKC", text)
        if not (c.isalnum() or c.isspace() or c in _PLAIN_PUNCTUATION or c in _EMOJI_MODIFIERS)
    ]


def _question_or_thanks(text: str, normal: str) -> Literal["question", "acknowledge"] | None:
    """ "question" or "acknowledge" when that is the whole reply, else None.

    Whole means every word is the question's (or the thanks') own or a listed filler word, or
    a name after a greeting, and the only marks are plain punctuation (and, for thanks, a
    thumbs-up or folded hands): "who is this 😭" is a person, not a question.
    """
    names = frozenset(names_in(text))
    symbols = _symbols(text)

    def only(rest: str, filler: frozenset[str]) -> bool:
        return all(w in ("_", "|") or w in filler or w in names for w in rest.split())

    asked = _QUESTION_RE.sub(" _ ", normal)
    if asked != normal and not symbols and only(asked, _QUESTION_FILLER):
        return "question"
    thanked = _ACK_RE.sub(" _ ", normal)
    if (thanked != normal or symbols) and all(c in ACK_EMOJI for c in symbols):
        if only(thanked, _ACK_FILLER):
            return "acknowledge"
    return None


def _offer_answer(normal: str) -> OfferKind:
    """Accept or decline from wording; a clear phrase beats a bare yes/no, a tie is unknown.

    Groups are read in order, each taking its words out of the reply, so "not interested" is
    never also "interested" and "I'm not OK" never also "I'm OK".
    """
    strong: set[str] = set()
    unsure = False
    rest = normal
    for kind, group in _OFFER_GROUPS:
        if group.search(rest):
            if kind == "unsure":
                unsure = True
            elif kind != "neutral":
                strong.add(kind)
            rest = group.sub(" _ ", rest)
    if strong == {"accept"}:
        return "accept"
    if strong == {"decline"}:
        return "decline"
    if strong:
        return "unknown"
    words = set(rest.split())
    weak_yes, weak_no = bool(words & _WEAK_ACCEPT), bool(words & _WEAK_DECLINE)
    if unsure or weak_yes == weak_no:
        return "unknown"
    return "accept" if weak_yes else "decline"


_OFFER_GROUPS = (
    ("neutral", phrase_group(OFFER_NEUTRAL_PHRASES)),
    ("decline", phrase_group(OFFER_REFUSAL_PHRASES)),
    ("accept", phrase_group(OFFER_DISTRESS_PHRASES)),
    ("accept", phrase_group(OFFER_WILLING_PHRASES)),
    ("decline", phrase_group(OFFER_DECLINE_PHRASES)),
    ("accept", phrase_group(OFFER_ACCEPT_PHRASES)),
    ("unsure", phrase_group(OFFER_UNSURE_PHRASES)),
)
_QUESTION_RE = phrase_group(OFFER_QUESTION_PHRASES)
_QUESTION_FILLER = plain_forms(QUESTION_FILLER)
_ACK_RE = phrase_group(OFFER_ACK_PHRASES)
_ACK_FILLER = plain_forms(ACK_FILLER)
_WEAK_ACCEPT = plain_forms(OFFER_WEAK_ACCEPT)
_WEAK_DECLINE = plain_forms(OFFER_WEAK_DECLINE)


def _offer_unexplained(normal: str, extra: frozenset[str], *, timed: bool) -> list[str]:
    """The words of a clinician's reply that neither its answer nor its time accounts for."""
    held = [m.group() for m in VERB_SLOT_HELD.finditer(normal)]
    rest = DURATION.sub(" _ ", normal)
    rest = NOT_TODAY.sub(" _ ", NOT_NOW.sub(" _ ", rest))
    rest = _OFFER_EXPLAINED_RE.sub(" _ ", rest)  # first: "can't talk" before "talk" is taken
    rest = LATER_RE.sub(" _ ", rest)
    for _kind, group in _OFFER_GROUPS:
        rest = group.sub(" _ ", rest)
    return held + [
        w
        for w in rest.split()
        if w not in ("_", "|")
        and w not in FILLER
        and w not in _OFFER_CONTEXT
        and not is_known(w, extra)
        and not time_explained(w, timed)
    ]


_OFFER_CONTEXT = plain_forms(OFFER_CONTEXT)
_OFFER_EXPLAINED_RE = phrase_group(OFFER_EXPLAINED_PHRASES)
