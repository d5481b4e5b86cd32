"""Trigger rules: which feed records start outreach, which ask the coordinator, which are dropped.

Why a table and not code: each hospital draws the line differently (one pages on every code
blue, another only on those that end in a death), and the person who draws it is the
programme's coordinator, not a developer. The table is ordered and the first rule that
matches a record decides, so a coordinator reads it top to bottom the way they would
explain it ("deaths always; then these event types; near misses never; the rest I look at").

Why `check_rules`: a table is saved from the console, so it must be refused before it can
lose a record. Two mistakes would: a table where some record meets no rule (nobody would
decide on it), and a table that ignores a record whose harm is death or severe, or whose
event type is a death (DEATH_EVENTS: a death always reaches a human, even when the source
left its harm unknown). Every problem is reported at once, with the rule's position, so
the coordinator fixes the table in one go. `decide` still answers `ask` when it is handed a
table that was never checked and no rule matches: when unsure, a human looks.

Why rows: the lead stores the table one row per rule; `rule_to_row` and `rules_from_rows`
turn rules into plain dicts of strings and lists and back, refusing a row the same way.

Positions are 1-based everywhere (rows, problems, decisions): they are what the console
shows beside each rule. Nothing here carries a patient: only enums and the coordinator's
note.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import Any, Protocol

from schemas.events import HarmLevel, IncidentType
from services.feeds.record import Source

NOTE_MAX = 200
#: Harm levels that may never be ignored: at least `ask`.
NEVER_IGNORED: frozenset[HarmLevel] = frozenset({HarmLevel.death, HarmLevel.severe})
#: Event types that are a death whatever harm level the source gave (a report may file
#: one with harm unknown or wrongly graded): they may never be ignored either.
DEATH_EVENTS: frozenset[IncidentType] = frozenset(
    {
        IncidentType.unexpected_death,
        IncidentType.failed_resuscitation,
        IncidentType.first_patient_death,
        IncidentType.staff_death,
    }
)
ROW_KEYS = ("position", "source", "event_types", "harm_levels", "action", "note")


class Action(enum.StrEnum):
    """What a record that meets a rule leads to."""

    start = "start"  # outreach starts at once: an incident and its cases are opened
    ask = "ask"  # the record waits on the coordinator's board (accept / ignore)
    ignore = "ignore"  # kept as a source record, nothing more


class Triggerable(Protocol):
    """The three fields a rule reads; a FeedRecord has them, and so does the matching
    step's record, so the rules can run on either without converting."""

    @property
    def source(self) -> Source: ...
    @property
    def event_type(self) -> IncidentType: ...
    @property
    def harm_level(self) -> HarmLevel: ...


@dataclass(frozen=True)
class RuleProblem:
    """Why a rule table (or one row of it) cannot be saved. `position` is the rule's
    1-based position, None for the table as a whole."""

    position: int | None
    why: str

    def __str__(self) -> str:
        return f"rule {self.position}: {self.why}" if self.position else self.why


@dataclass
class RulesRefused(ValueError):
    """A rule table the coordinator may not save, with every problem found."""

    problems: list[RuleProblem] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(str(p) for p in self.problems)


def _set_of(values: Iterable[Any] | None, kind: type[enum.StrEnum]) -> frozenset[Any] | None:
    if values is None:
        return None
    return frozenset(kind(v) for v in values)


@dataclass(frozen=True)
class Rule:
    """One row of the table. A criterion left as None matches anything; a set matches a
    record whose value is in it. An empty set is refused rather than read as "nothing",
    because a rule that can never match is always a mistake in an edited table."""

    action: Action
    note: str = ""
    source: Source | None = None
    event_types: frozenset[IncidentType] | None = None
    harm_levels: frozenset[HarmLevel] | None = None

    def __post_init__(self) -> None:
        # Accept plain strings and any iterable from callers; store enums and frozensets,
        # so two equal tables compare equal whatever they were built from.
        object.__setattr__(self, "action", Action(self.action))
        if self.source is not None:
            object.__setattr__(self, "source", Source(self.source))
        object.__setattr__(self, "event_types", _set_of(self.event_types, IncidentType))
        object.__setattr__(self, "harm_levels", _set_of(self.harm_levels, HarmLevel))
        problems = _own_problems(self)
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def catch_all(self) -> bool:
        """Matches every record: what a table must end with."""
        return self.source is None and self.event_types is None and self.harm_levels is None

    def matches(self, record: Triggerable) -> bool:
        return (
            (self.source is None or record.source == self.source)
            and (self.event_types is None or record.event_type in self.event_types)
            and (self.harm_levels is None or record.harm_level in self.harm_levels)
        )

    def describe(self) -> str:
        """The rule's criteria in words, for the board and the console's table."""
        if self.catch_all:
            return "any record"
        parts = []
        if self.source is not None:
            parts.append(f"source {self.source}")
        if self.event_types is not None:
            parts.append("event " + " or ".join(sorted(self.event_types)))
        if self.harm_levels is not None:
            parts.append("harm " + " or ".join(_harm_order(self.harm_levels)))
        return ", ".join(parts)


def _harm_order(levels: Iterable[HarmLevel]) -> list[str]:
    """Harm levels in the scale's order (worst last), as a reader expects them."""
    order = list(HarmLevel)
    return [str(h) for h in sorted(levels, key=order.index)]


def _own_problems(rule: Rule) -> list[str]:
    """What is wrong with one rule on its own, whatever table it sits in."""
    problems = []
    if rule.event_types is not None and not rule.event_types:
        problems.append("event types is empty: leave it out to match any event type")
    if rule.harm_levels is not None and not rule.harm_levels:
        problems.append("harm levels is empty: leave it out to match any harm level")
    if not isinstance(rule.note, str) or len(rule.note) > NOTE_MAX:
        problems.append(f"note must be text of at most {NOTE_MAX} characters")
    elif any(not c.isprintable() for c in rule.note):
        problems.append("note must be one line of printable text")
    return problems


# The triggers the domain brief lists as automatic outreach.
AUTOMATIC_TRIGGERS: frozenset[IncidentType] = frozenset(IncidentType) - {
    IncidentType.medication_error,
    IncidentType.other,
}

DEFAULT_RULES: tuple[Rule, ...] = (
    Rule(
        Action.start,
        "a death or severe harm always starts outreach",
        harm_levels=NEVER_IGNORED,
    ),
    Rule(
        Action.start,
        "programmes treat these events as automatic outreach",
        event_types=AUTOMATIC_TRIGGERS,
    ),
    Rule(
        Action.ignore,
        "near miss or no harm (NCC MERP A-D)",
        event_types=frozenset({IncidentType.medication_error, IncidentType.other}),
        harm_levels=frozenset({HarmLevel.none}),
    ),
    Rule(Action.ask, "anything else: when unsure, a human looks"),
)


@dataclass(frozen=True)
class Decision:
    """What the rules made of one record. `position` is the deciding rule's 1-based
    position, None when no rule matched; `why` is shown on the board as it is."""

    action: Action
    position: int | None
    why: str


def decide(record: Triggerable, rules: Sequence[Rule]) -> Decision:
    """The first rule that matches decides. No match (only possible with a table that was
    never checked) asks the coordinator rather than dropping the record."""
    for position, rule in enumerate(rules, start=1):
        if rule.matches(record):
            why = f"rule {position} ({rule.describe()})"
            return Decision(rule.action, position, f"{why}: {rule.note}" if rule.note else why)
    return Decision(Action.ask, None, "no rule matched: the coordinator decides")


def rule_problems(rules: Sequence[Rule]) -> list[RuleProblem]:
    """Every reason the table may not be saved, in rule order; empty when it may be."""
    problems: list[RuleProblem] = []
    if not rules:
        return [RuleProblem(None, "the table is empty: it needs a final rule matching any record")]
    first_catch_all: int | None = None
    for position, rule in enumerate(rules, start=1):
        problems += [RuleProblem(position, why) for why in _own_problems(rule)]
        if first_catch_all is not None:
            problems.append(
                RuleProblem(
                    position, f"never reached: rule {first_catch_all} before it matches any record"
                )
            )
        elif rule.catch_all:
            first_catch_all = position
    if first_catch_all is None:
        problems.append(
            RuleProblem(
                None,
                "the last rule must match any record (no source, event types or harm levels),"
                " so that every record meets a rule",
            )
        )
    problems += _ignored_deaths(rules)
    problems.sort(key=lambda p: (p.position is None, p.position or 0))
    return problems


def _ignored_deaths(rules: Sequence[Rule]) -> list[RuleProblem]:
    """Rules that would ignore a death: a record with harm death or severe, or one whose
    event type is a death (DEATH_EVENTS) whatever its harm level.

    Exact rather than cautious: every (source, event type, harm) such a record can have is
    run through the table (a few hundred cases), so an `ignore` rule that an earlier rule
    shields from such records is accepted. The example named is the first case found,
    enough for the coordinator to see what slips through."""
    found: dict[int, str] = {}
    for harm, source, event in product(_harm_order(HarmLevel), Source, IncidentType):
        probe = _Probe(source, event, HarmLevel(harm))
        if probe.harm_level not in NEVER_IGNORED and event not in DEATH_EVENTS:
            continue
        for position, rule in enumerate(rules, start=1):
            if rule.matches(probe):
                if rule.action is Action.ignore and position not in found:
                    found[position] = f"harm {harm}, source {source}, event {event}"
                break
    return [
        RuleProblem(
            position,
            f"would ignore a death or severe harm (e.g. {example});"
            " such a record must at least ask the coordinator",
        )
        for position, example in sorted(found.items())
    ]


@dataclass(frozen=True)
class _Probe:
    source: Source
    event_type: IncidentType
    harm_level: HarmLevel


def check_rules(rules: Iterable[Rule]) -> tuple[Rule, ...]:
    """The table as it may be saved, or RulesRefused with every problem at once."""
    table = tuple(rules)
    problems = rule_problems(table)
    if problems:
        raise RulesRefused(problems)
    return table


# --- rows for the store -----------------------------------------------------------------


def rule_to_row(rule: Rule, position: int) -> dict[str, Any]:
    """A rule as a plain dict of strings and lists (sorted, so a stored row is stable)."""
    return {
        "position": position,
        "source": None if rule.source is None else str(rule.source),
        "event_types": None if rule.event_types is None else sorted(map(str, rule.event_types)),
        "harm_levels": None if rule.harm_levels is None else _harm_order(rule.harm_levels),
        "action": str(rule.action),
        "note": rule.note,
    }


def rules_to_rows(rules: Sequence[Rule]) -> list[dict[str, Any]]:
    return [rule_to_row(rule, position) for position, rule in enumerate(rules, start=1)]


def _names(
    row: Mapping[str, Any], key: str, kind: type[enum.StrEnum], position: int | None
) -> tuple[frozenset[Any] | None, list[RuleProblem]]:
    """One optional set column: None, or a list of known names (an unknown one is named,
    with the accepted values, so the console can show the fix)."""
    value = row.get(key)
    if value is None:
        return None, []
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple | set | frozenset):
        return None, [RuleProblem(position, f"{key} must be a list or null")]
    known = {str(m) for m in kind}
    bad = sorted({repr(v) for v in value if not isinstance(v, str) or v not in known})
    if bad:
        why = f"{key}: unknown {', '.join(bad)} (known: {', '.join(sorted(known))})"
        return None, [RuleProblem(position, why)]
    if not value:
        why = f"{key} is empty: use null to match any"
        return None, [RuleProblem(position, why)]
    return frozenset(kind(v) for v in value), []


def rule_from_row(row: Mapping[str, Any]) -> tuple[int, Rule]:
    """One stored row back as (position, rule), or RulesRefused naming every problem."""
    pos = row.get("position") if isinstance(row, Mapping) else None
    position = pos if isinstance(pos, int) and not isinstance(pos, bool) and pos >= 1 else None
    problems: list[RuleProblem] = []
    if not isinstance(row, Mapping):
        raise RulesRefused([RuleProblem(None, "a row must be an object")])
    missing = [k for k in ROW_KEYS if k not in row]
    extra = sorted(str(k) for k in row if k not in ROW_KEYS)
    if missing:
        problems.append(RuleProblem(position, f"missing {', '.join(missing)}"))
    if extra:
        problems.append(RuleProblem(position, f"unknown field {', '.join(extra)}"))
    if position is None and "position" in row:
        problems.append(RuleProblem(None, "position must be a whole number from 1"))
    source = row.get("source")
    if source is not None and source not in {str(s) for s in Source}:
        known = ", ".join(str(s) for s in Source)
        problems.append(RuleProblem(position, f"source: unknown {source!r} (known: {known})"))
        source = None
    action = row.get("action")
    if action not in {str(a) for a in Action}:
        known = ", ".join(str(a) for a in Action)
        problems.append(RuleProblem(position, f"action: unknown {action!r} (known: {known})"))
    events, more = _names(row, "event_types", IncidentType, position)
    problems += more
    harms, more = _names(row, "harm_levels", HarmLevel, position)
    problems += more
    note = row.get("note", "")
    if not isinstance(note, str):
        problems.append(RuleProblem(position, "note must be text"))
    if problems:
        raise RulesRefused(problems)
    try:
        rule = Rule(Action(action), note, source, events, harms)  # type: ignore[arg-type]
    except ValueError as e:  # the rule's own checks: the note
        raise RulesRefused([RuleProblem(position, str(e))]) from None
    return position or 0, rule


def rules_from_rows(rows: Iterable[Mapping[str, Any]]) -> tuple[Rule, ...]:
    """A stored table back as rules in position order, checked as `check_rules` checks a
    table to save: rows that were valid when saved stay valid, and a row edited outside
    the console is refused rather than trusted. Positions must run 1, 2, 3... once each."""
    problems: list[RuleProblem] = []
    placed: list[tuple[int, Rule]] = []
    for row in rows:
        try:
            placed.append(rule_from_row(row))
        except RulesRefused as e:
            problems += e.problems
    positions = sorted(p for p, _ in placed)
    if not problems and positions != list(range(1, len(positions) + 1)):
        problems.append(RuleProblem(None, "positions must run 1, 2, 3... with none repeated"))
    if problems:
        raise RulesRefused(problems)
    return check_rules(rule for _, rule in sorted(placed, key=lambda pr: pr[0]))
