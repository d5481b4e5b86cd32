"""Replaying kept refusals (services/feeds/replay.py, `svrr feed replay`) on PostgreSQL: a
report refused for a harm code the mapping lacked is still refused until the mapping has
it, then taken once; nothing kept cannot be replayed; a dry run keeps nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from services import clock
from services.db import transaction
from services.feeds import intake, redact, reporting
from services.feeds.adapters import reporting_mapping
from services.feeds.config import Feeds, FeedSettings
from services.feeds.intake import Disposition
from services.feeds.record import FeedRefused, Problem, Source
from services.feeds.replay import Outcome, replay
from tests.integration.test_feeds_intake import Ward, ward  # noqa: F401 (a fixture)
from tests.stack import ROOT

SHIPPED = ROOT / "services" / "feeds" / "mappings" / "reporting.yaml"


def report(w: Ward, harm: str) -> bytes:
    return json.dumps(
        {
            "report_id": f"IR-{w.tag}",
            "occurred_at": (clock.now() - timedelta(hours=2)).isoformat(),
            "unit": w.unit,
            "event_type": "serious safety event",
            "harm_scale": "NCC MERP",
            "harm": harm,
            "staff": f"{w.staff[0]}; {w.staff[1]}",
        }
    ).encode()


def with_code_j(tmp: Path) -> Path:
    """The shipped mapping, with the hospital's own NCC MERP code J read as severe."""
    text_ = SHIPPED.read_text(encoding="utf-8").replace(
        "      I: death ", "      J: severe\n      I: death ", 1
    )
    assert "J: severe" in text_
    path = tmp / "reporting.yaml"
    path.write_text(text_, encoding="utf-8")
    return path


async def refused(feed: FeedSettings, body: bytes) -> tuple[object, list[Problem]]:
    with pytest.raises(FeedRefused) as caught:
        reporting.from_webhook(body, feed=feed.feed, mapping=reporting_mapping(feed))
    problems = caught.value.problems
    kept = redact.reporting_kept(body, problems, reporting_mapping(feed))
    async with transaction() as session:
        refusal = await intake.refuse(session, feed, problems, kept=kept, at=clock.now())
    return refusal, problems


def replayed_at(db: Engine, refusal: object) -> object:
    with db.connect() as conn:
        return conn.execute(
            text("SELECT replayed_at FROM feed_refusals WHERE id = :i"), {"i": refusal}
        ).scalar_one()


async def test_a_refusal_replays_once_its_mapping_is_fixed(
    db: Engine,
    ward: Ward,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    before = FeedSettings(Source.reporting, f"rp-{ward.tag}")
    refusal, problems = await refused(before, report(ward, "J"))
    assert [p.where for p in problems] == ["harm"]

    async with transaction() as session:
        (still,) = await replay(
            session, Feeds({(before.source, before.feed): before}), at=clock.now(), ids=[refusal]
        )  # type: ignore[list-item]
    assert still.outcome is Outcome.still_refused
    assert [p.where for p in still.problems] == ["harm"]
    assert replayed_at(db, refusal) is None

    fixed = FeedSettings(Source.reporting, before.feed, mapping=with_code_j(tmp_path))
    feeds = Feeds({(fixed.source, fixed.feed): fixed})
    async with transaction() as session:
        (done,) = await replay(session, feeds, at=clock.now(), ids=[refusal])  # type: ignore[list-item]
    assert done.outcome is Outcome.taken
    (taken,) = done.taken
    assert taken.disposition is Disposition.started and taken.incident_id is not None
    assert replayed_at(db, refusal) is not None
    async with transaction() as session:
        assert await replay(session, feeds, at=clock.now(), ids=[refusal]) == []  # type: ignore[list-item]
    with db.connect() as conn:
        beat = conn.execute(
            text("SELECT received FROM feed_heartbeats WHERE feed = :f"), {"f": fixed.feed}
        ).scalar_one()
    assert beat == 0  # a replay is not the feed speaking


async def test_nothing_kept_cannot_be_replayed_and_stays(db: Engine, ward: Ward) -> None:  # noqa: F811
    feed = FeedSettings(Source.reporting, f"rn-{ward.tag}")
    async with transaction() as session:
        refusal = await intake.refuse(
            session, feed, [Problem("body", "not JSON")], kept=None, at=clock.now()
        )
        (r,) = await replay(
            session, Feeds({(feed.source, feed.feed): feed}), at=clock.now(), ids=[refusal]
        )
    assert r.outcome is Outcome.nothing_kept
    assert replayed_at(db, refusal) is None


async def test_the_command_replays_and_a_dry_run_keeps_nothing(
    db: Engine,
    ward: Ward,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    feed = FeedSettings(Source.reporting, f"rc-{ward.tag}")
    refusal, _ = await refused(feed, report(ward, "J"))
    mapping = with_code_j(tmp_path)
    (tmp_path / "feeds.yaml").write_text(
        f"reporting:\n  {feed.feed}:\n    mapping: {mapping.name}\n", encoding="utf-8"
    )
    env = dict(os.environ, SVRR_FEEDS=str(tmp_path / "feeds.yaml"))
    argv = [sys.executable, "-m", "services.cli", "feed", "replay", "--id", str(refusal)]
    dry = subprocess.run([*argv, "--dry-run"], capture_output=True, text=True, env=env)
    assert dry.returncode == 0, dry.stderr
    line = json.loads(dry.stdout.splitlines()[-1])
    assert (line["outcome"], line["dry_run"]) == ("taken", True)
    assert replayed_at(db, refusal) is None
    real = subprocess.run(argv, capture_output=True, text=True, env=env)
    assert real.returncode == 0, real.stderr
    line = json.loads(real.stdout.splitlines()[-1])
    assert line["outcome"] == "taken" and line["records"][0]["disposition"] == "started"
    assert replayed_at(db, refusal) is not None
