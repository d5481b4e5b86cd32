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
module only reads the form, refuses what cannot be decided, and shows the outcome.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from schemas.events import HarmLevel, IncidentType
from services.console.pages import PREFIX, render
from services.db import transaction
from services.feeds import store
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
        return f"Rule {at + 1} added (not saved yet)."
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
