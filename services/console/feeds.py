"""The coordinator's side of the incident feeds: the trigger rule editor, and the decisions on
feed records the rules sent to them ("ask").

The editor is a draft held in the form, not in the store: moving, adding and removing rules
post the whole table back and get it re-drawn, so nothing half-edited is ever stored and the
page works without scripts. Only "Save" writes, through store.save_rules, whose check_rules is
the one judge of a table: a refused table comes back with every problem beside its rule and
the store untouched. A save made from a page opened before someone else's save is refused
too (the page carries a fingerprint of the table it started from), since saving a stale
draft would silently undo the other coordinator's rules.

Decisions go through intake.settle, which opens or widens the incident and audits; this
module only reads the form, refuses what cannot be decided (decided already, nobody known to
start outreach for) with a page saying so, and shows the outcome.

The board's feed sections (`panel`) are read in the board's own transaction and drawn by the
page and the live stream alike: above the cases, warnings (feeds quiet longer than their
`silent_after`, a stored rule table the intake cannot use, how many records wait;
feeds/_board.html), and below them the records waiting for the coordinator with their
buttons (feeds/_asked.html), so the cases stay a few Tab presses from the top. A feeds file
that cannot be read is a warning there, never a board that fails to open: the open cases
matter more.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import text as sql
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from schemas.events import HarmLevel, IncidentType
from services import clock
from services.console.pages import PREFIX, env, minutes_between, render
from services.db import transaction
from services.feeds import intake, store
from services.feeds.config import load_feeds
from services.feeds.intake import Choice
from services.feeds.mapfile import MappingInvalid
from services.feeds.record import Source
from services.feeds.triggers import (
    DEFAULT_RULES,
    NOTE_MAX,
    Action,
    Rule,
    RuleProblem,
    RulesRefused,
    rule_from_row,
    rules_to_rows,
)
from services.identity import audit
from services.identity.deps import page_role
from services.identity.models import Role
from services.identity.principal import Principal
from services.logs import log

router = APIRouter(prefix=PREFIX)
Coordinator = Annotated[Principal, Depends(page_role(Role.coordinator))]

RULES_PATH = f"{PREFIX}/feeds/rules"
#: More rules than anyone reads top to bottom; also bounds what a forged form can cost.
MAX_RULES = 40

SOURCE_LABELS = {
    Source.fhir: "FHIR AdverseEvent",
    Source.hl7v2: "HL7 v2 ADT",
    Source.reporting: "Incident reporting",
    Source.code_blue: "Code blue / rapid response",
    Source.kafka: "Integration engine (Kafka)",
}
ACTION_LABELS = {
    Action.start: "Start outreach",
    Action.ask: "Ask the coordinator",
    Action.ignore: "Ignore (keep the record only)",
}
EVENT_LABELS = {e: e.value.replace("_", " ") for e in IncidentType}
HARM_LABELS = {h: h.value for h in HarmLevel}


# --------------------------------------------------------------------------- the draft


@dataclass
class Draft:
    """The table as the form holds it: rows of plain strings, possibly not a valid table,
    each rule's problems keyed by its 1-based position (0: the table as a whole)."""

    rows: list[dict[str, Any]]
    problems: dict[int, list[str]] = field(default_factory=dict)

    def add_problems(self, found: Sequence[RuleProblem]) -> None:
        for p in found:
            self.problems.setdefault(p.position or 0, []).append(p.why)


def _blank_row() -> dict[str, Any]:
    return {"source": None, "event_types": None, "harm_levels": None, "action": "ask", "note": ""}


def _catch_all(row: Mapping[str, Any]) -> bool:
    return not any(row.get(k) for k in ("source", "event_types", "harm_levels"))


def _rows_of(rules: Sequence[Rule]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "position"} for row in rules_to_rows(list(rules))]


def fingerprint(rows: Sequence[Mapping[str, Any]]) -> str:
    """What the stored table looked like when a page was drawn: a save is refused when it
    no longer does."""
    canon = [
        {k: (sorted(v) if isinstance(v, list) else v) for k, v in sorted(dict(r).items())}
        for r in rows
    ]
    return hashlib.sha256(json.dumps(canon, default=str).encode()).hexdigest()[:32]


async def _stored_rows(session: AsyncSession) -> list[dict[str, Any]]:
    """The stored rows as they are, valid or not (store.load_rules refuses an invalid
    table; the page must still say what is stored)."""
    result = await session.execute(store.SELECT)
    return [dict(row) for row in result.mappings()]


@dataclass(frozen=True)
class Stored:
    """What the feeds run on now, and why."""

    rules: tuple[Rule, ...] | None  # None: the stored table fails its check
    refused: list[RuleProblem]  # the stored table's problems when it fails
    defaults: bool  # nothing stored (or refused): the intake decides by DEFAULT_RULES
    base: str  # fingerprint of the stored rows


async def _stored(session: AsyncSession) -> Stored:
    raw = await _stored_rows(session)
    base = fingerprint(raw)
    try:
        rules = await store.load_rules(session)
    except RulesRefused as exc:
        return Stored(None, exc.problems, True, base)
    return Stored(rules, [], not raw, base)


def _form_text(form: FormData, name: str, limit: int) -> str:
    value = form.get(name)
    return value.strip()[: limit + 1] if isinstance(value, str) else ""


def _form_set(form: FormData, name: str) -> list[str] | None:
    """Ticked boxes; none ticked means "any" (None), the only reading the form can mean:
    an empty set, a rule that can never match, is not something to offer."""
    values = sorted({v[:40] for v in form.getlist(name) if isinstance(v, str) and v})
    return values or None


def draft_from_form(form: FormData) -> Draft:
    count = _form_text(form, "rows", 3)
    n = min(int(count) if count.isdigit() else 0, MAX_RULES + 1)
    rows = []
    for i in range(n):
        rows.append(
            {
                "source": _form_text(form, f"r{i}_source", 20) or None,
                "event_types": _form_set(form, f"r{i}_event"),
                "harm_levels": _form_set(form, f"r{i}_harm"),
                "action": _form_text(form, f"r{i}_action", 10),
                "note": _form_text(form, f"r{i}_note", NOTE_MAX),
            }
        )
    return Draft(rows)


def apply_op(draft: Draft, op: str) -> str | None:
    """Edit the draft in place for a move/add/remove button; the notice to show, or None
    for an unknown op (a forged or stale form: nothing happens)."""
    rows = draft.rows
    verb, _, index = op.partition(":")
    if verb == "add":
        # Above the final rule when it is the catch-all: a rule added after it could never
        # be reached.
        at = len(rows) - 1 if rows and _catch_all(rows[-1]) else len(rows)
        rows.insert(at, _blank_row())
        return f"Rule {at + 1} added: choose what it matches and what it does (not saved yet)."
    if not index.isdigit() or int(index) >= len(rows):
        return None
    i = int(index)
    if verb == "remove":
        del rows[i]
        return f"Rule {i + 1} removed (not saved yet)."
    if verb == "up" and i > 0:
        rows[i - 1], rows[i] = rows[i], rows[i - 1]
        return f"Rule {i + 1} moved up to {i} (not saved yet)."
    if verb == "down" and i < len(rows) - 1:
        rows[i + 1], rows[i] = rows[i], rows[i + 1]
        return f"Rule {i + 1} moved down to {i + 2} (not saved yet)."
    return None


def rules_of(draft: Draft) -> list[Rule] | None:
    """The draft's rules, or None with every row's own problems recorded in the draft."""
    rules: list[Rule] = []
    problems: list[RuleProblem] = []
    for position, row in enumerate(draft.rows, start=1):
        try:
            rules.append(rule_from_row({"position": position, **row})[1])
        except RulesRefused as exc:
            problems += exc.problems
    if len(draft.rows) > MAX_RULES:
        problems.append(RuleProblem(None, f"at most {MAX_RULES} rules"))
    if problems:
        draft.add_problems(problems)
        return None
    return rules


async def _rules_page(
    request: Request,
    who: Principal,
    draft: Draft,
    stored: Stored,
    *,
    base: str,
    status_code: int = 200,
    notice: str | None = None,
    error: str | None = None,
) -> Response:
    return render(
        request,
        who,
        "feeds/rules.html",
        status_code=status_code,
        draft=draft,
        stored=stored,
        base=base,
        notice=notice,
        error=error,
        sources=list(Source),
        events=list(IncidentType),
        harms=list(HarmLevel),
        actions=list(Action),
        SOURCE_LABELS=SOURCE_LABELS,
        ACTION_LABELS=ACTION_LABELS,
        EVENT_LABELS=EVENT_LABELS,
        HARM_LABELS=HARM_LABELS,
        note_max=NOTE_MAX,
    )


@router.get(RULES_PATH.removeprefix(PREFIX), response_class=HTMLResponse)
async def rules_page(request: Request, who: Coordinator) -> Response:
    async with transaction() as session:
        stored = await _stored(session)
        await audit.record(session, who, "feed_rules.view", "feed_rules", "table")
    # A refused stored table cannot be drawn as rules; the draft starts from what the
    # intake actually runs on meanwhile (the defaults), and the warning says so.
    draft = Draft(_rows_of(stored.rules if stored.rules is not None else DEFAULT_RULES))
    saved = request.query_params.get("saved") == "1"
    return await _rules_page(
        request, who, draft, stored, base=stored.base, notice="Saved." if saved else None
    )


@router.post(RULES_PATH.removeprefix(PREFIX), response_class=HTMLResponse)
async def rules_post(request: Request, who: Coordinator) -> Response:
    form = await request.form()
    draft = draft_from_form(form)
    op = _form_text(form, "op", 12)
    base = _form_text(form, "base", 64)
    if op != "save":
        notice = apply_op(draft, op)
        async with transaction() as session:
            stored = await _stored(session)
        return await _rules_page(request, who, draft, stored, base=base, notice=notice)
    rules = rules_of(draft)
    if rules is None:
        async with transaction() as session:
            stored = await _stored(session)
        return await _rules_page(
            request, who, draft, stored, base=base, status_code=422, error=REFUSED
        )
    try:
        async with transaction() as session:
            # Taken before comparing, so no save slips in between the comparison and ours.
            await session.execute(store.LOCK)
            if fingerprint(await _stored_rows(session)) != base:
                raise _Stale
            await store.save_rules(session, rules, who)
    except RulesRefused as exc:
        draft.add_problems(exc.problems)
        log().info("feed_rules.refused", problems=len(exc.problems))
        async with transaction() as session:
            stored = await _stored(session)
        return await _rules_page(
            request, who, draft, stored, base=base, status_code=422, error=REFUSED
        )
    except _Stale:
        async with transaction() as session:
            stored = await _stored(session)
        return await _rules_page(
            request,
            who,
            draft,
            stored,
            base=base,
            status_code=409,
            error=(
                "Someone saved the rules after this page was opened. Nothing was saved: "
                "open the rules again to see theirs, then make your change there."
            ),
        )
    log().info("feed_rules.saved", rules=len(rules))
    return RedirectResponse(f"{RULES_PATH}?saved=1", status_code=303)


REFUSED = "Nothing was saved: the table below has problems, each shown beside its rule."


class _Stale(Exception):
    """The stored table changed since the page was drawn."""


# --------------------------------------------------------------------------- the board's panel


@dataclass(frozen=True)
class CandidateIncident:
    """An incident an asked record may be another record of: enough to recognise the event
    (unit, time, type, harm, how many staff), nothing about anyone."""

    id: uuid.UUID
    unit: str
    occurred_at: datetime
    event_type: str
    harm_level: str
    staff: int

    @property
    def short(self) -> str:
        return str(self.id)[:8].upper()


@dataclass(frozen=True)
class Panel:
    """The board's feed section: records waiting for the coordinator, silent feeds, and
    whether the stored rules are the ones deciding."""

    asked: list[intake.AskedRow]
    candidates: dict[uuid.UUID, CandidateIncident]
    silent: list[intake.Silence]
    feeds_unreadable: str | None  # the feeds file's problem, when it cannot be read
    rules_refused: bool  # the stored table fails its check: the defaults decide


CANDIDATES = sql(
    "SELECT id, unit, occurred_at, event_type, harm_level, cardinality(staff_ids) AS staff "
    "FROM incidents WHERE id = ANY(CAST(:ids AS uuid[]))"
)


async def panel(session: AsyncSession, at: datetime) -> Panel:
    """Read in the board's own transaction (module docstring)."""
    asked = await intake.asked(session)
    wanted = sorted({c for row in asked for c in row.candidates})
    candidates: dict[uuid.UUID, CandidateIncident] = {}
    if wanted:
        result = await session.execute(CANDIDATES, {"ids": [str(c) for c in wanted]})
        candidates = {r.id: CandidateIncident(**r._mapping) for r in result}
    unreadable = None
    silence: list[intake.Silence] = []
    try:
        silence = await intake.silent(session, load_feeds(), at=at)
    except (MappingInvalid, OSError) as exc:
        unreadable = str(exc)[:500]
        log().error("feeds.config_unreadable", error=type(exc).__name__)
    try:
        await store.load_rules(session)
        refused = False
    except RulesRefused:
        refused = True
    return Panel(asked, candidates, silence, unreadable, refused)


def quiet_for(silence: intake.Silence, at: datetime) -> str:
    """How long a silent feed has said nothing, in the board's words."""
    if silence.last_seen_at is None:
        return "never heard from"
    return f"nothing for {minutes_between(silence.last_seen_at, at)}"


def allowed(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    if minutes % 1440 == 0:
        return f"{minutes // 1440} d"
    if minutes % 60 == 0:
        return f"{minutes // 60} h"
    return f"{minutes} min"


env.globals.update(
    FEED_SOURCE_LABELS=SOURCE_LABELS,
    FEED_EVENT_LABELS=EVENT_LABELS,
    feed_quiet_for=quiet_for,
    feed_allowed=allowed,
)

DECIDED = {
    Choice.start: "Outreach started: the clinicians named on the record are being contacted.",
    Choice.join: "Joined: anyone new on the record joins that incident's outreach.",
    Choice.dismiss: "Dismissed: nothing starts for that record.",
}


def notice_of(request: Request) -> str | None:
    """The outcome of a decision, named in the board's address after the redirect (a fixed
    text per choice: nothing from the address is shown)."""
    try:
        return DECIDED[Choice(request.query_params.get("feed", ""))]
    except ValueError:
        return None


@router.post("/feeds/records/{row_id}/decision", response_class=HTMLResponse)
async def decide_record(request: Request, row_id: uuid.UUID, who: Coordinator) -> Response:
    """Start, join or dismiss an asked record. intake.settle locks the row, refuses one
    already decided (another coordinator, another tab) and writes the audit row."""
    form = await request.form()
    try:
        choice = Choice(_form_text(form, "choice", 10))
    except ValueError:
        return _cannot(request, who, 422, "Choose to start outreach, join an incident or dismiss.")
    incident_id = None
    if choice is Choice.join:
        try:
            incident_id = uuid.UUID(_form_text(form, "incident_id", 40))
        except ValueError:
            return _cannot(request, who, 422, "Choose the incident this record belongs to.")
    try:
        async with transaction() as session:
            await intake.settle(
                session, row_id, choice, who, at=clock.now(), incident_id=incident_id
            )
    except intake.NotAsked as exc:
        return _cannot(request, who, 409, f"Nothing was changed: {exc}.")
    except intake.CannotStart as exc:
        return _cannot(request, who, 409, f"Outreach cannot start from this record: {exc}.")
    return RedirectResponse(f"{PREFIX}/board?feed={choice.value}#asked-heading", status_code=303)


def _cannot(request: Request, who: Principal, status: int, message: str) -> Response:
    return render(
        request,
        who,
        "error.html",
        status_code=status,
        heading="That feed record was not decided",
        message=message,
        home=f"{PREFIX}/board#asked-heading",
        back_label="Back to the board",
    )
