"""A peer supporter's answer to a page: "1A" accept, "1P" pass, "1R" refer to Tier 3."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from services.conversations.crisis import signals_crisis
from services.conversations.parsing.deferral import DURATION, time_explained
from services.conversations.parsing.keywords import carrier_keyword
from services.conversations.parsing.text import normalise_reply, phrase_group, plain_forms
from services.conversations.parsing.whole_message import (
    FILLER,
    VERB_SLOT_HELD,
    is_known,
    names_in,
)

PeerKind = Literal["accept", "pass", "refer", "stop", "start", "help", "crisis", "unknown"]

# Page replies are "<code><letter>": 1A accept, 1P pass, 1R refer the case to Tier 3
# (expedited professional referral). "1 yes" / "yes 1" / "accept 1" / "A1" are read the same.
PEER_CODE_WORDS: dict[str, PeerKind] = {
    "a": "accept",
    "accept": "accept",
    "accepted": "accept",
    "yes": "accept",
    "p": "pass",
    "pass": "pass",
    "no": "pass",
    "r": "refer",
    "refer": "refer",
}
# Without a code these answer the newest open page. Read in the order pass, refer, accept,
# each taking its words out of the reply, so "not available" is never also "available".
PEER_PASS_PHRASES: tuple[str, ...] = (
    "no",
    "pass",
    "decline",
    "declined",
    "can't",
    "can't make it",
    "busy",
    "unavailable",
    "not available",
    "not free",
    "not now",
    "not today",
)
PEER_REFER_PHRASES: tuple[str, ...] = (
    "refer",
    "referral",
    "tier 3",
    "escalate",
    "needs tier 3",
    "needs a referral",
    "needs escalating",
)
PEER_ACCEPT_PHRASES: tuple[str, ...] = (
    "yes",
    "ok",
    "sure",
    "accept",
    "accepted",
    "available",
    "I'm free",
    "on it",
    "on my way",
    "omw",
    "will call",
    "calling now",
    "I can",
    "can do",
    "got it",
    "I'll take it",
    "taking it",
)
# A lone letter is a code without its number: the newest page. Only alone ("a" is a word).
PEER_LETTERS: dict[str, PeerKind] = {"a": "accept", "p": "pass", "r": "refer"}
PEER_FILLER: tuple[str, ...] = ("thanks", "please", "sorry", "reply", "code", "page")

_CODE_WORDS = "|".join(sorted(PEER_CODE_WORDS, key=len, reverse=True))
_PEER_CODE = re.compile(
    # "1A", "1 a", "12 pass"; "yes 1", "accept 1"; "A1"
    rf"(?<![\w.:])(?P<n>\d{{1,3}})\s?(?P<w>{_CODE_WORDS})(?![\w.:])"
    rf"|(?<![\w.:])(?P<w2>accept|pass|refer|yes|no)\s(?P<n2>\d{{1,3}})(?![\w.:])"
    rf"|(?<![\w.:])(?P<w3>[apr])(?P<n3>\d{{1,3}})(?![\w.:])"
)


@dataclass(frozen=True)
class PeerReply:
    """A peer's answer; `code` names the page ("1" from "1A"), None means their newest page."""

    kind: PeerKind
    code: str | None = None


def parse_peer_reply(text: str) -> PeerReply:
    """Read "1A", "1 a!", " 12P.", "1-A", "2R", a bare "yes"/"pass"/"refer", or STOP/START/HELP.

    Crisis first: peers are clinicians too, and may be in distress themselves. Codes are 1-3
    digits; leading zeros are dropped ("01A" is page 1) because codes are issued as plain
    numbers. Two different answers in one reply ("1A 2P", "yes no") are not guessed at:
    unknown. A bare number ("1") is unknown too: it could mean accept or pass. A code or a plain
    yes/pass/refer counts only when the rest of the reply is courtesy, a time or a reason for
    being away ("1A on my way", "sorry 2P in theatre"): "dead tired but ok" is unknown, not a
    peer taking a case they may not be fit to take.
    """
    if signals_crisis(text):
        return PeerReply("crisis")
    normal = normalise_reply(text.replace("-", " "), meridiem=False)
    words = normal.split()
    keyword = carrier_keyword(words)
    if keyword is not None:
        return PeerReply(keyword)
    found: set[tuple[PeerKind, str]] = set()
    for m in _PEER_CODE.finditer(normal):
        number = m.group("n") or m.group("n2") or m.group("n3")
        word = m.group("w") or m.group("w2") or m.group("w3")
        found.add((PEER_CODE_WORDS[word], str(int(number))))
    if len(found) > 1:
        return PeerReply("unknown")
    core = [w for w in words if w != "|" and w not in _PEER_FILLER]
    if not found and len(core) == 1 and core[0] in PEER_LETTERS:
        return PeerReply(PEER_LETTERS[core[0]])
    if _peer_unexplained(normal, frozenset(names_in(text))):
        return PeerReply("unknown")
    if found:
        kind, code = found.pop()
        return PeerReply(kind, code)
    kinds: set[PeerKind] = set()
    rest = normal
    for kind, group in _PEER_GROUPS:
        if group.search(rest):
            kinds.add(kind)
            rest = group.sub(" _ ", rest)
    if len(kinds) == 1:
        return PeerReply(kinds.pop())
    return PeerReply("unknown")


_PEER_GROUPS: tuple[tuple[PeerKind, re.Pattern[str]], ...] = (
    ("pass", phrase_group(PEER_PASS_PHRASES)),
    ("refer", phrase_group(PEER_REFER_PHRASES)),
    ("accept", phrase_group(PEER_ACCEPT_PHRASES)),
)
_PEER_FILLER = plain_forms(PEER_FILLER)


# For a peer's page: being busy or away explains a pass, an arrival time an accept.
PEER_CONTEXT: tuple[str, ...] = tuple(
    """
    theatre theater clinic ward driving off leave holiday nights shift on call work home sick
    unwell away meeting patient patients now asap soon shortly today tonight minutes mins min
    in at after until till right straight her him them she he they
    """.split()
)
PEER_EXPLAINED_PHRASES: tuple[str, ...] = (
    "give me",
    "on my way",
    "I'll call",
    "will call",
    "calling",
    "call her",
    "call him",
    "call them",
    "will do",
    "on it",
    "got it",
    "no problem",
    "np",
    "in a bit",
    "right away",
    "straight away",
    "take it",
    "taking it",
)


def _peer_unexplained(normal: str, extra: frozenset[str]) -> list[str]:
    """The words of a peer's reply that neither its code nor its answer accounts for."""
    held = [m.group() for m in VERB_SLOT_HELD.finditer(normal)]
    rest = _PEER_CODE.sub(" _ ", normal)
    rest = _PEER_EXPLAINED_RE.sub(" _ ", DURATION.sub(" _ ", rest))
    for _kind, group in _PEER_GROUPS:
        rest = group.sub(" _ ", rest)
    return held + [
        w
        for w in rest.split()
        if w not in ("_", "|")
        and w not in FILLER
        and w not in _PEER_FILLER
        and w not in _PEER_CONTEXT
        and not is_known(w, extra)
        and not time_explained(w, timed=True)
    ]


_PEER_CONTEXT = plain_forms(PEER_CONTEXT)
_PEER_EXPLAINED_RE = phrase_group(PEER_EXPLAINED_PHRASES)
