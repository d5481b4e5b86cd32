"""What a clinician says to an offer of peer support: phrase lists, read by `offer`.

Data (a vocabulary, not logic): each list is read in the order `offer` gives, each taking its
words out of the reply. "..." in a phrase stands for up to three other words.
"""

from __future__ import annotations

# Read first of all: refusals built from words that elsewhere mean yes ("I don't need to talk").
# "..." stands for up to three other words.
OFFER_REFUSAL_PHRASES: tuple[str, ...] = (
    "don't ... talk",
    "don't ... call",
    "don't ... chat",
    "don't ... help",
    "don't ... support",
    "don't ... anyone",
    "don't want",
    "don't need",
    "don't bother",
    "please don't",
    "no need ... talk",
    "no need ... call",
    "no need",
    "not needed",
    "not necessary",
)
# Read next: in answer to "would you like to talk to a peer?", saying you are not OK is a yes.
OFFER_DISTRESS_PHRASES: tuple[str, ...] = (
    "not ok",
    "not fine",
    "not good",
    "not so good",
    "not great",
    "not alright",
    "not doing well",
    "not doing great",
    "not doing good",
    "not coping",
    "not the best",
    "struggling",
    "rough day",
    "rough time",
    "hard time",
    "need to talk",
    "need help",
    "help me",
    "please help",
    "need someone",
    "need support",
    "want to talk",
    "like to talk",
    "could use",
)
# Read before the declines: "I'm OK with a call" is a yes although it starts like "I'm OK".
OFFER_WILLING_PHRASES: tuple[str, ...] = (
    "I'm ok with",
    "I'm fine with",
    "I'm good with",
    "I'm ok to",
    "I'm fine to",
    "I'm happy to",
    "happy to",
    "fine by me",
    "ok with me",
)
# Declining is voluntary and final for the event: "I'm fine / OK / good" is a decline, with no
# pressure. A bare "no" is weak and yields to an explicit accept in the same reply ("no, call me").
OFFER_DECLINE_PHRASES: tuple[str, ...] = (
    "no thanks",
    "no thank you",
    "not interested",
    "no call",
    "rather not",
    "not really",
    "not for me",
    "not bad",
    "not too bad",
    "I'm fine",
    "I'm ok",
    "I'm good",
    "I'm alright",
    "I'm all good",
    "I'm doing ok",
    "I'm doing fine",
    "I'm doing well",
    "all good",
    "I'm managing",
    "I'm coping",
    "doing ok",
    "doing fine",
    "doing well",
    "doing good",
    "doing alright",
    "I'll be fine",
    "I'll be ok",
    "I'll be alright",
    "fine thanks",
    "good thanks",
    "have support",
    "got support",
    "have someone",
    "got someone",
    "already talked",
    "already spoke",
    "leave me alone",
    "all set",
    "decline",
    "declined",
    "pass",
    "never",
    "no way",
)
OFFER_ACCEPT_PHRASES: tuple[str, ...] = (
    "yes please",
    "please do",
    "call me",
    "please call",
    "ring me",
    "phone me",
    "text me",
    "give me a call",
    "call",
    "talk",
    "chat",
    "let's talk",
    "go ahead",
    "sounds good",
    "I'd like",
    "would like",
    "would be good",
    "would be nice",
    "would help",
    "accept",
    "accepted",
    "interested",
    "absolutely",
    "definitely",
    "of course",
    "why not",
    "I'm in",
    "asap",
    "appreciate",
)
OFFER_UNSURE_PHRASES: tuple[str, ...] = (
    "not sure",
    "unsure",
    "maybe",
    "perhaps",
    "possibly",
    "might",
    "don't know",
    "dunno",
    "idk",
)
# A reply that is wholly a question about us ("who is this?", "is this confidential?"): kind
# "question". The caller answers it with a short explanation of who we are and what a peer
# supporter does, and asks no coordinator to look: it says nothing about how the person is.
# Only the whole message: "who is this, I can't stop crying" is unknown, "ok who will call me"
# too (a yes, or not?). Read after crisis and the carrier keywords, before everything else.
OFFER_QUESTION_PHRASES: tuple[str, ...] = (
    # Who we are.
    "who",
    "who is this",
    "who's this",
    "who is that",
    "who's that",
    "who is it",
    "who are you",
    "who are u",
    "who r u",
    "who dis",
    "who is texting me",
    "who is messaging me",
    "who sent this",
    "who am I talking to",
    "who am I speaking to",
    "is this the hospital",
    "is this from the hospital",
    "is this from work",
    # What this is.
    "what is this",
    "what's this",
    "what is this about",
    "what's this about",
    "what is it about",
    "what's it about",
    "what is this regarding",
    "what's this regarding",
    "what is it regarding",
    "what's it regarding",
    "what is this for",
    "what's this for",
    "what does this mean",
    "what do you mean",
    "what do u mean",
    "wdym",
    "what is a peer supporter",
    "what's a peer supporter",
    "what is peer support",
    "what's peer support",
    "what does peer supporter mean",
    "what does peer support mean",
    "what does later mean",
    "what's later mean",
    "what does yes mean",
    "what do the replies mean",
    # Our number, or the wrong one.
    "wrong number",
    "wrong person",
    "you have the wrong number",
    "you have the wrong person",
    "u have the wrong number",
    "u have the wrong person",
    "I think you have the wrong number",
    "I think you have the wrong person",
    "think u have the wrong person",
    "how did you get my number",
    "how did u get my number",
    "how do you have my number",
    "where did you get my number",
    "where did u get my number",
    "who gave you my number",
    "who gave u my number",
    "why do you have my number",
    # Who will know.
    "is this confidential",
    "is it confidential",
    "is this anonymous",
    "is it anonymous",
    "is this private",
    "is it private",
    "will my manager know",
    "will my manager find out",
    "will my manager see this",
    "does my manager see this",
    "does my manager know",
    "will anyone know",
    "who will know",
    "who can see this",
    "who sees this",
    # Who calls, and what happens.
    "who will call me",
    "who would call me",
    "who will call",
    "who will ring me",
    "who would ring me",
    "who is calling",
    "who will I talk to",
    "who will I speak to",
    "who would I talk to",
    "who would I speak to",
    "what happens if I say yes",
    "what happens if I say no",
    "what happens if I reply yes",
    "what happens next",
    "what happens now",
    "what happens then",
    "what does it involve",
    "how long does it take",
    "how long does the call take",
    "how long is the call",
    "does this cost anything",
    "does it cost anything",
)
# Words that may stand around such a question without adding to it ("sorry, who's this?").
QUESTION_FILLER: tuple[str, ...] = tuple(
    """
    hi hey hello hiya sorry please thanks um uh hmm oh ah excuse me just quick question can i
    ask may but dear x xx so peer supporter support
    """.split()
)
# A reply that is wholly an acknowledgement: kind "acknowledge". It is not a yes (the offer
# asks for YES; "ok" stays an accept, as it always was), so the caller sends the stage's help
# text again and asks no coordinator to look. Any other word or emoji keeps it unknown.
OFFER_ACK_PHRASES: tuple[str, ...] = (
    "thanks",
    "noted",
    "got it",
    "received",
    "message received",
    "understood",
    "for the message",
    "for letting me know",
    "for the info",
    "for reaching out",
    "for checking in",
    "for thinking of me",
    "for the offer",
    "very much",
    "so much",
)
ACK_FILLER: tuple[str, ...] = ("hi", "hey", "hello", "dear", "x", "xx", "again", "and")
# Emoji that mean "seen, thanks" and nothing more. Skin tones and joiners are ignored.
ACK_EMOJI: frozenset[str] = frozenset("\U0001f44d\U0001f44c\U0001f64f\u2705\U0001f197")


# Pleasantries that carry no answer: "no worries" must not count as a "no".
OFFER_NEUTRAL_PHRASES: tuple[str, ...] = ("no worries", "no problem", "no probs")
OFFER_WEAK_ACCEPT: tuple[str, ...] = ("yes", "ok", "sure", "please", "now", "alright")
OFFER_WEAK_DECLINE: tuple[str, ...] = ("no",)


# For a clinician's offer: where they are and why now is not good, which explain a deferral.
OFFER_CONTEXT: tuple[str, ...] = tuple(
    """
    tired ward work shift shifts clinic theatre theater surgery meeting patient patients rounds
    driving drive home car train bus commute kids school pickup dinner lunch break handover
    nights days off duty unit call calls on with free finish finished finishing back get out
    works suits better best time now bit while moment day busy still running late here leaving
    done after before when once until till available phone text ring speak soon first thing
    then up around about approx roughly ish probably they mobile number personal run already
    slammed swamped rammed manic hectic plans plan weekend away pharmacy chemist shop gym
    appointment dentist bed school going motorway road traffic stuck dad mum mom wife husband
    partner family son daughter
    """.split()
)
# Phrases that complete an answer without changing it ("if that's ok", "speak then").
OFFER_EXPLAINED_PHRASES: tuple[str, ...] = (
    "give me",
    "go on then",
    "can we do",
    "could we do",
    "going to bed",
    "going away",
    "already seeing",
    "already have",
    "already had",
    "had a debrief",
    "seeing a counsellor",
    "seeing a therapist",
    "seeing someone",
    "occ health",
    "occupational health",
    "not a big deal",
    "wasn't a big deal",
    "no big deal",
    "for checking in",
    "for checking",
    "for asking",
    "for the offer",
    "for reaching out",
    "for thinking of me",
    "flat out",
    "snowed under",
    "rushed off my feet",
    "run off my feet",
    "gimme",
    "can't talk",
    "can't speak",
    "can't chat",
    "can't call",
    "can't answer",
    "can't text",
    "can't reply",
    "can't right now",
    "on my way",
    "in a bit",
    "for now",
    "right now",
    "at the moment",
    "when I'm free",
    "when I get home",
    "when I finish",
    "once I'm home",
    "if that's ok",
    "if that's alright",
    "if that's fine",
    "if that works",
    "if that suits",
    "if you like",
    "if you want",
    "if possible",
    "if you can",
    "is that ok",
    "if ok",
    "works for me",
    "suits me",
    "would work",
    "let me know",
    "speak then",
    "talk then",
    "speak soon",
    "talk soon",
    "I'll call you",
    "I'll text you",
    "text me",
    "message me",
)
