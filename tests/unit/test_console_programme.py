"""Coverage rules behind the coordinator's on-call page (services/schedules/coverage.py), on
shifts and peers built in memory; the pages themselves are in
tests/integration/test_console_programme.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta


def test_gaps_merge_spans_and_honour_training_supports_and_reachability():
    from services.people.matching import Peer
    from services.schedules.coverage import gaps
    from services.schedules.rules import Shift

    start = datetime(2030, 1, 1, 12, tzinfo=UTC)
    end = start + timedelta(hours=24)

    def peer(sid: str, supports: tuple[str, ...] = (), until: date = date(2031, 1, 1), **kw):
        return Peer(sid, "ICU", "RN", "+15550000000", until, supports, ("en",), 2, **kw)

    peers = {
        "A": peer("A"),
        "B": peer("B", supports=("physician",)),
        # Training ends at the end of 1 January (UTC): covers only until midnight.
        "C": peer("C", until=date(2030, 1, 1)),
        "D": peer("D", unreachable="STOP"),
    }
    shifts = [
        Shift("A", start, start + timedelta(hours=6)),
        Shift("A", start + timedelta(hours=4), start + timedelta(hours=8)),
        Shift("C", start + timedelta(hours=8), end),
        Shift("B", start, end),
        Shift("D", start, end),
        Shift("Z", start, end),  # not a peer matching would consider
    ]
    found = gaps(shifts, peers, ["RN", "physician", "chaplain"], start, end)
    midnight = datetime(2030, 1, 2, tzinfo=UTC)
    assert [(g.discipline, g.starts_at, g.ends_at, g.whole_window) for g in found] == [
        ("RN", midnight, end, False),
        ("chaplain", midnight, end, False),
    ]
    assert [g.discipline for g in gaps([], peers, ["RN"], start, end) if g.whole_window] == ["RN"]
