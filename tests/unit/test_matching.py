"""Matching rules, ranked in memory from a hand-built context (no schedule needed)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime

from services.people.matching import MatchContext, Peer, rank
from services.people.models import Staff

AT = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
NURSE = Staff(staff_id="C1", home_unit="4E", discipline="RN", language="en")


def peer(sid: str, unit: str = "ICU", discipline: str = "RN", **kw: object) -> Peer:
    base: dict[str, object] = {
        "staff_id": sid,
        "home_unit": unit,
        "discipline": discipline,
        "mobile": f"+1555000{sid[-4:]:0>4}",
        "trained_until": date(2027, 1, 1),
        "supports": (),
        "languages": ("en",),
        "max_open_cases": 2,
    }
    return Peer(**(base | kw))  # type: ignore[arg-type]


def ctx(peers: list[Peer], **kw: object) -> MatchContext:
    base: dict[str, object] = {
        "at": AT,
        "peers": peers,
        "on_call": {p.staff_id: ["Main"] for p in peers},
        "open_cases": Counter(),
        "recent_pages": Counter(),
        "other_unit": "preferred",
    }
    return MatchContext(**(base | kw))  # type: ignore[arg-type]


def ids(m: object) -> list[str]:
    return [c.staff_id for c in m.candidates]  # type: ignore[attr-defined]


def test_preferences_in_order() -> None:
    peers = [
        peer("P0001", unit="4E"),  # same unit: last resort
        peer("P0002", discipline="physician"),  # other unit, other discipline
        peer("P0003", languages=("es",)),  # other unit, RN, does not speak en
        peer("P0004"),  # other unit, RN, en: best
    ]
    m = rank(ctx(peers), NURSE, involved=set())
    assert ids(m) == ["P0004", "P0003", "P0002", "P0001"]
    assert m.candidates[0].reason.startswith("candidate 1 of 4: on call (Main)")
    assert "other unit, same discipline (RN), speaks en" in m.candidates[0].reason
    assert "same unit (no other unit available)" in m.candidates[3].reason


def test_fair_load_breaks_ties() -> None:
    peers = [peer("P0001"), peer("P0002"), peer("P0003")]
    c = ctx(peers, recent_pages=Counter({"P0001": 3, "P0002": 1}), open_cases=Counter({"P0003": 1}))
    assert ids(rank(c, NURSE, set())) == ["P0002", "P0001", "P0003"]


def test_hard_rules_exclude_with_reasons() -> None:
    peers = [
        peer("P0001", trained_until=date(2026, 11, 21)),  # expired yesterday
        peer("P0002"),  # involved
        peer("P0003"),  # at case limit
        peer("P0004"),  # not on call
        peer("P0005", supports=("physician",)),  # does not support nurses
        peer("P0006"),  # fine
    ]
    c = ctx(
        peers,
        open_cases=Counter({"P0003": 2}),
        on_call={p.staff_id: ["Main"] for p in peers if p.staff_id != "P0004"},
    )
    m = rank(c, NURSE, involved={"P0002"})
    assert ids(m) == ["P0006"]
    assert m.excluded == Counter(
        {
            "training expired": 1,
            "involved in this incident": 1,
            "at their case limit": 1,
            "not on call": 1,
            "not supporting RN": 1,
        }
    )


def test_training_valid_through_its_last_day() -> None:
    m = rank(ctx([peer("P0001", trained_until=AT.date())]), NURSE, set())
    assert ids(m) == ["P0001"]


def test_other_unit_required_or_off() -> None:
    peers = [peer("P0001", unit="4E"), peer("P0002", unit="ICU")]
    busy = Counter({"P0002": 5})
    # Preferred: the other unit wins even when busier.
    assert ids(rank(ctx(peers, recent_pages=busy), NURSE, set())) == ["P0002", "P0001"]
    # Required: a peer from the clinician's own unit is never a candidate.
    required = rank(ctx(peers, other_unit="required"), NURSE, set())
    assert ids(required) == ["P0002"]
    assert required.excluded == Counter({"from the clinician's unit": 1})
    # Off: units play no part, so the load decides.
    assert ids(rank(ctx(peers, other_unit="off", recent_pages=busy), NURSE, set())) == [
        "P0001",
        "P0002",
    ]


def test_everyone_busy_or_involved_means_coordinator() -> None:
    peers = [peer("P0001"), peer("P0002")]
    m = rank(ctx(peers, open_cases=Counter({"P0001": 2})), NURSE, involved={"P0002"})
    assert m.candidates == []
    assert m.why_none() == ("no qualified peer: 1 at their case limit, 1 involved in this incident")
    assert rank(ctx([]), NURSE, set()).why_none().endswith("no trained peers on the roster")


def test_the_clinician_never_supports_themself() -> None:
    me = peer("C1", unit="ICU")
    assert ids(rank(ctx([me]), NURSE, involved=set())) == []
