"""The texts people receive (clinicians, peers, unit leads), each a default in English.

Minimum necessary: a page names no patient, no clinical detail, no unit and no event. A peer
learns who needs support only after accepting. Kept in one place so a reviewer can read every
text a person can receive on one screen (the coordinator's are in coordinator.py).

Each is a `Kind` with named placeholders, which an administrator may replace per language
(sms_templates; store.text_for picks the recipient's). What a placeholder may carry is fixed
here: a reply code, a time, a first name, the crisis line; there is no placeholder for
anything about a patient, so no wording an administrator writes can add one (checks.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


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


def peer_page(reply_code: str) -> str:
    return default("peer_page", code=reply_code)
