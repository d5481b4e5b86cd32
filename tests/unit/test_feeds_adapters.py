"""A feed's settings become its adapters' options in one place (services.feeds.adapters), so
a kept refusal reads on replay as it would on its route: each kept format through its own
adapter, with the feed's staff system."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.feeds import hl7v2, redact, redact_hl7
from services.feeds.adapters import read_kept
from services.feeds.config import FeedSettings
from services.feeds.record import FeedRefused, Source, StaffRef
from tests.unit import feeds

# The night's death message with its attending's assigning authority left out.
HL7_WITHOUT_AUTHORITY = feeds.sample("night", "3_adt_death.hl7").replace(
    b"P2001^LEE^JORDAN^^^DR^^^STAFFID", b"P2001^LEE^JORDAN^^^DR"
)


def test_a_kept_hl7_message_reads_with_the_feeds_staff_system() -> None:
    feed = FeedSettings(Source.hl7v2, "adt", staff_system="urn:hr")
    kept = redact_hl7.kept(HL7_WITHOUT_AUTHORITY, triggers=hl7v2.DEFAULT_TRIGGERS)
    assert kept is not None and "VANTONGEREN" not in str(kept)
    (record,) = read_kept(feed, kept)
    assert record.occurred_at == datetime(2026, 11, 28, 8, 40, tzinfo=UTC)
    assert StaffRef(value="P2001", system="urn:hr", role="attending") in record.staff
    assert StaffRef(value="N1000", system="STAFFID", role="ROL:NUR") in record.staff


def test_a_kept_code_blue_reads_with_the_feeds_staff_system() -> None:
    body = feeds.sample("codeblue", "code_blue.json")
    kept = redact.code_blue_kept(body, [])
    assert kept is not None
    feed = FeedSettings(Source.code_blue, "code-team", staff_system="urn:team")
    (record,) = read_kept(feed, kept)
    assert {ref.system for ref in record.staff} == {"urn:team"}


def test_a_kept_record_of_another_kind_is_refused_not_guessed() -> None:
    feed = FeedSettings(Source.fhir, "ehr")
    with pytest.raises(FeedRefused, match="not one the fhir feed reads"):
        read_kept(feed, {"format": "hl7v2-er7", "message": "MSH|"})
