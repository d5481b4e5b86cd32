"""On-call schedules, the pure rules (services/schedules/rules.py): handoffs across
daylight-saving changes, rotations, overrides and listing shifts, and the CLI's reading of a
time. The admin API, the CLI against the store and the query matching runs for every incident
are in tests/integration/test_schedules.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.schedules.demo import DEMO_ROTATIONS, DEMO_ZONE
from services.schedules.rules import (
    OverrideSpec,
    RotationSpec,
    ScheduleSpec,
    current_turn,
    handoff_at,
    next_change,
    on_call,
    shifts_between,
    wall_to_utc,
    zone_of,
)

NY = "America/New_York"
LONDON = "Europe/London"
KOLKATA = "Asia/Kolkata"


def z(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def daily(start: datetime, *people: str, hours: int = 24, name: str = "r") -> RotationSpec:
    kind = {24: "daily", 168: "weekly"}.get(hours, "custom")
    return RotationSpec(kind, hours, start, list(people), name)


def one(zone: str, rotation: RotationSpec, *overrides: OverrideSpec) -> ScheduleSpec:
    return ScheduleSpec("s", zone, [rotation], list(overrides))


def handoffs(rotation: RotationSpec, zone: str, start: datetime, end: datetime) -> list[datetime]:
    """Every hand-off instant in [start, end), found by scanning rather than by the formula.

    Hand-offs fall on whole minutes here: a coarse scan finds each change of turn and a
    minute-by-minute scan inside that window pins it down.
    """
    tz = zone_of(zone)
    step = timedelta(minutes=20)
    found, at, last = [], start, current_turn(rotation, tz, start).index
    while at < end:
        index = current_turn(rotation, tz, at + step).index
        assert index >= last, f"turn went backwards before {at + step}"
        if index != last:
            minute = at
            while current_turn(rotation, tz, minute).index == last:
                minute += timedelta(minutes=1)
            found.append(minute)
        at, last = at + step, index
    return [t for t in found if t < end]


# --------------------------------------------------------------------------- daily, DST


def test_daily_0700_handoff_stays_at_0700_across_spring_forward() -> None:
    r = daily(datetime(2026, 1, 5, 7), "A", "B")
    assert handoffs(r, NY, z(2026, 3, 6, 12, 30), z(2026, 3, 9, 12)) == [
        z(2026, 3, 7, 12),  # 07:00 EST
        z(2026, 3, 8, 11),  # 07:00 EDT, the day clocks spring forward
        z(2026, 3, 9, 11),
    ]
    spec = one(NY, r)
    assert on_call(spec, z(2026, 3, 8, 10, 59, 59)) != on_call(spec, z(2026, 3, 8, 11))
    assert on_call(spec, z(2026, 3, 8, 11)) == on_call(spec, z(2026, 3, 9, 10, 59))


def test_daily_0700_handoff_stays_at_0700_across_fall_back() -> None:
    r = daily(datetime(2026, 1, 5, 7), "A", "B")
    assert handoffs(r, NY, z(2026, 10, 30, 12), z(2026, 11, 2, 13)) == [
        z(2026, 10, 31, 11),  # 07:00 EDT
        z(2026, 11, 1, 12),  # 07:00 EST: the turn spanning the change lasted 25 h
        z(2026, 11, 2, 12),
    ]


def test_handoff_in_the_repeated_hour_happens_at_its_first_occurrence() -> None:
    r = daily(datetime(2026, 10, 1, 1, 30), "A", "B")
    tz = ZoneInfo(NY)
    assert wall_to_utc(datetime(2026, 11, 1, 1, 30), tz) == z(2026, 11, 1, 5, 30)
    spec = one(NY, r)
    before, after = on_call(spec, z(2026, 11, 1, 5, 29, 59)), on_call(spec, z(2026, 11, 1, 5, 30))
    assert before != after
    # The second pass through 01:00-02:00 (06:00-07:00Z) reads 01:00-01:30 on the wall
    # again: the turn must not flip back to the previous person.
    for minute in range(0, 60, 5):
        assert on_call(spec, z(2026, 11, 1, 6, minute)) == after
    assert handoffs(r, NY, z(2026, 10, 31, 6), z(2026, 11, 2, 7)) == [
        z(2026, 11, 1, 5, 30),
        z(2026, 11, 2, 6, 30),
    ]


def test_rotation_starting_in_the_repeated_hour_does_not_stop_in_its_second_pass() -> None:
    spec = one(NY, daily(datetime(2026, 11, 1, 1, 30), "A"))
    assert on_call(spec, z(2026, 11, 1, 5, 29)) == set()
    assert on_call(spec, z(2026, 11, 1, 5, 30)) == {"A"}
    assert on_call(spec, z(2026, 11, 1, 6, 10)) == {"A"}  # 01:10 EST, after the start


def test_handoff_in_the_spring_gap_happens_when_the_clock_jumps() -> None:
    r = daily(datetime(2026, 1, 5, 2, 30), "A", "B")
    tz = ZoneInfo(NY)
    assert wall_to_utc(datetime(2026, 3, 8, 2, 30), tz) == z(2026, 3, 8, 7)  # 03:00 EDT
    assert wall_to_utc(datetime(2026, 3, 8, 2, 0), tz) == z(2026, 3, 8, 7)
    assert wall_to_utc(datetime(2026, 3, 8, 3, 0), tz) == z(2026, 3, 8, 7)
    spec = one(NY, r)
    assert on_call(spec, z(2026, 3, 8, 6, 59, 59, 999999)) != on_call(spec, z(2026, 3, 8, 7))
    assert handoffs(r, NY, z(2026, 3, 7, 8), z(2026, 3, 9, 8)) == [
        z(2026, 3, 8, 7),
        z(2026, 3, 9, 6, 30),  # 02:30 EDT exists again the next day
    ]


def test_twelve_hour_shifts_keep_0700_and_1900_across_both_changes() -> None:
    r = daily(datetime(2026, 1, 5, 7), "day", "night", hours=12)
    tz = ZoneInfo(NY)
    windows = ((z(2026, 3, 6), z(2026, 3, 11), 10), (z(2026, 10, 30), z(2026, 11, 4), 9))
    for start, end, count in windows:  # 2026-11-04 00:00Z is 19:00 EST: outside [start, end)
        found = handoffs(r, NY, start, end)
        assert len(found) == count
        assert {(t.astimezone(tz).hour, t.astimezone(tz).minute) for t in found} == {
            (7, 0),
            (19, 0),
        }
    spec = one(NY, r)
    # Day shift 07:00-19:00 local on both sides of each change.
    assert on_call(spec, z(2026, 3, 7, 12)) == {"day"}  # 07:00 EST
    assert on_call(spec, z(2026, 3, 8, 11)) == {"day"}  # 07:00 EDT
    assert on_call(spec, z(2026, 3, 8, 22, 59)) == {"day"}  # 18:59 EDT
    assert on_call(spec, z(2026, 3, 8, 23)) == {"night"}  # 19:00 EDT
    assert on_call(spec, z(2026, 11, 1, 11, 59)) == {"night"}  # 06:59 EST, a 13 h night
    assert on_call(spec, z(2026, 11, 1, 12)) == {"day"}  # 07:00 EST


def test_weekly_rotation_hands_off_monday_0800_local() -> None:
    r = daily(datetime(2026, 2, 23, 8), "A", "B", "C", hours=168)  # a Monday
    assert handoffs(r, NY, z(2026, 2, 23, 14), z(2026, 3, 17)) == [
        z(2026, 3, 2, 13),  # 08:00 EST
        z(2026, 3, 9, 12),  # 08:00 EDT
        z(2026, 3, 16, 12),
    ]
    spec = one(NY, r)
    assert on_call(spec, z(2026, 2, 23, 13)) == {"A"}
    assert on_call(spec, z(2026, 3, 2, 13)) == {"B"}
    assert on_call(spec, z(2026, 3, 9, 11, 59)) == {"B"}
    assert on_call(spec, z(2026, 3, 9, 12)) == {"C"}
    assert on_call(spec, z(2026, 3, 16, 12)) == {"A"}


def test_london_changes_on_its_own_dates() -> None:
    r = daily(datetime(2026, 1, 5, 7), "A", "B")
    # New York's change (2026-03-08) does not move London's 07:00.
    assert handoffs(r, LONDON, z(2026, 3, 7, 8), z(2026, 3, 9, 8)) == [
        z(2026, 3, 8, 7),
        z(2026, 3, 9, 7),
    ]
    assert handoffs(r, LONDON, z(2026, 3, 28, 8), z(2026, 3, 30, 8)) == [
        z(2026, 3, 29, 6),  # 07:00 BST
        z(2026, 3, 30, 6),
    ]
    assert handoffs(r, LONDON, z(2026, 10, 24, 7), z(2026, 10, 26, 8)) == [
        z(2026, 10, 25, 7),  # 07:00 GMT
        z(2026, 10, 26, 7),
    ]
    tz = ZoneInfo(LONDON)
    assert wall_to_utc(datetime(2026, 3, 29, 1, 30), tz) == z(2026, 3, 29, 1)  # gap 01-02
    assert wall_to_utc(datetime(2026, 10, 25, 1, 30), tz) == z(2026, 10, 25, 0, 30)  # first


def test_zone_without_dst_is_a_fixed_offset() -> None:
    r = daily(datetime(2026, 1, 5, 7), "A", "B")
    for start in (z(2026, 3, 7, 2), z(2026, 10, 31, 2)):
        assert handoffs(r, KOLKATA, start, start + timedelta(days=2)) == [
            (start + timedelta(days=1)).replace(hour=1, minute=30),
            (start + timedelta(days=2)).replace(hour=1, minute=30),
        ]


# --------------------------------------------------------------------------- rotations


def test_before_the_first_handoff_nobody_is_on_call() -> None:
    spec = one(NY, daily(datetime(2026, 1, 5, 7), "A", "B"))
    assert on_call(spec, z(2026, 1, 5, 11, 59, 59)) == set()
    assert on_call(spec, z(2020, 1, 1)) == set()
    assert on_call(spec, z(2026, 1, 5, 12)) == {"A"}
    assert on_call(spec, z(2026, 1, 6, 12)) == {"B"}
    assert on_call(spec, z(2026, 1, 7, 12)) == {"A"}


def test_rotation_without_participants_puts_nobody_on_call() -> None:
    assert on_call(one(NY, daily(datetime(2026, 1, 5, 7))), z(2026, 6, 1)) == set()


def test_parallel_rotations_put_one_each_on_call() -> None:
    spec = ScheduleSpec(
        "s",
        NY,
        [
            daily(datetime(2026, 1, 5, 7), "N1", "N2", name="RN"),
            daily(datetime(2026, 1, 5, 8), "P1", hours=168, name="MD"),
            daily(datetime(2026, 1, 5, 7), "C1", hours=12, name="Chap"),
            daily(datetime(2027, 1, 1, 7), "LATE", name="not yet"),
        ],
    )
    # 2026-06-01 is day 147 of the RN rotation: odd, so N2.
    assert on_call(spec, z(2026, 6, 1, 16)) == {"N2", "P1", "C1"}
    assert on_call(spec, z(2026, 6, 2, 16)) == {"N1", "P1", "C1"}
    # The same person in two rotations at once is on call once.
    both = ScheduleSpec("s", NY, [daily(datetime(2026, 1, 5, 7), "X"), spec.rotations[2]])
    assert on_call(both, z(2026, 6, 1, 16)) == {"X", "C1"}
    twice = ScheduleSpec("s", NY, [spec.rotations[0], spec.rotations[0]])
    assert on_call(twice, z(2026, 6, 1, 16)) == {"N2"}


def test_demo_schedule_keeps_three_peers_on_call() -> None:
    spec = ScheduleSpec(
        "demo",
        DEMO_ZONE,
        [RotationSpec(k, h, s, list(p), n) for n, k, h, s, p in DEMO_ROTATIONS],
    )
    at = z(2026, 1, 5, 13)
    while at < z(2026, 12, 31):
        people = on_call(spec, at)
        assert len(people) == 3 and "P2101" in people and "C4101" in people, at
        at += timedelta(hours=5, minutes=17)


def test_naive_time_is_refused() -> None:
    spec = one(NY, daily(datetime(2026, 1, 5, 7), "A"))
    with pytest.raises(ValueError, match="time zone"):
        on_call(spec, datetime(2026, 6, 1, 12))
    with pytest.raises(ValueError, match="naive"):
        RotationSpec("daily", 24, z(2026, 1, 5), ["A"])
    with pytest.raises(ValueError, match="positive"):
        RotationSpec("custom", 0, datetime(2026, 1, 5), ["A"])


# --------------------------------------------------------------------------- overrides

BASE = daily(datetime(2026, 1, 5, 7), "A")  # A on call throughout June


def ov(
    start: datetime,
    end: datetime,
    add: str | None = None,
    remove: str | None = None,
    created: int = 0,
) -> OverrideSpec:
    return OverrideSpec(start, end, add, remove, z(2026, 5, 1) + timedelta(minutes=created))


def test_cover_extra_and_excuse() -> None:
    cover = ov(z(2026, 6, 1, 10), z(2026, 6, 1, 14), add="B", remove="A")
    assert on_call(one(NY, BASE, cover), z(2026, 6, 1, 12)) == {"B"}
    extra = ov(z(2026, 6, 1, 10), z(2026, 6, 1, 14), add="B")
    assert on_call(one(NY, BASE, extra), z(2026, 6, 1, 12)) == {"A", "B"}
    excuse = ov(z(2026, 6, 1, 10), z(2026, 6, 1, 14), remove="A")
    assert on_call(one(NY, BASE, excuse), z(2026, 6, 1, 12)) == set()


def test_override_boundaries_are_half_open() -> None:
    spec = one(NY, BASE, ov(z(2026, 6, 1, 10), z(2026, 6, 1, 14), add="B", remove="A"))
    assert on_call(spec, z(2026, 6, 1, 9, 59, 59, 999999)) == {"A"}
    assert on_call(spec, z(2026, 6, 1, 10)) == {"B"}
    assert on_call(spec, z(2026, 6, 1, 13, 59, 59, 999999)) == {"B"}
    assert on_call(spec, z(2026, 6, 1, 14)) == {"A"}


def test_swap_is_two_covers() -> None:
    r = daily(datetime(2026, 1, 5, 7), "A", "B")
    base = one(NY, r)
    b_turn = (z(2026, 6, 1, 11), z(2026, 6, 2, 11))  # day 147: B
    a_turn = (z(2026, 6, 2, 11), z(2026, 6, 3, 11))
    assert on_call(base, b_turn[0]) == {"B"} and on_call(base, a_turn[0]) == {"A"}
    spec = one(
        NY,
        r,
        ov(*b_turn, add="A", remove="B"),
        ov(*a_turn, add="B", remove="A", created=1),
    )
    assert on_call(spec, b_turn[0]) == {"A"}
    assert on_call(spec, a_turn[1] - timedelta(microseconds=1)) == {"B"}
    assert on_call(spec, a_turn[1]) == {"B"}  # the next regular turn is B's anyway
    assert on_call(spec, a_turn[1] + timedelta(days=1)) == {"A"}


def test_overlapping_covers_apply_in_creation_order() -> None:
    # B covers A 10-14; later C is asked to cover B 12-16.
    b_for_a = ov(z(2026, 6, 1, 10), z(2026, 6, 1, 14), add="B", remove="A", created=0)
    c_for_b = ov(z(2026, 6, 1, 12), z(2026, 6, 1, 16), add="C", remove="B", created=1)
    spec = one(NY, BASE, c_for_b, b_for_a)  # list order must not matter, created_at does
    assert on_call(spec, z(2026, 6, 1, 11)) == {"B"}
    assert on_call(spec, z(2026, 6, 1, 13)) == {"C"}
    assert on_call(spec, z(2026, 6, 1, 15)) == {"A", "C"}  # B's cover ended: A is back
    # Created the other way round, C's override meets no B to remove; B then covers A.
    flipped = one(
        NY,
        BASE,
        ov(z(2026, 6, 1, 10), z(2026, 6, 1, 14), add="B", remove="A", created=1),
        ov(z(2026, 6, 1, 12), z(2026, 6, 1, 16), add="C", remove="B", created=0),
    )
    assert on_call(flipped, z(2026, 6, 1, 13)) == {"B", "C"}


def test_add_and_remove_of_the_same_person() -> None:
    excuse_a = ov(z(2026, 6, 1, 10), z(2026, 6, 1, 14), remove="A", created=0)
    add_a_back = ov(z(2026, 6, 1, 12), z(2026, 6, 1, 13), add="A", created=1)
    spec = one(NY, BASE, excuse_a, add_a_back)
    assert on_call(spec, z(2026, 6, 1, 11)) == set()
    assert on_call(spec, z(2026, 6, 1, 12, 30)) == {"A"}
    assert on_call(spec, z(2026, 6, 1, 13, 30)) == set()
    # The later excuse wins over an earlier extra cover of the same person.
    extra_b = ov(z(2026, 6, 1, 10), z(2026, 6, 1, 14), add="B", created=0)
    excuse_b = ov(z(2026, 6, 1, 11), z(2026, 6, 1, 12), remove="B", created=1)
    spec = one(NY, BASE, extra_b, excuse_b)
    assert on_call(spec, z(2026, 6, 1, 11, 30)) == {"A"}
    assert on_call(spec, z(2026, 6, 1, 12)) == {"A", "B"}


def test_removing_someone_not_on_call_changes_nothing() -> None:
    spec = one(NY, BASE, ov(z(2026, 6, 1, 10), z(2026, 6, 1, 14), remove="Z"))
    assert on_call(spec, z(2026, 6, 1, 12)) == {"A"}
    spec = one(NY, BASE, ov(z(2026, 6, 1, 10), z(2026, 6, 1, 14), add="B", remove="Z"))
    assert on_call(spec, z(2026, 6, 1, 12)) == {"A", "B"}


def test_overrides_apply_before_a_rotation_starts() -> None:
    late = daily(datetime(2027, 1, 1, 7), "A")
    spec = one(NY, late, ov(z(2026, 6, 1, 10), z(2026, 6, 1, 14), add="B"))
    assert on_call(spec, z(2026, 6, 1, 12)) == {"B"}


# --------------------------------------------------------------------------- listing


def test_shifts_between_agrees_with_on_call_across_a_dst_week() -> None:
    spec = ScheduleSpec(
        "s",
        NY,
        [
            daily(datetime(2026, 1, 5, 7), "N1", "N2", "N3", name="RN"),
            daily(datetime(2026, 1, 5, 7), "C1", "C2", hours=12, name="Chap"),
            daily(datetime(2026, 1, 5, 2, 30), "G1", "G2", name="gap"),
        ],
        [
            ov(z(2026, 3, 7, 20), z(2026, 3, 8, 9), add="X", remove="N2", created=0),
            ov(z(2026, 3, 8, 6), z(2026, 3, 8, 7, 30), remove="X", created=1),
            ov(z(2026, 3, 9, 0), z(2026, 3, 9, 1), add="C1", created=2),
        ],
    )
    start, end = z(2026, 3, 6, 3, 7), z(2026, 3, 11, 5, 30)
    spans = shifts_between(spec, start, end)
    assert spans == sorted(spans, key=lambda s: (s.starts_at, s.staff_id))
    assert all(start <= s.starts_at < s.ends_at <= end for s in spans)
    at = start
    while at < end:
        listed = {s.staff_id for s in spans if s.starts_at <= at < s.ends_at}
        assert listed == on_call(spec, at), at
        at += timedelta(minutes=7)


def test_shifts_are_exact_and_merged() -> None:
    spec = ScheduleSpec(
        "s",
        NY,
        [daily(datetime(2026, 1, 5, 7), "A", "B"), daily(datetime(2026, 1, 5, 7), "C", hours=12)],
    )
    spans = shifts_between(spec, z(2026, 3, 7, 12), z(2026, 3, 9, 11))
    assert [tuple(s) for s in spans] == [
        (
            on_call(spec, z(2026, 3, 7, 12)).difference({"C"}).pop(),
            z(2026, 3, 7, 12),
            z(2026, 3, 8, 11),
        ),
        ("C", z(2026, 3, 7, 12), z(2026, 3, 9, 11)),  # one person all along: one span
        (
            on_call(spec, z(2026, 3, 8, 11)).difference({"C"}).pop(),
            z(2026, 3, 8, 11),
            z(2026, 3, 9, 11),
        ),
    ]
    assert shifts_between(spec, z(2026, 3, 9), z(2026, 3, 9)) == []


def test_handoff_at_is_monotonic_through_a_gap() -> None:
    # Hourly turns through the spring gap: the 02:00 turn has no length and is skipped.
    r = daily(datetime(2026, 3, 8, 0), "h0", "h1", "h2", "h3", "h4", hours=1)
    tz = ZoneInfo(NY)
    instants = [handoff_at(r, tz, i) for i in range(6)]
    assert instants == sorted(instants)
    assert instants[2] == instants[3] == z(2026, 3, 8, 7)
    assert on_call(one(NY, r), z(2026, 3, 8, 7, 30)) == {"h3"}


def test_cli_wants_an_offset() -> None:
    import argparse

    from services.schedules.commands import add_commands

    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="cmd"))
    assert parser.parse_args(["on-call", "--at", "2026-12-01T15:00:00Z"]).at == z(2026, 12, 1, 15)
    with pytest.raises(SystemExit):
        parser.parse_args(["on-call", "--at", "2026-12-01T15:00:00"])


# --------------------------------------------------------------------------- next change


def test_next_change_is_the_first_instant_on_call_may_differ() -> None:
    """A worker keeps who is on call until next_change (services.people.matching): on call
    must not change before it, across a DST week, two rotations and overrides."""
    spec = ScheduleSpec(
        "s",
        NY,
        [
            daily(datetime(2026, 1, 5, 7), "A", "B", "C"),
            daily(datetime(2026, 1, 5, 19), "D", "E", hours=12, name="r2"),
        ],
        [
            OverrideSpec(z(2026, 3, 8, 3, 30), z(2026, 3, 8, 9, 15), "X", "A", z(2026, 1, 1)),
            OverrideSpec(z(2026, 3, 9, 0), z(2026, 3, 9, 1), "Y", None, z(2026, 1, 1)),
        ],
    )
    horizon = timedelta(hours=30)
    at = z(2026, 3, 7, 0, 7)
    while at < z(2026, 3, 10):
        until = next_change(spec, at, at + horizon)
        assert at < until <= at + horizon
        who = on_call(spec, at)
        probe = at
        while probe < until:
            assert on_call(spec, probe) == who, (at, probe, until)
            probe += timedelta(minutes=10)
        assert on_call(spec, until - timedelta(microseconds=1)) == who
        at += timedelta(minutes=37)


def test_next_change_without_rotations_or_overrides_is_the_horizon() -> None:
    spec = ScheduleSpec("s", NY, [daily(datetime(2026, 1, 5, 7))])
    at = z(2026, 3, 7)
    assert next_change(spec, at, at + timedelta(hours=1)) == at + timedelta(hours=1)
