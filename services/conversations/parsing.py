"""Free-text SMS replies read into decisions, and the quiet hours that hold outreach back.

Everything here is pure: no clock, no store, no I/O. Callers pass `now` and the clinician's zone,
so a reply reads the same in a webhook, a replay and a test.

Every reply is read in the same order: crisis first (a person in danger never gets a keyword's
canned answer), then the carrier keywords STOP/START/HELP (the carrier acts on those whatever we
do, so we must agree with it), then what the reply means. Anything not understood is "unknown",
never a guess that could close a clinician's offer or take a page away from a peer. A reply is
an answer only when the whole of it is: words we cannot account for ("tonight I keep seeing her
face") make it unknown, however clear its time or yes/no words (see "the whole message").
Crisis reading lives in the crisis package (signals_crisis, signals_distress), imported here.

Two readings are neither an answer nor unknown: a reply that is wholly a question about us
("who is this?", "how did you get my number?") is "question", and wholly a thanks ("thanks",
"noted", "👍") is "acknowledge". Neither says anything about how the person is, so neither needs
a coordinator's look; anything else in the message keeps it "unknown".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from services.conversations.crisis import (
    canonical,
    idiom_words,
    signals_crisis,
    signals_distress,
)

__all__ = [
    "MAX_DEFER",
    "OfferReply",
    "PeerReply",
    "in_quiet_hours",
    "next_allowed",
    "parse_offer_reply",
    "parse_peer_reply",
    "signals_crisis",
    "signals_distress",
]

# --- text folding ---------------------------------------------------------------------------

_APOSTROPHES = str.maketrans("", "", "'\u2019\u2018\u02bc`\u00b4")
_TRIPLED = re.compile(r"([a-z])\1{2,}")


def _fold(text: str) -> str:
    """Phones send curly apostrophes, accents and full-width letters: fold all to plain ASCII.

    Apostrophes are dropped rather than spaced, so "can't", "can’t" and "cant" become one word.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return plain.lower().translate(_APOSTROPHES)


# --- 1. crisis ------------------------------------------------------------------------------
#
# Read by concepts in services/conversations/crisis/; imported here so callers keep one import.

# --- carrier keywords -----------------------------------------------------------------------
#
# Twilio (and the carriers) act on these when they are the whole message. We recognise the same
# words, plus a few plain-language opt-outs: honouring "please stop texting me" is always right.

STOP_KEYWORDS: tuple[str, ...] = (
    "stop",
    "stopall",
    "stop all",
    "unsubscribe",
    "cancel",
    "end",
    "quit",
    "optout",
    "opt out",
    "revoke",
)
STOP_PHRASES: tuple[str, ...] = (
    "stop texting",
    "stop messaging",
    "stop sending",
    "stop contacting",
    "don't text me",
    "don't message me",
    "don't contact me",
    "no more texts",
    "no more messages",
    "unsubscribe me",
    "remove me from",
    "take me off",
)
START_KEYWORDS: tuple[str, ...] = ("start", "unstop")
# Exact only: "help me" / "please help" from a clinician is a request for a peer, not the keyword.
HELP_KEYWORDS: tuple[str, ...] = ("help", "info", "more info")
# Words that may ride along with STOP or START without changing them ("STOP please").
KEYWORD_COURTESIES: tuple[str, ...] = ("please", "now", "thanks", "it", "me")

# --- shared reply normalisation -------------------------------------------------------------

# Applied in order to the folded reply; the phrase lists below are written in the plain forms.
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


def _normalise(text: str, *, meridiem: bool) -> str:
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
        words = _normalise(chunk, meridiem=False).replace("|", " ").split()
        if words:
            parts.append(r"\s".join(re.escape(w) for w in words))
    return r"(?<![\w|])" + r"(?:\s[a-z0-9]+){0,3}\s".join(parts) + r"(?![\w|])"


def _phrase_group(phrases: Iterable[str]) -> re.Pattern[str]:
    """Longest first, so "no need to talk" is taken whole before "talk" could be."""
    ordered = sorted(phrases, key=lambda p: len(p.split()), reverse=True)
    return re.compile("|".join(_phrase_regex(p) for p in ordered))


def _keyword(words: list[str]) -> Literal["stop", "start", "help"] | None:
    text = " ".join(w for w in words if w != "|")
    if text in _HELP:
        return "help"
    core = " ".join(w for w in text.split() if w not in _COURTESIES)
    if core in _STOP or _STOP_PHRASES_RE.search(text):
        return "stop"
    if core in _START:
        return "start"
    return None


def _plain(words: Iterable[str]) -> set[str]:
    return {_normalise(w, meridiem=False) for w in words}


_STOP = _plain(STOP_KEYWORDS)
_START = _plain(START_KEYWORDS)
_HELP = _plain(HELP_KEYWORDS)
_COURTESIES = _plain(KEYWORD_COURTESIES)
_STOP_PHRASES_RE = _phrase_group(STOP_PHRASES)

# --- 2. clinician's answer to an offer of peer support --------------------------------------

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

LATER_DEFAULT = timedelta(hours=2)  # "later", "not now", "busy"
TONIGHT_LATE = timedelta(hours=1)  # "tonight" said at or after 19:00
DEFAULT_HOUR = time(9)  # "tomorrow", "Monday", "not today"
MAX_DEFER = timedelta(days=14)  # a later time than this is not understood (see parse_offer_reply)
PARTS_OF_DAY: dict[str, time] = {
    "morning": time(9),
    "afternoon": time(14),
    "evening": time(19),
    "night": time(19),
}

# Read first of all: refusals built from words that elsewhere mean yes ("I don't need to talk").
# "..." stands for up to three other words.
OFFER_REFUSAL_PHRASES: tuple[str, ...] = (
    "don't ... talk",
    "don't ... call",
    "don't ... chat",
    "don't ... help",
    "don't ... support",
    "don't ... anyone",
    "don't want",
    "don't need",
    "don't bother",
    "please don't",
    "no need ... talk",
    "no need ... call",
    "no need",
    "not needed",
    "not necessary",
)
# Read next: in answer to "would you like to talk to a peer?", saying you are not OK is a yes.
OFFER_DISTRESS_PHRASES: tuple[str, ...] = (
    "not ok",
    "not fine",
    "not good",
    "not so good",
    "not great",
    "not alright",
    "not doing well",
    "not doing great",
    "not doing good",
    "not coping",
    "not the best",
    "struggling",
    "rough day",
    "rough time",
    "hard time",
    "need to talk",
    "need help",
    "help me",
    "please help",
    "need someone",
    "need support",
    "want to talk",
    "like to talk",
    "could use",
)
# Read before the declines: "I'm OK with a call" is a yes although it starts like "I'm OK".
OFFER_WILLING_PHRASES: tuple[str, ...] = (
    "I'm ok with",
    "I'm fine with",
    "I'm good with",
    "I'm ok to",
    "I'm fine to",
    "I'm happy to",
    "happy to",
    "fine by me",
    "ok with me",
)
# Declining is voluntary and final for the event: "I'm fine / OK / good" is a decline, with no
# pressure. A bare "no" is weak and yields to an explicit accept in the same reply ("no, call me").
OFFER_DECLINE_PHRASES: tuple[str, ...] = (
    "no thanks",
    "no thank you",
    "not interested",
    "no call",
    "rather not",
    "not really",
    "not for me",
    "not bad",
    "not too bad",
    "I'm fine",
    "I'm ok",
    "I'm good",
    "I'm alright",
    "I'm all good",
    "I'm doing ok",
    "I'm doing fine",
    "I'm doing well",
    "all good",
    "I'm managing",
    "I'm coping",
    "doing ok",
    "doing fine",
    "doing well",
    "doing good",
    "doing alright",
    "I'll be fine",
    "I'll be ok",
    "I'll be alright",
    "fine thanks",
    "good thanks",
    "have support",
    "got support",
    "have someone",
    "got someone",
    "already talked",
    "already spoke",
    "leave me alone",
    "all set",
    "decline",
    "declined",
    "pass",
    "never",
    "no way",
)
OFFER_ACCEPT_PHRASES: tuple[str, ...] = (
    "yes please",
    "please do",
    "call me",
    "please call",
    "ring me",
    "phone me",
    "text me",
    "give me a call",
    "call",
    "talk",
    "chat",
    "let's talk",
    "go ahead",
    "sounds good",
    "I'd like",
    "would like",
    "would be good",
    "would be nice",
    "would help",
    "accept",
    "accepted",
    "interested",
    "absolutely",
    "definitely",
    "of course",
    "why not",
    "I'm in",
    "asap",
    "appreciate",
)
OFFER_UNSURE_PHRASES: tuple[str, ...] = (
    "not sure",
    "unsure",
    "maybe",
    "perhaps",
    "possibly",
    "might",
    "don't know",
    "dunno",
    "idk",
)
# A reply that is wholly a question about us ("who is this?", "is this confidential?"): kind
# "question". The caller answers it with a short explanation of who we are and what a peer
# supporter does, and asks no coordinator to look: it says nothing about how the person is.
# Only the whole message: "who is this, I can't stop crying" is unknown, "ok who will call me"
# too (a yes, or not?). Read after crisis and the carrier keywords, before everything else.
OFFER_QUESTION_PHRASES: tuple[str, ...] = (
    # Who we are.
    "who",
    "who is this",
    "who's this",
    "who is that",
    "who's that",
    "who is it",
    "who are you",
    "who are u",
    "who r u",
    "who dis",
    "who is texting me",
    "who is messaging me",
    "who sent this",
    "who am I talking to",
    "who am I speaking to",
    "is this the hospital",
    "is this from the hospital",
    "is this from work",
    # What this is.
    "what is this",
    "what's this",
    "what is this about",
    "what's this about",
    "what is it about",
    "what's it about",
    "what is this regarding",
    "what's this regarding",
    "what is it regarding",
    "what's it regarding",
    "what is this for",
    "what's this for",
    "what does this mean",
    "what do you mean",
    "what do u mean",
    "wdym",
    "what is a peer supporter",
    "what's a peer supporter",
    "what is peer support",
    "what's peer support",
    "what does peer supporter mean",
    "what does peer support mean",
    "what does later mean",
    "what's later mean",
    "what does yes mean",
    "what do the replies mean",
    # Our number, or the wrong one.
    "wrong number",
    "wrong person",
    "you have the wrong number",
    "you have the wrong person",
    "u have the wrong number",
    "u have the wrong person",
    "I think you have the wrong number",
    "I think you have the wrong person",
    "think u have the wrong person",
    "how did you get my number",
    "how did u get my number",
    "how do you have my number",
    "where did you get my number",
    "where did u get my number",
    "who gave you my number",
    "who gave u my number",
    "why do you have my number",
    # Who will know.
    "is this confidential",
    "is it confidential",
    "is this anonymous",
    "is it anonymous",
    "is this private",
    "is it private",
    "will my manager know",
    "will my manager find out",
    "will my manager see this",
    "does my manager see this",
    "does my manager know",
    "will anyone know",
    "who will know",
    "who can see this",
    "who sees this",
    # Who calls, and what happens.
    "who will call me",
    "who would call me",
    "who will call",
    "who will ring me",
    "who would ring me",
    "who is calling",
    "who will I talk to",
    "who will I speak to",
    "who would I talk to",
    "who would I speak to",
    "what happens if I say yes",
    "what happens if I say no",
    "what happens if I reply yes",
    "what happens next",
    "what happens now",
    "what happens then",
    "what does it involve",
    "how long does it take",
    "how long does the call take",
    "how long is the call",
    "does this cost anything",
    "does it cost anything",
)
# Words that may stand around such a question without adding to it ("sorry, who's this?").
QUESTION_FILLER: tuple[str, ...] = tuple(
    """
    hi hey hello hiya sorry please thanks um uh hmm oh ah excuse me just quick question can i
    ask may but dear x xx so peer supporter support
    """.split()
)
# A reply that is wholly an acknowledgement: kind "acknowledge". It is not a yes (the offer
# asks for YES; "ok" stays an accept, as it always was), so the caller sends the stage's help
# text again and asks no coordinator to look. Any other word or emoji keeps it unknown.
OFFER_ACK_PHRASES: tuple[str, ...] = (
    "thanks",
    "noted",
    "got it",
    "received",
    "message received",
    "understood",
    "for the message",
    "for letting me know",
    "for the info",
    "for reaching out",
    "for checking in",
    "for thinking of me",
    "for the offer",
    "very much",
    "so much",
)
ACK_FILLER: tuple[str, ...] = ("hi", "hey", "hello", "dear", "x", "xx", "again", "and")
# Emoji that mean "seen, thanks" and nothing more. Skin tones and joiners are ignored.
ACK_EMOJI: frozenset[str] = frozenset("\U0001f44d\U0001f44c\U0001f64f\u2705\U0001f197")
_EMOJI_MODIFIERS = frozenset(
    [chr(c) for c in range(0x1F3FB, 0x1F400)] + ["\ufe0f", "\u200d", "\ufe0e"]
)
_PLAIN_PUNCTUATION = frozenset(".,!?;:'\"-()\u2019\u2018\u201c\u201d\u2026")

# Pleasantries that carry no answer: "no worries" must not count as a "no".
OFFER_NEUTRAL_PHRASES: tuple[str, ...] = ("no worries", "no problem", "no probs")
OFFER_WEAK_ACCEPT: tuple[str, ...] = ("yes", "ok", "sure", "please", "now", "alright")
OFFER_WEAK_DECLINE: tuple[str, ...] = ("no",)

# Defer words. Any of these makes the reply a deferral even next to a decline ("no thanks,
# maybe tomorrow"): asking again later costs one SMS that can still be declined.
LATER_PHRASES: tuple[str, ...] = (
    "later",
    "l8r",
    "ltr",
    "another time",
    "other time",
    "not yet",
    "not a good time",
    "bad time",
    "busy",
    "driving",
    "in a meeting",
    "with a patient",
    "in surgery",
    "in theatre",
    "in theater",
    "at work",
    "on shift",
    "after work",
    "after my shift",
    "after shift",
    "give me a bit",
)
TOMORROW_WORDS: tuple[str, ...] = (
    "tomorrow",
    "tomorow",
    "tommorow",
    "tommorrow",
    "tomorro",
    "tmrw",
    "tmrow",
    "tmr",
    "tmw",
    "tomoz",
    "2moro",
    "2morrow",
    "2mrw",
)
TONIGHT_WORDS: tuple[str, ...] = ("tonight", "tonite", "2nite", "2night")
WEEKDAYS: dict[str, int] = {
    "monday": 0,
    "mon": 0,
    "tuesday": 1,
    "tues": 1,
    "tue": 1,
    "tuseday": 1,
    "wednesday": 2,
    "wed": 2,
    "weds": 2,
    "wensday": 2,
    "wendsday": 2,
    "wednsday": 2,
    "thursday": 3,
    "thurs": 3,
    "thur": 3,
    "thu": 3,
    "thrusday": 3,
    "friday": 4,
    "fri": 4,
    "saturday": 5,
    "sat": 5,
    "sunday": 6,
    "sun": 6,
}
# Also plain English words ("I sat with the family"): a day only next to a time or a preposition.
AMBIGUOUS_DAYS: tuple[str, ...] = ("mon", "wed", "sat", "sun")
# A bare number is an hour only after one of these, or next to a day or "later" ("later 6").
CLOCK_CUES: tuple[str, ...] = ("at", "after", "around", "about", "by", "from", "till", "until")
_NEGATIONS = frozenset({"not", "cant", "never", "dont", "wont", "isnt"})
_DAY_PREPOSITIONS = frozenset({"on", "next", "this", "till", "until", "by", "from", "after"})

_NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "forty five": 45,
    "ninety": 90,
    "a couple of": 2,
    "a couple": 2,
    "couple of": 2,
    "couple": 2,
    "a few": 3,
    "few": 3,
}
_UNITS = {
    "minutes": timedelta(minutes=1),
    "hours": timedelta(hours=1),
    "days": timedelta(days=1),
    "weeks": timedelta(weeks=1),
}
_SHORT_UNIT = r"(?P<unit>minutes?|mins?|mns?|m|hours?|hrs?|hr|h|days?|d|weeks?|wks?|w)"
_LONG_UNIT = r"(?P<wunit>minutes?|mins?|hours?|hrs?|days?|weeks?)"
_NUMBER_WORD_RE = "|".join(
    re.escape(w) for w in sorted(_NUMBER_WORDS, key=len, reverse=True)
).replace(r"\ ", r"\s")
_DURATION = re.compile(
    r"(?<![\w:.])(?:in\s)?(?:"
    r"(?P<half>half\s(?:an\s|a\s)?hour)"
    rf"|(?P<num>\d+(?:\.\d+)?)\s?{_SHORT_UNIT}"
    rf"|(?P<word>{_NUMBER_WORD_RE})\s{_LONG_UNIT}"
    r")(?![\w:.])"
)
_CLOCK = re.compile(r"^(?P<h>\d{1,2})(?:[:.](?P<m>\d{2}))?(?P<ap>am|pm)?$|^(?P<hhmm>\d{4})$")
_NEG_WINDOW = (
    r"(?:not|cant|dont|wont|never|busy|unable)(?:\s(?!now\b|today\b|tonight\b)[a-z]+){0,3}"
)
_NOT_NOW = re.compile(rf"\b{_NEG_WINDOW}\s(?:right\snow|now|rn|atm|at\sthe\smoment)\b")
_NOT_TODAY = re.compile(rf"\b{_NEG_WINDOW}\s(?:today|tonight|this\s(?:evening|afternoon))\b")


@dataclass(frozen=True)
class OfferReply:
    """A clinician's answer to an offer; `until` (aware UTC) is set only for a deferral."""

    kind: OfferKind
    until: datetime | None = None


@dataclass(frozen=True)
class _Clock:
    hour: int
    minute: int
    meridiem: str | None  # "am" / "pm" when written
    twenty_four: bool  # "18:00", "06:30", "0930": no AM/PM guessing


@dataclass
class _When:
    """The time words of one reply, before they are placed on the calendar."""

    duration: timedelta | None = None
    later: bool = False
    not_today: bool = False
    day: tuple[str, int] | None = None  # ("offset", days after today) or ("weekday", 0-6)
    tonight: bool = False  # "tonight", "this evening": today, or +1 h once that time has passed
    part: str | None = None  # morning / afternoon / evening / night
    clock: _Clock | None = None
    invalid: bool = False  # time words we cannot honour: the reply is unknown

    def found(self) -> bool:
        return self != _When()

    def set_day(self, day: tuple[str, int]) -> None:
        if self.day is not None and self.day != day:
            self.invalid = True  # "tomorrow or Friday": we cannot pick for them
        self.day = day


def _parse_clock(word: str) -> _Clock | None:
    m = _CLOCK.match(word)
    if m is None:
        return None
    if m.group("hhmm"):
        return _Clock(int(m.group("hhmm")[:2]), int(m.group("hhmm")[2:]), None, True)
    hour, minute, meridiem = int(m.group("h")), int(m.group("m") or 0), m.group("ap")
    twenty_four = meridiem is None and (m.group("h").startswith("0") or hour >= 13)
    return _Clock(hour, minute, meridiem, twenty_four)


def _valid(clock: _Clock) -> bool:
    if clock.minute > 59:
        return False
    if clock.meridiem == "am":
        return 0 <= clock.hour <= 12
    if clock.meridiem == "pm":
        return 1 <= clock.hour <= 23
    return 0 <= clock.hour <= 23


def _unit_name(unit: str) -> str:
    return {"m": "minutes", "h": "hours", "d": "days"}.get(unit[0], "weeks")


def _read_durations(when: _When, text: str) -> str:
    for m in _DURATION.finditer(text):
        if m.group("half"):
            amount, unit = 30.0, "minutes"
        elif m.group("num"):
            amount, unit = float(m.group("num")), _unit_name(m.group("unit"))
        else:
            amount = float(_NUMBER_WORDS[" ".join(m.group("word").split())])
            unit = _unit_name(m.group("wunit"))
        if when.duration is not None or amount <= 0:
            when.invalid = True  # "0 min", or two durations: not guessed at
        else:
            when.duration = amount * _UNITS[unit]
    return _DURATION.sub(" _ ", text)


def _read_later(when: _When, text: str) -> str:
    if _NOT_NOW.search(text):
        when.later = True
        text = _NOT_NOW.sub(" _ ", text)
    if _NOT_TODAY.search(text):
        when.not_today = True
        text = _NOT_TODAY.sub(" _ ", text)
    for m in _LATER_RE.finditer(text):
        before = text[: m.start()].split()
        if not (before and before[-1] in _NEGATIONS):  # "not later, now"
            when.later = True
    return _LATER_RE.sub(" _ ", text)


def _read_days(when: _When, words: list[str]) -> set[int]:
    """Day words into `when`; returns their positions, since "tomorrow 6" makes 6 an hour."""
    at: set[int] = set()
    for i, w in enumerate(words):
        before = words[i - 1] if i else ""
        after = words[i + 1] if i + 1 < len(words) else ""
        if before in _NEGATIONS:
            continue  # "not tomorrow": no day, not the opposite of one
        if w in _TOMORROW:
            when.set_day(("offset", 1))
        elif w in _TONIGHT:
            when.tonight, when.part = True, "night"
        elif w == "this" and after in PARTS_OF_DAY:
            when.tonight, when.part = True, after
        elif w in PARTS_OF_DAY and (before == "the" or i - 1 in at):
            when.part = w  # "in the morning", "tomorrow night", "monday afternoon"
        elif w == "next" and after == "week":
            when.set_day(("offset", 7))
        elif w in WEEKDAYS and _is_day(words, i):
            when.set_day(("weekday", WEEKDAYS[w]))
        elif w != "today":
            continue
        at.add(i)
    return at


def _read_clock(when: _When, words: list[str], days_at: set[int]) -> None:
    for i, w in enumerate(words):
        clock = _parse_clock(w)
        if clock is None:
            continue
        before = words[i - 1] if i else ""
        after = words[i + 1] if i + 1 < len(words) else ""
        time_shaped = clock.meridiem is not None or ":" in w or "." in w  # 6pm, 6:30, 18.00
        next_to_day = bool({i - 1, i + 1} & days_at)
        next_to_later = when.later and "_" in (before, after)
        cued = before in _CLOCK_CUES or after in ("oclock", "ish") or next_to_day or next_to_later
        if not (time_shaped or cued) or before in _NEGATIONS:
            continue
        if not _valid(clock):
            when.invalid = True
        elif when.clock is None:
            when.clock = clock  # "6 or 7": the first one
    if when.clock is None and ({"noon", "midday"} & set(words)):
        when.clock = _Clock(12, 0, "pm", False)
    if when.clock is None and "midnight" in words:
        when.clock = _Clock(0, 0, None, True)


def _read_when(text: str) -> _When:
    """Collect a reply's time words; a negated one ("not tomorrow") is ignored, not inverted."""
    when = _When()
    text = _read_later(when, _read_durations(when, text))
    words = text.split()
    _read_clock(when, words, _read_days(when, words))
    return when


def _is_day(words: list[str], i: int) -> bool:
    if words[i] not in _AMBIGUOUS_DAYS or len(words) == 1:
        return True
    before = words[i - 1] if i else ""
    after = words[i + 1] if i + 1 < len(words) else ""
    return (
        before in _DAY_PREPOSITIONS
        or _parse_clock(after) is not None
        or after in PARTS_OF_DAY
        or after in _CLOCK_CUES
    )


def _hours_for(clock: _Clock, context: str) -> list[tuple[int, time]]:
    """Candidate (days later, wall time) for a clock.

    Written AM/PM and 24-hour forms are taken as written. A bare hour is guessed: 1-6 always
    means afternoon or evening (nobody books a support call for 3 a.m.); 7-11 is whichever of
    a.m./p.m. comes next on a plain reply, the morning on another day ("tomorrow 8"), the
    evening "tonight"; 12 is noon, or midnight "tonight".
    """
    h, m = clock.hour, clock.minute
    if clock.meridiem == "am":
        return [(0, time(h % 12, m))]
    if clock.meridiem == "pm":
        return [(0, time(h % 12 + 12 if h <= 12 else h, m))]
    if clock.twenty_four:
        return [(0, time(h, m))]
    if context in ("afternoon", "evening", "night"):
        return [(1, time(0, m))] if h == 12 else [(0, time(h + 12, m))]
    if context == "morning" or h == 12:
        return [(0, time(h, m))]
    if h <= 6:
        return [(0, time(h + 12, m))]
    if context == "another day":
        return [(0, time(h, m))]
    return [(0, time(h, m)), (0, time(h + 12, m))]


def _place(when: _When, now: datetime, tz: ZoneInfo) -> datetime | None:
    """The reply's time words as one instant (UTC), or None when they cannot be placed."""
    if when.invalid:
        return None
    local_now = now.astimezone(tz)
    today = local_now.date()
    if when.duration is not None:
        if when.day or when.tonight or when.clock or when.part or when.not_today:
            return None  # "tomorrow in 2 hours": contradictory
        return now + when.duration
    offset: int | None = None
    if when.day is not None:
        kind, n = when.day
        offset = n if kind == "offset" else (n - today.weekday()) % 7 or 7
    elif when.not_today:
        offset = 1
    if offset is not None:
        target = today + timedelta(days=offset)
        if when.clock:
            options = _hours_for(when.clock, when.part or "another day")
            return _first_after(now, tz, [(target + timedelta(days=d), t) for d, t in options])
        at = PARTS_OF_DAY[when.part] if when.part else DEFAULT_HOUR
        return _first_after(now, tz, [(target, at)])
    if when.tonight and not when.clock:
        start = PARTS_OF_DAY[when.part or "night"]
        if local_now.time() < start:
            return _wall_to_utc(today, start, tz)
        return now + TONIGHT_LATE
    if when.clock:
        options = _hours_for(when.clock, when.part or "today")
        return _first_after(now, tz, _today_then_tomorrow(today, options))
    if when.part:
        options = [(0, PARTS_OF_DAY[when.part])]
        return _first_after(now, tz, _today_then_tomorrow(today, options))
    if when.later:
        return now + LATER_DEFAULT
    return None


def _today_then_tomorrow(today: date, options: list[tuple[int, time]]) -> list[tuple[date, time]]:
    return [(today + timedelta(days=shift + d), t) for shift in (0, 1) for d, t in options]


def _first_after(now: datetime, tz: ZoneInfo, walls: list[tuple[date, time]]) -> datetime:
    """The earliest candidate strictly after now; a time already past rolls to the next day."""
    for instant in sorted(_wall_to_utc(d, t, tz) for d, t in walls):
        if instant > now:
            return instant
    last_day, last_time = max(walls)
    return _wall_to_utc(last_day + timedelta(days=1), last_time, tz)


def _occurrences(day: date, at: time, tz: ZoneInfo) -> list[datetime]:
    """Every instant (UTC) at which clocks in `tz` first read `at` or later on `day`.

    Usually one. Two when clocks go back and the wall time happens twice. When clocks go
    forward past it (02:30 on 2026-03-08 in New York), the instant they jump (03:00 EDT): the
    first moment local time is at or after `at`, not the 03:30 a naive offset would give.
    """
    naive = datetime.combine(day, at)
    found = []
    for fold in (0, 1):
        instant = naive.replace(tzinfo=tz, fold=fold).astimezone(UTC)
        if instant.astimezone(tz).replace(tzinfo=None) == naive and instant not in found:
            found.append(instant)
    if found:
        return sorted(found)
    before = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    after = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    return [_transition_between(min(before, after), max(before, after), tz)]


def _wall_to_utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    return _occurrences(day, at, tz)[0]


def _transition_between(before: datetime, after: datetime, tz: ZoneInfo) -> datetime:
    """The instant the offset changes, by bisection on whole seconds (the tz data's unit)."""
    target = after.astimezone(tz).utcoffset()
    lo, hi = int(before.timestamp()), int(after.timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, UTC).astimezone(tz).utcoffset() == target:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def _require_aware(at: datetime, name: str) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {at!r}")


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
    _require_aware(now, "now")
    if signals_crisis(text):
        return OfferReply("crisis")
    normal = _normalise(text, meridiem=True)
    words = normal.split()
    keyword = _keyword(words)
    if keyword is not None:
        return OfferReply(keyword)
    whole = _question_or_thanks(text, normal)
    if whole is not None:
        return OfferReply(whole)
    when = _read_when(normal)
    if normal == "1":
        return OfferReply("accept")
    if _offer_unexplained(normal, _explained_by(text), timed=when.found()):
        return OfferReply("unknown")
    if when.found():
        until = _place(when, now, tz)
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
    names = frozenset(_names(text))
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
    ("neutral", _phrase_group(OFFER_NEUTRAL_PHRASES)),
    ("decline", _phrase_group(OFFER_REFUSAL_PHRASES)),
    ("accept", _phrase_group(OFFER_DISTRESS_PHRASES)),
    ("accept", _phrase_group(OFFER_WILLING_PHRASES)),
    ("decline", _phrase_group(OFFER_DECLINE_PHRASES)),
    ("accept", _phrase_group(OFFER_ACCEPT_PHRASES)),
    ("unsure", _phrase_group(OFFER_UNSURE_PHRASES)),
)
_QUESTION_RE = _phrase_group(OFFER_QUESTION_PHRASES)
_QUESTION_FILLER = _plain(QUESTION_FILLER)
_ACK_RE = _phrase_group(OFFER_ACK_PHRASES)
_ACK_FILLER = _plain(ACK_FILLER)
_WEAK_ACCEPT = _plain(OFFER_WEAK_ACCEPT)
_WEAK_DECLINE = _plain(OFFER_WEAK_DECLINE)
_LATER_RE = _phrase_group(LATER_PHRASES)
_TOMORROW = _plain(TOMORROW_WORDS)
_TONIGHT = _plain(TONIGHT_WORDS)
_AMBIGUOUS_DAYS = _plain(AMBIGUOUS_DAYS)
_CLOCK_CUES = _plain(CLOCK_CUES)

# --- 3. peer supporter's answer to a page ---------------------------------------------------

PeerKind = Literal["accept", "pass", "refer", "stop", "start", "help", "crisis", "unknown"]

# Page replies are "<code><letter>": 1A accept, 1P pass, 1R refer the case to Tier 3
# (expedited professional referral). "1 yes" / "yes 1" / "accept 1" / "A1" are read the same.
PEER_CODE_WORDS: dict[str, PeerKind] = {
    "a": "accept",
    "accept": "accept",
    "accepted": "accept",
    "yes": "accept",
    "p": "pass",
    "pass": "pass",
    "no": "pass",
    "r": "refer",
    "refer": "refer",
}
# Without a code these answer the newest open page. Read in the order pass, refer, accept,
# each taking its words out of the reply, so "not available" is never also "available".
PEER_PASS_PHRASES: tuple[str, ...] = (
    "no",
    "pass",
    "decline",
    "declined",
    "can't",
    "can't make it",
    "busy",
    "unavailable",
    "not available",
    "not free",
    "not now",
    "not today",
)
PEER_REFER_PHRASES: tuple[str, ...] = (
    "refer",
    "referral",
    "tier 3",
    "escalate",
    "needs tier 3",
    "needs a referral",
    "needs escalating",
)
PEER_ACCEPT_PHRASES: tuple[str, ...] = (
    "yes",
    "ok",
    "sure",
    "accept",
    "accepted",
    "available",
    "I'm free",
    "on it",
    "on my way",
    "omw",
    "will call",
    "calling now",
    "I can",
    "can do",
    "got it",
    "I'll take it",
    "taking it",
)
# A lone letter is a code without its number: the newest page. Only alone ("a" is a word).
PEER_LETTERS: dict[str, PeerKind] = {"a": "accept", "p": "pass", "r": "refer"}
PEER_FILLER: tuple[str, ...] = ("thanks", "please", "sorry", "reply", "code", "page")

_CODE_WORDS = "|".join(sorted(PEER_CODE_WORDS, key=len, reverse=True))
_PEER_CODE = re.compile(
    # "1A", "1 a", "12 pass"; "yes 1", "accept 1"; "A1"
    rf"(?<![\w.:])(?P<n>\d{{1,3}})\s?(?P<w>{_CODE_WORDS})(?![\w.:])"
    rf"|(?<![\w.:])(?P<w2>accept|pass|refer|yes|no)\s(?P<n2>\d{{1,3}})(?![\w.:])"
    rf"|(?<![\w.:])(?P<w3>[apr])(?P<n3>\d{{1,3}})(?![\w.:])"
)


@dataclass(frozen=True)
class PeerReply:
    """A peer's answer; `code` names the page ("1" from "1A"), None means their newest page."""

    kind: PeerKind
    code: str | None = None


def parse_peer_reply(text: str) -> PeerReply:
    """Read "1A", "1 a!", " 12P.", "1-A", "2R", a bare "yes"/"pass"/"refer", or STOP/START/HELP.

    Crisis first: peers are clinicians too, and may be in distress themselves. Codes are 1-3
    digits; leading zeros are dropped ("01A" is page 1) because codes are issued as plain
    numbers. Two different answers in one reply ("1A 2P", "yes no") are not guessed at:
    unknown. A bare number ("1") is unknown too: it could mean accept or pass. A code or a plain
    yes/pass/refer counts only when the rest of the reply is courtesy, a time or a reason for
    being away ("1A on my way", "sorry 2P in theatre"): "dead tired but ok" is unknown, not a
    peer taking a case they may not be fit to take.
    """
    if signals_crisis(text):
        return PeerReply("crisis")
    normal = _normalise(text.replace("-", " "), meridiem=False)
    words = normal.split()
    keyword = _keyword(words)
    if keyword is not None:
        return PeerReply(keyword)
    found: set[tuple[PeerKind, str]] = set()
    for m in _PEER_CODE.finditer(normal):
        number = m.group("n") or m.group("n2") or m.group("n3")
        word = m.group("w") or m.group("w2") or m.group("w3")
        found.add((PEER_CODE_WORDS[word], str(int(number))))
    if len(found) > 1:
        return PeerReply("unknown")
    core = [w for w in words if w != "|" and w not in _PEER_FILLER]
    if not found and len(core) == 1 and core[0] in PEER_LETTERS:
        return PeerReply(PEER_LETTERS[core[0]])
    if _peer_unexplained(normal, frozenset(_names(text))):
        return PeerReply("unknown")
    if found:
        kind, code = found.pop()
        return PeerReply(kind, code)
    kinds: set[PeerKind] = set()
    rest = normal
    for kind, group in _PEER_GROUPS:
        if group.search(rest):
            kinds.add(kind)
            rest = group.sub(" _ ", rest)
    if len(kinds) == 1:
        return PeerReply(kinds.pop())
    return PeerReply("unknown")


_PEER_GROUPS: tuple[tuple[PeerKind, re.Pattern[str]], ...] = (
    ("pass", _phrase_group(PEER_PASS_PHRASES)),
    ("refer", _phrase_group(PEER_REFER_PHRASES)),
    ("accept", _phrase_group(PEER_ACCEPT_PHRASES)),
)
_PEER_FILLER = _plain(PEER_FILLER)

# --- the whole message ----------------------------------------------------------------------
#
# A reply is an action only when every word of it is accounted for: the action's own words (the
# phrase groups above), a time expression, and words that carry no meaning of their own here
# (courtesy, fillers, a name, where someone is and why they are busy). Any other word means the
# person said something we did not read, and acting on half a message is how "ending it
# tonight" became "we will check in again Sun 21:46". Such a reply is "unknown": the caller
# sends the help text, and a coordinator sees it when it shows distress.

COURTESY_FILLER: tuple[str, ...] = tuple(
    """
    thanks thank please sorry ok hi hey hello hiya dear x xx xxx lol haha ha yes no sure so just
    really very much actually honestly tbh i im me my you your a an the to of for and or but
    that this it its is be am are was will ill would id can could do then there great good
    perfect fine lovely cool brilliant awesome nice kind appreciated again well um uh hmm oh ah
    alright right mate hun dr doc sir maam all okay cheers yours anyone anybody we whenever
    tho though have has had
    """.split()
)
# Function words carry no meaning of their own only where grammar puts them. Two places are
# not: "if" opens a condition on the answer, and a condition is explained only when it is one
# of the listed courtesies ("if that's ok"), never when it is about the writer ("call tmrw if
# I'm still here"); and a conjunction cannot stand where a verb must (after "to", a modal or
# "just"), so "going to and it tonight" or "should just and it all" is a verb we did not read
# (voice-to-text for "end it"), not filler around a time.
_VERB_SLOT_HELD = re.compile(
    r"(?<![\w|])(?:to|will|ill|would|id|should|can|could|just|must|might|gonna)"
    r"\s(?:and(?!\sfrom\b)|or|but|if)(?![\w|])"
)

# For a clinician's offer: where they are and why now is not good, which explain a deferral.
OFFER_CONTEXT: tuple[str, ...] = tuple(
    """
    tired ward work shift shifts clinic theatre theater surgery meeting patient patients rounds
    driving drive home car train bus commute kids school pickup dinner lunch break handover
    nights days off duty unit call calls on with free finish finished finishing back get out
    works suits better best time now bit while moment day busy still running late here leaving
    done after before when once until till available phone text ring speak soon first thing
    then up around about approx roughly ish probably they mobile number personal run already
    slammed swamped rammed manic hectic plans plan weekend away pharmacy chemist shop gym
    appointment dentist bed school going motorway road traffic stuck dad mum mom wife husband
    partner family son daughter
    """.split()
)
# Phrases that complete an answer without changing it ("if that's ok", "speak then").
OFFER_EXPLAINED_PHRASES: tuple[str, ...] = (
    "give me",
    "go on then",
    "can we do",
    "could we do",
    "going to bed",
    "going away",
    "already seeing",
    "already have",
    "already had",
    "had a debrief",
    "seeing a counsellor",
    "seeing a therapist",
    "seeing someone",
    "occ health",
    "occupational health",
    "not a big deal",
    "wasn't a big deal",
    "no big deal",
    "for checking in",
    "for checking",
    "for asking",
    "for the offer",
    "for reaching out",
    "for thinking of me",
    "flat out",
    "snowed under",
    "rushed off my feet",
    "run off my feet",
    "gimme",
    "can't talk",
    "can't speak",
    "can't chat",
    "can't call",
    "can't answer",
    "can't text",
    "can't reply",
    "can't right now",
    "on my way",
    "in a bit",
    "for now",
    "right now",
    "at the moment",
    "when I'm free",
    "when I get home",
    "when I finish",
    "once I'm home",
    "if that's ok",
    "if that's alright",
    "if that's fine",
    "if that works",
    "if that suits",
    "if you like",
    "if you want",
    "if possible",
    "if you can",
    "is that ok",
    "if ok",
    "works for me",
    "suits me",
    "would work",
    "let me know",
    "speak then",
    "talk then",
    "speak soon",
    "talk soon",
    "I'll call you",
    "I'll text you",
    "text me",
    "message me",
)
# For a peer's page: being busy or away explains a pass, an arrival time an accept.
PEER_CONTEXT: tuple[str, ...] = tuple(
    """
    theatre theater clinic ward driving off leave holiday nights shift on call work home sick
    unwell away meeting patient patients now asap soon shortly today tonight minutes mins min
    in at after until till right straight her him them she he they
    """.split()
)
PEER_EXPLAINED_PHRASES: tuple[str, ...] = (
    "give me",
    "on my way",
    "I'll call",
    "will call",
    "calling",
    "call her",
    "call him",
    "call them",
    "will do",
    "on it",
    "got it",
    "no problem",
    "np",
    "in a bit",
    "right away",
    "straight away",
    "take it",
    "taking it",
)

_NAME_AFTER = re.compile(
    r"\b(?:hi|hey|hello|hiya|thanks|thank you|thx|cheers|ta|dear|sorry|ok|okay|yes|no)"
    r"[\s,!.:-]+([A-Z][a-z]+)\b"
)
_SIGN_OFF = re.compile(r"(?:^|[\s,.!-])-?\s*([A-Z][a-z]+)\W*$")


def _names(text: str) -> set[str]:
    """A name after a greeting or thanks ("thanks Sam") or signed at the end ("... - Jo").

    Only a capitalised word in those two places: a name anywhere else is indistinguishable from
    a word we did not read, and that must stay unexplained.
    """
    plain = _fold_case_kept(text)
    found = {m.group(1).lower() for m in _NAME_AFTER.finditer(plain)}
    signed = _SIGN_OFF.search(plain.strip())
    if signed and re.search(r"[-,.!]\s*-?\s*" + signed.group(1) + r"\W*$", plain.strip()):
        found.add(signed.group(1).lower())
    return found


def _fold_case_kept(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).translate(_APOSTROPHES)


def _explained_by(text: str) -> frozenset[str]:
    """Names, and words inside an everyday idiom ("phone about to die"), for a clinician's
    reply. Not for a peer's: "dead tired but ok" is an idiom, and also a peer saying they may
    not be fit to take a case, which a coordinator should read rather than a parser accept."""
    return frozenset(_names(text)) | idiom_words(text)


def _is_known(word: str, extra: frozenset[str]) -> bool:
    return word in extra or canonical(word) in extra


def _time_explained(word: str, timed: bool) -> bool:
    if word in _TIME_WORDS:
        return True
    return timed and _parse_clock(word) is not None


def _offer_unexplained(normal: str, extra: frozenset[str], *, timed: bool) -> list[str]:
    """The words of a clinician's reply that neither its answer nor its time accounts for."""
    held = [m.group() for m in _VERB_SLOT_HELD.finditer(normal)]
    rest = _DURATION.sub(" _ ", normal)
    rest = _NOT_TODAY.sub(" _ ", _NOT_NOW.sub(" _ ", rest))
    rest = _OFFER_EXPLAINED_RE.sub(" _ ", rest)  # first: "can't talk" before "talk" is taken
    rest = _LATER_RE.sub(" _ ", rest)
    for _kind, group in _OFFER_GROUPS:
        rest = group.sub(" _ ", rest)
    return held + [
        w
        for w in rest.split()
        if w not in ("_", "|")
        and w not in _FILLER
        and w not in _OFFER_CONTEXT
        and not _is_known(w, extra)
        and not _time_explained(w, timed)
    ]


def _peer_unexplained(normal: str, extra: frozenset[str]) -> list[str]:
    """The words of a peer's reply that neither its code nor its answer accounts for."""
    held = [m.group() for m in _VERB_SLOT_HELD.finditer(normal)]
    rest = _PEER_CODE.sub(" _ ", normal)
    rest = _PEER_EXPLAINED_RE.sub(" _ ", _DURATION.sub(" _ ", rest))
    for _kind, group in _PEER_GROUPS:
        rest = group.sub(" _ ", rest)
    return held + [
        w
        for w in rest.split()
        if w not in ("_", "|")
        and w not in _FILLER
        and w not in _PEER_FILLER
        and w not in _PEER_CONTEXT
        and not _is_known(w, extra)
        and not _time_explained(w, timed=True)
    ]


_FILLER = _plain(COURTESY_FILLER)
_OFFER_CONTEXT = _plain(OFFER_CONTEXT)
_PEER_CONTEXT = _plain(PEER_CONTEXT)
_OFFER_EXPLAINED_RE = _phrase_group(OFFER_EXPLAINED_PHRASES)
_PEER_EXPLAINED_RE = _phrase_group(PEER_EXPLAINED_PHRASES)
_TIME_WORDS = (
    _TOMORROW
    | _TONIGHT
    | _plain(WEEKDAYS)
    | _plain(PARTS_OF_DAY)
    | _CLOCK_CUES
    | {"today", "this", "next", "week", "oclock", "ish", "noon", "midday", "midnight", "in", "on"}
)

# --- 4. quiet hours -------------------------------------------------------------------------


def in_quiet_hours(at: datetime, tz: ZoneInfo, start: time = time(22), end: time = time(7)) -> bool:
    """Whether local wall time at `at` is in [start, end); the window may cross midnight.

    Wall time, not elapsed time: quiet hours are about when people sleep, so on the night the
    clocks change the window is an hour shorter or longer. start == end means no quiet hours.
    """
    _require_aware(at, "at")
    local = at.astimezone(tz).time()
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def next_allowed(
    at: datetime, tz: ZoneInfo, start: time = time(22), end: time = time(7)
) -> datetime:
    """The first instant at or after `at` outside quiet hours, in UTC.

    Exact across DST: the end is found on the local calendar, so 07:00 on a changeover day is
    07:00 local whatever the offset; an end time the clocks skip is the instant they jump past it.
    """
    _require_aware(at, "at")
    if not in_quiet_hours(at, tz, start, end):
        return at.astimezone(UTC)
    local = at.astimezone(tz)
    day = local.date()
    if start > end and local.time() >= start:
        day += timedelta(days=1)
    # After clocks go back the end wall time happens twice: the first one not yet past.
    return next(c for c in _occurrences(day, end, tz) if c >= at)
