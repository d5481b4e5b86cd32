"""The words normalisation maps a reply's tokens onto: data, edited with the patterns.

Texting forms and misspellings to plain words, irregular inflections to their lemma, the lemmas
whose regular inflections are reduced, and the everyday words one typo must never turn into a
crisis word. Long because it is a word list; the rules that use it are in `normalisation`.
"""

from __future__ import annotations

# Texting forms and spellings, one token (or a fixed pair) to the words the patterns use.
TEXTING: dict[str, str] = {
    "u": "you",
    "b": "be",
    "y": "why",
    "nite": "night",
    "sry": "sorry",
    "til": "till",
    "itll": "it will",
    "thatll": "that will",
    "theyd": "they would",
    "theyll": "they will",
    "youd": "you would",
    "wouldve": "would have",
    "shouldve": "should have",
    "couldve": "could have",
    "should of": "should have",
    "could of": "could have",
    "ya": "you",
    "ur": "your",
    "r": "are",
    "2": "to",
    "4": "for",
    "b4": "before",
    "im": "im",
    "i m": "im",
    "iam": "im",
    "i am": "im",
    "ima": "im going to",
    "imma": "im going to",
    "ive": "i have",
    "id": "i would",
    "cannot": "cant",
    "can not": "cant",
    "cnt": "cant",
    "carnt": "cant",
    "cant": "cant",
    "couldnt": "cant",
    "do not": "dont",
    "dnt": "dont",
    "dont": "dont",
    "doesnt": "dont",
    "didnt": "dont",
    "will not": "wont",
    "shant": "wont",  # older register: "I shan't be here much longer"
    "shall not": "wont",
    "would not": "wouldnt",
    "wud": "would",
    "wld": "would",
    "cud": "could",
    "cld": "could",
    "shud": "should",
    "shld": "should",
    "wanna": "want to",
    "wana": "want to",
    "want2": "want to",
    "wan": "want",
    "wnt": "want",
    "whant": "want",
    "gonna": "going to",
    "gona": "going to",
    "gna": "going to",
    "finna": "going to",
    "gotta": "got to",
    "tryna": "trying to",
    "idk": "dont know",
    "dunno": "dont know",
    "idc": "dont care",
    "rn": "right now",
    "atm": "right now",
    "tbh": "to be honest",
    "ngl": "not going to lie",
    "tho": "though",
    "bc": "because",
    "cuz": "because",
    "coz": "because",
    "cos": "because",
    "bout": "about",
    "abt": "about",
    "thru": "through",
    "pls": "please",
    "plz": "please",
    "ppl": "people",
    "no1": "no one",
    "noone": "no one",
    "nobody": "no one",
    "any1": "anyone",
    "every1": "everyone",
    "evry1": "everyone",
    "some1": "someone",
    "nothin": "nothing",
    "nuthin": "nothing",
    "wat": "what",
    "wot": "what",
    "whats": "what is",
    "theres": "there is",
    "its": "it is",
    "anymore": "anymore",
    "any more": "anymore",
    "ne more": "anymore",
    "nemore": "anymore",
    "anymor": "anymore",
    "enymore": "anymore",
    "no more": "anymore",
    "any longer": "anymore",
    "every thing": "everything",
    "my self": "myself",
    "my shelf": "myself",  # autocorrect's "myself"; a shelf is never harmed in a reply
    "me self": "myself",
    "meself": "myself",
    "myslf": "myself",
    "mself": "myself",
    "ded": "dead",
    "over dose": "overdose",
    "o d": "od",
    "self harm": "selfharm",
    "tried of": "tired of",
    "self harming": "selfharm",
    "self harmed": "selfharm",
    "selfharming": "selfharm",
    "killmyself": "kill myself",
    "kms": "kill myself",
    "kys": "kill yourself",
    "wanttodie": "want to die",
    "endmylife": "end my life",
    "sewerslide": "suicide",
    "ctb": "suicide",
    "multistorey": "multi storey",
    "multi story": "multi storey",
    "multistory": "multi storey",
    "sewer slide": "suicide",
    "suicidle": "suicidal",
    "sucidle": "suicidal",
    "sucidial": "suicidal",
    "dispair": "despair",
    "unalive": "unalive",
    "unaliving": "unalive",
    "tmrw": "tomorrow",
    "2moro": "tomorrow",
    "2nite": "tonight",
    "tonite": "tonight",
    "goodbye": "goodbye",
    "good bye": "goodbye",
    "bye bye": "goodbye",
    "byebye": "goodbye",
    "gbye": "goodbye",
    "meds": "med",
    "medz": "med",
    "medication": "med",
    "medications": "med",
    "tablets": "pill",
    "tablet": "pill",
    "pills": "pill",
    "pils": "pill",
    "capsules": "pill",
    "sleeping pill": "pill",
    "check out": "checkout",
    "checking out": "checkout",
    "checked out": "checkout",
    "clock out": "checkout",
    "clocking out": "checkout",
}

# Irregular inflections; regular ones are found by the suffix rules in normalisation.py.
IRREGULAR: dict[str, str] = {
    "died": "die",
    "dies": "die",
    "dying": "die",
    "dieing": "die",
    "oding": "od",
    "bled": "bleed",
    "burnt": "burn",
    "did": "do",
    "done": "done",
    "oded": "od",
    "thought": "think",
    "thoughts": "think",
    "took": "take",
    "drew": "draw",
    "drawn": "draw",
    "taken": "take",
    "gave": "give",
    "given": "give",
    "said": "say",
    "wrote": "write",
    "written": "write",
    "left": "leave",
    "hung": "hang",
    "hanged": "hang",
    "shot": "shoot",
    "felt": "feel",
    "bought": "buy",
    "got": "get",
    "gotten": "get",
    "went": "go",
    "drove": "drive",
    "threw": "throw",
    "thrown": "throw",
    "made": "make",
    "kept": "keep",
    "lost": "lose",
    "slit": "slit",
    "cut": "cut",
    "hurt": "hurt",
    "sat": "sit",
    "stood": "stand",
    "lives": "live",
    "wishes": "wish",
    "means": "means",
    "is": "be",
    "am": "be",
    "are": "be",
    "was": "be",
    "were": "be",
    "been": "be",
    "being": "be",
}

# Verbs and nouns whose inflections are reduced to the lemma (only these: "ending" -> "end",
# but "nothing" stays "nothing"). The patterns name the lemmas.
LEMMAS: frozenset[str] = frozenset(
    """
    do off hit scratch punch bang bite slap mix drink line cancel drag search close
    act finish pick switch use draw work happen cover put figure pocket nick hide steal
    swerve steer inject log pull pray
    plough plow knock clip picture imagine visualise visualize borrow remove feed practise
    rehearse
    go die kill end hurt harm cut hang shoot stab poison drown starve suffocate strangle slit burn
    jump throw crash drive walk step take swallow overdose od save hoard stockpile collect gather
    store stash buy research google look search find plan think consider want wish hope need
    deserve decide try attempt give write leave say sort organise organize arrange update make
    cope live exist disappear vanish sleep wake breathe go carry keep bear stand handle face
    survive continue manage feel fight struggle suffer cry shake tremble replay see panic blame
    hate punish ruin fail fall break lose end tire bother miss notice care love bury cry stop
    plan letter note pill med rope noose gun bullet bridge roof ledge cliff building train track
    razor blade knife wrist vein reason burden goodbye thing stuff belonging possession dose
    """.split()
)

# Everyday words that are never read as a typo of another word (a typo is corrected only
# towards the crisis vocabulary, and only from a word that is not itself a word).
COMMON_WORDS: frozenset[str] = frozenset(
    """
    later after water other there their where thing think about would could should which while
    these those today tonight tomorrow morning evening night thanks please sorry maybe really
    still again always every never little great alright right fine tired early until since
    before ready happy sleep place plans plane thank words world worse worst whole whose short
    shorts shirt sheet shoot
    """.split()
)

# Words that one typo must never turn into a crisis word ("homeless" is not "hopeless").
FUZZY_EXCLUDED: frozenset[str] = frozenset(
    """
    homeless overdone overdue worthies tripped loving lining liking hunting heeling
    bitter butter letter latter shoot shooting shorter dieting dyeing lived liver
    giving diving driving dining hoping hopping helpful hopeful housing nothing
    something bridget killer filling billing willing tiling sitting fitting bridges
    posting hosting leaving saving waving having caving moving roving trying crying
    """.split()
)
