"""The coordinator's board: every open case, what needs a person first, and the actions.

Everything here is inside the programme (the coordinator sees who the clinician is and who
was paged); a risk manager, a peer and an administrator are refused on every route.
"""

from __future__ import annotations

import asyncio
import uuid

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sse_starlette.sse import EventSourceResponse, ServerSentEvent

from services import clock
from services.cases import attention, coordinator
from services.cases.attention import LABELS
from services.cases.machine import ALLOWED, OPEN_STATES, CaseState
from services.cases.outcomes import CLOSE_LABELS, CONTACT_LABELS, CloseReason
from services.cases.refs import case_ref, ref_bounds
from services.config import get_settings
from services.console import boardquery
from services.console import feeds as feeds_panel
from services.console.live import FEEDS, feed
from services.console.pages import PREFIX, clock_for, csrf_token, env, render
from services.db import transaction
from services.identity import audit
from services.identity.deps import current_user, page_role
from services.identity.models import Role
from services.identity.principal import Principal
from services.paging.models import SupportCase

router = APIRouter(prefix=PREFIX)
coordinator_only = page_role(Role.coordinator)
SESSION_RECHECK_S = 15.0
# Silent feeds change with the clock, not with a row: an open board re-draws its feed
# section at least this often.
FEEDS_REFRESH_S = 60.0

STATE_LABELS = {
    CaseState.identified: "Identified",
    CaseState.tier1_notified: "Unit lead told (Tier 1)",
    CaseState.peer_paged: "Peer paged",
    CaseState.waiting_coordinator: "Waiting for the coordinator",
    CaseState.peer_accepted: "Peer accepted",
    CaseState.clinician_offered: "Support offered",
    CaseState.deferred: "Clinician asked for later",
    CaseState.clinician_accepted: "Clinician accepted",
    CaseState.contact_made: "Contact made",
    CaseState.follow_up: "Following up",
    CaseState.tier3_referred: "Tier 3 referral",
    CaseState.opted_out: "Opted out (STOP)",
    CaseState.declined: "Declined",
    CaseState.closed: "Closed",
}
DEADLINE_LABELS = {
    "page_timeout": "escalates",
    "offer_reminder": "offer reminder",
    "offer_expired": "offer expires",
    "reoffer": "offer again",
    "follow_up": "follow-up",
}
env.globals.update(
    STATE_LABELS=STATE_LABELS,
    DEADLINE_LABELS=DEADLINE_LABELS,
    ATTENTION_LABELS=LABELS,
    CLOSE_LABELS=CLOSE_LABELS,
    CONTACT_LABELS=CONTACT_LABELS,
)


def _filters(
    state: str | None, tier: int | None, attention: bool, ref: str | None
) -> boardquery.Filters:
    if state and state not in {s.value for s in OPEN_STATES}:
        raise HTTPException(422, "unknown state")
    low = high = None
    if ref:
        try:
            low, high = ref_bounds(ref)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
    return boardquery.Filters(
        state=state or None, tier=tier, attention_only=attention, ref_low=low, ref_high=high
    )


class BoardQuery:
    def __init__(
        self,
        state: str | None = Query(None, max_length=24),
        tier: int | None = Query(None, ge=1, le=3),
        attention: bool = Query(False),
        ref: str | None = Query(None, max_length=12),
        page: int = Query(1, ge=1, le=10_000),
    ) -> None:
        self.filters = _filters(state, tier, attention, ref)
        self.page = page
        self.args = {
            k: v
            for k, v in (("state", state), ("tier", tier), ("attention", attention), ("ref", ref))
            if v
        }


@router.get("/board")
async def board(
    request: Request,
    q: BoardQuery = Depends(),
    who: Principal = Depends(coordinator_only),
) -> HTMLResponse:
    async with transaction() as session:
        summary = await boardquery.summary(session, q.filters)
        rows = await boardquery.rows(session, q.filters, offset=(q.page - 1) * boardquery.PAGE_SIZE)
        loose = await boardquery.loose_flags(session)
        fp = await feeds_panel.panel(session, clock.now())
        await audit.record(session, who, "board.view", "board", "open", {"shown": len(rows)})
    return render(
        request,
        who,
        "board/index.html",
        summary=summary,
        rows=rows,
        loose=loose,
        fp=fp,
        feed_notice=feeds_panel.notice_of(request),
        q=q,
        open_states=sorted(OPEN_STATES, key=list(CaseState).index),
        page_size=boardquery.PAGE_SIZE,
    )


@router.get("/board/events")
async def board_events(
    request: Request,
    q: BoardQuery = Depends(),
    who: Principal = Depends(coordinator_only),
) -> EventSourceResponse:
    """Changed rows, rendered for this viewer (their filter, their time zone)."""
    token = csrf_token(request)
    viewer_clock = clock_for(who.time_zone)
    row_template = env.get_template("board/_row.html")
    summary_template = env.get_template("board/_summary.html")

    def draw(template_rows: object) -> str:
        return row_template.render(r=template_rows, local=viewer_clock)

    async def events() -> object:
        # The counts cover every open case (a query over all of them): at most once a
        # second per board, however fast rows change; the last change's counts still come.
        clock_ = asyncio.get_running_loop().time
        last_counts, counts_owed = 0.0, False
        checked = last_feeds = clock_()
        async with feed.subscribe() as changes:
            yield ServerSentEvent(event="ready", data="listening")
            while True:
                try:
                    changed = await asyncio.wait_for(
                        changes.get(), timeout=1.0 if counts_owed else 15.0
                    )
                except TimeoutError:
                    changed = set()
                if await request.is_disconnected():
                    return
                if clock_() - checked >= SESSION_RECHECK_S:
                    # A stream outlives the request that opened it: a sign-out, a
                    # deactivation or a new role ends it within this interval.
                    still = await current_user(request)
                    if still is None or still.role is not Role.coordinator:
                        return
                    checked = clock_()
                ids = [c for c in changed if c is not None and c != FEEDS]
                feeds_due = FEEDS in changed or clock_() - last_feeds >= FEEDS_REFRESH_S
                counts_owed = counts_owed or bool(changed)
                send_counts = counts_owed and clock_() - last_counts >= 1.0
                async with transaction() as session:
                    shown = (
                        await boardquery.rows(session, q.filters, len(ids), ids=ids) if ids else []
                    )
                    summary = await boardquery.summary(session, q.filters) if send_counts else None
                    loose = await boardquery.loose_flags(session) if None in changed else None
                    fp = await feeds_panel.panel(session, clock.now()) if feeds_due else None
                for row in shown:
                    yield ServerSentEvent(event="case", data=draw(row), id=str(row.case_id))
                for gone in set(ids) - {r.case_id for r in shown}:
                    yield ServerSentEvent(event="gone", data=str(gone))
                if summary is not None:
                    last_counts, counts_owed = clock_(), False
                    yield ServerSentEvent(
                        event="summary", data=summary_template.render(summary=summary)
                    )
                if loose is not None:
                    yield ServerSentEvent(
                        event="loose",
                        data=env.get_template("board/_loose.html").render(
                            loose=loose,
                            local=viewer_clock,
                            csrf_token=token,
                        ),
                    )
                if fp is not None:
                    last_feeds = clock_()
                    for name, template in (("feeds", "_board"), ("asked", "_asked")):
                        yield ServerSentEvent(
                            event=name,
                            data=env.get_template(f"feeds/{template}.html").render(
                                fp=fp,
                                feed_notice=None,
                                local=viewer_clock,
                                now=clock.now(),
                                csrf_token=token,
                            ),
                        )
                elif not changed and summary is None:
                    yield ServerSentEvent(comment="keep-alive")

    return EventSourceResponse(events(), ping=None, headers={"Cache-Control": "no-store"})


@router.get("/cases/{case_id}")
async def case_page(
    request: Request,
    case_id: uuid.UUID,
    who: Principal = Depends(coordinator_only),
    notice: str | None = Query(None, max_length=40),
) -> HTMLResponse:
    async with transaction() as session:
        found = await coordinator.history(session, case_id)
        if found is None:
            raise HTTPException(404, "no such case")
        await audit.record(session, who, "case.view", "case", str(case_id))
    case = found.case
    return render(
        request,
        who,
        "board/case.html",
        case=case,
        ref=case_ref(case.id),
        clinician=found.clinician,
        transitions=found.transitions,
        pages=found.pages,
        pending=found.pending,
        flags=found.flags,
        actions=_possible(case.state),
        close_reasons=list(CloseReason),
        notice=NOTICES.get(notice or ""),
    )


NOTICES = {
    "seen": "Marked as seen.",
    "escalate_now": "Escalating now: the next step pages within seconds.",
    "reassign": "Reassigned: the next peer is being paged.",
    "tier3": "Referred to Tier 3.",
    "contact_made": "Contact recorded.",
    "close": "Case closed.",
}


def _possible(state: str) -> list[coordinator.Action]:
    """Only the buttons that can work for the case as it is; the server checks again."""
    s = CaseState(state)
    if s not in OPEN_STATES:
        return []
    possible = [coordinator.Action.seen]
    if s in (CaseState.peer_paged, CaseState.waiting_coordinator):
        possible.append(coordinator.Action.escalate_now)
    if s in (
        CaseState.peer_paged,
        CaseState.waiting_coordinator,
        CaseState.peer_accepted,
        CaseState.clinician_offered,
        CaseState.deferred,
        CaseState.clinician_accepted,
    ):
        possible.append(coordinator.Action.reassign)
    if s is not CaseState.tier3_referred:
        possible.append(coordinator.Action.tier3)
    if CaseState.contact_made in ALLOWED.get(s, frozenset()):
        possible.append(coordinator.Action.contact_made)
    possible.append(coordinator.Action.close)
    return possible


@router.post("/cases/{case_id}/actions")
async def case_action(
    request: Request,
    case_id: uuid.UUID,
    action: coordinator.Action = Form(),
    close_reason: str = Form(default="", max_length=32),
    who: Principal = Depends(coordinator_only),
) -> Response:
    reason = None
    if close_reason:
        try:
            reason = CloseReason(close_reason)
        except ValueError as exc:
            raise HTTPException(422, "unknown close reason") from exc
    try:
        async with transaction() as session:
            await coordinator.act(
                session, case_id, action, get_settings(), f"user:{who.id}", reason
            )
            await audit.record(
                session,
                who,
                f"case.{action.value}",
                "case",
                str(case_id),
                {"close_reason": reason.value} if reason else None,
            )
    except LookupError as exc:
        raise HTTPException(404, "no such case") from exc
    except coordinator.ActionRefused as exc:
        async with transaction() as session:
            case = await session.get(SupportCase, case_id)
        return render(
            request,
            who,
            "error.html",
            status_code=409,
            heading="That did not change the case",
            message=f"{exc}.",
            home=f"{PREFIX}/cases/{case_id}" if case else f"{PREFIX}/board",
            back_label="Back to the case",
        )
    return RedirectResponse(f"{PREFIX}/cases/{case_id}?notice={action.value}", status_code=303)


@router.post("/board/flags/{flag_id}/seen")
async def loose_flag_seen(flag_id: int, who: Principal = Depends(coordinator_only)) -> Response:
    async with transaction() as session:
        cleared = await attention.clear_one(session, flag_id, f"user:{who.id}")
        if cleared:
            await audit.record(session, who, "flag.seen", "flag", str(flag_id))
    return RedirectResponse(f"{PREFIX}/board", status_code=303)
