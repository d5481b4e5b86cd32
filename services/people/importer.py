"""Imports of the hospital's exports (units, staff, shifts) and the peer roster.

Every import is all or nothing: each row is checked before anything is written, and a file
with a single rejected row changes nothing, so a half-applied export can never leave the
directory in a state nobody exported. The report names every rejected row with its line and
a reason specific enough to fix the export without guessing.

The staff file is a full export: people absent from it become inactive (never deleted: cases
and pages point at them). Units and shifts are upserted. The peer roster is upserted only:
the coordinator also edits peers one by one, so a peers file is never the whole truth.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import bindparam, case, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services import clock
from services.config import get_settings
from services.identity.models import Site
from services.logs import log
from services.people.models import DISCIPLINES, PeerSupporter, Shift, Staff, Unit

Kind = Literal["units", "staff", "shifts", "peers"]

# The same shapes as the event contracts (schemas/events.py StaffId, UnitCode): whatever
# the directory holds, an incident can name.
STAFF_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
UNIT_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _./-]{0,31}$")
LANGUAGE = re.compile(r"^[a-z]{2}$")
MAX_SHIFT = timedelta(hours=24)
# Rows per statement when a list of keys is sent to PostgreSQL: well under its 65,535
# bind-parameter limit, so a hospital of any size imports in a handful of round trips.
CHUNK = 10_000
# A staff export that would deactivate more than this is refused unless explicitly allowed.
MASS_DEACTIVATION_SHARE = 0.2
MASS_DEACTIVATION_MIN = 25

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


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Rejection:
    line: int  # 1 is the header
    id: str | None  # the row's staff id or unit code, when it has one
    reason: str


@dataclass
class ImportReport:
    kind: Kind
    rows: int = 0
    added: int = 0
    updated: int = 0
    deactivated: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    applied: bool = False
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.rejected

    def reject(self, line: int, key: str | None, reason: str) -> None:
        self.rejected.append(Rejection(line, key or None, reason))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        if self.rejected:
            return (
                f"{self.kind}: nothing applied: {len(self.rejected)} of {self.rows} rows rejected"
            )
        verb = "would apply" if self.dry_run else "applied"
        return (
            f"{self.kind}: {verb} {self.rows} rows: {self.added} added, {self.updated} "
            f"updated, {self.deactivated} deactivated, {self.unchanged} unchanged"
        )


class UnknownStaff(LookupError):
    pass


class InactiveStaff(ValueError):
    pass


# --------------------------------------------------------------------------- field checks


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


def _flag(value: str, column: str) -> bool | None:
    v = value.strip().lower()
    if v in _YES:
        return True
    if v in _NO:
        return False if v else None
    raise ValueError(f"bad {column} {value!r}: Y, N or blank expected")


def _iso_date(value: object) -> object:
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


# --------------------------------------------------------------------------- peer model


class PeerIn(BaseModel):
    """A peer supporter as the coordinator keeps them: the PUT body and a peers CSV row."""

    model_config = ConfigDict(extra="forbid")

    trained_on: date | None = None
    trained_until: date
    supports: list[str] = Field(default_factory=list, description="disciplines; empty: any")
    languages: list[str] = Field(default_factory=lambda: ["en"])
    max_open_cases: int = 2
    status: Literal["active", "paused"] = "active"

    _dates = field_validator("trained_on", "trained_until", mode="before")(_iso_date)

    @field_validator("supports")
    @classmethod
    def _disciplines(cls, value: list[str]) -> list[str]:
        out: list[str] = []
        for item in value:
            d = normalise_discipline(item)
            if d not in out:
                out.append(d)
        return out

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: list[str]) -> list[str]:
        out: list[str] = []
        for item in value:
            lang = normalise_language(item)
            if lang not in out:
                out.append(lang)
        return out or ["en"]

    @field_validator("max_open_cases", mode="before")
    @classmethod
    def _max_open(cls, value: object) -> int:
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10:
            raise ValueError(f"{value!r} is not a whole number from 1 to 10")
        return value

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in ("active", "paused"):
            return value.strip().lower()
        raise ValueError(f"{value!r}: active or paused expected")

    @model_validator(mode="after")
    def _training_order(self) -> PeerIn:
        if self.trained_on and self.trained_until < self.trained_on:
            raise ValueError("trained_until is before trained_on")
        return self

    def values(self) -> dict[str, Any]:
        return {
            "trained_on": self.trained_on,
            "trained_until": self.trained_until,
            "supports": self.supports,
            "languages": self.languages,
            "max_open_cases": self.max_open_cases,
            "active": self.status == "active",
        }


class PeerOut(BaseModel):
    staff_id: str
    display_name: str
    discipline: str
    home_unit: str
    staff_active: bool
    trained_on: date | None
    trained_until: date
    training_current: bool
    supports: list[str]
    languages: list[str]
    max_open_cases: int
    status: Literal["active", "paused"]
    # The carrier said their number cannot take SMS: never paged until the number changes.
    undeliverable_code: int | None = None
    undeliverable_at: datetime | None = None


class StaffOut(BaseModel):
    staff_id: str
    display_name: str
    discipline: str
    role: str
    home_unit: str
    mobile: str
    language: str
    tier1_lead: bool
    opted_out: bool
    # The carrier said this number cannot take SMS (code, when); a new number clears it.
    undeliverable_code: int | None
    undeliverable_at: datetime | None
    active: bool
    updated_at: datetime
    peer: PeerOut | None


def _pydantic_reasons(exc: ValidationError) -> list[str]:
    reasons = []
    for err in exc.errors():
        column = ".".join(str(p) for p in err["loc"][:1])
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "missing":
            reasons.append(f"missing field: {column}")
        elif err["type"] == "extra_forbidden":
            reasons.append(f"unknown column: {column}")
        elif column and not msg.startswith(("bad ", "unknown ")):
            reasons.append(f"bad {column}: {msg}")
        else:
            reasons.append(msg)
    return reasons


# --------------------------------------------------------------------------- CSV reading


def _read_csv(
    data: bytes | str,
    report: ImportReport,
    required: Sequence[str],
    optional: Sequence[str] = (),
) -> list[tuple[int, dict[str, str]]]:
    """Rows as (line, stripped values), or [] with the reason in the report.

    utf-8-sig because spreadsheets save CSV with a byte-order mark, which would otherwise
    turn the first column name into an unknown one. Unknown columns are refused: a
    misspelt "opted-out" would otherwise be silently ignored.
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            report.reject(line, None, "not UTF-8 text: save the export as CSV UTF-8")
            return []
    else:
        data = data.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(data, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        report.reject(1, None, "empty file: a header row is expected")
        return []
    except csv.Error as exc:
        report.reject(1, None, f"unreadable CSV: {exc}")
        return []
    known = set(required) | set(optional)
    problems = [f"missing column: {c}" for c in required if c not in header]
    problems += [f"unknown column: {c or '(blank)'}" for c in header if c not in known]
    dupes = sorted({c for c in header if header.count(c) > 1})
    problems += [f"duplicate column: {c}" for c in dupes]
    if problems:
        report.reject(1, None, "; ".join(problems))
        return []
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue  # blank lines and spreadsheets' trailing ",,,," rows
            report.rows += 1
            if len(values) > len(header):
                report.reject(
                    line,
                    values[0].strip() or None,
                    f"{len(values)} fields, the header has {len(header)}",
                )
                continue
            row = {c: "" for c in known}
            row.update({c: v.strip() for c, v in zip(header, values, strict=False)})
            rows.append((line, row))
    except csv.Error as exc:
        report.reject(reader.line_num, None, f"unreadable CSV: {exc}")
        return []
    return rows


def _missing(row: dict[str, str], columns: Iterable[str]) -> list[str]:
    gone = [c for c in columns if not row[c]]
    if not gone:
        return []
    return [f"missing field{'s' if len(gone) > 1 else ''}: {', '.join(gone)}"]


T = TypeVar("T")


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


async def _lock(session: AsyncSession) -> None:
    """One directory import at a time: a staff import checked against units that a
    concurrent units import is changing would apply against rows it never saw."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('svrr.people.import'))"))


def _finish(report: ImportReport, started: float, checked: float) -> ImportReport:
    log().info(
        "people.import",
        kind=report.kind,
        rows=report.rows,
        rejected=len(report.rejected),
        added=report.added,
        updated=report.updated,
        deactivated=report.deactivated,
        unchanged=report.unchanged,
        applied=report.applied,
        validate_ms=round((checked - started) * 1000),
        apply_ms=round((time.monotonic() - checked) * 1000),
    )
    return report


# --------------------------------------------------------------------------- units


async def import_units(
    session: AsyncSession, data: bytes | str, *, dry_run: bool = False
) -> ImportReport:
    """Upsert units. Units absent from the file are left alone: staff, shifts and incidents
    refer to them, and no export we know of is the complete list of a hospital's units."""
    started = time.monotonic()
    report = ImportReport("units", dry_run=dry_run)
    rows = _read_csv(data, report, ("code", "name", "time_zone"), ("site",))
    await _lock(session)
    wanted: dict[str, dict[str, Any]] = {}
    seen: dict[str, int] = {}
    for line, row in rows:
        code = row["code"]
        problems = _missing(row, ("code", "name", "time_zone"))
        if code and not UNIT_CODE.match(code):
            problems.append(
                f"bad code {code!r}: letters, digits, ' ', '_', '.', '/', '-'; at most 32"
            )
        elif code in seen:
            problems.append(f"duplicate unit {code} (also line {seen[code]})")
        if len(row["name"]) > 120:
            problems.append("name longer than 120 characters")
        if len(row["site"]) > 32:
            problems.append("site longer than 32 characters")
        if row["time_zone"]:
            try:
                ZoneInfo(row["time_zone"])
            except (ZoneInfoNotFoundError, ValueError):
                problems.append(f"unknown time zone {row['time_zone']!r}: IANA name expected")
        if problems:
            report.reject(line, code, "; ".join(problems))
            continue
        seen[code] = line
        wanted[code] = {
            "code": code,
            "name": row["name"],
            "site": row["site"] or "main",
            "time_zone": row["time_zone"],
            "active": True,
        }
    checked = time.monotonic()
    if not report.ok:
        return _finish(report, started, checked)
    existing = {
        u.code: u
        for u in (
            await session.execute(
                select(Unit.code, Unit.name, Unit.site, Unit.time_zone, Unit.active)
            )
        ).all()
    }
    changed = []
    for code, values in wanted.items():
        old = existing.get(code)
        if old is None:
            report.added += 1
        elif (old.name, old.site, old.time_zone, old.active) != (
            values["name"],
            values["site"],
            values["time_zone"],
            True,
        ):
            report.updated += 1
        else:
            report.unchanged += 1
            continue
        changed.append(values)
    if changed and not dry_run:
        stmt = insert(Unit.__table__)
        stmt = stmt.on_conflict_do_update(
            index_elements=["code"],
            set_={c: stmt.excluded[c] for c in ("name", "site", "time_zone", "active")},
        )
        await session.execute(stmt, changed)
        # A new site gets its row (its clock for the console, the crisis line its texts give);
        # an existing site keeps what the programme set for it.
        sites = {v["site"]: v["time_zone"] for v in changed}
        new_sites = insert(Site.__table__).on_conflict_do_nothing(index_elements=["code"])
        await session.execute(
            new_sites, [{"code": c, "name": c, "time_zone": tz} for c, tz in sites.items()]
        )
    report.applied = not dry_run
    return _finish(report, started, checked)


# --------------------------------------------------------------------------- staff

STAFF_REQUIRED = ("staff_id", "display_name", "discipline", "home_unit", "mobile")
STAFF_OPTIONAL = ("role", "language", "tier1_lead", "opted_out")
_STAFF_FIELDS = ("display_name", "discipline", "role", "home_unit", "mobile_e164", "language")


async def import_staff(
    session: AsyncSession,
    data: bytes | str,
    *,
    dry_run: bool = False,
    allow_mass_deactivation: bool = False,
) -> ImportReport:
    """Apply a full staff export: present staff are added, updated or re-activated, absent
    ones become inactive, and each unit's Tier 1 lead is whoever the file marks.

    A blank opted_out keeps what is stored: people also opt out through the coordinator, and
    the nightly HR export must not quietly opt them back in. "N" opts someone back in.
    """
    started = time.monotonic()
    report = ImportReport("staff", dry_run=dry_run)
    rows = _read_csv(data, report, STAFF_REQUIRED, STAFF_OPTIONAL)
    await _lock(session)
    units = {
        u.code: u
        for u in (
            await session.execute(select(Unit.code, Unit.active, Unit.tier1_lead_staff_id))
        ).all()
    }
    region = get_settings().default_phone_region
    wanted: dict[str, dict[str, Any]] = {}
    seen: dict[str, int] = {}
    numbers: dict[str, tuple[int, str]] = {}
    leads: dict[str, tuple[int, str]] = {}  # unit -> (line, staff id)
    opt: dict[str, bool | None] = {}
    for line, row in rows:
        sid = row["staff_id"]
        problems = _missing(row, STAFF_REQUIRED)
        if sid and not STAFF_ID.match(sid):
            problems.append(f"bad staff_id {sid!r}: letters, digits, '_', '.', '-'; at most 32")
        elif sid in seen:
            problems.append(f"duplicate staff_id {sid} (also line {seen[sid]})")
        if len(row["display_name"]) > 120:
            problems.append("display_name longer than 120 characters")
        if len(row["role"]) > 60:
            problems.append("role longer than 60 characters")
        discipline = mobile = language = None
        lead = opted_out = None
        if row["discipline"]:
            try:
                discipline = normalise_discipline(row["discipline"])
            except ValueError as exc:
                problems.append(str(exc))
        unit = row["home_unit"]
        if unit and unit not in units:
            problems.append(f"unknown unit {unit}")
        elif unit and not units[unit].active:
            problems.append(f"unit {unit} is inactive")
        if row["mobile"]:
            try:
                mobile = normalise_mobile(row["mobile"], region)
            except ValueError as exc:
                problems.append(str(exc))
            else:
                if mobile in numbers:
                    other_line, other = numbers[mobile]
                    problems.append(
                        f"mobile number also given for {other} (line {other_line}): replies "
                        "could not be told apart"
                    )
        try:
            language = normalise_language(row["language"] or "en")
        except ValueError as exc:
            problems.append(str(exc))
        for column in ("tier1_lead", "opted_out"):
            try:
                flag = _flag(row[column], column)
            except ValueError as exc:
                problems.append(str(exc))
                continue
            if column == "tier1_lead":
                lead = flag
            else:
                opted_out = flag
        if lead and unit and unit in leads:
            other_line, other = leads[unit]
            problems.append(f"second tier1_lead for unit {unit} ({other}, line {other_line})")
        if problems:
            report.reject(line, sid, "; ".join(problems))
            continue
        assert mobile is not None and discipline is not None and language is not None
        seen[sid] = line
        numbers[mobile] = (line, sid)
        if lead:
            leads[unit] = (line, sid)
        opt[sid] = opted_out
        wanted[sid] = {
            "staff_id": sid,
            "display_name": row["display_name"],
            "discipline": discipline,
            "role": row["role"],
            "home_unit": unit,
            "mobile_e164": mobile,
            "language": language,
        }
    checked = time.monotonic()
    if not report.ok:
        return _finish(report, started, checked)

    existing = {
        s.staff_id: s
        for s in (
            await session.execute(
                select(
                    Staff.staff_id,
                    *(getattr(Staff, f) for f in _STAFF_FIELDS),
                    Staff.opted_out,
                    Staff.active,
                )
            )
        ).all()
    }
    old_lead_of = {
        u.tier1_lead_staff_id: code for code, u in units.items() if u.tier1_lead_staff_id
    }
    new_lead_of = {sid: unit for unit, (_, sid) in leads.items()}
    changed: list[dict[str, Any]] = []
    for sid, values in wanted.items():
        old = existing.get(sid)
        flag = opt[sid]
        values["opted_out"] = flag if flag is not None else bool(old and old.opted_out)
        values["active"] = True
        if old is None:
            report.added += 1
            changed.append(values)
            continue
        same = (
            all(getattr(old, f) == values[f] for f in _STAFF_FIELDS)
            and old.opted_out == values["opted_out"]
            and old.active
        )
        if same and old_lead_of.get(sid) == new_lead_of.get(sid):
            report.unchanged += 1
            continue
        report.updated += 1
        if not same:
            changed.append(values)
    leaving = [sid for sid, s in existing.items() if s.active and sid not in wanted]
    report.deactivated = len(leaving)
    active = sum(1 for s in existing.values() if s.active)
    if len(leaving) > max(MASS_DEACTIVATION_MIN, active * MASS_DEACTIVATION_SHARE) and not (
        allow_mass_deactivation
    ):
        # A truncated export would otherwise silently stop outreach to most of the hospital.
        report.reject(
            1,
            None,
            f"would deactivate {len(leaving)} of {active} active staff; if this export is "
            "really complete, import it again allowing mass deactivation",
        )
        return _finish(report, started, checked)
    lead_changes = [
        {"b_code": code, "b_lead": leads[code][1] if code in leads else None}
        for code, u in units.items()
        if u.tier1_lead_staff_id != (leads[code][1] if code in leads else None)
    ]
    if not dry_run:
        if changed:
            stmt = insert(Staff.__table__)
            cols = (*_STAFF_FIELDS, "opted_out", "active")
            table = Staff.__table__.c
            same_number = table.mobile_e164 == stmt.excluded.mobile_e164
            stmt = stmt.on_conflict_do_update(
                index_elements=["staff_id"],
                set_={c: stmt.excluded[c] for c in cols}
                | {
                    "updated_at": text("now()"),
                    # A mark of "cannot receive SMS" belongs to the number: a new one clears it.
                    "undeliverable_code": case((same_number, table.undeliverable_code), else_=None),
                    "undeliverable_at": case((same_number, table.undeliverable_at), else_=None),
                },
            )
            await session.execute(stmt, changed)
        for part in _chunks(leaving):
            await session.execute(
                update(Staff.__table__)
                .where(Staff.__table__.c.staff_id.in_(part))
                .values(active=False, updated_at=text("now()"))
            )
        if lead_changes:
            table = Unit.__table__
            await session.execute(
                update(table)
                .where(table.c.code == bindparam("b_code"))
                .values(tier1_lead_staff_id=bindparam("b_lead")),
                lead_changes,
            )
    report.applied = not dry_run
    return _finish(report, started, checked)


# --------------------------------------------------------------------------- shifts

SHIFT_COLUMNS = ("staff_id", "unit", "starts_at", "ends_at")


async def import_shifts(
    session: AsyncSession, data: bytes | str, *, dry_run: bool = False
) -> ImportReport:
    """Upsert shifts on (staff_id, starts_at); shifts absent from the file are kept, since a
    scheduling export covers a window of time, not all of history.

    Staff who have since left are accepted: a past shift still says who was on the unit.
    """
    started = time.monotonic()
    report = ImportReport("shifts", dry_run=dry_run)
    rows = _read_csv(data, report, SHIFT_COLUMNS)
    await _lock(session)
    staff = set((await session.scalars(select(Staff.staff_id))).all())
    zones: dict[str, tuple[str, ZoneInfo | None]] = {}
    for code, zone_name in (await session.execute(select(Unit.code, Unit.time_zone))).all():
        try:
            zones[code] = (zone_name, ZoneInfo(zone_name))
        except (ZoneInfoNotFoundError, ValueError):
            zones[code] = (zone_name, None)
    wanted: dict[tuple[str, datetime], dict[str, Any]] = {}
    seen: dict[tuple[str, datetime], int] = {}
    for line, row in rows:
        sid, unit = row["staff_id"], row["unit"]
        problems = _missing(row, SHIFT_COLUMNS)
        if sid and sid not in staff:
            problems.append(f"unknown staff id {sid}")
        zone: ZoneInfo | None = None
        zone_name = ""
        if unit and unit not in zones:
            problems.append(f"unknown unit {unit}")
        elif unit:
            zone_name, zone = zones[unit]
            if zone is None:
                problems.append(f"unit {unit} has an unknown time zone {zone_name!r}")
        starts = ends = None
        if zone is not None:
            for column in ("starts_at", "ends_at"):
                if not row[column]:
                    continue
                try:
                    moment = wall_clock(row[column], zone, zone_name, column)
                except ValueError as exc:
                    problems.append(str(exc))
                    continue
                if column == "starts_at":
                    starts = moment
                else:
                    ends = moment
        if starts and ends:
            if ends < starts:
                problems.append("ends before it starts")
            elif ends == starts:
                problems.append("ends when it starts")
            elif ends - starts > MAX_SHIFT:
                hours = (ends - starts).total_seconds() / 3600
                problems.append(f"longer than 24 hours ({hours:g} h)")
        if starts and sid and (sid, starts) in seen:
            problems.append(
                f"duplicate shift for {sid} starting {starts.isoformat()} "
                f"(also line {seen[(sid, starts)]})"
            )
        if problems:
            report.reject(line, sid, "; ".join(problems))
            continue
        assert starts is not None and ends is not None
        seen[(sid, starts)] = line
        wanted[(sid, starts)] = {
            "staff_id": sid,
            "unit": unit,
            "starts_at": starts,
            "ends_at": ends,
        }
    checked = time.monotonic()
    if not report.ok or not wanted:
        report.applied = report.ok and not dry_run
        return _finish(report, started, checked)

    ids = sorted({sid for sid, _ in wanted})
    first = min(s for _, s in wanted)
    last = max(s for _, s in wanted)
    existing: dict[tuple[str, datetime], tuple[str, datetime]] = {}
    for part in _chunks(ids):
        found = await session.execute(
            select(Shift.staff_id, Shift.starts_at, Shift.unit, Shift.ends_at).where(
                Shift.staff_id.in_(part), Shift.starts_at.between(first, last)
            )
        )
        existing.update({(r.staff_id, r.starts_at): (r.unit, r.ends_at) for r in found})
    changed = []
    for key, values in wanted.items():
        old = existing.get(key)
        if old is None:
            report.added += 1
        elif old != (values["unit"], values["ends_at"]):
            report.updated += 1
        else:
            report.unchanged += 1
            continue
        changed.append(values)
    if changed and not dry_run:
        stmt = insert(Shift.__table__)
        stmt = stmt.on_conflict_do_update(
            index_elements=["staff_id", "starts_at"],
            set_={"unit": stmt.excluded.unit, "ends_at": stmt.excluded.ends_at},
        )
        await session.execute(stmt, changed)
    report.applied = not dry_run
    return _finish(report, started, checked)


# --------------------------------------------------------------------------- peers

PEER_COLUMNS = ("staff_id", "trained_until")
PEER_OPTIONAL = ("trained_on", "supports", "languages", "max_open_cases", "status")
_PEER_FIELDS = ("trained_on", "trained_until", "supports", "languages", "max_open_cases", "active")


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(";") if v.strip()]


async def _peer_values(session: AsyncSession) -> dict[str, tuple[Any, ...]]:
    cols = [getattr(PeerSupporter, f) for f in _PEER_FIELDS]
    found = await session.execute(select(PeerSupporter.staff_id, *cols))
    return {r[0]: tuple(r[1:]) for r in found}


async def _write_peers(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    stmt = insert(PeerSupporter.__table__)
    stmt = stmt.on_conflict_do_update(
        index_elements=["staff_id"], set_={c: stmt.excluded[c] for c in _PEER_FIELDS}
    )
    await session.execute(stmt, rows)


async def import_peers(
    session: AsyncSession, data: bytes | str, *, dry_run: bool = False
) -> ImportReport:
    """Upsert peer supporters. Peers absent from the file are untouched: the coordinator
    also adds and pauses peers one at a time, and a file is often just this term's class."""
    started = time.monotonic()
    report = ImportReport("peers", dry_run=dry_run)
    rows = _read_csv(data, report, PEER_COLUMNS, PEER_OPTIONAL)
    await _lock(session)
    found = await session.execute(select(Staff.staff_id, Staff.active))
    staff = {r.staff_id: r.active for r in found}
    wanted: dict[str, dict[str, Any]] = {}
    seen: dict[str, int] = {}
    for line, row in rows:
        sid = row["staff_id"]
        problems = _missing(row, ("staff_id",))
        if sid and sid not in staff:
            problems.append(f"unknown staff id {sid}")
        elif sid and not staff[sid]:
            problems.append(f"staff {sid} is inactive")
        elif sid in seen:
            problems.append(f"duplicate staff_id {sid} (also line {seen[sid]})")
        fields: dict[str, Any] = {
            "trained_on": row["trained_on"] or None,
            "supports": _split(row["supports"]),
            "languages": _split(row["languages"]),
        }
        for column in ("trained_until", "max_open_cases", "status"):
            if row[column]:
                fields[column] = row[column]
        try:
            peer = PeerIn(**fields)
        except ValidationError as exc:
            problems.extend(_pydantic_reasons(exc))
            peer = None
        if problems or peer is None:
            report.reject(line, sid, "; ".join(problems))
            continue
        seen[sid] = line
        wanted[sid] = {"staff_id": sid, **peer.values()}
    checked = time.monotonic()
    if not report.ok:
        return _finish(report, started, checked)
    existing = await _peer_values(session)
    changed = []
    for sid, values in wanted.items():
        old = existing.get(sid)
        if old is None:
            report.added += 1
        elif _peer_differs(old, values):
            report.updated += 1
        else:
            report.unchanged += 1
            continue
        changed.append(values)
    if changed and not dry_run:
        await _write_peers(session, changed)
    report.applied = not dry_run
    return _finish(report, started, checked)


def _peer_differs(old: tuple[Any, ...], values: dict[str, Any]) -> bool:
    return any(
        (list(o) if isinstance(o, list | tuple) else o) != values[f]
        for o, f in zip(old, _PEER_FIELDS, strict=True)
    )


IMPORTERS = {
    "units": import_units,
    "staff": import_staff,
    "shifts": import_shifts,
    "peers": import_peers,
}


# --------------------------------------------------------------------------- single records


async def upsert_peer(session: AsyncSession, staff_id: str, peer: PeerIn) -> tuple[PeerOut, bool]:
    """Add or change one peer; True when added. Only active staff can be peers: a peer who
    has left the hospital must not be paged."""
    active = await session.scalar(
        select(Staff.active).where(Staff.staff_id == staff_id).with_for_update()
    )
    if active is None:
        raise UnknownStaff(f"unknown staff id {staff_id}")
    if not active:
        raise InactiveStaff(f"staff {staff_id} is inactive")
    created = staff_id not in await _peer_ids(session, staff_id)
    await _write_peers(session, [{"staff_id": staff_id, **peer.values()}])
    log().info("people.peer_saved", staff_id=staff_id, created=created, status=peer.status)
    found = await list_peers(session, staff_id=staff_id)
    return found[0], created


async def _peer_ids(session: AsyncSession, staff_id: str) -> set[str]:
    found = await session.scalars(
        select(PeerSupporter.staff_id).where(PeerSupporter.staff_id == staff_id)
    )
    return set(found)


async def set_opt_out(session: AsyncSession, staff_id: str, opted_out: bool) -> bool:
    """Record a person's choice about outreach; True when it changed anything."""
    current = await session.scalar(
        select(Staff.opted_out).where(Staff.staff_id == staff_id).with_for_update()
    )
    if current is None:
        raise UnknownStaff(f"unknown staff id {staff_id}")
    if current == opted_out:
        return False
    await session.execute(
        update(Staff.__table__)
        .where(Staff.__table__.c.staff_id == staff_id)
        .values(opted_out=opted_out, updated_at=text("now()"))
    )
    log().info("people.opt_out", staff_id=staff_id, opted_out=opted_out)
    return True


async def list_peers(session: AsyncSession, *, staff_id: str | None = None) -> list[PeerOut]:
    stmt = (
        select(PeerSupporter, Staff)
        .join(Staff, Staff.staff_id == PeerSupporter.staff_id)
        .order_by(PeerSupporter.staff_id)
    )
    if staff_id is not None:
        stmt = stmt.where(PeerSupporter.staff_id == staff_id)
    today = clock.now().date()
    return [_peer_out(p, s, today) for p, s in (await session.execute(stmt)).all()]


def _peer_out(p: PeerSupporter, s: Staff, today: date) -> PeerOut:
    return PeerOut(
        staff_id=p.staff_id,
        display_name=s.display_name,
        discipline=s.discipline,
        home_unit=s.home_unit,
        staff_active=s.active,
        trained_on=p.trained_on,
        trained_until=p.trained_until,
        training_current=p.trained_until >= today,
        supports=list(p.supports),
        languages=list(p.languages),
        max_open_cases=p.max_open_cases,
        status="active" if p.active else "paused",
        undeliverable_code=s.undeliverable_code,
        undeliverable_at=s.undeliverable_at,
    )


async def staff_detail(session: AsyncSession, staff_id: str) -> StaffOut | None:
    staff = await session.get(Staff, staff_id)
    if staff is None:
        return None
    lead = await session.scalar(
        select(Unit.code).where(Unit.tier1_lead_staff_id == staff_id, Unit.code == staff.home_unit)
    )
    peers = await list_peers(session, staff_id=staff_id)
    return StaffOut(
        staff_id=staff.staff_id,
        display_name=staff.display_name,
        discipline=staff.discipline,
        role=staff.role,
        home_unit=staff.home_unit,
        mobile=staff.mobile_e164,
        language=staff.language,
        tier1_lead=lead is not None,
        opted_out=staff.opted_out,
        undeliverable_code=staff.undeliverable_code,
        undeliverable_at=staff.undeliverable_at,
        active=staff.active,
        updated_at=staff.updated_at,
        peer=peers[0] if peers else None,
    )
