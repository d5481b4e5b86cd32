"""The matching rule (services.feeds.matching): one incident per event, however many feeds
report it. Small fixtures here; the night from issue 12 is played record by record, the
way the store would apply each result before the next record arrives."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.events import HarmLevel, IncidentType
from services.feeds.matching import (
    Arrival,
    Candidate,
    Match,
    MatchKind,
    SourceLink,
    match,
)
from services.feeds.record import FeedRecord, Source, StaffRef

NIGHT = datetime(2026, 11, 30, tzinfo=UTC)


def at(hhmm: str, day: int = 0) -> datetime:
    hours, minutes = hhmm.split(":")
    return NIGHT + timedelta(days=day, hours=int(hours), minutes=int(minutes))


def arrival(
    source: Source,
    record_id: str,
    when: datetime,
    unit: str | None,
    staff: str = "",
    *,
    event: IncidentType = IncidentType.code_blue,
    harm: HarmLevel = HarmLevel.unknown,
) -> Arrival:
    return Arrival(
        source=source,
        feed=f"{source}-main",
        record_id=record_id,
        occurred_at=when,
        unit=unit,
        event_type=event,
        harm_level=harm,
        staff_ids=frozenset(staff.split()),
    )


def incident(
    unit: str | None, when: datetime, staff: str = "", links: frozenset[SourceLink] = frozenset()
) -> Candidate:
    return Candidate(uuid.uuid4(), unit, when, frozenset(staff.split()), links)


class Store:
    """What the store does with a Match, as far as matching sees it: a new incident, or
    the record's link and added staff on an existing one."""

    def __init__(self) -> None:
        self.incidents: dict[uuid.UUID, Candidate] = {}

    def apply(self, record: Arrival) -> Match:
        result = match(record, self.incidents.values())
        if result.kind is MatchKind.new:
            new = Candidate(
                uuid.uuid4(),
                record.unit,
                record.occurred_at,
                record.staff_ids,
                frozenset({record.link}),
            )
            self.incidents[new.incident_id] = new
        elif result.kind in (MatchKind.joined, MatchKind.linked):
            assert result.incident_id is not None
            old = self.incidents[result.incident_id]
            self.incidents[old.incident_id] = Candidate(
                old.incident_id,
                old.unit,
                min(old.occurred_at, record.occurred_at),  # the event began then
                old.staff_ids | result.adds_staff,
                old.links | {record.link},
            )
        return result


CODE_BLUE = arrival(Source.code_blue, "CB-0412", at("02:10"), "ICU", "A B")
REPORT = arrival(
    Source.reporting,
    "IR-88",
    at("02:05"),
    "ICU",
    "B C",
    event=IncidentType.failed_resuscitation,
    harm=HarmLevel.death,
)
DEATH_ADT = arrival(
    Source.hl7v2,
    "MSG-7001",
    at("03:40"),
    "ICU",
    "A D",
    event=IncidentType.unexpected_death,
    harm=HarmLevel.death,
)


def test_the_night_from_the_issue_is_one_incident_with_everyone_on_it() -> None:
    store = Store()
    first = store.apply(CODE_BLUE)
    assert first.kind is MatchKind.new and first.incident_id is None

    report = store.apply(REPORT)
    assert report.kind is MatchKind.joined
    assert report.adds_staff == {"C"}
    (only,) = store.incidents
    assert report.incident_id == only

    adt = store.apply(DEATH_ADT)
    assert adt.kind is MatchKind.joined and adt.incident_id == only
    assert adt.adds_staff == {"D"}

    (whole,) = store.incidents.values()
    assert whole.staff_ids == {"A", "B", "C", "D"}
    assert whole.links == {CODE_BLUE.link, REPORT.link, DEATH_ADT.link}


def test_the_same_record_delivered_twice_is_linked_and_adds_nobody() -> None:
    store = Store()
    for record in (CODE_BLUE, REPORT, DEATH_ADT):
        store.apply(record)
    again = store.apply(DEATH_ADT)
    assert again.kind is MatchKind.linked
    assert again.adds_staff == frozenset()
    assert len(store.incidents) == 1


def test_an_update_under_the_same_id_is_linked_and_brings_its_new_staff() -> None:
    # A FHIR AdverseEvent updated in place: same resource id, a contributor added.
    x = incident("ICU", at("02:10"), "A B", frozenset({SourceLink(Source.fhir, "f", "AE-1")}))
    update = Arrival(
        Source.fhir,
        "f",
        "AE-1",
        at("02:10"),
        "ICU",
        IncidentType.code_blue,
        HarmLevel.unknown,
        frozenset({"A", "E"}),
    )
    result = match(update, [x])
    assert (result.kind, result.incident_id, result.adds_staff) == (
        MatchKind.linked,
        x.incident_id,
        {"E"},
    )


def test_a_link_wins_over_unit_and_time() -> None:
    """A replay is that incident even when a mapping fix changed its unit or time."""
    x = incident("ICU", at("02:10"), "A", frozenset({CODE_BLUE.link}))
    moved = arrival(Source.code_blue, "CB-0412", at("02:10", day=3), "5W", "A")
    assert match(moved, [x]).kind is MatchKind.linked


def test_a_different_unit_is_a_new_incident_even_with_shared_staff() -> None:
    x = incident("ICU", at("02:10"), "A B")
    other = arrival(Source.hl7v2, "MSG-1", at("03:40"), "5W", "A")
    assert match(other, [x]).kind is MatchKind.new


def test_outside_the_window_is_a_new_incident() -> None:
    x = incident("ICU", at("02:10"), "A B")
    later = arrival(Source.hl7v2, "MSG-2", at("14:11"), "ICU", "A")
    assert match(later, [x]).kind is MatchKind.new
    edge = arrival(Source.hl7v2, "MSG-3", at("14:10"), "ICU", "A")
    assert match(edge, [x]).kind is MatchKind.joined  # the window's edge is inside
    assert match(later, [x], window=timedelta(hours=13)).kind is MatchKind.joined


def test_the_events_own_time_counts_on_either_side() -> None:
    """A report filed days later about an earlier time still matches by that time."""
    x = incident("ICU", at("02:10"), "A B")
    earlier = arrival(Source.reporting, "IR-1", at("20:00", day=-1), "ICU", "B")
    assert match(earlier, [x]).kind is MatchKind.joined


def test_units_compare_without_case_or_blanks() -> None:
    x = incident("ICU", at("02:10"), "A")
    assert match(arrival(Source.fhir, "AE-9", at("02:30"), " icu", "A"), [x]).kind is (
        MatchKind.joined
    )


def test_no_shared_staff_is_another_event_on_the_same_unit() -> None:
    x = incident("ICU", at("02:10"), "A B")
    other = arrival(Source.reporting, "IR-2", at("04:00"), "ICU", "Y Z")
    assert match(other, [x]).kind is MatchKind.new


@pytest.mark.parametrize(("theirs", "ours"), [("", "A"), ("A B", ""), ("", "")])
def test_a_side_naming_no_staff_does_not_keep_them_apart(theirs: str, ours: str) -> None:
    x = incident("ICU", at("02:10"), theirs)
    record = arrival(Source.code_blue, "CB-5", at("02:20"), "ICU", ours)
    result = match(record, [x])
    assert result.kind is MatchKind.joined
    assert result.adds_staff == frozenset(ours.split()) - frozenset(theirs.split())


def test_most_shared_staff_wins_then_the_nearest_time() -> None:
    one = incident("ICU", at("02:00"), "A")
    two = incident("ICU", at("08:00"), "A B")
    record = arrival(Source.hl7v2, "MSG-4", at("02:05"), "ICU", "A B")
    assert match(record, [one, two]).incident_id == two.incident_id

    near = incident("ICU", at("02:00"), "A")
    far = incident("ICU", at("06:00"), "A")
    result = match(record, [far, near])
    assert (result.kind, result.incident_id) == (MatchKind.joined, near.incident_id)
    assert "best of 2" in result.why


def test_two_equally_good_candidates_are_not_guessed() -> None:
    before = incident("ICU", at("01:00"), "A")
    after = incident("ICU", at("03:00"), "A")
    record = arrival(Source.hl7v2, "MSG-5", at("02:00"), "ICU", "A C")
    result = match(record, [before, after])
    assert result.kind is MatchKind.ambiguous
    assert result.incident_id is None and result.adds_staff == frozenset()
    assert set(result.candidates) == {before.incident_id, after.incident_id}
    assert "coordinator" in result.why


def test_a_record_without_a_unit_goes_to_the_coordinator() -> None:
    x = incident("ICU", at("02:10"), "A B")
    elsewhere = incident("5W", at("02:00"), "Z")
    record = arrival(Source.fhir, "AE-3", at("02:15"), None, "A")
    result = match(record, [x, elsewhere])
    assert result.kind is MatchKind.ambiguous and result.incident_id is None
    assert result.candidates == (x.incident_id,)
    assert "names no unit" in result.why
    # ...and an incident without a unit is never joined by unit either.
    assert (
        match(
            arrival(Source.fhir, "AE-4", at("02:15"), "ICU", "Z"),
            [incident(None, at("02:10"), "Z")],
        ).kind
        is MatchKind.new
    )


def test_a_record_linked_to_two_incidents_is_for_a_human() -> None:
    link = frozenset({CODE_BLUE.link})
    twins = [incident("ICU", at("02:10"), "A", link), incident("ICU", at("02:10"), "A", link)]
    result = match(CODE_BLUE, twins)
    assert result.kind is MatchKind.ambiguous and len(result.candidates) == 2


def test_the_store_may_hand_links_back_as_plain_rows() -> None:
    x = Candidate(
        uuid.uuid4(),
        "ICU",
        at("02:10"),
        frozenset({"A"}),
        frozenset({("code_blue", "code_blue-main", "CB-0412")}),  # type: ignore[arg-type]
    )
    assert match(CODE_BLUE, [x]).kind is MatchKind.linked


def test_times_without_an_offset_and_empty_windows_are_refused() -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        incident("ICU", datetime(2026, 11, 30, 2, 10))
    with pytest.raises(ValueError, match="window"):
        match(CODE_BLUE, [], window=timedelta(0))


def test_arrival_of_a_feed_record_keeps_only_what_matching_needs() -> None:
    record = FeedRecord(
        source=Source.hl7v2,
        feed="adt",
        record_id="MSG-9",
        occurred_at=at("03:40"),
        unit="ICU",
        event_type=IncidentType.unexpected_death,
        harm_level=HarmLevel.death,
        raw_harm="20",
        staff=(StaffRef(value="X1", system="urn:hosp"),),
    )
    got = Arrival.of(record, ["s-1"])
    assert got.link == SourceLink(Source.hl7v2, "adt", "MSG-9")
    assert got.staff_ids == {"s-1"} and got.unit == "ICU"


def test_why_says_what_the_decision_rests_on() -> None:
    x = incident("ICU", at("02:10"), "A B")
    joined = match(arrival(Source.hl7v2, "MSG-6", at("03:40"), "ICU", "A D"), [x])
    assert joined.why == "same unit ICU, 1 h 30 min apart, shares 1 staff; adds 1 staff"
    new = match(arrival(Source.hl7v2, "MSG-7", at("03:40"), "5W", "A"), [x])
    assert new.why == "no incident on 5W within 12 h shares staff with it"


def test_why_names_no_staff_and_no_record_id() -> None:
    store = Store()
    whys = [store.apply(r).why for r in (CODE_BLUE, REPORT, DEATH_ADT, DEATH_ADT)]
    for why in whys:
        for token in ("CB-0412", "IR-88", "MSG-7001", " A", " B", " C", " D"):
            assert token not in why


# Property: deterministic, and never across units.

UNITS = ["ICU", "icu", "5W", "ED", None]
STAFF = st.frozensets(st.sampled_from("ABCDEF"), max_size=4)
TIMES = st.integers(min_value=-30 * 60, max_value=30 * 60).map(
    lambda m: NIGHT + timedelta(minutes=m)
)
LINK_IDS = st.sampled_from(["R1", "R2", "R3"])


@st.composite
def candidates(draw: st.DrawFn) -> Candidate:
    links = draw(st.frozensets(LINK_IDS, max_size=2))
    return Candidate(
        uuid.UUID(int=draw(st.integers(0, 2**32))),
        draw(st.sampled_from(UNITS)),
        draw(TIMES),
        draw(STAFF),
        frozenset(SourceLink(Source.fhir, "f", r) for r in links),
    )


@st.composite
def arrivals(draw: st.DrawFn) -> Arrival:
    return Arrival(
        Source.fhir,
        "f",
        draw(st.sampled_from(["R1", "R2", "R3", "R4"])),
        draw(TIMES),
        draw(st.sampled_from(UNITS)),
        draw(st.sampled_from(list(IncidentType))),
        draw(st.sampled_from(list(HarmLevel))),
        draw(STAFF),
    )


def _unit(value: str | None) -> str | None:
    return value.casefold() if value else None


@settings(max_examples=300, deadline=None)
@given(
    arrivals(),
    st.lists(candidates(), max_size=6, unique_by=lambda c: c.incident_id),
    st.randoms(use_true_random=False),
)
def test_matching_is_deterministic_and_never_joins_across_units(
    record: Arrival, incidents: list[Candidate], rng: random.Random
) -> None:
    result = match(record, incidents)
    shuffled = list(incidents)
    rng.shuffle(shuffled)
    assert match(record, shuffled) == result  # store row order changes nothing

    by_id = {c.incident_id: c for c in incidents}
    if result.kind is MatchKind.joined:
        assert result.incident_id is not None
        chosen = by_id[result.incident_id]
        assert record.unit is not None and _unit(chosen.unit) == _unit(record.unit)
        assert abs(chosen.occurred_at - record.occurred_at) <= timedelta(hours=12)
        assert result.adds_staff == record.staff_ids - chosen.staff_ids
    if result.kind is MatchKind.linked:
        assert result.incident_id is not None
        assert record.link in by_id[result.incident_id].links
    if result.kind in (MatchKind.new, MatchKind.ambiguous):
        assert result.incident_id is None and result.adds_staff == frozenset()
    if result.kind is MatchKind.ambiguous:
        assert len(set(result.candidates)) == len(result.candidates)
        assert set(result.candidates) <= by_id.keys()
        assert result.candidates or record.unit is None  # a tie lists who tied
    if any(record.link in c.links for c in incidents):
        assert result.kind in (MatchKind.linked, MatchKind.ambiguous)
    elif record.unit is None:
        assert result.kind is MatchKind.ambiguous  # placed by the coordinator, never by unit
