"""What a reply means, without a store: the clinician's (state, kind) table covers every
pair, the coordinator's reasons, and case references. Replies handled against the store are
in tests/integration/test_replies.py.
"""

from __future__ import annotations

import uuid

import pytest

from services.cases import machine, policies
from services.cases.clinician_replies import ClinicianAction, clinician_action
from services.cases.refs import case_ref, ref_bounds


def test_the_table_covers_every_state_and_reply() -> None:
    for case_state in machine.ALLOWED:
        for kind in ("accept", "defer", "decline", "help", "unknown", "question", "acknowledge"):
            assert isinstance(clinician_action(case_state, kind), ClinicianAction)
    assert clinician_action("deferred", "defer") == ClinicianAction.DEFER
    assert clinician_action("follow_up", "accept") == ClinicianAction.CALL_AGAIN
    assert clinician_action("peer_paged", "decline") == ClinicianAction.DECLINE_EARLY
    assert clinician_action("declined", "decline") == ClinicianAction.SILENT
    assert clinician_action("closed", "accept") == ClinicianAction.REOPEN


def test_a_coordinator_reason_names_what_matching_found() -> None:
    why = policies.coordinator_reason_none("no qualified peer: 3 not on call, 1 involved")
    assert why == "no peer available (3 not on call, 1 involved)"
    assert policies.coordinator_reason_policy(1) == "no peer answered after 1 page"


def test_case_references_round_trip() -> None:
    case_id = uuid.uuid4()
    low, high = ref_bounds(case_ref(case_id))
    assert low <= case_id <= high
    assert ref_bounds("c3f9a2b") == ref_bounds(" C-3F9A2B ")
    for bad in ("C-3F9A2", "Jane Smith", "C-3F9A2BX", ""):
        with pytest.raises(ValueError):
            ref_bounds(bad)
