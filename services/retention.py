"""Retention: what identifies a person goes once the programme no longer needs it.

Why: a hospital's information-security office asks when phone numbers and replies are
deleted, not only how they are protected. Peer support is confidential and programmes keep
"only whether and when support happened" (domain brief), so the store keeps a closed case's
identifying data for a configurable period (`RETENTION_DAYS`, 90 by default: long enough for
the coordinator's follow-up questions and a complaint about a page, short against the
programme's years of metrics), then sets it to NULL. Rows are never deleted where the
programme metrics count them (cases, pages, transitions): their times, states, tiers and
codes are the de-identified record, so the metrics read the same before and after a purge.

What goes, and when (each a `Rule` below):
- `cases`: a case closed more than the period ago: its pages' numbers, lookup keys and sent
  texts, its messages' numbers, keys and texts (the peer-details message, with the
  clinician's name and number, among them) and the number and text of every reply to its
  pages. A message still queued then is cancelled with it (a message that waited that long
  after its case closed must never go); a page or message being sent at that moment is left
  for the next run, and the case is marked purged (`details_purged_at`) only once nothing of
  it is in flight.
- `replies`: a reply's text as soon as it has been handled and no open case needs it: a
  peer's answer to a page once that page's case is closed; a message that answered no page
  (a clinician's) once its sender is neither the clinician of an open case nor the peer
  holding one. Why not at once: while the case is open a coordinator
  following up a flagged reply (distress, a reply that did not parse) may need what was
  written; once it is closed no decision depends on it, and a reply is the most sensitive
  thing the product holds. Why not at handling: the worker reads the stored text to handle it.
- `unlinked_inbound`, `unlinked_messages`: SMS tied to no case (a number the product does not
  know, help texts, the coordinator's messages about a colleague in crisis, a clinician's own
  replies, which answer no page) once older than the period; a reply whose sender an open
  case still needs is kept with that case.
- `dead_letters`: older than the period, deleted (a record refused by a contract may hold
  anything).
- `attention`: a coordinator's flag naming a staff member, once cleared and older than the
  period, keeps its reason and time but no longer who.
- `outbox`: published events once their topic no longer keeps them (services.outbox).

Kept on purpose: the staff directory (it is how people are paged; a leaver is removed by the
directory import), opt-outs (a STOP is honoured for good; only its lookup key is stored),
the audit log (codes and ids only, by design: services.identity.audit), staff ids on cases
(the metrics count distinct clinicians and their disciplines by them).

How it runs: every rule works in batches of at most BATCH rows, one transaction each, taking
its rows with `FOR UPDATE SKIP LOCKED` and walking them in key order (a keyset), so several
processes may purge at once, a busy row is passed over for the next run, a batch never waits
on the pager, and running it again changes nothing. The deadline engine runs it every
`RETENTION_EVERY_MINUTES` (services.cases.engine); `svrr retention purge [--dry-run]` runs it
once and prints what changed (a dry run does it all in one transaction and rolls it back).
Times come from services.clock, so a test moves past the period as it moves past a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services import clock, outbox
from services.config import Settings, get_settings
from services.db import async_engine, fetch, keyset_batch, sessionmaker
from services.logs import log

BATCH = 500
FIRST_UUID = "00000000-0000-0000-0000-000000000000"
FIRST_BIGINT = "0"

# A row "holds" identifying data while any of these is set.
PAGE_HELD = "(to_number IS NOT NULL OR to_number_key IS NOT NULL OR sent_body IS NOT NULL)"
MESSAGE_HELD = "(to_number IS NOT NULL OR to_number_key IS NOT NULL OR body IS NOT NULL)"
INBOUND_HELD = "(from_number IS NOT NULL OR from_number_key IS NOT NULL OR body IS NOT NULL)"
# A message is purged with its number: the dedupe key names the number it was sent to.
MESSAGE_PURGE = (
    "to_number = NULL, to_number_key = NULL, body = NULL, dedupe_key = 'purged:' || id::text, "
    "state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END"
)
INBOUND_PURGE = "from_number = NULL, from_number_key = NULL, body = NULL"
# An inbound SMS (alias t) that no open case needs: an answer to a page goes with that page's
# case; a message that answered no page, with its sender, while they are the clinician of an
# open case or the peer holding one.
NO_OPEN_CASE_NEEDS = """
    NOT EXISTS (
        SELECT 1 FROM pages p JOIN support_cases c ON c.id = p.case_id
        WHERE p.id = t.page_id AND c.closed_at IS NULL)
    AND (t.page_id IS NOT NULL OR (
        NOT EXISTS (
            SELECT 1 FROM staff s JOIN support_cases c ON c.staff_id = s.staff_id
            WHERE s.mobile_key = t.from_number_key AND c.closed_at IS NULL)
        AND NOT EXISTS (
            SELECT 1 FROM pages p JOIN support_cases c ON c.id = p.case_id
            WHERE p.to_number_key = t.from_number_key AND p.state = 'accepted'
              AND c.closed_at IS NULL)))
"""


@dataclass(frozen=True)
class Rule:
    """One kind of purge: a statement that does one batch and answers one row: the last key
    it took (the keyset goes on after it), how many rows it took, and the rows it changed
    in each of `tables`, in order."""

    name: str
    sql: str
    tables: tuple[str, ...]
    first: str = FIRST_UUID


CASES = Rule(
    "cases",
    f"""
    WITH due AS (
        SELECT c.id FROM support_cases c
        WHERE c.closed_at IS NOT NULL AND c.details_purged_at IS NULL
          AND c.closed_at < %(cutoff)s AND c.id > CAST(%(after)s AS uuid)
        ORDER BY c.id LIMIT %(limit)s
        FOR UPDATE OF c SKIP LOCKED
    ), p AS (
        UPDATE pages SET to_number = NULL, to_number_key = NULL, sent_body = NULL
        WHERE case_id IN (SELECT id FROM due) AND state NOT IN ('requested', 'sending')
          AND {PAGE_HELD}
        RETURNING 1
    ), m AS (
        UPDATE messages SET {MESSAGE_PURGE}
        WHERE case_id IN (SELECT id FROM due) AND state <> 'sending' AND {MESSAGE_HELD}
        RETURNING 1
    ), i AS (
        UPDATE inbound_sms SET {INBOUND_PURGE}
        WHERE page_id IN (SELECT pg.id FROM pages pg WHERE pg.case_id IN (SELECT id FROM due))
          AND {INBOUND_HELD}
        RETURNING 1
    ), c AS (
        UPDATE support_cases s SET details_purged_at = %(at)s
        WHERE s.id IN (SELECT id FROM due)
          AND NOT EXISTS (SELECT 1 FROM pages pg
                          WHERE pg.case_id = s.id AND pg.state IN ('requested', 'sending'))
          AND NOT EXISTS (SELECT 1 FROM messages mm
                          WHERE mm.case_id = s.id AND mm.state = 'sending')
        RETURNING 1
    )
    SELECT (SELECT max(id::text) FROM due), (SELECT count(*) FROM due),
           (SELECT count(*) FROM c), (SELECT count(*) FROM p), (SELECT count(*) FROM m),
           (SELECT count(*) FROM i)
    """,
    ("support_cases", "pages", "messages", "inbound_sms"),
)

# A reply's text, once handled and needed by no open case (see the module's docstring).
REPLIES = Rule(
    "replies",
    keyset_batch(
        "inbound_sms",
        "t.body IS NOT NULL AND t.handled_at IS NOT NULL AND " + NO_OPEN_CASE_NEEDS,
        "body = NULL",
    ),
    ("inbound_sms",),
)

UNLINKED_INBOUND = Rule(
    "unlinked_inbound",
    keyset_batch(
        "inbound_sms",
        f"t.page_id IS NULL AND {INBOUND_HELD} AND t.received_at < %(cutoff)s AND "
        + NO_OPEN_CASE_NEEDS,
        INBOUND_PURGE,
    ),
    ("inbound_sms",),
)

UNLINKED_MESSAGES = Rule(
    "unlinked_messages",
    keyset_batch(
        "messages",
        f"t.case_id IS NULL AND {MESSAGE_HELD} AND t.state <> 'sending' "
        "AND t.created_at < %(cutoff)s",
        MESSAGE_PURGE.replace("id::text", "c.id::text"),
    ),
    ("messages",),
)

DEAD_LETTERS = Rule(
    "dead_letters",
    keyset_batch("dead_letters", "t.received_at < %(cutoff)s", key="bigint"),
    ("dead_letters",),
    FIRST_BIGINT,
)

ATTENTION = Rule(
    "attention",
    keyset_batch(
        "case_attention",
        "t.staff_id IS NOT NULL AND t.cleared_at IS NOT NULL AND t.at < %(cutoff)s",
        "staff_id = NULL",
        key="bigint",
    ),
    ("case_attention",),
    FIRST_BIGINT,
)

OUTBOX = Rule("outbox", outbox.PURGE_BATCH, ("outbox",), FIRST_BIGINT)

RULES: tuple[Rule, ...] = (
    CASES,
    REPLIES,
    UNLINKED_INBOUND,
    UNLINKED_MESSAGES,
    DEAD_LETTERS,
    ATTENTION,
    OUTBOX,
)


@dataclass(frozen=True)
class Report:
    """What one purge changed (or, dry, would change): rows per (rule, table)."""

    cutoff: datetime
    rows: Counter[tuple[str, str]]
    dry_run: bool

    def by_table(self) -> Counter[str]:
        totals: Counter[str] = Counter()
        for (_, table), n in self.rows.items():
            totals[table] += n
        return totals


def cutoff(settings: Settings, at: datetime) -> datetime:
    """Closed (or received) before this, a case's (or an SMS's) identifying data goes."""
    return at - timedelta(days=settings.retention_days)


async def purge(
    settings: Settings,
    *,
    dry_run: bool = False,
    at: datetime | None = None,
    limit: int = BATCH,
    stop: asyncio.Event | None = None,
) -> Report:
    """Every rule, batch after batch, until each has walked all its rows (or `stop` is set)."""
    at = at or clock.now()
    before = cutoff(settings, at)
    params = {
        "at": at,
        "cutoff": before,
        "limit": limit,
        **outbox.purge_params(at),
    }
    rows: Counter[tuple[str, str]] = Counter()
    async with contextlib.AsyncExitStack() as stack:
        # A dry run does every batch in one transaction, rolled back at the end: a later rule
        # sees what an earlier one would have changed, so the counts are the purge's own.
        shared = await stack.enter_async_context(sessionmaker()()) if dry_run else None
        for rule in RULES:
            after = rule.first
            while stop is None or not stop.is_set():
                taken, changed, last = await _batch(rule, {**params, "after": after}, shared)
                for table, n in zip(rule.tables, changed, strict=True):
                    rows[(rule.name, table)] += n
                if taken < limit or last is None:
                    break
                after = last
        if shared is not None:
            await shared.rollback()
    report = Report(before, rows, dry_run)
    changed_rows = {t: n for t, n in report.by_table().items() if n}
    log().info("retention.purged", dry_run=dry_run, **changed_rows)
    return report


async def _batch(
    rule: Rule, params: dict[str, object], shared: AsyncSession | None
) -> tuple[int, list[int], str | None]:
    """One batch of `rule`: in the dry run's `shared` transaction, else in a transaction of
    its own, committed. (rows taken, rows changed per table, the last key taken)."""
    if shared is not None:
        row = await fetch(shared, rule.sql, params)
    else:
        async with sessionmaker()() as session:  # closed on the way out: rolled back if failed
            row = await fetch(session, rule.sql, params)
            await session.commit()
    ((last, taken, *changed),) = row
    return int(taken), [int(n) for n in changed], last


async def keep_purging(settings: Settings, stop: asyncio.Event) -> None:
    """Purge every RETENTION_EVERY_MINUTES until `stop` (0: never), for a long-running process.

    The first purge waits one interval: a process that starts purges nothing in its first
    minutes, and a purge is never due to the minute. A failed purge is logged (its kind, no
    text: an error may quote a row) and tried again at the next interval; it never stops the
    process it runs in."""
    every = settings.retention_every_minutes * 60
    if every <= 0:
        return
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
        if stop.is_set():
            return
        try:
            await purge(settings, stop=stop)
        except Exception as exc:  # a purge must never stop the engine
            log().error("retention.failed", error=type(exc).__name__)


# --- `svrr retention purge [--dry-run]` ------------------------------------------------------


def add_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    ret = subparsers.add_parser("retention", help="purge identifying data past its retention")
    verbs = ret.add_subparsers(dest="retention_cmd", required=True)
    run = verbs.add_parser(
        "purge", help="purge closed cases' numbers and texts, old SMS, dead letters, outbox"
    )
    run.add_argument(
        "--dry-run", action="store_true", help="count what would change, change nothing"
    )


def run(args: argparse.Namespace) -> int | None:
    if args.cmd != "retention":
        return None
    return asyncio.run(_purge_command(get_settings(), args.dry_run))


async def _purge_command(settings: Settings, dry_run: bool) -> int:
    try:
        report = await purge(settings, dry_run=dry_run)
    finally:
        await async_engine().dispose()
    print(render(report, settings))
    return 0


def render(report: Report, settings: Settings) -> str:
    """The CLI's table: one line per rule and table, then the totals per table."""
    head = "dry run: nothing changed; " if report.dry_run else ""
    lines = [
        f"{head}retention {settings.retention_days} days: cases closed and SMS received "
        f"before {report.cutoff.isoformat(timespec='seconds')}"
    ]
    verb = "would change" if report.dry_run else "changed"
    for rule in RULES:
        for table in rule.tables:
            lines.append(f"  {rule.name:<18} {table:<14} {report.rows[(rule.name, table)]:>8}")
    lines.append(f"rows {verb} per table:")
    totals = report.by_table()
    for table in sorted({t for r in RULES for t in r.tables}):
        lines.append(f"  {table:<14} {totals[table]:>8}")
    return "\n".join(lines)
