"""One field of the directory checked and put in its one stored form, or refused with why.

Shared by the CSV imports, the coordinator's single-record edits and the console: a staff id,
a unit code, a discipline, a language, a mobile number, a Y/N flag, a date, a wall-clock time.
Each refusal names what was wrong without repeating a phone number (reports may be logged).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

from services.people.models import DISCIPLINES

# The same shapes as the event contracts (schemas/events.py StaffId, UnitCode): whatever
# the directory holds, an incident can name.
STAFF_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
UNIT_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _./-]{0,31}$")
LANGUAGE = re.compile(r"^[a-z]{2}$")

# Hospital exports name disciplines in many ways. These aliases (compared case-insensitively,
# with "_", "-" and repeated spaces read as one space) map the common spellings onto
# people.models.DISCIPLINES, e.g. "nurse"/"registered nurse" -> RN, "doctor"/"md" ->
# physician, "rt" -> respiratory_therapist. Anything else is rejected rather than guessed:
# matching is by discipline, and a wrong guess pairs a clinician with the wrong peer.
DISCIPLINE_ALIASES = {
    "nurse": "RN",
    "registered nurse": "RN",
    "staff nurse": "RN",
    "lvn": "LPN",
    "licensed practical nurse": "LPN",
    "licensed vocational nurse": "LPN",
    "doctor": "physician",
    "md": "physician",
    "do": "physician",
    "attending": "physician",
    "intern": "resident",
    "np": "advanced_practice",
    "nurse practitioner": "advanced_practice",
    "pa": "advanced_practice",
    "physician assistant": "advanced_practice",
    "crna": "advanced_practice",
    "app": "advanced_practice",
    "advanced practice provider": "advanced_practice",
    "rt": "respiratory_therapist",
    "rrt": "respiratory_therapist",
    "pharmd": "pharmacist",
    "rph": "pharmacist",
    "tech": "technician",
    "technologist": "technician",
    "emt": "paramedic",
    "cnm": "midwife",
    "sw": "social_worker",
    "msw": "social_worker",
    "lcsw": "social_worker",
}

# Valid numbers of these types cannot receive an SMS page. FIXED_LINE_OR_MOBILE is accepted:
# North American numbers never tell the two apart.
NOT_SMS = {
    PhoneNumberType.FIXED_LINE: "a landline",
    PhoneNumberType.TOLL_FREE: "a toll-free number",
    PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
    PhoneNumberType.SHARED_COST: "a shared-cost number",
    PhoneNumberType.UAN: "a switchboard number",
    PhoneNumberType.VOICEMAIL: "a voicemail number",
}
_IMPOSSIBLE = {
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
    phonenumbers.ValidationResult.TOO_SHORT: "too short",
    phonenumbers.ValidationResult.TOO_LONG: "too long",
    phonenumbers.ValidationResult.INVALID_LENGTH: "wrong length for its country",
}
_YES = {"y", "yes", "true", "1"}
_NO = {"", "n", "no", "false", "0"}


def _squash(value: str) -> str:
    return " ".join(value.lower().replace("_", " ").replace("-", " ").split())


_DISCIPLINE_LOOKUP = {_squash(d): d for d in DISCIPLINES} | {
    _squash(k): v for k, v in DISCIPLINE_ALIASES.items()
}


def normalise_discipline(value: str) -> str:
    """The canonical discipline for an export's spelling; ValueError names the input."""
    found = _DISCIPLINE_LOOKUP.get(_squash(value))
    if found is None:
        raise ValueError(f"unknown discipline {value!r}")
    return found


def normalise_language(value: str) -> str:
    lang = value.strip().lower()
    if not LANGUAGE.match(lang):
        raise ValueError(f"bad language {value!r}: ISO 639-1 two letters expected, e.g. en")
    return lang


@lru_cache(maxsize=65_536)
def normalise_mobile(raw: str, region: str) -> str:
    """E.164 for a number that can take an SMS, else ValueError saying why.

    Cached: the nightly export repeats yesterday's numbers, and parsing is most of the time
    a 5,000-row import takes to check.

    Possible rather than valid: phonenumbers calls the demo's 555-01xx numbers invalid (they
    are reserved for fiction), and its metadata lags real allocations; a possible number is
    the right shape for its country. Numbers known to be landlines or service numbers are
    refused: a page to them is lost. The reason never repeats the number (it is reported and
    may be logged); the line number identifies it.
    """
    try:
        number = phonenumbers.parse(raw, region)
    except NumberParseException:
        raise ValueError("bad mobile number: not a phone number") from None
    if number.extension:
        raise ValueError("bad mobile number: has an extension")
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible not in (
        phonenumbers.ValidationResult.IS_POSSIBLE,
        phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
    ):
        raise ValueError(f"bad mobile number: {_IMPOSSIBLE.get(possible, 'impossible')}")
    if possible == phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY:
        raise ValueError("bad mobile number: no area code")
    if phonenumbers.is_valid_number(number):
        kind = NOT_SMS.get(phonenumbers.number_type(number))
        if kind:
            raise ValueError(f"bad mobile number: {kind}, cannot receive SMS")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def yes_no(value: str, column: str) -> bool | None:
    """Y or N; blank is None, so that an import can keep what is stored."""
    v = value.strip().lower()
    if v in _YES:
        return True
    if v in _NO:
        return False if v else None
    raise ValueError(f"bad {column} {value!r}: Y, N or blank expected")


def iso_date(value: object) -> object:
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"bad date {value!r}: YYYY-MM-DD expected")


def wall_clock(value: str, zone: ZoneInfo, zone_name: str, column: str) -> datetime:
    """An ISO 8601 instant; a value without offset is wall-clock time in the unit's zone.

    Wall-clock times that do not exist (spring forward) or happen twice (fall back) are
    refused: guessing would put someone on or off shift for an hour, and the proposal of who
    was involved in an incident reads shifts.
    """
    raw = value.strip()
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"bad {column} {raw!r}: ISO 8601 date and time expected") from None
    if "T" not in raw.upper() and " " not in raw:
        raise ValueError(f"bad {column} {raw!r}: a time is needed, not just a date")
    if parsed.tzinfo is not None:
        return parsed.astimezone(UTC)
    early = parsed.replace(tzinfo=zone, fold=0)
    late = parsed.replace(tzinfo=zone, fold=1)
    if early.utcoffset() == late.utcoffset():
        return early.astimezone(UTC)
    back = early.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if back != parsed:
        raise ValueError(
            f"{column} {raw} does not exist in {zone_name} (clocks go forward): give a UTC offset"
        )
    offsets = " or ".join(_offset(d) for d in (early, late))
    raise ValueError(
        f"{column} {raw} happens twice in {zone_name} (clocks go back): "
        f"give a UTC offset ({offsets})"
    )


def _offset(moment: datetime) -> str:
    delta = moment.utcoffset() or timedelta()
    minutes = int(delta.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
