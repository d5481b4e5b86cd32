"""The MLLP service's answers and its group commit (services.feeds.mllp_service), in process:
the store step is replaced by one the test controls, everything else (the listener, the
adapter, the ACK, the batching) is the service's own, over a real socket."""

from __future__ import annotations

import argparse
import asyncio
import inspect
import random
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import hl7
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import OperationalError

from schemas.events import HarmLevel, IncidentType
from services.feeds import hl7_ack, mllp_service
from services.feeds.config import FeedSettings
from services.feeds.hl7v2 import DEFAULT_TRIGGERS, Hl7Rule, Hl7Triggers
from services.feeds.mllp_service import GroupCommit, MllpService, _Work
from services.feeds.record import FeedRecord, Problem, Source
from tests.unit import feeds

START, END = b"\x0b", b"\x1c\x0d"
ADT = FeedSettings(Source.hl7v2, "adt", frozenset({"STAFFID"}))
LONDON = ZoneInfo("Europe/London")


def record(record_id: str) -> FeedRecord:
    return FeedRecord(
        source=Source.hl7v2,
        feed="adt",
        record_id=record_id,
        occurred_at=datetime(2026, 11, 30, tzinfo=UTC),
        unit="4E",
        event_type="unexpected_death",
        harm_level="death",
    )


class Store:
    """The store step: each batch is recorded and waits until the test lets it commit;
    `fail` makes the next batches raise instead."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.gate = asyncio.Event()
        self.fail: Exception | None = None
        self.refused: list[Sequence[Problem]] = []

    async def write(self, batch: list[_Work]) -> None:
        self.batches.append([w.key or "refusal" for w in batch])
        await self.gate.wait()
        if self.fail is None:
            return
        if isinstance(self.fail, OperationalError) or len(batch) > 1 or batch[0].key == "poison":
            raise self.fail


@pytest.fixture
async def store(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Store]:
    s = Store()
    monkeypatch.setattr(GroupCommit, "_write", lambda self, batch: s.write(batch))

    async def kept_refusal(work: _Work, exc: Exception, commit: GroupCommit) -> None:
        s.refused.append([*work.problems, Problem("message", type(exc).__name__)])
        work.answer(False)

    monkeypatch.setattr(
        GroupCommit, "_not_taken", lambda self, work, exc: kept_refusal(work, exc, self)
    )
    yield s


async def test_messages_waiting_while_a_transaction_runs_share_the_next_one(store: Store) -> None:
    commits = GroupCommit(ADT)
    commits.start()
    first = asyncio.ensure_future(commits.submit(_Work(records=[record("A")])))
    await until(lambda: store.batches == [["A"]])  # A's transaction has started and waits
    rest = [
        asyncio.ensure_future(commits.submit(_Work(records=[record(r)])))
        for r in ("B", "C", "B", "D")
    ]
    await asyncio.sleep(0.01)
    assert store.batches == [["A"]]
    store.gate.set()
    assert await asyncio.gather(first, *rest) == [True] * 5
    # B again is the same record: it waits for the next transaction, after the first B.
    assert store.batches == [["A"], ["B", "C", "D"], ["B"]]
    assert commits.idle()
    await commits.stop()


async def test_a_batch_is_at_most_max_batch(store: Store) -> None:
    store.gate.set()
    commits = GroupCommit(ADT, max_batch=2)
    done = [commits.submit(_Work(records=[record(str(n))])) for n in range(5)]
    commits.start()
    assert await asyncio.gather(*done) == [True] * 5
    assert store.batches == [["0", "1"], ["2", "3"], ["4"]]
    await commits.stop()


async def test_a_store_outage_fails_every_message_of_the_batch(store: Store) -> None:
    store.gate.set()
    store.fail = OperationalError("SELECT 1", {}, OSError("connection refused"))
    commits = GroupCommit(ADT)
    done = [commits.submit(_Work(records=[record(r)])) for r in ("A", "B")]
    commits.start()
    results = await asyncio.gather(*done, return_exceptions=True)
    assert all(isinstance(r, OperationalError) for r in results)
    assert store.batches == [["A", "B"]]  # not tried one by one: the store is down
    await commits.stop()


async def test_a_message_the_store_refuses_alone_is_kept_and_the_others_are_taken(
    store: Store,
) -> None:
    store.gate.set()
    store.fail = ValueError("a constraint the code broke")
    commits = GroupCommit(ADT)
    done = [commits.submit(_Work(records=[record(r)])) for r in ("A", "poison", "B")]
    commits.start()
    assert await asyncio.gather(*done) == [True, False, True]
    assert store.batches == [["A", "poison", "B"], ["A"], ["poison"], ["B"]]
    assert [p.why for p in store.refused[0]] == ["ValueError"]
    await commits.stop()


class Sender:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    def send(self, message: bytes) -> None:
        self.writer.write(START + message + END)

    async def answer(self) -> bytes | None:
        try:
            return (await self.reader.readuntil(END))[1:-2]
        except asyncio.IncompleteReadError:
            return None


@pytest.fixture
async def service(store: Store) -> AsyncIterator[tuple[MllpService, Sender]]:
    svc = MllpService(ADT)
    svc.heartbeat.every = 3600  # counted, never flushed here (no store)
    _host, port = await svc.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    yield svc, Sender(reader, writer)
    writer.close()
    store.gate.set()
    await svc.listener.close()
    await svc.commits.stop()
    svc.heartbeat.received = 0
    await svc.heartbeat.stop()


async def until(probe: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for what the service does in its own time (a loaded machine is slow)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not probe():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.005)


def msa(ack: bytes) -> bytes:
    return next(s for s in ack.split(b"\r") if s.startswith(b"MSA|")).split(b"|")[1]


async def test_a_death_is_answered_only_once_its_transaction_returns(
    store: Store, service: tuple[MllpService, Sender]
) -> None:
    _svc, sender = service
    sender.send(feeds.sample("hl7", "a03_death.hl7"))
    answer = asyncio.ensure_future(sender.answer())
    await until(lambda: store.batches == [["MSG20261130-0001"]])
    await asyncio.sleep(0.1)
    assert not answer.done()
    store.gate.set()
    ack = await asyncio.wait_for(answer, 5)
    assert ack is not None and msa(ack) == b"AA"


async def test_a_message_that_is_no_trigger_is_answered_without_the_store(
    store: Store, service: tuple[MllpService, Sender]
) -> None:
    svc, sender = service
    for name in ("a01_admit.hl7", "a03_discharged_home.hl7", "a03_death_training.hl7"):
        sender.send(feeds.sample("hl7", name))
        ack = await asyncio.wait_for(sender.answer(), 5)
        assert ack is not None and msa(ack) == b"AA"
    assert store.batches == [] and svc.heartbeat.received == 3


async def test_a_refusal_is_stored_before_its_nak_with_the_redacted_message(
    store: Store, service: tuple[MllpService, Sender], monkeypatch: pytest.MonkeyPatch
) -> None:
    svc, sender = service
    seen: list[_Work] = []
    submit = svc.commits.submit

    async def spy(work: _Work) -> bool:
        seen.append(work)
        return await submit(work)

    monkeypatch.setattr(svc.commits, "submit", spy)
    sender.send(feeds.sample("hl7", "bad_a03_no_pv1.hl7"))
    answer = asyncio.ensure_future(sender.answer())
    await until(lambda: store.batches == [["refusal"]])
    await asyncio.sleep(0.1)
    assert not answer.done()
    store.gate.set()
    nak = await asyncio.wait_for(answer, 5)
    assert nak is not None and msa(nak) == b"AE" and b"\rERR|" in nak
    (work,) = seen
    assert [p.where for p in work.problems] == ["PV1"]
    assert work.kept is not None and "PID" not in work.kept["message"]


async def test_a_store_outage_hangs_up_without_an_answer_and_the_next_connection_works(
    store: Store, service: tuple[MllpService, Sender]
) -> None:
    svc, sender = service
    store.fail = OperationalError("SELECT 1", {}, OSError("connection refused"))
    store.gate.set()
    sender.send(feeds.sample("hl7", "a03_death.hl7"))
    assert await asyncio.wait_for(sender.answer(), 5) is None
    store.fail = None
    reader, writer = await asyncio.open_connection("127.0.0.1", svc.listener.port)
    again = Sender(reader, writer)
    again.send(feeds.sample("hl7", "a03_death.hl7"))
    ack = await asyncio.wait_for(again.answer(), 5)
    writer.close()
    assert ack is not None and msa(ack) == b"AA"


async def test_a_stopping_service_finishes_the_transaction_in_flight(
    store: Store, service: tuple[MllpService, Sender]
) -> None:
    svc, sender = service
    sender.send(feeds.sample("hl7", "a03_death.hl7"))
    answer = asyncio.ensure_future(sender.answer())
    await until(lambda: bool(store.batches))
    stopping = asyncio.ensure_future(svc.stop())
    await asyncio.sleep(0.1)
    assert not stopping.done()  # waits for the commit in flight
    store.gate.set()
    ack = await asyncio.wait_for(answer, 5)
    assert ack is not None and msa(ack) == b"AA"
    await asyncio.wait_for(stopping, 5)
    assert mllp_service.DRAIN_S > 1


async def test_a_stop_waits_for_the_answer_of_a_committed_message(
    store: Store, service: tuple[MllpService, Sender]
) -> None:
    """Committed is not yet answered: between the commit and the ACK on the wire the
    connection's task still has to run. A stop that waited for the commits alone closed the
    connections in that gap (a loaded machine widens it), and the sender never heard that
    its death message was taken. Here the gap is made wide on purpose."""
    svc, sender = service
    handle = svc.listener.handle

    async def slow_to_answer(block: bytes) -> object:
        answer = handle(block)
        ack = await answer if inspect.isawaitable(answer) else answer
        await asyncio.sleep(0.3)
        return ack

    svc.listener.handle = slow_to_answer
    sender.send(feeds.sample("hl7", "a03_death.hl7"))
    answer = asyncio.ensure_future(sender.answer())
    await until(lambda: bool(store.batches))
    stopping = asyncio.ensure_future(svc.stop())
    store.gate.set()
    ack = await asyncio.wait_for(answer, 5)
    assert ack is not None and msa(ack) == b"AA"
    await asyncio.wait_for(stopping, 5)


# --- the narrowed read: the same answer for a fraction of the parse ------------------------

SAMPLES = sorted(p.name for p in (feeds.SAMPLES / "hl7").iterdir())
SITE = Hl7Triggers.deaths_and(
    Hl7Rule(
        message_type="ADT",
        events=frozenset({"A08"}),
        event_type=IncidentType.serious_safety_event,
        harm_level=HarmLevel.severe,
        field="ZSE-2",
        values=frozenset({"SSE"}),
        required=False,
    )
)


def both(block: bytes, triggers: Hl7Triggers = DEFAULT_TRIGGERS) -> None:
    """The service's narrowed read and the adapter's whole read agree on everything: the
    records, the ACK code, the problems and the ACK itself (but for its own time and id)."""
    kw = {"feed": "adt", "triggers": triggers, "zone": LONDON, "staff_system": "STAFFID"}
    whole = hl7_ack.receive(block, **kw)
    narrow = mllp_service.receive(block, wanted=mllp_service._wanted(triggers), **kw)
    assert narrow.records == whole.records
    assert (narrow.code, narrow.problems) == (whole.code, whole.problems)
    assert _ack_body(narrow.ack) == _ack_body(whole.ack)


def _ack_body(ack: bytes) -> list[str]:
    message = hl7.parse(ack.decode())
    msh = message.segment("MSH")
    msh.assign_field("", 7)
    msh.assign_field("", 10)
    return [str(s) for s in message]


@pytest.mark.parametrize("name", SAMPLES)
@pytest.mark.parametrize("ends", [b"\n", b"\r", b"\r\n"])
def test_every_sample_reads_the_same_narrowed(name: str, ends: bytes) -> None:
    both(feeds.sample("hl7", name).replace(b"\n", ends))
    both(feeds.sample("hl7", name).replace(b"\n", ends), SITE)


@pytest.mark.parametrize(
    "block",
    [
        b"MSH|^~\\&|A|B|C|D|20261130||ADT^A03|1|P|2.5\rEVN|A03|20261130\rMSH|^~\\&|A|B\r",
        b"BHS|^~\\&|A\rMSH|^~\\&|A|B|C|D|20261130||ADT^A03|1|P|2.5\rBTS|1",
        b"MSH|^~\\&|A|B|C|D|20261130||ADT^A03|1|P|2.5\rPID|1||\xff\xfe",
        b"   \r\n",
        b"MSH|",
        b"MSH#^~\\&#A#B#C#D#20261130##ADT^A03#C9#P#2.5\rPV1#1#I#4E####D1^^^^^^^^STAFFID"
        + b"#" * 29
        + b"41\rEVN#A03#202611301200",
    ],
    ids=["two-messages", "batch", "not-utf8", "blank", "bare-msh", "own-separator"],
)
def test_what_is_not_plainly_one_message_is_answered_the_same(block: bytes) -> None:
    both(block)


def test_a_site_segment_is_read_only_when_a_rule_names_it() -> None:
    base = feeds.sample("hl7", "a01_admit.hl7").replace(b"ADT^A01^ADT_A01", b"ADT^A08^ADT_A01")
    block = base + b"ZSE|1|SSE\n"
    both(block, SITE)
    assert "ZSE" not in (mllp_service.narrowed(block, mllp_service._wanted(DEFAULT_TRIGGERS)) or "")
    assert "PID" not in (mllp_service.narrowed(block, mllp_service._wanted(SITE)) or "PID")


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False))
def test_segments_in_any_order_read_the_same_narrowed(rng: random.Random) -> None:
    lines = feeds.sample("hl7", "a03_death.hl7").decode().strip().split("\n")
    rest = lines[1:] + ["IN1|2|X", "ROL|9|AD|AT^A^HL70443|Q1^^^^^^^^STAFFID", "OBX|2|TX"]
    rng.shuffle(rest)
    both("\r".join([lines[0], *rest[: rng.randint(1, len(rest))]]).encode())


async def test_a_count_the_heartbeat_could_not_write_is_kept_for_the_next_one() -> None:
    """The unit tests' store is a closed port: the write fails, and nothing is lost."""
    beat = mllp_service.Heartbeat(ADT)
    beat.received = 5
    await beat.flush()
    assert beat.received == 5
    beat.received += 2
    await beat.flush()
    assert beat.received == 7


def test_a_feed_that_is_not_configured_stops_at_start(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = argparse.Namespace(feed="nope", host="127.0.0.1", port=0, staff_system=None)
    assert mllp_service.main(args) == 2
    assert "no hl7v2 feed named 'nope'" in capsys.readouterr().err


DISPOSITIONS = ["", "01", "41", " 41 ", "41^Expired^HL70112", "01~20", '""', "4\\E\\1"]
DISPOSITIONS += ["\\T\\41", "41&x", "^41", "42~", "40^^", "X"]


@settings(max_examples=150, deadline=None)
@given(
    disposition=st.sampled_from(DISPOSITIONS),
    event=st.sampled_from(["A01", "A03", "A08", ""]),
    processing=st.sampled_from(["P", "T"]),
    site=st.booleans(),
    zse=st.sampled_from(["", "SSE", "X~SSE", "SSE^y", "\\F\\SSE"]),
)
def test_what_no_rule_can_match_is_read_from_the_header_alone_the_same(
    disposition: str, event: str, processing: str, site: bool, zse: str
) -> None:
    block = (
        feeds.sample("hl7", "a03_death.hl7")
        .decode()
        .replace("ADT^A03^ADT_A03", f"ADT^{event}^ADT_A03" if event else "ADT")
        .replace("|P|2.5.1", f"|{processing}|2.5.1")
        .replace("|||||||||41|", f"|||||||||{disposition}|")
    )
    both((block + f"ZSE|1|{zse}\n").encode(), SITE if site else DEFAULT_TRIGGERS)


def test_an_update_that_is_no_death_is_read_from_its_header_and_a_death_is_not() -> None:
    death = feeds.sample("hl7", "a03_death.hl7").decode().replace("\n", "\r")
    update = death.replace("|||||||||41|", "|||||||||01|")
    assert mllp_service.no_trigger(death, DEFAULT_TRIGGERS) is None
    header = mllp_service.no_trigger(update, DEFAULT_TRIGGERS)
    assert header is not None and header.split("\r")[2:] == ["PV1|"]
    assert mllp_service.no_trigger(update.replace("01|", "\\T\\01|"), DEFAULT_TRIGGERS) is None


@pytest.mark.parametrize("control_id", ["C-1", "C-2", "C^3", "C\\F\\4", "C~5"])
def test_each_aa_answers_its_own_message_with_an_id_of_its_own(control_id: str) -> None:
    admit = feeds.sample("hl7", "a01_admit.hl7").replace(b"MSG20261130-0004", control_id.encode())
    both(admit)
    first, second = (
        hl7.parse(
            mllp_service.receive(
                admit,
                feed="adt",
                triggers=DEFAULT_TRIGGERS,
                wanted=mllp_service._wanted(DEFAULT_TRIGGERS),
                zone=LONDON,
                staff_system=None,
            ).ack.decode()
        )
        for _ in range(2)
    )
    assert str(first.segment("MSA")(2)) == str(second.segment("MSA")(2)) == control_id
    assert str(first.segment("MSH")(10)) != str(second.segment("MSH")(10))
