"""`svrr feed check` on the sample files: what it prints, its exit status, and no PHI."""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from services import cli
from services.feeds import commands
from tests.unit import feeds
from tests.unit.test_feeds_codeblue import PHI as CODEBLUE_PHI
from tests.unit.test_feeds_fhir import PHI as FHIR_PHI
from tests.unit.test_feeds_hl7 import PHI as HL7_PHI
from tests.unit.test_feeds_reporting import PHI as REPORTING_PHI

SAMPLES = feeds.SAMPLES
# Each folder's own list: one adapter's fixed wording may hold another's PHI word (the
# code-blue adapter names "cardiac arrest" as a kind; the HL7 samples' diagnosis says it).
PHI = {"codeblue": CODEBLUE_PHI, "fhir": FHIR_PHI, "hl7": HL7_PHI, "reporting": REPORTING_PHI}


def check(*argv: str | Path) -> int:
    parser = argparse.ArgumentParser(prog="svrr")
    commands.add_commands(parser.add_subparsers(dest="cmd", required=True))
    status = commands.run(parser.parse_args(["feed", "check", *map(str, argv)]))
    assert status is not None
    return status


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines()]


def test_an_hl7_death_is_taken_and_starts_outreach_with_its_ack(capsys):
    status = check("--source", "hl7v2", "--ack", SAMPLES / "hl7" / "a03_death.hl7")
    record, ack = lines(capsys)
    assert status == 0
    assert record["message"] == 1
    assert record["record"]["record_id"] == "MSG20261130-0001"
    assert record["record"]["event_type"] == "unexpected_death"
    assert record["trigger"]["action"] == "start" and record["trigger"]["rule"] == 1
    assert "severe or death" in record["trigger"]["why"]
    assert ack["ack_code"] == "AA" and "MSA|AA|MSG20261130-0001" in ack["ack"]


def test_an_hl7_file_of_several_messages_is_read_message_by_message(tmp_path, capsys):
    both = tmp_path / "night.hl7"
    both.write_bytes(
        feeds.sample("hl7", "a01_admit.hl7") + b"\r" + feeds.sample("hl7", "bad_a03_no_time.hl7")
    )
    status = check("--source", "hl7v2", both)
    ignored, refused = lines(capsys)
    assert (ignored["message"], refused["message"]) == (1, 2)
    assert "no trigger" in ignored["ignored"]
    assert refused["refused"] == [
        {"where": "EVN-2", "why": "no event time: EVN-6, PV1-45 and EVN-2 are empty"}
    ]
    assert status == 2  # nothing taken, something refused


def test_some_refused_and_some_taken_is_status_1(capsys):
    status = check(
        "--source",
        "hl7v2",
        SAMPLES / "hl7" / "a03_death.hl7",
        SAMPLES / "hl7" / "bad_no_control_id.hl7",
    )
    taken, refused = lines(capsys)
    assert status == 1
    assert "record" in taken and refused["refused"][0]["where"] == "MSH-10"


def test_bytes_that_are_no_hl7_are_refused_with_the_nak_the_listener_sends(capsys):
    status = check("--source", "hl7v2", "--ack", SAMPLES / "hl7" / "bad_not_hl7.txt")
    refused, nak = lines(capsys)
    assert status == 2
    assert refused["refused"] == [{"where": "MSH", "why": "not HL7 v2 messages"}]
    assert nak["ack_code"] == "AR" and "MSA|AR" in nak["ack"]


def test_a_csv_export_gives_one_refusal_line_a_row(capsys):
    status = check("--source", "reporting", SAMPLES / "reporting" / "export.csv")
    out = lines(capsys)
    refusals = [line for line in out if "refused" in line]
    assert status == 1
    assert [r["row"] for r in refusals] == sorted({r["row"] for r in refusals})
    assert all(p["where"].startswith(f"row {r['row']}") for r in refusals for p in r["refused"])
    ignored = [line for line in out if line.get("trigger", {}).get("action") == "ignore"]
    assert [line["record"]["record_id"] for line in ignored] == ["IR-2026-0507"]


def test_stdin_needs_a_format_for_reporting_and_reads_with_one(monkeypatch, capsys):
    assert check("--source", "reporting", "-") == 2
    assert "--format" in capsys.readouterr().err
    body = feeds.sample("reporting", "webhook_medication.json")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(body)))
    assert check("--source", "reporting", "--format", "json", "-") == 0
    [line] = lines(capsys)
    assert line["file"] == "-" and line["record"]["source"] == "reporting"


def test_fhir_with_a_version_and_the_feed_name(capsys):
    status = check(
        "--source",
        "fhir",
        "--fhir-version",
        "5.0",
        "--feed",
        "ehr",
        SAMPLES / "fhir" / "r5_adverse_event_death.json",
    )
    [line] = lines(capsys)
    assert status == 0
    assert line["record"]["feed"] == "ehr" and line["record"]["source"] == "fhir"


def test_code_blue_reads_times_in_the_zone_given(tmp_path, capsys):
    body = json.loads(feeds.sample("codeblue", "code_blue.json"))
    body["activated_at"] = "2026-07-01T03:12:00"
    no_offset = tmp_path / "cb.json"
    no_offset.write_text(json.dumps(body))
    assert check("--source", "code_blue", no_offset) == 2
    assert lines(capsys)[0]["refused"][0]["where"] == "activated_at"
    assert check("--source", "code_blue", "--zone", "Europe/London", no_offset) == 0
    assert lines(capsys)[0]["record"]["occurred_at"] == "2026-07-01T03:12:00+01:00"


def test_a_missing_file_and_a_bad_mapping(tmp_path, capsys):
    assert check("--source", "code_blue", tmp_path / "absent.json") == 2
    [line] = lines(capsys)
    assert line["refused"][0]["where"] == "file"
    assert check("--source", "code_blue", "--ack", SAMPLES / "codeblue" / "code_blue.json") == 2
    assert "--ack does not apply" in capsys.readouterr().err
    bad = SAMPLES / "reporting" / "mapping_unknown_targets.yaml"
    status = check("--source", "reporting", "--mapping", bad, SAMPLES / "reporting" / "export.csv")
    captured = capsys.readouterr()
    assert status == 2 and captured.out == ""
    assert "mapping refused" in captured.err and "line" in captured.err


SOURCES = {
    "fhir": "fhir",
    "hl7": "hl7v2",
    "reporting": "reporting",
    "codeblue": "code_blue",
}


@pytest.mark.parametrize("folder", sorted(SOURCES))
def test_no_patient_detail_from_any_sample_reaches_the_output(folder, capsys):
    files = sorted(
        p for p in (SAMPLES / folder).iterdir() if p.suffix in (".json", ".csv", ".hl7", ".txt")
    )
    extra = ["--format", "json"] if folder == "reporting" else []
    for path in files:
        if folder == "reporting" and path.suffix == ".csv":
            continue
        ack = ["--ack"] if folder == "hl7" else []
        check("--source", SOURCES[folder], *ack, *extra, path)
    if folder == "reporting":
        check("--source", "reporting", *sorted((SAMPLES / folder).glob("*.csv")))
        mapping = SAMPLES / folder / "mapping_custom.yaml"
        check("--source", "reporting", "--mapping", mapping, SAMPLES / folder / "export_custom.csv")
    captured = capsys.readouterr()
    assert captured.out  # something was printed, and none of it is a patient's
    feeds.assert_no_phi(captured.out, PHI[folder])
    feeds.assert_no_phi(captured.err, PHI[folder])


@pytest.fixture
def process_logging() -> Iterator[None]:
    """cli.main configures logging for its process, onto the stream it finds: pytest's
    capture, closed after this test. The run's configuration is put back, or every later
    test that logs writes to a closed file."""
    saved = structlog.get_config()
    handlers = list(logging.root.handlers)
    factory = logging.getLogRecordFactory()
    yield
    structlog.configure(**saved)
    logging.root.handlers[:] = handlers
    logging.setLogRecordFactory(factory)


def test_through_main_with_no_stack(capsys, process_logging):
    status = cli.main(
        ["feed", "check", "--source", "hl7v2", str(SAMPLES / "hl7" / "a03_death.hl7")]
    )
    [line] = lines(capsys)
    assert status == 0 and line["record"]["unit"] == "4E"
    with pytest.raises(SystemExit) as exit_:
        cli.main(["feed", "check", "--source", "pager", "x"])
    assert exit_.value.code == 2
