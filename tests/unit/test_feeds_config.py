"""The hospital's feeds file (services.feeds.config): the shipped file loads, an unknown feed
is refused by name, and every mistake in a hospital's file is named with its line at once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from schemas.events import IncidentType
from services.feeds import hl7v2
from services.feeds.config import UnknownFeed, load_feeds, parse_feeds, shipped_feeds
from services.feeds.hl7v2 import DEATH
from services.feeds.mapfile import MappingInvalid
from services.feeds.record import Source
from tests.unit.feeds import sample


def test_the_shipped_file_lists_a_feed_of_every_kind() -> None:
    feeds = shipped_feeds()
    assert {f.source for f in feeds} == set(Source)
    adt = feeds.get(Source.hl7v2, "adt")
    assert adt.silent_after == timedelta(hours=1)
    assert adt.zone == ZoneInfo("Europe/London")
    assert adt.label == "hl7v2/adt"


def test_an_unknown_feed_is_refused_by_its_name() -> None:
    with pytest.raises(UnknownFeed, match="no hl7v2 feed named 'lab'"):
        shipped_feeds().get(Source.hl7v2, "lab")


def test_settings_are_read_and_defaults_fill_the_rest() -> None:
    feeds = parse_feeds(
        "fhir:\n"
        "  epic:\n"
        "    staff_id_systems: [urn:a, urn:b]\n"
        "    window: 90min\n"
        "    silent_after: 2d\n"
        "code_blue:\n"
        "  team: ~\n"
        "  night-team:\n"
        "    staff_system: urn:hr\n"
    )
    epic = feeds.get(Source.fhir, "epic")
    assert epic.staff_id_systems == {"urn:a", "urn:b"}
    assert (epic.window, epic.silent_after) == (timedelta(minutes=90), timedelta(days=2))
    team = feeds.get(Source.code_blue, "team")
    assert team.window == timedelta(hours=12) and team.silent_after == timedelta(hours=1)
    assert team.staff_system is None
    assert feeds.get(Source.code_blue, "night-team").staff_system == "urn:hr"


def test_every_mistake_is_named_with_its_line() -> None:
    with pytest.raises(MappingInvalid) as caught:
        parse_feeds(
            "fax:\n"
            "  x: ~\n"
            "hl7v2:\n"
            "  adt:\n"
            "    window: soon\n"
            "    zone: Mars/Olympus\n"
            "    colour: red\n"
            "  Bad Name: ~\n"
        )
    wheres = [(p.where, p.why) for p in caught.value.problems]
    assert wheres[0][0].startswith("feeds.yaml line 2, fax")
    assert "not a kind of feed" in wheres[0][1]
    joined = " | ".join(f"{w}: {y}" for w, y in wheres)
    assert "line 5, hl7v2.adt.window: a duration above zero" in joined
    assert "line 6, hl7v2.adt.zone: not an IANA time zone name" in joined
    assert "line 7, hl7v2.adt.colour: not a feed setting" in joined
    assert "hl7v2.Bad Name: a feed name is lower-case" in joined


def test_an_empty_file_or_one_without_feeds_is_refused() -> None:
    with pytest.raises(MappingInvalid, match="empty"):
        parse_feeds("")
    with pytest.raises(MappingInvalid, match="no feed is listed"):
        parse_feeds("fhir: {}\n")


def test_a_file_from_the_environment_and_its_mapping_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ours.yaml").write_text("version: 1\n")
    path = tmp_path / "feeds.yaml"
    path.write_text("reporting:\n  datix:\n    mapping: ours.yaml\n")
    monkeypatch.setenv("SVRR_FEEDS", str(path))
    feed = load_feeds().get(Source.reporting, "datix")
    assert feed.mapping == tmp_path / "ours.yaml"
    path.write_text("reporting:\n  datix:\n    mapping: missing.yaml\n")
    with pytest.raises(MappingInvalid, match="no such file"):
        load_feeds()


def test_an_hl7_feed_takes_its_own_triggers_after_the_death_rule() -> None:
    feeds = parse_feeds(
        "hl7v2:\n"
        "  adt:\n"
        "    triggers:\n"
        "      - type: ADT\n"
        "        events: [A01]\n"
        "        event_type: rapid_response\n"
        "        harm_level: unknown\n"
    )
    triggers = feeds.get(Source.hl7v2, "adt").hl7_triggers
    assert triggers.rules[0] == DEATH  # no file can remove it
    admit = sample("hl7", "a01_admit.hl7")
    (record,) = hl7v2.read(admit, feed="adt", triggers=triggers)
    assert record.event_type is IncidentType.rapid_response
    assert hl7v2.read(admit, feed="adt") == []  # not a trigger by default


def test_a_bad_trigger_is_named_with_its_line() -> None:
    with pytest.raises(MappingInvalid) as caught:
        parse_feeds(
            "hl7v2:\n"
            "  adt:\n"
            "    triggers:\n"
            "      - type: ADT\n"
            "        field: PV1-4\n"
            "        event_type: rapid_response\n"
            "        harm_level: dreadful\n"
            "      - type: ADT\n"
            "        field: PV1\n"
            "        values: [E]\n"
            "        event_type: other\n"
            "        harm_level: none\n"
            "fhir:\n"
            "  ehr:\n"
            "    triggers: []\n"
        )
    joined = " | ".join(f"{p.where}: {p.why}" for p in caught.value.problems)
    assert "line 7, hl7v2.adt.triggers[0].harm_level: not a harm level of ours" in joined
    assert "line 8, hl7v2.adt.triggers[1]: an HL7 trigger field is written SEG-n" in joined
    assert "fhir.ehr.triggers: only an hl7v2 feed has triggers" in joined
