"""Free-text SMS replies read into decisions.

Everything here is pure: no clock, no store, no I/O. Callers pass `now` and the clinician's zone,
so a reply reads the same in a webhook, a replay and a test.

Every reply is read in the same order: crisis first (a person in danger never gets a keyword's
canned answer), then the carrier keywords STOP/START/HELP (the carrier acts on those whatever we
do, so we must agree with it), then what the reply means. Anything not understood is "unknown",
never a guess that could close a clinician's offer or take a page away from a peer. A reply is
an answer only when the whole of it is: words we cannot account for ("tonight I keep seeing her
face") make it unknown, however clear its time or yes/no words (see `whole_message`).
Crisis reading lives in the crisis package (signals_crisis, signals_distress), imported here.

Two readings are neither an answer nor unknown: a reply that is wholly a question about us
("who is this?", "how did you get my number?") is "question", and wholly a thanks ("thanks",
"noted", "👍") is "acknowledge". Neither says anything about how the person is, so neither needs
a coordinator's look; anything else in the message keeps it "unknown".

Where each part lives: `text` (the folding every reader shares), `keywords` (STOP/START/HELP),
`offer` and its phrase lists in `offer_words` (a clinician's answer to an offer), `deferral`
(time words placed on the calendar), `peer` (a peer's answer to a page) and `whole_message`
(what makes the whole reply accounted for). Quiet hours are next door, in
services/conversations/quiet_hours.py.
"""

from services.conversations.parsing.deferral import MAX_DEFER
from services.conversations.parsing.offer import OfferKind, OfferReply, parse_offer_reply
from services.conversations.parsing.peer import PeerKind, PeerReply, parse_peer_reply

__all__ = [
    "MAX_DEFER",
    "OfferKind",
    "OfferReply",
    "PeerKind",
    "PeerReply",
    "parse_offer_reply",
    "parse_peer_reply",
]
