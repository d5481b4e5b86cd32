"""The carrier keywords STOP, START and HELP, read as the carrier reads them.

Twilio (and the carriers) act on these when they are the whole message, whatever we do, so we
must agree with them; a few plain-language opt-outs are added ("please stop texting me").
"""

from __future__ import annotations

from typing import Literal

from services.conversations.parsing.text import phrase_group, plain_forms

STOP_KEYWORDS: tuple[str, ...] = (
    "stop",
    "stopall",
    "stop all",
    "unsubscribe",
    "cancel",
    "end",
    "quit",
    "optout",
    "opt out",
    "revoke",
)
STOP_PHRASES: tuple[str, ...] = (
    "stop texting",
    "stop messaging",
    "stop sending",
    "stop contacting",
    "don't text me",
    "don't message me",
    "don't contact me",
    "no more texts",
    "no more messages",
    "unsubscribe me",
    "remove me from",
    "take me off",
)
START_KEYWORDS: tuple[str, ...] = ("start", "unstop")
# Exact only: "help me" / "please help" from a clinician is a request for a peer, not the keyword.
HELP_KEYWORDS: tuple[str, ...] = ("help", "info", "more info")
# Words that may ride along with STOP or START without changing them ("STOP please").
KEYWORD_COURTESIES: tuple[str, ...] = ("please", "now", "thanks", "it", "me")


def carrier_keyword(words: list[str]) -> Literal["stop", "start", "help"] | None:
    """The keyword a reply is, or None: HELP only exact, STOP and START with courtesies."""
    text = " ".join(w for w in words if w != "|")
    if text in _HELP:
        return "help"
    core = " ".join(w for w in text.split() if w not in _COURTESIES)
    if core in _STOP or _STOP_PHRASES_RE.search(text):
        return "stop"
    if core in _START:
        return "start"
    return None


_STOP = plain_forms(STOP_KEYWORDS)
_START = plain_forms(START_KEYWORDS)
_HELP = plain_forms(HELP_KEYWORDS)
_COURTESIES = plain_forms(KEYWORD_COURTESIES)
_STOP_PHRASES_RE = phrase_group(STOP_PHRASES)
