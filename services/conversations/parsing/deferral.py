"""Time words in a reply ("later", "tomorrow 6", "in 2 hours") placed on the calendar.

Read in two steps: collect the time words of one reply into a `When` (a negated one, "not
tomorrow", is ignored rather than inverted), then place them as one UTC instant in the
clinician's zone, DST-exact. Words we cannot honour make the reply unknown, never a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.conversations.parsing.text import phrase_group, plain_forms
from services.conversations.walltime import wall_to_utc

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
DURATION = re.compile(
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
NOT_NOW = re.compile(rf"\b{_NEG_WINDOW}\s(?:right\snow|now|rn|atm|at\sthe\smoment)\b")
NOT_TODAY = re.compile(rf"\b{_NEG_WINDOW}\s(?:today|tonight|this\s(?:evening|afternoon))\b")


@dataclass(frozen=True)
class _Clock:
    hour: int
    minute: int
    meridiem: str | None  # "am" / "pm" when written
    twenty_four: bool  # "18:00", "06:30", "0930": no AM/PM guessing


@dataclass
class When:
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
        return self != When()

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


def _read_durations(when: When, text: str) -> str:
    for m in DURATION.finditer(text):
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
    return DURATION.sub(" _ ", text)


def _read_later(when: When, text: str) -> str:
    if NOT_NOW.search(text):
        when.later = True
        text = NOT_NOW.sub(" _ ", text)
    if NOT_TODAY.search(text):
        when.not_today = True
        text = NOT_TODAY.sub(" _ ", text)
    for m in LATER_RE.finditer(text):
        before = text[: m.start()].split()
        if not (before and before[-1] in _NEGATIONS):  # "not later, now"
            when.later = True
    return LATER_RE.sub(" _ ", text)


def _read_days(when: When, words: list[str]) -> set[int]:
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


def _read_clock(when: When, words: list[str], days_at: set[int]) -> None:
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


def read_when(text: str) -> When:
    """Collect a reply's time words; a negated one ("not tomorrow") is ignored, not inverted."""
    when = When()
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


def place(when: When, now: datetime, tz: ZoneInfo) -> datetime | None:
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
            return wall_to_utc(today, start, tz)
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
    for instant in sorted(wall_to_utc(d, t, tz) for d, t in walls):
        if instant > now:
            return instant
    last_day, last_time = max(walls)
    return wall_to_utc(last_day + timedelta(days=1), last_time, tz)


def time_explained(word: str, timed: bool) -> bool:
    if word in _TIME_WORDS:
        return True
    return timed and _parse_clock(word) is not None


LATER_RE = phrase_group(LATER_PHRASES)
_TOMORROW = plain_forms(TOMORROW_WORDS)
_TONIGHT = plain_forms(TONIGHT_WORDS)
_AMBIGUOUS_DAYS = plain_forms(AMBIGUOUS_DAYS)
_CLOCK_CUES = plain_forms(CLOCK_CUES)
_TIME_WORDS = (
    _TOMORROW
    | _TONIGHT
    | plain_forms(WEEKDAYS)
    | plain_forms(PARTS_OF_DAY)
    | _CLOCK_CUES
    | {"today", "this", "next", "week", "oclock", "ish", "noon", "midday", "midnight", "in", "on"}
)
