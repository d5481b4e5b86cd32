"""The coordinator's texts: they stay as written (no per-language version), since they go to
the programme's own number, not to a person with a language on the record. A case is named
by its reference, never by the clinician's name or anything about the event.
"""

from __future__ import annotations


def coordinator_page(reply_code: str, why: str, case_ref: str) -> str:
    """`why` is the page's stored reason: "no peer available" or "no peer answered after N
    pages", so the coordinator knows whether to find a peer or chase the ones paged."""
    return (
        f"Peer support page {reply_code}, case {case_ref}: {why}. A colleague may need support. "
        f"Reply {reply_code}A to take it."
    )


def coordinator_no_answer(case_ref: str) -> str:
    return (
        f"Peer support, case {case_ref}: an offer of support got no answer after a reminder. "
        "Please review."
    )


def coordinator_crisis(case_ref: str) -> str:
    return (
        f"Peer support URGENT: crisis reply on case {case_ref}. Tier 3 referral needed now; "
        "look the case up for contact details."
    )


def coordinator_staff_crisis(role: str, name: str, staff_id: str) -> str:
    """A peer or a unit lead in crisis is a colleague first: the coordinator calls them."""
    return (
        f"Peer support URGENT: {role} {name} (staff {staff_id}) sent a message with signs of "
        "crisis. Please contact them now."
    )


def coordinator_unknown_crisis(number: str) -> str:
    """Not in the directory, so the number is the only way back to them."""
    return (
        f"Peer support URGENT: a message with signs of crisis came from {number}, a number not "
        "in the staff directory. Please contact them now."
    )


def coordinator_look(case_ref: str, distress: bool) -> str:
    """A reply we could not read as an answer: never the text."""
    why = "not understood, may show distress" if distress else "not understood"
    return f"Peer support, case {case_ref}: a reply needs a human look ({why}). Please review."


def coordinator_wrong_number(case_ref: str) -> str:
    return (
        f"Peer support, case {case_ref}: the reply says wrong number. Please check the "
        "clinician's number in the directory."
    )


def coordinator_new_reply(case_ref: str) -> str:
    return f"Peer support, case {case_ref}: the clinician replied. Please review."


def coordinator_referral(case_ref: str) -> str:
    return (
        f"Peer support, case {case_ref}: a peer referred a colleague to Tier 3. "
        "Please arrange referral."
    )


def coordinator_step_failed(case_ref: str) -> str:
    return (
        f"Peer support, case {case_ref}: an automatic step failed repeatedly. Please review it now."
    )
