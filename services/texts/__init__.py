"""Every SMS text the product sends, owned by the domain that sends it (not by the Twilio
adapter in notifiers/, which only carries the words).

- defaults.py: the texts people receive, each a `Kind` with an English default;
- store.py: the recipient's own: an administrator's text for their language, else the
  default, with the crisis line of their site (`text_for`);
- checks.py: whether an administrator's text may replace a default;
- coordinator.py: the coordinator's texts, which stay as written.
"""

from services.texts.checks import MAX_LENGTH, check, fields_of
from services.texts.coordinator import (
    coordinator_crisis,
    coordinator_look,
    coordinator_new_reply,
    coordinator_no_answer,
    coordinator_page,
    coordinator_referral,
    coordinator_staff_crisis,
    coordinator_step_failed,
    coordinator_unknown_crisis,
    coordinator_wrong_number,
)
from services.texts.defaults import KINDS, Kind, default, fill, peer_page
from services.texts.store import crisis_line, forget, text_for

__all__ = [
    "KINDS",
    "MAX_LENGTH",
    "Kind",
    "check",
    "coordinator_crisis",
    "coordinator_look",
    "coordinator_new_reply",
    "coordinator_no_answer",
    "coordinator_page",
    "coordinator_referral",
    "coordinator_staff_crisis",
    "coordinator_step_failed",
    "coordinator_unknown_crisis",
    "coordinator_wrong_number",
    "crisis_line",
    "default",
    "fields_of",
    "fill",
    "forget",
    "peer_page",
    "text_for",
]
