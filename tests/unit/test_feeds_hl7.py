"""The HL7 v2 adapter and its MLLP listener, on the sample messages in the repo.

Why the samples are full of patient data: a real ADT message is (PID, NK1, visit numbers,
notes in OBX), and the promise under test is that none of it comes out, in a record, a
refusal, an ACK or a log line.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from functools import partial
from zoneinfo import ZoneInfo

import hl7
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.events import HarmLevel, IncidentType
from services.feeds import hl7v2
from services.feeds.hl7_ack import ack, receive
from services.feeds.hl7v2 import (
    AckCode,
    Hl7Refused,
    Hl7Rule,
    Hl7Triggers,
    read,
    split,
)
from services.feeds.mllp import MllpListener
from services.feeds.record import Problem, Source, StaffRef
from tests.unit import feeds

SAMPLES = feeds.SAMPLES / "hl7"
LONDON = ZoneInfo("Europe/London")
# Every patient detail the samples carry: none may leave the adapter.
PHI = (
    "MRN483920",
    "HARTLEY",
    "Hartley",
    "MARGARET",
    "19470312",
    "ELM STREET",
    "SPRINGFIELD",
    "62704",
    "555-0142",
    "555-0199",
    "123-45-6789",
    "ACCT99817261",
    "V20261130777",
    "Emily",
    "unresponsive",
    "Cardiac arrest",
    "I46.9",
    "MCR001",
)

sample = partial(feeds.sample, "hl7")


def as_cr(name: str) -> bytes:
    """A sample as a sender puts it on the wire: segments end in CR."""
    return sample(name).replace(b"\n", b"\r")


def refused(name: str, **kw) -> Hl7Refused:
    with pytest.raises(Hl7Refused) as caught:
        read(sample(name), feed="adt", **kw)
    return caught.value


def parsed(reply: hl7.Message | bytes) -> hl7.Message:
    text = reply.decode() if isinstance(reply, bytes) else str(reply)
    return hl7.parse(text)


# --- deaths --------------------------------------------------------------------------


def test_an_a03_whose_disposition_is_expired_is_an_unexpected_death() -> None:
    [record] = read(sample("a03_death.hl7"), feed="adt-main", zone=LONDON)
    assert record.source is Source.hl7v2 and record.feed == "adt-main"
    assert record.record_id == "MSG20261130-0001"  # MSH-10, never a visit number
    assert record.event_type is IncidentType.unexpected_death
    assert record.harm_level is HarmLevel.death
    assert record.raw_event == "ADT^A03 PV1-36=41" and record.raw_harm is None
    assert record.unit == "4E"  # PV1-3.1 only: room 412 and bed B are never read
    # EVN-6 (when it happened) wins over PV1-45 and EVN-2, its offset kept
    assert record.occurred_at == datetime(2026, 11, 30, 12, 55, tzinfo=UTC)


def test_staff_come_from_pv1_and_the_visits_rol_segments_by_identifier() -> None:
    [record] = read(sample("a03_death.hl7"), feed="adt")
    assert record.staff == (
        StaffRef(value="D1001", system="STAFFID", role="attending"),
        StaffRef(value="R2002", system="COMMUNITY", role="referring"),
        StaffRef(value="C3003", system="STAFFID", role="consulting"),
        StaffRef(value="N4004", system="STAFFID", role="ROL:NUR"),
        StaffRef(value="N4005", system="STAFFID", role="ROL:NUR"),
    )
    values = {s.value for s in record.staff}
    # D1001 is also admitting (PV1-17) and a ROL attending: one person, once.
    # Not taken: the patient's own primary care provider (a ROL before PV1), a person the
    # ROL removes from the role (ROL-2 DE), the insurance group's contact (a ROL after IN1).
    assert values.isdisjoint({"P9999", "T5005", "X7777"})


def test_an_a08_with_a_cwe_disposition_and_a_local_time_is_read_in_the_feeds_zone() -> None:
    [record] = read(sample("a08_death_v28.hl7"), feed="adt", zone=ZoneInfo("America/Chicago"))
    assert record.raw_event == "ADT^A08 PV1-36=20"
    # EVN-2 without an offset, 15:50 in Chicago (CST, UTC-6)
    assert record.occurred_at == datetime(2026, 11, 30, 21, 50, tzinfo=UTC)
    assert record.staff == (StaffRef(value="D1001", system="STAFFID", role="attending"),)


def test_the_time_of_death_comes_before_the_time_the_message_was_recorded() -> None:
    # Without EVN-6: PV1-45 (discharged, here expired, 14:10+01) and not EVN-2 (the A03
    # entered ten minutes later): matching compares the event's own times across feeds.
    text = sample("a03_death.hl7").decode().replace("|20261130135500+0100", "|")
    [record] = read(text, feed="adt")
    assert record.occurred_at == datetime(2026, 11, 30, 13, 10, tzinfo=UTC)


def test_a_malformed_time_is_refused_even_when_another_is_good() -> None:
    text = sample("a03_death.hl7").decode().replace("20261130142000+0100", "2026113O1420")
    with pytest.raises(Hl7Refused) as caught:
        read(text, feed="adt")
    assert [p.where for p in caught.value.problems] == ["EVN-2"]


def test_a_v23_death_with_only_a_discharge_time_uses_pv1_45() -> None:
    [record] = read(as_cr("a03_death_v23.hl7"), feed="adt")
    assert record.raw_event == "ADT^A03 PV1-36=42"
    assert record.occurred_at == datetime(2026, 11, 30, 13, 10, tzinfo=UTC)


def test_an_xcn_without_assigning_authority_takes_the_feeds_staff_system() -> None:
    text = sample("a08_death_v28.hl7").decode().replace("^^^DR^^^STAFFID", "^^^DR")
    [record] = read(text, feed="adt", staff_system="urn:oid:1.2.3.4")
    assert record.staff == (StaffRef(value="D1001", system="urn:oid:1.2.3.4", role="attending"),)
    [record] = read(text, feed="adt")
    assert record.staff[0].system is None  # the ADT system uses our staff ids


def test_a_clinician_named_without_an_identifier_is_passed_over() -> None:
    text = sample("a08_death_v28.hl7").decode().replace("D1001^NGUYEN", "^NGUYEN")
    [record] = read(text, feed="adt")
    assert record.staff == ()


def test_a_point_of_care_that_is_no_unit_code_reads_as_no_unit() -> None:
    text = sample("a03_death.hl7").decode().replace("|4E^412^B^GENHOSP|", "|4 East / step-down *|")
    [record] = read(text, feed="adt")
    assert record.unit is None


# --- not triggers --------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "a03_discharged_home.hl7",  # PV1-36 01: discharged home
        "a01_admit.hl7",  # not an event the death rule watches
        "a03_death_training.hl7",  # MSH-11 T: a test death pages no one
    ],
)
def test_a_valid_message_that_is_no_trigger_is_no_record_and_is_accepted(name: str) -> None:
    assert read(sample(name), feed="adt") == []
    received = receive(sample(name), feed="adt")
    assert received.records == [] and received.code is AckCode.accept
    assert parsed(received.ack).extract_field("MSA", 1, 1) == "AA"


# --- configured triggers -------------------------------------------------------------

RRT = Hl7Rule(
    message_type="ADT",
    events=frozenset({"A08"}),
    event_type=IncidentType.rapid_response,
    harm_level=HarmLevel.unknown,
    field="ZRR-2.1",
    values=frozenset({"RRT"}),
    required=False,  # only some A08s carry the site's ZRR segment
)


def test_a_sites_own_trigger_on_a_z_segment() -> None:
    triggers = Hl7Triggers.deaths_and(RRT)
    text = sample("a01_admit.hl7").decode().replace("ADT^A01^ADT_A01", "ADT^A08^ADT_A01")
    assert read(text, feed="adt", triggers=triggers) == []  # no ZRR: no trigger, no refusal
    [record] = read(text + "ZRR|1|RRT^Rapid response^L\n", feed="adt", triggers=triggers)
    assert record.event_type is IncidentType.rapid_response
    assert record.harm_level is HarmLevel.unknown
    assert record.raw_event == "ADT^A08 ZRR-2.1=RRT"


def test_the_death_rule_comes_first_when_a_message_matches_two() -> None:
    text = sample("a08_death_v28.hl7").decode() + "ZRR|1|RRT\n"
    [record] = read(text, feed="adt", triggers=Hl7Triggers.deaths_and(RRT))
    assert record.event_type is IncidentType.unexpected_death
    [record] = read(text, feed="adt", triggers=Hl7Triggers(rules=(RRT,)))
    assert record.event_type is IncidentType.rapid_response


def test_a_trigger_on_the_event_alone() -> None:
    every_admission = Hl7Rule(
        "ADT", frozenset({"A01"}), IncidentType.serious_safety_event, HarmLevel.severe
    )
    [record] = read(sample("a01_admit.hl7"), feed="adt", triggers=Hl7Triggers((every_admission,)))
    assert record.raw_event == "ADT^A01" and record.harm_level is HarmLevel.severe
    assert record.occurred_at == datetime(2026, 11, 30, 7, 0, tzinfo=UTC)


def test_a_training_death_triggers_where_the_site_accepts_training_messages() -> None:
    triggers = Hl7Triggers(processing_ids=frozenset({"P", "T"}))
    assert len(read(sample("a03_death_training.hl7"), feed="adt", triggers=triggers)) == 1


@pytest.mark.parametrize(
    "kw",
    [
        {"field": "PV1.36", "values": frozenset({"41"})},
        {"field": "pv1-36", "values": frozenset({"41"})},
        {"field": "PV1-36"},  # a field with no values could never trigger
    ],
)
def test_a_rule_that_cannot_be_read_is_refused_when_configured(kw: dict) -> None:
    with pytest.raises(ValueError):
        Hl7Rule("ADT", frozenset(), IncidentType.unexpected_death, HarmLevel.death, **kw)


# --- refusals ------------------------------------------------------------------------


def test_an_a03_without_pv1_is_an_error_not_a_silent_miss() -> None:
    exc = refused("bad_a03_no_pv1.hl7")
    assert exc.ack_code is AckCode.error
    assert [(p.where, p.code) for p in exc.problems] == [("PV1", hl7v2.ErrorCode.segment_sequence)]


def test_every_problem_is_told_at_once() -> None:
    exc = refused("bad_a03_times.hl7")
    assert exc.ack_code is AckCode.error
    assert [p.where for p in exc.problems] == ["EVN-6", "PV1-7[2]"]
    assert "DTM" in exc.problems[0].why and "64" in exc.problems[1].why


def test_a_death_without_any_time_is_refused() -> None:
    exc = refused("bad_a03_no_time.hl7")
    assert [p.where for p in exc.problems] == ["EVN-2"]
    assert exc.problems[0].code is hl7v2.ErrorCode.required_missing


@pytest.mark.parametrize(
    ("name", "where"),
    [("bad_no_control_id.hl7", "MSH-10"), ("bad_not_hl7.txt", "MSH")],
)
def test_a_message_without_a_usable_header_is_rejected(name: str, where: str) -> None:
    exc = refused(name)
    assert exc.ack_code is AckCode.reject
    assert [p.where for p in exc.problems] == [where]


def test_bytes_that_are_not_the_feeds_encoding_are_rejected() -> None:
    data = sample("a03_death.hl7").replace(b"NGUYEN", b"NGUY\xc9N")  # latin-1 E acute
    with pytest.raises(Hl7Refused) as caught:
        read(data, feed="adt")
    exc = caught.value
    assert exc.ack_code is AckCode.reject and "utf-8" in exc.problems[0].why
    [record] = read(data, feed="adt", encoding="latin-1")
    assert record.record_id == "MSG20261130-0001"


# --- the ACK -------------------------------------------------------------------------


def test_the_ack_swaps_sender_and_receiver_and_names_the_message() -> None:
    reply = parsed(ack(as_cr("a03_death.hl7"), AckCode.accept))
    assert [reply.extract_field("MSH", 1, n) for n in (3, 4, 5, 6)] == [
        "SVRR",
        "GENHOSP",
        "EPICADT",
        "GENHOSP",
    ]
    assert reply.extract_field("MSH", 1, 9, 1, 1) == "ACK"
    assert reply.extract_field("MSH", 1, 9, 1, 2) == "A03"
    assert reply.extract_field("MSH", 1, 10) not in ("", "MSG20261130-0001")  # its own id
    assert reply.extract_field("MSA", 1, 1) == "AA"
    assert reply.extract_field("MSA", 1, 2) == "MSG20261130-0001"
    assert [s[0][0] for s in reply] == ["MSH", "MSA"]


def test_a_nak_has_an_err_segment_a_problem_from_v25_on() -> None:
    received = receive(as_cr("bad_a03_times.hl7"), feed="adt")
    assert received.code is AckCode.error and received.records == []
    reply = parsed(received.ack)
    assert reply.extract_field("MSA", 1, 1) == "AE"
    assert reply.extract_field("MSA", 1, 2) == "MSG20261130-0102"
    first, second = reply.segments("ERR")
    assert [first.extract_field(1, 2, 1, n) for n in (1, 2, 3)] == ["EVN", "1", "6"]
    assert [first.extract_field(1, 3, 1, n) for n in (1, 3)] == ["102", "HL70357"]
    assert first.extract_field(1, 4) == "E"
    assert first.extract_field(1, 8) == "EVN-6: not an HL7 date/time (DTM)"
    assert [second.extract_field(1, 2, 1, n) for n in (1, 2, 3, 4)] == ["PV1", "1", "7", "2"]


def test_a_nak_to_a_v23_message_uses_err_1_and_msa_3() -> None:
    received = receive(as_cr("bad_v23_times.hl7"), feed="adt")
    reply = parsed(received.ack)
    assert reply.extract_field("MSA", 1, 1) == "AE"
    assert reply.extract_field("MSA", 1, 3) == "EVN-2: not an HL7 date/time (DTM)"
    err = reply.segment("ERR")
    assert [err.extract_field(1, 1, 1, n) for n in (1, 2, 3)] == ["EVN", "1", "2"]
    assert err.extract_field(1, 1, 1, 4, 1) == "102"


def test_why_is_escaped_so_the_err_segment_keeps_its_fields() -> None:
    received = receive(as_cr("bad_a03_no_pv1.hl7"), feed="adt")
    reply = parsed(received.ack)
    assert reply.extract_field("ERR", 1, 8) == "PV1: segment missing; ADT^A03 must carry it"
    assert reply.extract_field("ERR", 1, 2, 1, 1) == "PV1"


def test_bytes_that_are_no_message_get_a_best_effort_nak() -> None:
    received = receive(b"\x00\x01 hello", feed="adt")
    reply = parsed(received.ack)
    assert received.code is AckCode.reject
    assert reply.extract_field("MSA", 1, 1) == "AR" and reply.extract_field("MSA", 1, 2) == ""
    assert reply.extract_field("ERR", 1, 3, 1, 1) == "100"


def test_a_nak_echoes_the_control_id_when_only_the_header_can_be_read() -> None:
    data = b"MSH|^~\\&|LAB|GENHOSP|SVRR|GENHOSP|20261130||ADT^A03|CTRL9|P|2.5\r\x00\x01\xff"
    received = receive(data, feed="adt")
    reply = parsed(received.ack)
    assert reply.extract_field("MSA", 1, 1) == "AR"
    assert reply.extract_field("MSA", 1, 2) == "CTRL9"
    assert reply.extract_field("MSH", 1, 5) == "LAB"


def test_a_header_too_short_for_the_librarys_ack_is_still_answered() -> None:
    received = receive(b"MSH|^~\\&|LAB\rEVN|A03", feed="adt")
    assert received.code is AckCode.reject
    assert parsed(received.ack).extract_field("MSA", 1, 1) == "AR"


def test_a_plain_problem_gets_an_internal_error_err() -> None:
    reply = parsed(ack(as_cr("a03_death.hl7"), AckCode.error, [Problem("x", "why")]))
    assert reply.extract_field("ERR", 1, 3, 1, 1) == "207"
    assert reply.extract_field("ERR", 1, 8) == "x: why"


# --- files ---------------------------------------------------------------------------


def test_a_file_of_messages_is_split_by_the_library() -> None:
    both = sample("a03_death.hl7") + sample("a01_admit.hl7")
    texts = split(both)
    assert len(texts) == 2
    assert [len(read(t, feed="adt")) for t in texts] == [1, 0]
    batch = b"BHS|^~\\&|EPICADT\n" + both + b"BTS|2\n"
    assert len(split(batch)) == 2
    with pytest.raises(Hl7Refused):
        split(sample("bad_not_hl7.txt"))


# --- no patient data out -------------------------------------------------------------


def test_no_patient_detail_leaves_the_adapter(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    names = sorted(p.name for p in SAMPLES.iterdir())
    assert len(names) >= 10
    seen = []
    for name in names:
        for data in (sample(name), as_cr(name)):
            # a PID escape python-hl7 cannot decode would be logged with its field
            data = data.replace(b"HARTLEY^MARGARET", b"HART\\Zq\\LEY^MARGARET")
            try:
                seen.append(repr(read(data, feed="adt", zone=LONDON)))
            except Hl7Refused as exc:
                seen.append(str(exc))
                seen.append(repr(exc.problems))
            seen.append(repr(receive(data, feed="adt")))
    seen.append(caplog.text)
    blob = "\n".join(seen)
    assert "unexpected_death" in blob and "ERR" in blob  # the scan saw records and NAKs
    leaked = [p for p in PHI if p in blob]
    assert leaked == []


# --- MLLP ----------------------------------------------------------------------------

SB, EB_CR = b"\x0b", b"\x1c\x0d"


async def exchange(port: int, *blocks: bytes) -> list[bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answers = []
    try:
        for block in blocks:
            writer.write(block)
            await writer.drain()
            answer = await asyncio.wait_for(reader.readuntil(EB_CR), 5)
            assert answer.startswith(SB)
            answers.append(answer[1:-2])
    finally:
        writer.close()
    return answers


def framed(data: bytes) -> bytes:
    return SB + data + EB_CR


async def test_the_listener_acks_each_message_in_order_on_one_connection() -> None:
    taken = []

    def handle(block: bytes) -> bytes:
        received = receive(block, feed="adt")
        taken.extend(received.records)
        return received.ack

    async with MllpListener(handle) as listener:
        answers = await exchange(
            listener.port,
            framed(as_cr("a03_death.hl7")),
            framed(as_cr("a01_admit.hl7")),
            framed(as_cr("bad_a03_no_pv1.hl7")),
        )
    codes = [
        (parsed(a).extract_field("MSA", 1, 1), parsed(a).extract_field("MSA", 1, 2))
        for a in answers
    ]
    assert codes == [
        ("AA", "MSG20261130-0001"),
        ("AA", "MSG20261130-0004"),
        ("AE", "MSG20261130-0101"),
    ]
    assert [r.record_id for r in taken] == ["MSG20261130-0001"]


async def test_the_listener_naks_a_block_without_its_start_byte_and_goes_on() -> None:
    async def handle(block: bytes) -> hl7.Message:  # an async handle is awaited
        return ack(block, AckCode.accept)

    async with MllpListener(handle) as listener:
        junk, good = await exchange(
            listener.port, b"garbage" + EB_CR, framed(as_cr("a01_admit.hl7"))
        )
    assert parsed(junk).extract_field("MSA", 1, 1) == "AR"
    assert parsed(good).extract_field("MSA", 1, 2) == "MSG20261130-0004"


async def test_a_failing_handle_closes_the_connection_without_an_ack() -> None:
    calls = []

    def handle(block: bytes) -> bytes:
        calls.append(block)
        if len(calls) == 1:
            raise ConnectionRefusedError("stream down")  # e.g. the broker is unreachable
        return receive(block, feed="adt").ack

    async with MllpListener(handle) as listener:
        reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        writer.write(framed(as_cr("a03_death.hl7")))
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed, nothing acked
        writer.close()
        # the sender resends on a new connection, and the listener is still there
        [answer] = await exchange(listener.port, framed(as_cr("a03_death.hl7")))
    assert parsed(answer).extract_field("MSA", 1, 1) == "AA"


async def test_a_block_over_the_limit_is_refused_and_the_next_keeps_its_own_ack() -> None:
    async with MllpListener(lambda b: ack(b, AckCode.accept), limit=1024) as listener:
        big, small = await exchange(
            listener.port,
            framed(as_cr("a03_death.hl7")),  # about 1.3 KiB
            framed(as_cr("a08_death_v28.hl7")),
        )
    assert parsed(big).extract_field("MSA", 1, 1) == "AR"
    assert parsed(big).extract_field("MSA", 1, 2) == "MSG20261130-0001"
    assert parsed(small).extract_field("MSA", 1, 1) == "AA"
    assert parsed(small).extract_field("MSA", 1, 2) == "MSG20261130-0002"


# --- anything at all ------------------------------------------------------------------

HEADER = "MSH|^~\\&|EPICADT|GENHOSP|SVRR|GENHOSP|20261130||ADT^A03|C1|P|2.5\r"


@settings(max_examples=150, deadline=None)
@given(
    st.text(alphabet=st.sampled_from("MSHEVNPV1ROL|^~\\&\r\n0123456789A- ."), max_size=300),
    st.booleans(),
)
def test_any_text_is_read_or_refused_and_always_answered(tail: str, with_header: bool) -> None:
    data = ((HEADER if with_header else "") + tail).encode()
    try:
        records = read(data, feed="adt")
    except Hl7Refused as exc:
        assert exc.problems
    else:
        assert len(records) <= 1
    received = receive(data, feed="adt")
    assert parsed(received.ack).extract_field("MSA", 1, 1) in ("AA", "AE", "AR")
