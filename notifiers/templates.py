"""The words of every SMS we send.

Minimum necessary: a page names no patient, no clinical detail, no unit and no event. A peer
learns who needs support only after accepting. Kept in one place so a reviewer can read every
message the product can send on one screen.
"""

from __future__ import annotations


def peer_page(reply_code: str) -> str:
    return (
        f"Peer support page {reply_code}: a colleague may need support after a difficult event. "
        f"Reply {reply_code}A to accept or {reply_code}P to pass."
    )


def bundled_pages(reply_codes: list[str]) -> str:
    codes = ", ".join(reply_codes)
    accept = "/".join(f"{c}A" for c in reply_codes)
    passes = "/".join(f"{c}P" for c in reply_codes)
    return (
        f"Peer support pages {codes}: {len(reply_codes)} colleagues may need support after a "
        f"difficult event. Reply {accept} to accept, {passes} to pass."
    )


def coordinator_page(reply_code: str) -> str:
    return (
        f"Peer support page {reply_code}: no on-call peer is available for a colleague who may "
        f"need support. Reply {reply_code}A to take it."
    )


# --- Tier 1 ---------------------------------------------------------------------------------


def tier1_prompt(staff_count: int) -> str:
    """Once per incident, however many of the lead's staff it touched; no names (minimum
    necessary: the lead knows who was on shift)."""
    who = "Someone on your team" if staff_count == 1 else f"{staff_count} people on your team"
    return (
        f"Peer support: {who} may have had a hard shift. When you can, a quiet "
        "'are you OK?' helps. Trained peers will also reach out."
    )


# --- the clinician ----------------------------------------------------------------------------


def clinician_offer() -> str:
    return (
        "Peer support: after a difficult event, a trained colleague is ready to talk, in "
        "confidence and apart from any review. Reply YES to be called, LATER (or e.g. "
        "LATER 6PM, TOMORROW) for another time, or NO. Reply STOP to opt out."
    )


def offer_reminder() -> str:
    return (
        "Peer support: a trained colleague is still available to talk, in confidence. "
        "Reply YES, LATER or NO."
    )


def deferral_ack(local_time: str) -> str:
    return f"Thank you. We will check in again {local_time}. Reply YES any time before then."


def resources() -> str:
    return (
        "Thank you, we will not contact you about this again. If you change your mind, "
        "the peer support line and the Employee Assistance Programme are always open."
    )


def follow_up() -> str:
    return (
        "Peer support check-in: how are you doing? Reply YES if you'd like a colleague to "
        "call, or STOP to end these messages."
    )


def clinician_help() -> str:
    return "Peer support: reply YES to be called, LATER (or e.g. LATER 6PM) or NO."


def crisis_reply(crisis_line: str) -> str:
    return (
        f"You matter. If you are in danger or thinking of harming yourself, call or text "
        f"{crisis_line} now (24/7). A member of the support team will contact you shortly."
    )


# --- the peer -------------------------------------------------------------------------------


def peer_details(clinician_first_name: str, number: str) -> str:
    return (
        f"Thank you for taking this. Your colleague is {clinician_first_name}, {number}. "
        "They are being asked now whether they'd welcome a call; we'll tell you their answer. "
        "If they need professional help, reply R."
    )


def peer_go(clinician_first_name: str) -> str:
    return f"{clinician_first_name} would welcome your call now. Thank you."


def peer_wait(clinician_first_name: str, local_time: str) -> str:
    return f"{clinician_first_name} asked for later: please call {local_time}."


def peer_stand_down() -> str:
    return "Your colleague has declined support for now. No action needed. Thank you."


def over_limit(open_cases: int) -> str:
    return (
        f"Thank you, you already have {open_cases} open cases; we've asked another peer. "
        "No action needed."
    )


def page_taken() -> str:
    return "Thank you. Another peer has already taken this one; no action needed."


def peer_help() -> str:
    return "Peer support: reply with the page number and A to accept or P to pass (e.g. 1A)."


def peer_no_such_page() -> str:
    return "Peer support: that page is no longer open. Thank you for responding."


# --- the coordinator ------------------------------------------------------------------------


def coordinator_no_answer() -> str:
    return "Peer support: an offer of support got no answer after a reminder. Please review."


def coordinator_crisis() -> str:
    return (
        "Peer support URGENT: a reply signalled crisis. Tier 3 referral needed now; "
        "see the console for contact details."
    )


def coordinator_referral() -> str:
    return "Peer support: a peer referred a colleague to Tier 3. Please arrange referral."


def help_text() -> str:
    return "This number sends peer support messages for your hospital. Reply STOP to opt out."


def coordinator_step_failed() -> str:
    return "Peer support: an automatic step for a case failed repeatedly. Please review it now."
