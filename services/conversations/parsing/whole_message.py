"""The whole message: a reply is an action only when every word of it is accounted for.

Accounted for means the action's own words (each reader's phrase groups), a time expression,
and words that carry no meaning of their own here (courtesy, fillers, a name, where someone is
and why they are busy). Any other word means the person said something we did not read, and
acting on half a message is how "ending it tonight" became "we will check in again Sun 21:46".
Such a reply is "unknown": the caller sends the help text, and a coordinator sees it when it
shows distress. The parts both readers share are here; each reader adds its own context.
"""

from __future__ import annotations

import re

from services.conversations.crisis import canonical, idiom_words
from services.conversations.parsing.text import fold_case_kept, plain_forms

COURTESY_FILLER: tuple[str, ...] = tuple(
    """
    thanks thank please sorry ok hi hey hello hiya dear x xx xxx lol haha ha yes no sure so just
    really very much actually honestly tbh i im me my you your a an the to of for and or but
    that this it its is be am are was will ill would id can could do then there great good
    perfect fine lovely cool brilliant awesome nice kind appreciated again well um uh hmm oh ah
    alright right mate hun dr doc sir maam all okay cheers yours anyone anybody we whenever
    tho though have has had
    """.split()
)
# Function words carry no meaning of their own only where grammar puts them. Two places are
# not: "if" opens a condition on the answer, and a condition is explained only when it is one
# of the listed courtesies ("if that's ok"), never when it is about the writer ("call tmrw if
# I'm still here"); and a conjunction cannot stand where a verb must (after "to", a modal or
# "just"), so "going to and it tonight" or "should just and it all" is a verb we did not read
# (voice-to-text for "end it"), not filler around a time.
VERB_SLOT_HELD = re.compile(
    r"(?<![\w|])(?:to|will|ill|would|id|should|can|could|just|must|might|gonna)"
    r"\s(?:and(?!\sfrom\b)|or|but|if)(?![\w|])"
)


_NAME_AFTER = re.compile(
    r"\b(?:hi|hey|hello|hiya|thanks|thank you|thx|cheers|ta|dear|sorry|ok|okay|yes|no)"
    r"[\s,!.:-]+([A-Z][a-z]+)\b"
)
_SIGN_OFF = re.compile(r"(?:^|[\s,.!-])-?\s*([A-Z][a-z]+)\W*$")


def names_in(text: str) -> set[str]:
    """A name after a greeting or thanks ("thanks Sam") or signed at the end ("... - Jo").

    Only a capitalised word in those two places: a name anywhere else is indistinguishable from
    a word we did not read, and that must stay unexplained.
    """
    plain = fold_case_kept(text)
    found = {m.group(1).lower() for m in _NAME_AFTER.finditer(plain)}
    signed = _SIGN_OFF.search(plain.strip())
    if signed and re.search(r"[-,.!]\s*-?\s*" + signed.group(1) + r"\W*$", plain.strip()):
        found.add(signed.group(1).lower())
    return found


def explained_by(text: str) -> frozenset[str]:
    """Names, and words inside an everyday idiom ("phone about to die"), for a clinician's
    reply. Not for a peer's: "dead tired but ok" is an idiom, and also a peer saying they may
    not be fit to take a case, which a coordinator should read rather than a parser accept."""
    return frozenset(names_in(text)) | idiom_words(text)


def is_known(word: str, extra: frozenset[str]) -> bool:
    """In `extra` as written or as the crisis reader spells it (idiom words are canonical)."""
    return word in extra or canonical(word) in extra


FILLER = plain_forms(COURTESY_FILLER)
