"""The codes a peer or the coordinator records: that support happened and how a case ended.

Codes, never free text: the programme keeps that support happened, not what was said, so a
record subpoenaed for an investigation holds nothing said in confidence (domain.md).
"""

from __future__ import annotations

from enum import StrEnum


class ContactOutcome(StrEnum):
    """What a peer records after talking with the clinician."""

    supported = "supported"  # talked; nothing more needed now
    follow_up_planned = "follow_up_planned"  # talked; the peer checks in again
    referred_eap = "referred_eap"  # pointed to the employee assistance programme
    referred_tier3 = "referred_tier3"  # needs expedited professional help now
    clinician_declined_on_contact = "clinician_declined_on_contact"


CONTACT_LABELS = {
    ContactOutcome.supported: "Talked: nothing more needed now",
    ContactOutcome.follow_up_planned: "Talked: I will check in again",
    ContactOutcome.referred_eap: "Talked: pointed to the employee assistance programme",
    ContactOutcome.referred_tier3: "Needs expedited professional help (Tier 3)",
    ContactOutcome.clinician_declined_on_contact: "They did not want to talk after all",
}


class CloseReason(StrEnum):
    """Why the coordinator closed a case."""

    support_given = "support_given"
    clinician_declined = "clinician_declined"
    unreachable = "unreachable"
    supported_elsewhere = "supported_elsewhere"
    not_involved = "not_involved"  # the person was not part of the event after all
    duplicate = "duplicate"


CLOSE_LABELS = {
    CloseReason.support_given: "Support given",
    CloseReason.clinician_declined: "Clinician declined support",
    CloseReason.unreachable: "Could not reach the clinician",
    CloseReason.supported_elsewhere: "Supported elsewhere (own team, EAP, own clinician)",
    CloseReason.not_involved: "Not involved in the event",
    CloseReason.duplicate: "Duplicate case",
}
