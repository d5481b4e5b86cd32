"""Trigger rules: the defaults follow the domain brief, a table that could lose a record or
ignore a death cannot be saved, and a table survives the trip through store rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from schemas.events import HarmLevel, IncidentType
from services.feeds.record import FeedRecord, Source
from services.feeds.triggers import (
    DEATH_EVENTS,
    DEFAULT_RULES,
    NOTE_MAX,
    Action,
    Rule,
    RuleProblem,
    RulesRefused,
    check_rules,
    decide,
    rule_from_row,
    rule_problems,
    rule_to_row,
    rules_from_rows,
    rules_to_rows,
)

AUTOMATIC = [
    IncidentType.unexpected_death,
    IncidentType.serious_safety_event,
    IncidentType.root_cause_analysis,
    IncidentType.code_blue,
    IncidentType.rapid_response,
    IncidentType.failed_resuscitation,
    IncidentType.paediatric_event,
    IncidentType.unit_cluster,
    IncidentType.first_patient_death,
    IncidentType.needlestick_high_risk,
    IncidentType.violence_against_staff,
    IncidentType.litigation,
    IncidentType.staff_death,
]
ASK = Rule(Action.ask, "the rest")


def record(
    event: IncidentType = IncidentType.other,
    harm: HarmLevel = HarmLevel.unknown,
    source: Source = Source.reporting,
) -> FeedRecord:
    return FeedRecord(
        source=source,
        feed="test-feed",
        record_id="R-1",
        occurred_at=datetime(2026, 11, 28, 2, 10, tzinfo=UTC),
        unit="ICU",
        event_type=event,
        harm_level=harm,
    )


def refused(rules: list[Rule]) -> list[RuleProblem]:
    with pytest.raises(RulesRefused) as e:
        check_rules(rules)
    return e.value.problems


# --- the defaults -----------------------------------------------------------------------


def test_the_defaults_may_be_saved():
    assert check_rules(DEFAULT_RULES) == DEFAULT_RULES


@pytest.mark.parametrize("event", AUTOMATIC)
@pytest.mark.parametrize("harm", list(HarmLevel))
def test_every_automatic_trigger_starts_outreach_whatever_its_harm(event, harm):
    assert decide(record(event, harm), DEFAULT_RULES).action is Action.start


@pytest.mark.parametrize("event", list(IncidentType))
@pytest.mark.parametrize("harm", [HarmLevel.death, HarmLevel.severe])
def test_any_death_or_severe_harm_starts_outreach(event, harm):
    decision = decide(record(event, harm), DEFAULT_RULES)
    assert (decision.action, decision.position) == (Action.start, 1)


@pytest.mark.parametrize("event", [IncidentType.medication_error, IncidentType.other])
def test_near_misses_are_ignored(event):
    decision = decide(record(event, HarmLevel.none), DEFAULT_RULES)
    assert (decision.action, decision.position) == (Action.ignore, 3)
    assert "NCC MERP A-D" in decision.why


@pytest.mark.parametrize("event", [IncidentType.medication_error, IncidentType.other])
@pytest.mark.parametrize("harm", [HarmLevel.mild, HarmLevel.moderate, HarmLevel.unknown])
def test_everything_else_asks_the_coordinator(event, harm):
    decision = decide(record(event, harm), DEFAULT_RULES)
    assert (decision.action, decision.position) == (Action.ask, 4)


def test_the_why_names_the_rule_its_criteria_and_its_note():
    why = decide(record(IncidentType.other, HarmLevel.death), DEFAULT_RULES).why
    assert why == "rule 1 (harm severe or death): a death or severe harm always starts outreach"
    why = decide(record(harm=HarmLevel.mild), DEFAULT_RULES).why
    assert why == "rule 4 (any record): anything else: when unsure, a human looks"


def test_source_is_a_criterion():
    rules = [Rule(Action.start, "code team", source=Source.code_blue), ASK]
    assert decide(record(source=Source.code_blue), rules).action is Action.start
    assert decide(record(source=Source.fhir), rules).action is Action.ask


def test_first_match_wins():
    rules = [
        Rule(Action.ask, "look first", event_types={IncidentType.code_blue}),
        Rule(Action.start, "deaths", harm_levels={HarmLevel.death}),
        ASK,
    ]
    decision = decide(record(IncidentType.code_blue, HarmLevel.death), rules)
    assert (decision.action, decision.position) == (Action.ask, 1)


def test_an_unchecked_table_that_matches_nothing_asks_rather_than_drops():
    rules = [Rule(Action.ignore, "", source=Source.kafka)]
    decision = decide(record(source=Source.fhir), rules)
    assert (decision.action, decision.position) == (Action.ask, None)


def test_rules_take_strings_and_compare_by_value():
    built = Rule("ask", "n", "fhir", ["code_blue"], ("death",))  # type: ignore[arg-type]
    assert built == Rule(
        Action.ask,
        "n",
        Source.fhir,
        frozenset({IncidentType.code_blue}),
        frozenset({HarmLevel.death}),
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"event_types": set()},
        {"harm_levels": frozenset()},
        {"note": "x" * (NOTE_MAX + 1)},
        {"note": "two\nlines"},
    ],
)
def test_a_rule_that_can_never_match_or_a_bad_note_is_refused(kwargs):
    with pytest.raises(ValueError):
        Rule(Action.ask, **kwargs)


# --- check_rules ------------------------------------------------------------------------


def test_a_table_without_a_final_catch_all_is_refused():
    problems = refused([Rule(Action.start, "deaths", harm_levels={HarmLevel.death})])
    assert [p.position for p in problems] == [None]
    assert "last rule must match any record" in problems[0].why


def test_an_empty_table_is_refused():
    assert [p.position for p in refused([])] == [None]


def test_rules_after_a_catch_all_are_never_reached():
    problems = refused([ASK, Rule(Action.start, "deaths", harm_levels={HarmLevel.death})])
    assert [(p.position, p.why) for p in problems] == [
        (2, "never reached: rule 1 before it matches any record")
    ]


@pytest.mark.parametrize(
    "rule",
    [
        Rule(Action.ignore, "all code blues", event_types={IncidentType.code_blue}),
        Rule(Action.ignore, "kafka", source=Source.kafka),
        Rule(Action.ignore, "severe", harm_levels={HarmLevel.severe, HarmLevel.none}),
    ],
)
def test_a_rule_that_could_ignore_a_death_or_severe_harm_is_refused(rule):
    problems = refused([rule, ASK])
    assert [p.position for p in problems] == [1]
    assert "must at least ask" in problems[0].why


@pytest.mark.parametrize("event", sorted(DEATH_EVENTS))
def test_a_death_event_may_not_be_ignored_even_with_harm_unknown(event):
    rules = [
        Rule(Action.start, "harm", harm_levels={HarmLevel.death, HarmLevel.severe}),
        Rule(Action.ignore, "no harm given", harm_levels={HarmLevel.unknown}),
        ASK,
    ]
    problems = refused(rules)
    assert [p.position for p in problems] == [2]
    rules.insert(1, Rule(Action.ask, "deaths", event_types={event}))
    assert [p.position for p in refused(rules)] == [3]  # the other death events still slip
    rules[1] = Rule(Action.ask, "deaths", event_types=DEATH_EVENTS)
    assert check_rules(rules)


def test_an_ignore_rule_shielded_by_an_earlier_rule_may_be_saved():
    rules = [
        Rule(Action.ask, "deaths and severe", harm_levels={HarmLevel.death, HarmLevel.severe}),
        Rule(Action.ask, "death events", event_types=DEATH_EVENTS),
        Rule(Action.ignore, "this feed is a test feed", source=Source.kafka),
        ASK,
    ]
    assert check_rules(rules) == tuple(rules)


def test_a_final_ignore_is_refused_unless_deaths_are_caught_before_it():
    assert [p.position for p in refused([Rule(Action.ignore, "")])] == [1]
    rules = [Rule(Action.start, "", harm_levels={HarmLevel.death, HarmLevel.severe})]
    assert [p.position for p in refused([*rules, Rule(Action.ignore, "")])] == [2]
    rules.append(Rule(Action.ask, "", event_types=DEATH_EVENTS))
    assert check_rules([*rules, Rule(Action.ignore, "")])


def test_every_problem_at_once_in_rule_order():
    rules = [
        Rule(Action.start, "ok", event_types={IncidentType.code_blue}),
        Rule(Action.ignore, "bad", source=Source.hl7v2),
        Rule(Action.ignore, "bad too", event_types={IncidentType.litigation}),
        Rule(Action.ask, "not last", harm_levels={HarmLevel.mild}),
    ]
    problems = refused(rules)
    assert [p.position for p in problems] == [2, 3, None]
    assert str(RulesRefused(problems)).startswith("rule 2: would ignore")


# --- the property -----------------------------------------------------------------------


def optional_set(values):
    return st.none() | st.frozensets(st.sampled_from(list(values)), min_size=1)


rules_st = st.builds(
    Rule,
    action=st.sampled_from(list(Action)),
    note=st.just("r"),
    source=st.none() | st.sampled_from(list(Source)),
    event_types=optional_set(IncidentType),
    harm_levels=optional_set(HarmLevel),
)
tables = st.tuples(st.lists(rules_st, max_size=6), st.sampled_from(list(Action))).map(
    lambda t: [*t[0], Rule(t[1], "catch-all")]
)
records = st.builds(
    record,
    event=st.sampled_from(list(IncidentType)),
    harm=st.sampled_from(list(HarmLevel)),
    source=st.sampled_from(list(Source)),
)


@given(tables, records)
def test_a_saved_table_never_ignores_a_death_or_severe_harm(rules, rec):
    assume(not rule_problems(rules))
    decision = decide(rec, check_rules(rules))
    assert decision.position is not None  # every record meets a rule
    if rec.harm_level in (HarmLevel.death, HarmLevel.severe) or rec.event_type in DEATH_EVENTS:
        assert decision.action is not Action.ignore


@given(tables)
def test_a_refused_harm_rule_really_can_ignore_a_death(rules):
    """The check is exact, not merely cautious: each rule refused for ignoring harm is
    the deciding rule for some death or severe record."""
    refused_at = {p.position for p in rule_problems(rules) if "would ignore" in p.why}
    ignored_at = {
        decision.position
        for s in Source
        for e in IncidentType
        for h in HarmLevel
        if h in (HarmLevel.death, HarmLevel.severe) or e in DEATH_EVENTS
        if (decision := decide(record(e, h, s), rules)).action is Action.ignore
    }
    assert refused_at == ignored_at


# --- rows -------------------------------------------------------------------------------


def test_the_defaults_round_trip_through_rows():
    rows = rules_to_rows(DEFAULT_RULES)
    assert rows[0] == {
        "position": 1,
        "source": None,
        "event_types": None,
        "harm_levels": ["severe", "death"],
        "action": "start",
        "note": "a death or severe harm always starts outreach",
    }
    assert rules_from_rows(reversed(rows)) == DEFAULT_RULES


@given(rules_st, st.integers(min_value=1, max_value=99))
def test_any_rule_round_trips(rule, position):
    assert rule_from_row(rule_to_row(rule, position)) == (position, rule)


def test_a_bad_row_names_every_problem_with_its_position():
    row = {
        "position": 2,
        "source": "telex",
        "event_types": ["code_blue", "fire"],
        "harm_levels": "death",
        "action": "page",
        "extra": 1,
    }
    with pytest.raises(RulesRefused) as e:
        rule_from_row(row)
    whys = [(p.position, p.why.split(":")[0]) for p in e.value.problems]
    assert whys == [
        (2, "missing note"),
        (2, "unknown field extra"),
        (2, "source"),
        (2, "action"),
        (2, "event_types"),
        (2, "harm_levels must be a list or null"),
    ]


@pytest.mark.parametrize("position", [0, -1, "1", True, None])
def test_a_row_position_must_be_a_whole_number_from_one(position):
    row = rule_to_row(ASK, 1) | {"position": position}
    with pytest.raises(RulesRefused):
        rule_from_row(row)


def test_a_too_long_note_in_a_row_is_refused_with_its_position():
    with pytest.raises(RulesRefused) as e:
        rule_from_row(rule_to_row(ASK, 3) | {"note": "x" * (NOTE_MAX + 1)})
    assert [p.position for p in e.value.problems] == [3]


def test_stored_rows_with_gaps_or_repeats_are_refused():
    rows = rules_to_rows(DEFAULT_RULES)
    with pytest.raises(RulesRefused, match="positions"):
        rules_from_rows([rows[0], rows[0] | {"note": "again"}, *rows[2:]])
    with pytest.raises(RulesRefused, match="positions"):
        rules_from_rows([row | {"position": row["position"] * 2} for row in rows])


def test_stored_rows_are_checked_like_a_table_to_save():
    rows = rules_to_rows([Rule(Action.ignore, "everything")])
    with pytest.raises(RulesRefused, match="rule 1: would ignore"):
        rules_from_rows(rows)
