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


def coordinator_page(reply_code: str, why: str, case_ref: str) -> str:
    """`why` is the page's stored reason: "no peer available" or "no peer answered after N
    pages", so the coordinator knows whether to find a peer or chase the ones paged."""
    return (
        f"Peer support page {reply_code}, case {case_ref}: {why}. A colleague may need support. "
        f"Reply {reply_code}A to take it."
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


def deferral_ack(local_time: str, after_quiet_hours: bool = False) -> str:
    """`after_quiet_hours`: the time asked for fell in quiet hours, so the promise names the
    time the message will really go, and says why it differs."""
    if after_quiet_hours:
        return (
            f"Thank you. We don't text during quiet hours, so we will check in again "
            f"{local_time}. Reply YES any time before then."
        )
    return f"Thank you. We will check in again {local_time}. Reply YES any time before then."


def clinician_accepted_ack(peer_first_name: str | None) -> str:
    who = peer_first_name or "A member of the peer support team"
    return f"Thank you. {who} will contact you."


def clinician_pending() -> str:
    """A clinician who writes before the offer reaches them (their unit lead may have asked)."""
    return (
        "Thank you. A trained peer supporter will contact you soon; you can then reply YES, "
        "LATER or NO. If you are in danger, call or text 988."
    )


def clinician_team_will_call() -> str:
    return "Thank you. A member of the support team will contact you shortly."


def about_us() -> str:
    return (
        "This is your hospital's peer support programme. After a difficult event, a trained "
        "colleague can talk with you in confidence, apart from any review. Reply YES to be "
        "called, LATER, or NO. Reply STOP to opt out."
    )


def follow_up_help() -> str:
    return "Peer support: reply YES if you'd like your peer supporter to call, or NO. Thank you."


def follow_up_ended() -> str:
    return "Thank you. We will not send more check-ins about this."


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


def peer_stand_down_opted_out() -> str:
    return (
        "Your colleague has asked not to receive messages, so please don't call; the programme "
        "coordinator will follow up. No action needed. Thank you."
    )


def over_limit(open_cases: int) -> str:
    return (
        f"Thank you, you already have {open_cases} open cases; we've asked another peer. "
        "No action needed."
    )


def pass_ack() -> str:
    return "Thank you. We'll ask another peer; no action needed."


def referral_ack() -> str:
    return "Thank you. The programme coordinator will arrange the Tier 3 referral now."


def page_taken() -> str:
    return "Thank you. Another peer has already taken this one; no action needed."


def peer_help() -> str:
    return "Peer support: reply with the page number and A to accept or P to pass (e.g. 1A)."


def peer_no_such_page() -> str:
    return "Peer support: that page is no longer open. Thank you for responding."


# --- the coordinator ------------------------------------------------------------------------


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


def help_text() -> str:
    return "This number sends peer support messages for your hospital. Reply STOP to opt out."


def coordinator_step_failed(case_ref: str) -> str:
    return (
        f"Peer support, case {case_ref}: an automatic step failed repeatedly. Please review it now."
    )
