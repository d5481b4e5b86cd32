"""Retention without a store: the settings' bounds, the batch loop (a keyset that always moves
on, and stops), the periodic runner, the CLI's table, every rule bounded and safe beside
other purgers, the outbox's retention per topic and the topic config reconcile's diff.
What the statements change in a real store is tests/integration/test_retention.py."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from schemas.topics import DAY_MS, topics
from services import outbox, retention
from services.config import Settings

AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_retention_days_default_and_bounds() -> None:
    assert Settings().retention_days == 90
    assert Settings(retention_days=1).retention_days == 1
    for wrong in (0, -5, 3651):
        with pytest.raises(ValidationError):
            Settings(retention_days=wrong)
    with pytest.raises(ValidationError):
        Settings(retention_every_minutes=-1)


def test_cutoff_is_the_period_before_now() -> None:
    assert retention.cutoff(Settings(retention_days=30), AT) == AT - timedelta(days=30)


@pytest.mark.parametrize("rule", retention.RULES, ids=lambda r: r.name)
def test_every_rule_is_bounded_skips_locked_rows_and_walks_a_keyset(
    rule: retention.Rule,
) -> None:
    """A rule without a LIMIT would be one unbounded statement; without SKIP LOCKED two
    purgers (two engines) would queue on each other's rows; without the keyset a row it
    passes over (busy, in flight) would be taken again in the same run, for ever."""
    sql = " ".join(rule.sql.split())
    assert "LIMIT %(limit)s" in sql
    assert re.search(r"FOR UPDATE (OF \w+ )?SKIP LOCKED", sql)
    assert "> CAST(%(after)s AS" in sql
    assert len(rule.tables) >= 1


def test_no_rule_deletes_a_row_the_metrics_count() -> None:
    """Cases, pages, transitions and incidents are what the programme metrics count: their
    identifying columns are set to NULL, the rows stay."""
    counted = ("support_cases", "pages", "case_transitions", "page_transitions", "incidents")
    for rule in retention.RULES:
        for table in counted:
            assert not re.search(rf"DELETE FROM {table}\b", rule.sql), (rule.name, table)


def _fake_batches(
    monkeypatch: pytest.MonkeyPatch, taken_per_call: dict[str, list[int]]
) -> list[tuple[str, str, bool]]:
    """retention._batch replaced: each rule takes the given numbers of rows in turn, and
    changes as many in each of its tables; the calls are recorded."""
    calls: list[tuple[str, str, bool]] = []
    left = {name: list(counts) for name, counts in taken_per_call.items()}

    async def batch(
        rule: retention.Rule, params: dict[str, object], shared: object
    ) -> tuple[int, list[int], str | None]:
        calls.append((rule.name, str(params["after"]), shared is not None))
        taken = left.get(rule.name, [0]).pop(0) if left.get(rule.name) else 0
        last = f"key{len(calls)}" if taken else None
        return taken, [taken] * len(rule.tables), last

    monkeypatch.setattr(retention, "_batch", batch)
    return calls


async def test_purge_walks_each_rule_until_a_short_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_batches(monkeypatch, {"cases": [3, 3, 1], "dead_letters": [2]})
    report = await retention.purge(Settings(), at=AT, limit=3, dry_run=True)
    cases = [c for c in calls if c[0] == "cases"]
    # Each batch goes on after the last key of the one before; a short batch ends the rule.
    assert [c[1] for c in cases] == [retention.FIRST_UUID, "key1", "key2"]
    assert all(dry for _, _, dry in calls)
    assert [c for c in calls if c[0] == "dead_letters"] == [
        ("dead_letters", retention.FIRST_BIGINT, True)
    ]
    assert report.rows[("cases", "pages")] == 7
    assert report.rows[("dead_letters", "dead_letters")] == 2
    assert report.by_table()["inbound_sms"] == 7  # the cases rule's replies, nothing else here
    assert report.cutoff == AT - timedelta(days=90) and report.dry_run
    # Every rule ran, each at least once.
    assert {c[0] for c in calls} == {r.name for r in retention.RULES}


async def test_purge_stops_between_batches_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_batches(monkeypatch, {"cases": [2] * 50})
    stop = asyncio.Event()
    stop.set()
    await retention.purge(Settings(), at=AT, limit=2, stop=stop)
    assert calls == []


async def test_keep_purging_goes_on_after_a_failure_and_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs: list[int] = []
    stop = asyncio.Event()

    async def purge(settings: Settings, **kw: object) -> retention.Report:
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("the store went away")
        if len(runs) == 3:
            stop.set()
        return retention.Report(AT, Counter(), False)

    monkeypatch.setattr(retention, "purge", purge)
    settings = Settings(retention_every_minutes=0.0005)  # 30 ms
    await asyncio.wait_for(retention.keep_purging(settings, stop), 5)
    assert len(runs) == 3


async def test_keep_purging_never_runs_when_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    async def purge(settings: Settings, **kw: object) -> retention.Report:
        raise AssertionError("purged while turned off")

    monkeypatch.setattr(retention, "purge", purge)
    await asyncio.wait_for(
        retention.keep_purging(Settings(retention_every_minutes=0), asyncio.Event()), 1
    )


def test_the_cli_parses_and_prints_counts_per_table() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    retention.add_commands(sub)
    args = parser.parse_args(["retention", "purge", "--dry-run"])
    assert args.dry_run is True
    assert parser.parse_args(["retention", "purge"]).dry_run is False
    rows: Counter[tuple[str, str]] = Counter({("cases", "pages"): 4, ("replies", "inbound_sms"): 2})
    rows[("unlinked_inbound", "inbound_sms")] = 1
    out = retention.render(retention.Report(AT, rows, True), Settings(retention_days=30))
    assert out.startswith("dry run: nothing changed; retention 30 days")
    assert re.search(r"^  inbound_sms +3$", out, re.M)
    assert re.search(r"^  pages +4$", out, re.M)
    assert re.search(r"^  outbox +0$", out, re.M)


def test_outbox_keeps_a_published_row_as_long_as_its_topic_keeps_the_record() -> None:
    params = outbox.purge_params(AT)
    keep = json.loads(str(params["keep_ms"]))
    catalogue = {t.name: int(t.config["retention.ms"]) for t in topics()}
    assert keep == catalogue
    raw = next(name for name in keep if name.endswith("svrr.feed-incident-reported.v1"))
    assert keep[raw] == 3 * DAY_MS  # a raw feed record goes with its record, not a week later
    assert params["default_ms"] == 7 * DAY_MS
    assert "LIMIT %(limit)s" in outbox.PURGE_BATCH and "SKIP LOCKED" in outbox.PURGE_BATCH


def test_topic_config_changes_are_what_differs_from_the_catalogue() -> None:
    from deploy.topics import config_changes

    wanted = {"retention.ms": str(DAY_MS), "min.insync.replicas": "1"}
    assert config_changes({"retention.ms": str(DAY_MS), "min.insync.replicas": "1"}, wanted) == {}
    assert config_changes({"retention.ms": "604800000", "min.insync.replicas": "1"}, wanted) == {
        "retention.ms": str(DAY_MS)
    }
    # A key the broker does not report is set.
    assert config_changes({"retention.ms": str(DAY_MS)}, wanted) == {"min.insync.replicas": "1"}
