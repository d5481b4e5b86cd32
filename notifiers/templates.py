"""The words of every SMS we send.

Minimum necessary: a page names no patient, no clinical detail, no unit and no event. A peer
learns who needs support only after accepting. Kept in one place so a reviewer can read every
message the product can send on one screen.

The texts people receive (clinicians, peers, unit leads) are also `KINDS`: each a default in
English with named placeholders, which an administrator may replace per language
(sms_templates, services/texts.py picks the recipient's). What a placeholder may carry is
fixed here: a reply code, a time, a first name, the crisis line; there is no placeholder for
anything about a patient, so no wording an administrator writes can add one. The
coordinator's texts stay as written: they go to the programme's own number, not a person
with a language on the record.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field

# An SMS over 320 characters goes as three or more segments (or one long MMS on some
# carriers): slower, dearer, and more likely to arrive out of order.
MAX_LENGTH = 320
# Names an administrator might reach for that would put a patient or the event into an SMS.
PATIENT_WORDS = (
    "patient",
    "mrn",
    "dob",
    "birth",
    "diagnos",
    "room",
    "bed",
    "ward",
    "unit",
    "event",
    "incident",
    "clinical",
    "condition",
    "nhs",
    "ssn",
    "address",
)


@dataclass(frozen=True)
class Kind:
    """One kind of SMS a person receives: its default and what its placeholders may be."""

    key: str
    audience: str
    label: str
    default: str
    required: frozenset[str] = frozenset()
    optional: frozenset[str] = frozenset()
    sample: Mapping[str, str] = field(default_factory=dict)

    @property
    def placeholders(self) -> frozenset[str]:
        return self.required | self.optional


def _kind(
    key: str,
    audience: str,
    label: str,
    default: str,
    required: tuple[str, ...] = (),
    optional: tuple[str, ...] = (),
    **sample: str,
) -> Kind:
    return Kind(key, audience, label, default, frozenset(required), frozenset(optional), sample)


KINDS: dict[str, Kind] = {
    k.key: k
    for k in (
        # --- the clinician
        _kind(
            "clinician_offer",
            "clinician",
            "Offer of support",
            "Peer support: after a difficult event, a trained colleague is ready to talk, in "
            "confidence and apart from any review. Reply YES to be called, LATER (or e.g. "
            "LATER 6PM, TOMORROW) for another time, or NO. Reply STOP to opt out.",
        ),
        _kind(
            "offer_reminder",
            "clinician",
            "Reminder of the offer",
            "Peer support: a trained colleague is still available to talk, in confidence. "
            "Reply YES, LATER or NO.",
        ),
        _kind(
            "deferral_ack",
            "clinician",
            "Thanks for asking for later",
            "Thank you. We will check in again {time}. Reply YES any time before then.",
            required=("time",),
            time="Tue 18:00",
        ),
        _kind(
            "deferral_ack_quiet",
            "clinician",
            "Thanks for asking for later (moved out of quiet hours)",
            "Thank you. We don't text during quiet hours, so we will check in again "
            "{time}. Reply YES any time before then.",
            required=("time",),
            time="Wed 07:00",
        ),
        _kind(
            "clinician_accepted_ack",
            "clinician",
            "Thanks for accepting (names the peer)",
            "Thank you. {peer_first_name} will contact you.",
            required=("peer_first_name",),
            peer_first_name="Jordan",
        ),
        _kind(
            "clinician_accepted_ack_team",
            "clinician",
            "Thanks for accepting (no peer named)",
            "Thank you. A member of the peer support team will contact you.",
        ),
        _kind(
            "clinician_pending",
            "clinician",
            "Reply before the offer",
            "Thank you. A trained peer supporter will contact you soon; you can then reply YES, "
            "LATER or NO. If you are in danger, call or text {crisis_line}.",
            required=("crisis_line",),
            crisis_line="988",
        ),
        _kind(
            "clinician_team_will_call",
            "clinician",
            "Thanks, the team will call",
            "Thank you. A member of the support team will contact you shortly.",
        ),
        _kind(
            "about_us",
            "clinician",
            "Who we are",
            "This is your hospital's peer support programme. After a difficult event, a trained "
            "colleague can talk with you in confidence, apart from any review. Reply YES to be "
            "called, LATER, or NO. Reply STOP to opt out.",
        ),
        _kind(
            "follow_up",
            "clinician",
            "Follow-up check-in",
            "Peer support check-in: how are you doing? Reply YES if you'd like a colleague to "
            "call, or STOP to end these messages.",
        ),
        _kind(
            "follow_up_help",
            "clinician",
            "Help during follow-ups",
            "Peer support: reply YES if you'd like your peer supporter to call, or NO. Thank you.",
        ),
        _kind(
            "follow_up_ended",
            "clinician",
            "Follow-ups ended",
            "Thank you. We will not send more check-ins about this.",
        ),
        _kind(
            "resources",
            "clinician",
            "After a decline",
            "Thank you, we will not contact you about this again. If you change your mind, "
            "the peer support line and the Employee Assistance Programme are always open.",
        ),
        _kind(
            "clinician_help",
            "clinician",
            "Help with the offer",
            "Peer support: reply YES to be called, LATER (or e.g. LATER 6PM) or NO.",
        ),
        _kind(
            "crisis_reply",
            "anyone",
            "Reply to signs of crisis",
            "You matter. If you are in danger or thinking of harming yourself, call or text "
            "{crisis_line} now (24/7). A member of the support team will contact you shortly.",
            required=("crisis_line",),
            crisis_line="988",
        ),
        _kind(
            "help_text",
            "anyone",
            "Help for a message we cannot place",
            "This number sends peer support messages for your hospital. Reply STOP to opt out.",
        ),
        # --- the unit lead
        _kind(
            "tier1_prompt_one",
            "unit lead",
            "Tier 1 prompt (one person)",
            "Peer support: Someone on your team may have had a hard shift. When you can, a "
            "quiet 'are you OK?' helps. Trained peers will also reach out.",
        ),
        _kind(
            "tier1_prompt_many",
            "unit lead",
            "Tier 1 prompt (several people)",
            "Peer support: {count} people on your team may have had a hard shift. When you "
            "can, a quiet 'are you OK?' helps. Trained peers will also reach out.",
            optional=("count",),
            count="3",
        ),
        # --- the peer
        _kind(
            "peer_page",
            "peer",
            "Page",
            "Peer support page {code}: a colleague may need support after a difficult event. "
            "Reply {code}A to accept or {code}P to pass.",
            required=("code",),
            code="1",
        ),
        _kind(
            "bundled_pages",
            "peer",
            "Several pages in one SMS",
            "Peer support pages {codes}: {count} colleagues may need support after a "
            "difficult event. Reply {accept} to accept, {passes} to pass.",
            required=("accept", "passes"),
            optional=("codes", "count"),
            codes="1, 2",
            count="2",
            accept="1A/2A",
            passes="1P/2P",
        ),
        _kind(
            "peer_details",
            "peer",
            "The clinician's details, after accepting",
            "Thank you for taking this. Your colleague is {first_name}, {number}. "
            "They are being asked now whether they'd welcome a call; we'll tell you their "
            "answer. If they need professional help, reply R.",
            required=("first_name", "number"),
            first_name="Alex",
            number="+15555550100",
        ),
        _kind(
            "peer_go",
            "peer",
            "The clinician would welcome a call",
            "{first_name} would welcome your call now. Thank you.",
            required=("first_name",),
            first_name="Alex",
        ),
        _kind(
            "peer_wait",
            "peer",
            "The clinician asked for later",
            "{first_name} asked for later: please call {time}.",
            required=("first_name", "time"),
            first_name="Alex",
            time="Tue 18:00",
        ),
        _kind(
            "peer_stand_down",
            "peer",
            "Stand down (declined)",
            "Your colleague has declined support for now. No action needed. Thank you.",
        ),
        _kind(
            "peer_stand_down_opted_out",
            "peer",
            "Stand down (opted out)",
            "Your colleague has asked not to receive messages, so please don't call; the "
            "programme coordinator will follow up. No action needed. Thank you.",
        ),
        _kind(
            "over_limit",
            "peer",
            "Over the case limit",
            "Thank you, you already have {open_cases} open cases; we've asked another peer. "
            "No action needed.",
            optional=("open_cases",),
            open_cases="2",
        ),
        _kind(
            "pass_ack", "peer", "Pass noted", "Thank you. We'll ask another peer; no action needed."
        ),
        _kind(
            "referral_ack",
            "peer",
            "Tier 3 referral noted",
            "Thank you. The programme coordinator will arrange the Tier 3 referral now.",
        ),
        _kind(
            "page_taken",
            "peer",
            "Page already taken",
            "Thank you. Another peer has already taken this one; no action needed.",
        ),
        _kind(
            "peer_help",
            "peer",
            "Help for peers",
            "Peer support: reply with the page number and A to accept or P to pass (e.g. 1A).",
        ),
        _kind(
            "peer_no_such_page",
            "peer",
            "Page no longer open",
            "Peer support: that page is no longer open. Thank you for responding.",
        ),
    )
}


def fill(body: str, values: Mapping[str, object]) -> str:
    """A body with its placeholders filled; only plain {name} fields (check() refused any
    other form when the body was saved)."""
    return body.format_map(values)


def default(kind: str, **values: object) -> str:
    return fill(KINDS[kind].default, values)


def fields_of(body: str) -> list[str]:
    """The placeholders a body uses, in order; ValueError for a malformed one ("{", "{0}",
    "{code.x}", "{code!r}", "{code:>9}") so attribute or index access never reaches
    str.format."""
    names: list[str] = []
    for _, name, spec, conversion in string.Formatter().parse(body):
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValueError(f"{{{name}}} is not a placeholder: use a plain name such as {{code}}")
        names.append(name)
    return names


def check(kind: str, body: str) -> list[str]:
    """Why `body` may not replace `kind`'s text, or [] when it may."""
    spec = KINDS[kind]
    problems: list[str] = []
    text = body.strip()
    if not text:
        return ["The text is empty."]
    try:
        used = fields_of(text)
    except ValueError as exc:
        return [str(exc).capitalize() + "."]
    allowed = ", ".join(f"{{{p}}}" for p in sorted(spec.placeholders)) or "none"
    for name in dict.fromkeys(used):
        if name in spec.placeholders:
            continue
        if any(word in name.lower() for word in PATIENT_WORDS):
            problems.append(
                f"{{{name}}} would carry details of a patient or the event: an SMS never does, "
                f"so there is no such placeholder. Allowed here: {allowed}."
            )
        else:
            problems.append(f"{{{name}}} is not a placeholder of this text. Allowed: {allowed}.")
    for name in sorted(spec.required - set(used)):
        problems.append(f"{{{name}}} is missing: the default has it and the text needs it.")
    if len(text) > MAX_LENGTH:
        problems.append(f"{len(text)} characters: at most {MAX_LENGTH}.")
    elif not problems:
        filled = fill(text, spec.sample)
        if len(filled) > MAX_LENGTH:
            problems.append(f"{len(filled)} characters once filled in: at most {MAX_LENGTH}.")
    return problems


def peer_page(reply_code: str) -> str:
    return default("peer_page", code=reply_code)


def bundled_pages(reply_codes: list[str]) -> str:
    codes = ", ".join(reply_codes)
    accept = "/".join(f"{c}A" for c in reply_codes)
    passes = "/".join(f"{c}P" for c in reply_codes)
    return default(
        "bundled_pages", codes=codes, count=len(reply_codes), accept=accept, passes=passes
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
    if staff_count == 1:
        return default("tier1_prompt_one")
    return default("tier1_prompt_many", count=staff_count)


# --- the clinician ----------------------------------------------------------------------------


def clinician_offer() -> str:
    return default("clinician_offer")


def offer_reminder() -> str:
    return default("offer_reminder")


def deferral_ack(local_time: str, after_quiet_hours: bool = False) -> str:
    """`after_quiet_hours`: the time asked for fell in quiet hours, so the promise names the
    time the message will really go, and says why it differs."""
    return default("deferral_ack_quiet" if after_quiet_hours else "deferral_ack", time=local_time)


def clinician_accepted_ack(peer_first_name: str | None) -> str:
    if peer_first_name is None:
        return default("clinician_accepted_ack_team")
    return default("clinician_accepted_ack", peer_first_name=peer_first_name)


def clinician_pending(crisis_line: str = "988") -> str:
    """A clinician who writes before the offer reaches them (their unit lead may have asked)."""
    return default("clinician_pending", crisis_line=crisis_line)


def clinician_team_will_call() -> str:
    return default("clinician_team_will_call")


def about_us() -> str:
    return default("about_us")


def follow_up_help() -> str:
    return default("follow_up_help")


def follow_up_ended() -> str:
    return default("follow_up_ended")


def resources() -> str:
    return default("resources")


def follow_up() -> str:
    return default("follow_up")


def clinician_help() -> str:
    return default("clinician_help")


def crisis_reply(crisis_line: str) -> str:
    return default("crisis_reply", crisis_line=crisis_line)


# --- the peer -------------------------------------------------------------------------------


def peer_details(clinician_first_name: str, number: str) -> str:
    return default("peer_details", first_name=clinician_first_name, number=number)


def peer_go(clinician_first_name: str) -> str:
    return default("peer_go", first_name=clinician_first_name)


def peer_wait(clinician_first_name: str, local_time: str) -> str:
    return default("peer_wait", first_name=clinician_first_name, time=local_time)


def peer_stand_down() -> str:
    return default("peer_stand_down")


def peer_stand_down_opted_out() -> str:
    return default("peer_stand_down_opted_out")


def over_limit(open_cases: int) -> str:
    return default("over_limit", open_cases=open_cases)


def pass_ack() -> str:
    return default("pass_ack")


def referral_ack() -> str:
    return default("referral_ack")


def page_taken() -> str:
    return default("page_taken")


def peer_help() -> str:
    return default("peer_help")


def peer_no_such_page() -> str:
    return default("peer_no_such_page")


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
    return default("help_text")


def coordinator_step_failed(case_ref: str) -> str:
    return (
        f"Peer support, case {case_ref}: an automatic step failed repeatedly. Please review it now."
    )
