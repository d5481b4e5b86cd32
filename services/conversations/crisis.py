"""Does an SMS show a sign of crisis, or of distress? Read by concepts, not by listed sentences.

Why concepts: people in crisis rarely write the sentence a list expects. "ending it tonight",
"thinking about ending it", "been stockpiling my meds", "won't be around much longer" share no
phrase, but each is built from a few ideas: an intention (want, plan, thinking about) next to an
ending (die, end it, not wake up); a self-harm verb aimed at oneself; "no" next to a reason,
hope or future; a means (pills, rope, a bridge) next to gathering or using it; a farewell. So a
reply is read in three steps:

1. Normalise: fold case, accents and apostrophes ("can't", "can’t", "cant" are one word),
   stretched letters ("soooo", "dieeee"), texting forms ("kms", "u", "2", "wanna", "rn", "idk"),
   common misspellings (one typo, in a word of six letters or more that is not itself a known
   word, towards the crisis vocabulary only: "myslef", "suicde", "hopless"), dropped g's
   ("endin", "wakin"), and
   inflections to a lemma (end/ends/ending/ended, die/dies/dying/died, kill/killing/killed).
2. Remove known idiomatic frames, and only those ("dead tired", "killing it", "that shift
   killed me", "I'd die for a coffee", "my phone is dying", "to die for", "deadline"). An idiom
   frame never removes a word outside itself. Frames about someone else (a patient who died or
   was suicidal, "I thought I was going to die" about an assault) are removed for crisis too,
   and count as distress.
3. Match patterns built from concept slots ([intention] ... [ending], [self-harm verb] ...
   [myself], [no/none] ... [reason/hope/future], ...). Parts of a pattern may have a few other
   words between them (a bounded gap), so "I really want to just die" needs no phrase of its own.

Negation is never read as reassurance. "I'm not going to hurt myself", "I'm not suicidal" and
"I don't want to die" all count: software cannot tell reassurance from disclosure, and a person
from Tier 3 who follows up costs far less than a missed crisis. When in doubt, crisis.

`signals_distress` is the wider net: words of acute distress that are not crisis ("can't stop
crying", "keep replaying it", "my fault"), so that a reply that cannot be read as an answer can
still be shown to a coordinator. A crisis is distress too: `signals_distress` is true whenever
`signals_crisis` is, so a caller deciding "should a human look?" asks one question.

Everything here is pure and fast (about 0.1 ms a message at the median on 2 cores, see
benchmarks/crisis.py): no clock, no store, no I/O, and no model (the benchmark says why not).
Figures on the independent labelled set (benchmarks/data/crisis_eval.csv): at first sight,
before it was read, recall 62.1% and false alarms 0.9%; after concepts were added from it,
100% and 0%. A second independent set (benchmarks/data/crisis_heldout.csv) scored 63.6% recall
at first sight (commit 517f577): the first set's fit had not generalised. Its missed classes
(a clinician's access to means, preparing for after, future absence, euphemisms, places, a
decision taken, non-native and voice-to-text wording, self-injury to feel pain) were added as
concept groups with new wordings in the tests, not its sentences. A third set
(benchmarks/data/crisis_heldout3.csv) scored 69.3% at first sight (commit 0031c1c); its missed
classes (not minding an ending or a welcome accident, surviving the night as a condition,
euphemisms for removing oneself, rumination on a method, place or means, rehearsing a method
and gathering means, burden and hopelessness in new words, farewells to work, a pet or by a
proxy, a calm decision) were added the same way. Treat the first-sight pairs
as what to expect on words nobody has seen yet, and add concepts (never sentences) when a
miss is reported.
"""

from __future__ import annotations

import re
import unicodedata

# --- 1. normalisation -------------------------------------------------------------------------

_APOSTROPHES = str.maketrans("", "", "'\u2019\u2018\u02bc`\u00b4")
_PAUSE = "|"

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

# Irregular inflections; regular ones are found by _lemma's suffix rules.
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
# but "nothing" stays "nothing"). The patterns below name the lemmas.
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


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return plain.lower().translate(_APOSTROPHES)


_TOKEN = re.compile(r"[a-z0-9]+|[^a-z0-9\s]+")
_HYPHEN = re.compile(r"(?<=[a-z0-9])[-_/](?=[a-z0-9])")
_TRIPLE = re.compile(r"([a-z])\1{2,}")


_OD_PAST = re.compile(r"\bo\.?d\.?['\u2019]d\b", re.IGNORECASE)


def _raw_tokens(text: str) -> list[str]:
    """Words, with _PAUSE where punctuation or an emoji stood ("self-harm" is two words)."""
    folded = _HYPHEN.sub(" ", _fold(_OD_PAST.sub("od", text)))
    return [t if t[0].isalnum() else _PAUSE for t in _TOKEN.findall(folded)]


def _squeeze(word: str) -> str:
    return re.sub(r"(.)\1+", r"\1", word)


def _within_one_edit(a: str, b: str) -> bool:
    """One insertion, deletion, substitution or swap of neighbours: the typos thumbs make."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diffs) == 1:
            return True
        i, j = diffs[0], diffs[-1]
        return len(diffs) == 2 and j == i + 1 and a[i] == b[j] and a[j] == b[i]
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1 :]


def _suffix_candidates(word: str) -> list[str]:
    """Possible lemmas of a regular inflection, most likely first."""
    out: list[str] = []
    if word.endswith("ying") and len(word) > 5:
        out.append(word[:-4] + "ie")
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            base = word[: -len(suffix)]
            out += [base, base + "e"]
            if len(base) > 2 and base[-1] == base[-2]:
                out.append(base[:-1])  # "cutting", "planned"
    if word.endswith("ies") and len(word) > 4:
        out.append(word[:-3] + "y")
    if word.endswith("es") and len(word) > 3:
        out.append(word[:-2])
    if word.endswith("s") and len(word) > 3 and not word.endswith("ss"):
        out.append(word[:-1])
    if word.endswith("ied") and len(word) > 4:
        out.append(word[:-3] + "y")
    return out


class _Lexicon:
    """Maps one token to the word the patterns use: lemma, texting form, typo, stretching."""

    def __init__(self, pattern_words: set[str], crisis_words: set[str]) -> None:
        self.known = pattern_words | set(LEMMAS) | set(IRREGULAR.values()) | COMMON_WORDS
        self.cache: dict[str, str] = {}
        self.squeezed: dict[str, str] = {}
        for w in sorted(self.known):
            if len(w) >= 3:
                self.squeezed.setdefault(_squeeze(w), w)
        self.fuzzy_targets = [w for w in crisis_words if len(w) >= 5]
        self.by_deletion: dict[str, list[str]] = {}
        for w in self.fuzzy_targets:
            for key in {w} | {w[:i] + w[i + 1 :] for i in range(len(w))}:
                self.by_deletion.setdefault(key, []).append(w)

    def lemma(self, word: str) -> str:
        if word in IRREGULAR:
            return IRREGULAR[word]
        if word in LEMMAS:
            return word
        for candidate in _suffix_candidates(word):
            if candidate in LEMMAS:
                return candidate
        return word

    def canon(self, word: str) -> str:
        found = self.cache.get(word)
        if found is None:
            found = self._canon(word)
            if len(self.cache) < 50_000:  # bounded: replies are short, words repeat
                self.cache[word] = found
        return found

    def _canon(self, word: str) -> str:
        lemma = self.lemma(word)
        if lemma in self.known or lemma != word or word.isdigit():
            return lemma
        # A dropped g: "endin", "wakin", "thinkin", "lookin".
        if word.endswith("in") and len(word) > 4:
            lemma = self.lemma(word + "g")
            if lemma != word + "g" or lemma in self.known:
                return lemma
        # Stretched letters: "killlll" -> "kill", "dieeee" -> "die", "soooo" -> "so".
        if _TRIPLE.search(word):
            for shorter in (_TRIPLE.sub(r"\1\1", word), _TRIPLE.sub(r"\1", word)):
                if shorter in TEXTING:
                    return shorter
                lemma = self.lemma(shorter)
                if lemma in self.known:
                    return lemma
        squeezed = _squeeze(word)
        if len(squeezed) >= 3 and squeezed in self.squeezed and word not in FUZZY_EXCLUDED:
            return self.squeezed[squeezed]
        if len(word) >= 6 and word not in FUZZY_EXCLUDED:
            keys = {word} | {word[:i] + word[i + 1 :] for i in range(len(word))}
            for key in keys:
                for target in self.by_deletion.get(key, ()):
                    if target[0] == word[0] and _within_one_edit(word, target):
                        return self.lemma(target)
        return word


_TEXTING_PAIRS = {tuple(k.split()): tuple(v.split()) for k, v in TEXTING.items() if " " in k}
_TEXTING_ONE = {k: tuple(v.split()) for k, v in TEXTING.items() if " " not in k}


def _texting_key(word: str) -> str:
    """The word as TEXTING lists it, allowing stretched letters ("kmsss", "wannaaa")."""
    if word in _TEXTING_ONE or not _TRIPLE.search(word):
        return word
    for shorter in (_TRIPLE.sub(r"\1\1", word), _TRIPLE.sub(r"\1", word)):
        if shorter in _TEXTING_ONE:
            return shorter
    return word


def _expand(words: list[str]) -> list[str]:
    """Texting forms to plain words; a fixed pair ("can not", "self harm") first."""
    out: list[str] = []
    i = 0
    while i < len(words):
        pair = tuple(words[i : i + 2])
        if len(pair) == 2 and pair in _TEXTING_PAIRS:
            out.extend(_TEXTING_PAIRS[pair])
            i += 2
            continue
        w = _texting_key(words[i])
        out.extend(_TEXTING_ONE.get(w, (w,)))
        i += 1
    return out


# --- 2. the pattern language --------------------------------------------------------------------
#
# A pattern is a sequence of parts separated by spaces. A part is a slot name in capitals
# (expanded to its words), a literal word, a choice "(a|b c)" of words or word sequences, or a
# gap "~N": up to N other words (pauses count as words, so a gap may cross a comma). Written in
# lemmas: "end" also matches "ending", "ended"; "die" matches "dying", "died".

# Drugs a clinician can reach on a ward or in theatre, named as they say them: means too.
WARD_DRUGS = (
    "diazepam|lorazepam|midazolam|temazepam|zopiclone|zolpidem|amitriptyline|sertraline|"
    "citalopram|fluoxetine|quetiapine|pregabalin|gabapentin|ketamine|digoxin|lithium|"
    "methadone|diamorphine|oramorph|cocodamol|co codamol|suxamethonium|sux|vecuronium|"
    "rocuronium"
)

SLOTS: dict[str, str] = {
    # Intention, wish, plan or thought.
    "INTENT": (
        "want|wish|hope i|hope to|ready|plan|going to|consider|rather|prefer|deserve|should|"
        "let me|about to|decide|tempt|tempted|urge|feel like|might|need to|try to|attempt|"
        "could just|would love to|dream|fantasise|fantasize|pray|easier to|better to|time to|"
        "would be easier|best if|easiest|just want|want to just|wanna"
    ),
    # Endings that need an intention before them to count ("I want to die", not "he died").
    "ENDING": (
        "die|dead|death|disappear|vanish|be gone|not be here|not be around|not exist|"
        "not wake up|never wake up|sleep forever|go to sleep forever|stop breathing|"
        "not be alive|jump|overdose|od|be with (mum|mom|dad|him|her|them) again|"
        "join (him|her|them)|leave this world|not be anymore|cease to exist|stop existing|"
        "end it|end it all|kill myself|stop living|stop being alive|not be living"
    ),
    # Thinking of an ending: only with "about"/"of" right after, and only endings of one's own.
    "THINK": "think|consider|obsess|fixate|dream|fantasise|fantasize",
    "OWN_ENDING": "die|my death|my own death|not wake up|not waking up|disappear|not exist|"
    "not be here|not being here|not being alive|jump|overdose|od|how to die|ways to die",
    # Verbs of harming, aimed at oneself in the patterns.
    "HARM": (
        "kill|hurt|harm|cut|hang|shoot|stab|poison|drown|starve|suffocate|strangle|slit|burn|"
        "off|top|end|unalive|overdose|od|throw|punish|bleed|gas|finish"
    ),
    "SELF": "myself|my life|my own life|my wrist|my wrists|my vein|my veins|my throat",
    # What someone in crisis says they have none of.
    "NONE": "no|none|nothing|zero|lost all|lost|without|cant see|dont see|dont have|out of|"
    "cant find|cant find any|dont have any|not any|never any|anymore",
    "HOPE": (
        "reason (for me)? to (live|be here|go on|keep going|get up|carry on|exist|be alive|"
        "continue|fight|wake up|keep living|be around)|(point|purpose|sense|meaning) (to|in|of) "
        "(any of it|any of this|it all)|point (living|in living|anymore|in anything|"
        "to anything|to life|of living|in life|to any of this|of anything|going on|wake up|"
        "of tomorrow|in tomorrow|of another day|in another day|of be here|in be here|"
        "of be alive|in be alive|to be here|of existing|in existing|"
        "get up|in any of it|in wake up|in get up|carry on|try|anything|in try|"
        "in going on|to living|of it all|in it all|to it all|of life)|hope|future|"
        "way out|escape|purpose|meaning|light at the end|way forward|will to live"
    ),
    # Means and places.
    "MEANS": "pill|med|insulin|paracetamol|tylenol|acetaminophen|opioid|opioids|morphine|"
    "fentanyl|oxy|oxycodone|benzos|benzo|sedative|sedatives|potassium|propofol|rope|noose|"
    "gun|bullet|bullets|razor|blade|blades|poison|bleach|pentobarbital|barbiturates|"
    "sleeping pill|antidepressant|antidepressants|codeine|tramadol|drugs|dose|" + WARD_DRUGS,
    # Gathering or having a lot: "all the tablets on the trolley" is a drug round, so only
    # "all my" / "all of the"; "enough" alone is stock talk ("enough pills saved" is "saved").
    "GATHER": "save|save up|stockpile|hoard|stash|all my|all of my|all the|all of the|handful|"
    "handful of|bottle of|whole bottle|whole box|whole pack|too many|stockpiling",
    "PLACE": "bridge|roof|rooftop|ledge|cliff|tracks|railway|traffic|window|building|"
    "car park|parking garage|multi storey|tower|balcony|overpass|river|sea|motorway|highway|"
    "train|lorry|truck|bus|platform|cliffs|quarry",
    "AT_PLACE": "jump|jump off|jump from|jump in front of|standing on the edge|stand on the edge|"
    "edge of|walk into|step in front of|drive into|drive off|throw myself|lean over|climb|"
    "climb onto|climb up|leap|leap off|leap from|fall from|fall off",
    "HIGH_PLACE": "bridge|overpass|cliff|cliffs|roof|rooftop|ledge|tracks|railway|tower|balcony|"
    "train track|train tracks|railway line|level crossing|"
    "quarry|multi storey|top floor|highest building|tallest building|car park roof|flyover|"
    "viaduct|edge",
    "BODY": "arm|arms|leg|legs|wrist|wrists|skin|thigh|thighs|head|hand|hands|stomach|body|"
    "myself|face|chest|hip|hips",
    "KIN": "kid|kids|children|child|son|daughter|family|wife|husband|partner|mum|mom|dad|"
    "mother|father|parents|everyone|friends|sister|brother|boyfriend|girlfriend|loved ones|"
    "my kids|my children|my family|my wife|my husband|my partner|my mum|my mom|my dad|"
    "my parents|my son|my daughter",
    "OTHERS": "everyone|everybody|they|family|kids|the kids|children|world|people|you all|"
    "my family|my kids|my wife|my husband|my partner|the team|everyone else|all of you|"
    "them|you guys|the world|my children|the family|my parents|my friends|the kids",
    "ABSENT": "without me|if im gone|when im gone|if i was gone|if i wasnt here|if i werent here|"
    "if im not here|if im not around|if im no longer here|if i be not here|"
    "if i died|if i disappeared|once im gone|with me gone|if i was dead|without me here|"
    "if i wasnt around|if i was not here|if i were gone|if i just disappeared|if i were dead|"
    "if i just vanish|if i vanish|if i just die|if i just go|if i just leave|"
    "without me around|if i didnt exist|if i was never born|me gone|me dead|"
    "once im out of the way|when im out of the way|with me out of the way",
    "NOBODY": "no one|nobody|not one person|not a single person|not a soul|noone",
    "NOTICE": "miss me|notice|care|even notice|care if|know i was gone|mourn|cry for me|"
    "come to my funeral|remember me",
    "CANT": "cant|never be able to|wont be able to|will never be able to|unable to|no longer|"
    "dont think i can|dont know how to|not able to|cant even|"
    "dont know if i can|not sure i can|not sure how much longer i can|cant keep",
    "ENDURE": "go on|keep going|carry on|cope|bear|bear it|bear this|survive|live like this|"
    "live with myself|live with this|live with it|live with what i do|live with what i have do|"
    "live with the guilt|live with what happen|continue|handle (it|this|life|anything)|"
    "take it|take this|take (any|much) more|take anymore|stand it|stand this|do this|do it|"
    "face (anything|it|life|another day|tomorrow|anyone|living|the future)|"
    "breathe|keep living|keep fighting|fight (it|this|anymore)|hold on|pretend|"
    "be strong|stay strong|keep myself safe|stay safe|be alive|live|exist|keep doing this|"
    "do life|keep this up|keep it together|hang on",
    "FAREWELL": "goodbye|bye|farewell",
    "FINALITY": "forever|for good|for the last time|final|everyone|world|everybody|for ever|"
    "cruel world|my friend|my friends|and thank you for everything|thank you for everything",
    "LETTER": "letter|letters|note|notes|video|videos",
    "WRITE": "write|leave|record|finish|start",
    # Set 3: an accident welcomed, and the words for not minding an ending.
    "VEHICLE": "car|bus|train|tram|lorry|truck|van|plane|motorbike|taxi|cab|coach|tube|"
    "ambulance|cyclist",
    "STRIKE": "hit|clip|knock|knock over|knock down|run over|ran over|plough into|plow into|"
    "mow down|flatten|crash into|smash into|take out|wipe out|finish",
    "NOT_MIND": "wouldnt mind|would not mind|dont mind|dont care|wouldnt care|would not care|"
    "wouldnt bother me|fine by me|half hope|kinda hope|kind of hope|secretly hope|"
    "part of me hope|almost hope",
    "WEAPON": "gun|rifle|shotgun|pistol|firearm|rope|noose|belt|razor|blade|blades",
    "DRUG": "pill|med|insulin|paracetamol|tylenol|morphine|opioid|sedative|benzo|drugs|"
    "tramadol|codeine|antidepressant|oxy|oxycodone|fentanyl|" + WARD_DRUGS,
}

# Crisis patterns, grouped by the warning sign they catch (988 and suicide-prevention guidance).
# Each group is a reviewer's unit: change one, and the examples in tests/test_crisis.py say
# what it still has to catch and what it must leave alone. "~N" is a gap of up to N words;
# "~N!" a gap that may not hold another person ("I wish he hadn't died" is grief, not a wish
# to die).
CRISIS_PATTERNS: dict[str, tuple[str, ...]] = {
    "words that only mean one thing": (
        "(suicide|suicidal|suicidality|selfharm|unalive|kill yourself|overdose|od|despair)",
        "(hopeless|hopelessness|helpless|worthless|worthlessness)",
        "(in crisis|crisis line|crisis hotline|crisis team|988|samaritans|suicide line)",
        "(not safe|unsafe|dont feel safe|no longer safe|never safe|not feel safe)",
        "(dead inside|empty inside|die inside)",
        "(danger|risk|threat) to myself",
    ),
    "self-harm aimed at oneself": (
        "HARM ~2 SELF",
        "(harm|harmful) ~1 (to myself|to me)",
        "(cut|slit|slash) ~1 (my|both)? ~1 (wrist|wrists|vein|veins|arm|arms|thigh|thighs|skin)",
        "(INTENT|someone|somebody|please|just) ~3! kill me",
        "(do|did) myself in",
        "(take|end) ~1 (my|own) ~1 life",
        "end (it|it all|things|everything|this|me|all|the pain|my pain|my suffering|my misery)",
        "end of (me|my life|everything)",
        "checkout (early|for good|permanently|of life|forever|now|tonight|soon|for real)",
        "(im|just|want to|going to|ready to|about to|think about|think of|plan) ~1 checkout",
        "checkout $",
        "(cant|dont|wont) ~1 (stop|control|fight|resist) ~1 (the|these|this)? ~1 (urge|urges)",
        "(relapse|relapsed) ~2 (selfharm|cut|cutting|harm)",
        "(cut|selfharm|burn myself|harm myself|hurt myself) ~1 again",
        "(burn|cut|hit|scratch|punch|bang|bite|scald|slap) ~3 (my)? ~1 BODY ~3 (on purpose|"
        "deliberately|till|until|to feel|bleed|again|so it hurt)",
        "(on purpose|deliberately) ~2 (hurt|cut|burn|hit|scratch|harm|punch|bang)",
        "(hit|scratch|punch|bang|bite|slap|starve) ~1 myself",
        "(relapse|relapsed) ~3 (razor|blade|blades|cut|selfharm|harm|burn)",
        "(razor|blade|blades) ~1 again",
        "cut (help|helps|helped|be the only thing|calm me|make me feel|work)",
        "(take|took) ~1 (more|extra|double|twice) ~1 DRUG ~2 (again|tonight|on purpose|today)",
        "(take|took) ~1 (more|extra|double|twice) ~3 (than i should|than prescribed|than i meant|"
        "than i be meant|than the dose)",
        "(scared|afraid|frightened|worried|terrified) ~2 (of)? what (i might|i could|i would|"
        "i will|i may|ill|i be going to) do",
        "(just|only) ~1 (want|wanted|need|needed) (someone|somebody|you|one person) to know",
        "(dont|cant|do not|not) trust myself",
        "(wont|not going to|not gonna|promise not to|wouldnt|never) ~1 do anything ~1 (stupid|"
        "silly|dumb|drastic|rash|tonight|yet)",
        "not tonight anyway",
        "(have be|be|start|keep|back to) cut (myself|again|more|deeper)?",
        "(have be|i have be|start|keep|be back to) cut $",
    ),
    "wanting or planning to die or not exist": (
        "INTENT ~4! ENDING",
        "THINK (about|of|on) ~1! OWN_ENDING",
        "THINK (about|of|on) (death|dying|suicide|not living|not being alive)",
        "(have|got|made|make|i have) (a|the) plan $",
        "(urge|urges|impulse|impulses) ~2 (cut|harm|hurt myself|die|kill|end it|jump|od)",
        "THINK (about|of) ~1 (end it|end things|end everything|end my life|kill myself|suicide)",
        "(wish|wishing) ~3! (dead|die|gone|never born|not born|wasnt born|wasnt here|werent here|"
        "wasnt alive|didnt exist|dont exist|could disappear|disappear|away forever|"
        "asleep forever|not wake up|never woke up|never exist|never wake up|not here anymore|"
        "never be born|not be born|never exist|could die|would die|was dead|were dead)",
        "(dont|not|never|no longer) ~2 (want|wish|wanna) ~3 (be here|be alive|live|exist|"
        "wake up|go on|be born|breathe|keep living|keep going|carry on|be anymore|"
        "be here anymore|be in this world|be on this earth|see tomorrow|see another day)",
        "(i|and|to|just|me|i would|i will|ill) ~1 (not|never|dont|wont|wouldnt) ~1 wake up",
        "(not|never) ~1 wake up",
        "disappear ~1 (forever|for good|without a trace)",
        "(jump|step|throw myself|walk|lie down) in front of",
        "sleep ~2 (forever|and never|and not|never wake|not wake)",
        "(better off|better) ~2 dead",
        "better off (not existing|not exist|not alive|not be alive|not here|not be here|gone|"
        "not around|not be around|never born|never be born)",
        "(rather|prefer) ~2 (dead|die|not exist|not be here|not be alive|be gone)",
        "(might as well|may as well) ~2 (dead|die|be gone|end it|not be here)",
        "(life|living|existence|exist|it all|everything|my life) ~2 (not|isnt|never|no longer|"
        "aint) ~2 (worth|worth it|worth living|worth anything)",
        "(not|isnt|aint) worth (living|being alive|it anymore|going on|the pain|anything anymore)",
        "(tire|sick|done|exhausted|finished|over|weary) ~1 (of|with) ~2 (live|life|being alive|"
        "existing|exist|everything|it all|this life|being here|fighting|breathing|waking up|"
        "my life|being me|the pain|all of it|this world|the world|everyone|people)",
        "(give|giving) up ~2 (on life|on everything|on myself|on living|on it all|on me)",
        "(i|im|ready to|want to|about to|just|i just|gonna|going to) give up",
        "give up (anymore|on it all|on everything|for good)",
        "(want|need|make|wish) ~2 (it|everything|this|the pain|the thoughts|all of it) ~2 (all)? "
        "~1 (to end|to stop|end|stop|go away|be over)",
        "(it|this|everything|the pain|life) ~1 (all)? ~1 to end",
        "(cant|dont) ~2 (see|imagine|picture) ~2 (myself|me) ~5 (alive|survive|surviving|"
        "make it|making it|get through|getting through|here next|around next)",
        "(cant|dont) ~2 (see|imagine|picture) ~2 (myself|me|a future|tomorrow|next week) ~3 "
        "(alive|here|around|future|living|tomorrow|next week|next year|old|getting old)",
        "(join|be with) ~2 (my|mum|mom|dad|him|her|grandma|grandad|them) ~3 (again|soon|"
        "on the other side|heaven|in heaven)",
        "see ~2 (my|mum|mom|dad|him|her|them) ~2 (on the other side|in heaven)",
        "(other side|in heaven|up there) ~2 (soon|tonight|waiting)",
        "(nobody|no one) ~2 (find|finds|will find) me",
        "(final|last) (act|exit|escape|sleep|solution)",
        "(make sure|so that|so) ~4 (doesnt|wont|dont|does not|will not|never) (hurt|affect|"
        "traumatise|traumatize|find|see|have to find) ~1 (anyone|anybody|the kids|my kids|them|me|"
        "nobody)",
        "way out ~4 (i know|ive found|i found|i have found)",
        "(something|stuff|what i need|everything i need|the stuff|a way) ~2 to do it (with)?",
        "(not|dont) ~2 (plan|planning|expect|expecting|intend|intending|think|going) to "
        "(be|still be) (here|around|alive)",
        "(wish|hope|pray) ~4 (hit me|kill me|take me|run me over|crash into me|end me)",
        "wish ~1 (it had be|it have be|had be|it be|it was) me $",
        "wish ~1 (it had be|it have be|had be|it be|it was) me ~3 (trolley|bed|table|morgue|"
        "coffin|crash|accident|not (him|her|them))",
        "(wish|should have be|should be) ~2 (it be me|it have be me|me instead|i be the one|"
        "the one who)",
        "(i|me) (be|was) the one (who|that) (dont|didnt|did not|never) make it",
        "(dont|not|never|no longer|not sure|dont know if|dont think|unsure) ~3 (want|wish|wanna) "
        "~3 (be around anymore|be here anymore|be alive anymore|around anymore|here anymore)",
        "(dont know|why|wonder why|no idea why) ~3 (im|i be) still (here|alive|around|breathing|"
        "living)",
        "(ill|i will|i would|id|i be going to|im going to) ~1 be gone",
        "(wont|not|never|will not) ~1 be (here|around|alive) $",
        "(dont think|doubt|not sure|dont know if) ~2 (ill|i will|i would|i be) ~1 still be "
        "(here|around|alive)",
        "(all|it) ~2 be (all)? over (for me)",
        "(it|everything|this) ~2 (all)? ~1 be (all)? over (soon|tonight|by morning|by tomorrow)",
        "(soon|after tonight|by tomorrow|by morning|tonight) ~2 (it|nothing) (wont|will not|"
        "wont ever|will never) ~1 (hurt|matter) ~1 (anymore|again)",
        "(not going to|wont|dont think ill|dont think i will|doubt ill|not sure ill|"
        "not sure i will) make it (through|to) (tonight|the night|the weekend|tomorrow|morning|"
        "the morning|the week)",
        "tonight be (it|the night) $",
        "over for me",
        "(know|knows) ~2 (how|where|when|what|exactly how|exactly where|exactly what) ~2 (i would|"
        "i could) ~1 (do it|take|go|end it)",
        "(going to|gonna|decided to|plan to|planning to) do it ~3 (tonight|this weekend|soon|"
        "when|while|before|tomorrow night|friday|saturday|sunday)",
        "(do|doing) it (this weekend|tonight|when the kids|while)",
        "(i have decide|decided|my mind be made up|made up my mind) $",
        "not plan anything $",
        "(it be|its) happening (friday|saturday|sunday|monday|tuesday|wednesday|thursday|tonight|"
        "tomorrow|this weekend|soon)",
        "(easier|better|best) ~2 if i (just)? ~1 (go quietly|go|slip away|disappear|vanish|die|"
        "wasnt here|be gone|not here|didnt wake up)",
        "(go|slip away|leave) quietly",
        "(planned|plan|planning|picked|chosen|choose|set) ~2 (a date|the date|when|how|the day|"
        "a day|my exit|how i|how to)",
    ),
    "hopelessness": (
        "NONE ~2 HOPE",
        "(nothing|no one|nobody) ~1 (left)? ~1 (to live for|worth living for|worth living)",
        "nothing (left)? ~1 (in me|inside|of me|to give|to lose|for me)",
        "nothing ~1 (matters|matter|means anything|makes sense anymore)",
        "nothing to look forward to",
        "(nothing|anything|no one|nobody|no reason|not much|none) ~2 (leave)? ~1 to live for",
        "(have|get|have get|there be) nothing (leave) $",
        "nothing leave $",
        "(what be|whats) (leave|left) $",
        "(what be|whats) (leave|left) (for me|of me|to live for)",
        "too late for me $",
        "(beyond help|past saving|beyond saving|cant be saved|cant be helped|no help for me|"
        "no one can help me|nobody can help me|nothing can help me)",
        "nothing (anyone|anybody|you|they) ~1 (say|do|can do|can say) ~2 (help|make a difference|"
        "change anything|matter)",
        "no point $",
        "(nothing|it|things|life) ~1 (will|be|go to) ~1 (ever|never) ~1 (change|improve)",
        "(never|nothing|wont ever|will never|not ever|isnt ever|is never) ~2 (get|getting|"
        "going to get|be|change|gets|go to get) ~1 (better|any better|easier|ok|okay|different)",
        "(it|things|life|this|i) (wont|will not|isnt going to|is not going to|not going to) "
        "(ever)? ~1 (get|be|feel) (better|easier|ok|okay|normal|right)",
        "(what be|what) ~1 the point",
        "(no|any) (point|purpose) (anymore)",
        "(life|everything|it all|my life|existence) ~2 (be|feel|seem) ~2 (pointless|meaningless|"
        "hopeless|over|empty|for nothing|a waste|dark|black|worthless|unbearable|"
        "not worth it)",
        "(lose|losing) ~2 (will|reason|hope|desire) ~2 (to live|to go on|for life|to keep)",
        "(give|given) up (hope|all hope|on hope|on the future)",
        "(never|wont) ~2 (be happy|be ok|be okay|feel better|feel ok|get over)",
        "(ruin|ruined|destroyed|over) ~1 (my|whole)? ~1 life",
        "my life (be)? ~1 over",
    ),
    "being a burden": (
        "(burden|burdens|dead weight|waste of space|waste of oxygen|waste of air|drain on)",
        "OTHERS ~4 (better|better off|happier|easier|relieved|cope|manage|be fine|move on) ~3 "
        "ABSENT",
        "(be|get|go) out of (everyones|everybodys|your|their|the familys|everyone) way (soon|"
        "for good|forever|permanently|$)",
        "OTHERS ~4 (better off|be better) ~3 (dead|gone|without me|if i)",
        "(better off|better|happier|easier) ~3 ABSENT",
        "everyone ~2 (would|will|be) ~2 (better off|happier|relieved|better without)",
        "NOBODY ~3 NOTICE",
        "(insurance|life insurance|death in service) ~4 (pay out|pays out|payout|pays|small print|"
        "suicide clause|still pay|cover it|void|valid)",
        "(insurance|life insurance|payout|death in service) ~4 (better off|money|pay out|"
        "would get|get the|look after them|provide)",
        "(better off|better) ~2 with the (insurance|money|payout)",
        "OTHERS (would|would be|be) ~1 (fine|free|ok|okay|happier|better|better off|relieved) "
        "~1 ABSENT",
        "(drag|dragging) ~2 (everyone|them|people|my family|you all|everybody|us all|the team) "
        "down",
        "(deserve|deserves) ~3 (better|more) ~2 than me",
        "(deserve|deserves) ~3 better than (have|having)? ~1 (me|a (mum|mom|dad|parent|wife|"
        "husband|partner|friend|sister|brother|daughter|son) like me)",
        "(wouldnt|wont|would not|will not) ~2 (miss me|notice if i|notice im|notice i|care if i|"
        "even notice i|know i was gone|notice when im gone)",
        "(no one|nobody) ~2 (cares|care|would care|will care|loves me|love me|needs me|"
        "need me|wants me|want me|gives)",
        "(dont|wouldnt|didnt) ~1 (deserve|deserve to) ~1 (live|to live|be alive|be here|"
        "to be here|love|to be loved|help|to be helped|anything|a future|to be happy)",
        "(everyone|everybody|world|they) ~2 (would|be) ~1 (better|happier) ~2 (off|without)",
        "(just|im|i be) ~2 (a|in the)? ~1 (problem|nuisance|pain|mistake|waste) (for|to) ~1 "
        "(everyone|everybody|them|my family|people|you all)",
    ),
    "trapped or in unbearable pain": (
        "(trapped|trap|no escape|cant escape|no way out|stuck forever|caged|cornered)",
        "(unbearable|unbearably|cant bear|too much to bear|cant endure)",
        "(pain|hurt|hurting|suffering|agony|torture) ~3 (too much|never stop|never end|wont stop|"
        "wont end|unbearable|forever|too much to bear|wont go away|never goes away)",
        "(make|want|need) ~2 (it|the pain|this|everything|the voices|the thoughts) "
        "~2 (all)? ~1 (stop|go away|end|be over)",
        "CANT ~3 ENDURE ~3 (anymore|like this|much longer|forever|much more)",
        "CANT ~1 (go on|keep going|carry on|cope|bear it|bear this|survive this|take anymore|"
        "do this anymore|take it anymore|face tomorrow|face another day|face life|"
        "face anything|live like this|live with myself|live with this|keep myself safe|"
        "stay safe|be alive|exist|keep living|keep fighting|breathe anymore|go on living|"
        "handle life|handle anything|handle this anymore|do life|do this life|hold on|"
        "live with what i do|live with what i have do|live with the guilt|live with what happen|"
        "hang on|see a way|see a way out|see a future|see the point|see any point)",
        "(im|i) ~1 (done|finished) ~1 (with|of) ~1 (it all|everything|life|living|all of it|"
        "this life|this world|the world|existing|everyone|people)",
        "(it|everything|life) ~1 (be)? ~1 (all too much|over for me|all over for me)",
        "(all|just|everything) ~1 too much ~2 (anymore|to bear|to take|for me to handle|"
        "to live with|to cope with)",
        "(im|i) ~1 (done|finished) (anymore|for good|forever|now|with it all|with everything)?$",
        "(im|i be) (so|just|completely|totally|really)? ~1 (done|finished)$",
        "(cant|dont) ~2 (get|find) ~1 (out|a way out|away|out of this)",
        "only (way|option|choice|solution|escape|answer|exit) ~5 (not here|be gone|dead|die|out|"
        "stop|end|disappear|go)",
        "only (one)? ~1 (door|exit|way out|option left|solution left)",
        "(in a cage|in a box|walls close in|walls be close in|closing in on me|prison)",
    ),
    "saying goodbye or giving things away": (
        "FAREWELL ~2 FINALITY",
        "(want|need|go to|time|just|this be|it be|im|let me|have to|wanted to|want to) ~2! "
        "say ~1 (goodbye|bye|farewell)",
        "(this be|it be|im say|say my|say goodbye to) ~1 (goodbye|goodbyes|everyone|you all|"
        "the world|my kids|my family|my children)",
        "(give|giving|gave) away (my|all|everything|things|stuff|belongings|possessions|"
        "all my|most of my)",
        "(give|giving|gave) (my|all my|most of my) ~1 (thing|stuff|belonging|possession|"
        "cat|dog|pet|clothes|book|books|jewellery|jewelry) (away|to)",
        "(sort|sorted|sorting|put|putting) ~2 (my|all my)? ~1 (affairs|affair|"
        "will|finances|passwords) ~1 (in order|sorted|out|done|ready)?",
        "(get|getting|got) ~2 (my|all my)? ~1 (affairs|affair|will|finances|paperwork|passwords) "
        "~1 (in order|sorted|together|ready|written down)",
        "(write|wrote|update|updated|make|made|sign|signed|finish|finished) ~2 (my|a) will",
        "affairs in order",
        "left instructions",
        "who ~1 (get|gets|should get|will get) my",
        "WRITE ~3 LETTER ~3 (to|for) ~2 KIN",
        "WRITE ~3 LETTER ~2 (goodbye|final|last|explaining|explain|why|in case|when im gone|"
        "for after)",
        "(goodbye|suicide|final) ~1 (letter|letters|note|notes|message|messages|text|video)",
        "(last|final) (letter|letters|note|notes|words|goodbye|wishes)",
        "(this be|here be) ~1 (my)? ~1 (last|final) (message|text|words|goodbye)",
        "(last|final) ~1 (time|message|text) ~3 (hear from me|you hear|youll hear|from me|alive|"
        "on earth|you will hear|ever)",
        "(wont|will not|not going to|not|never|dont think i will|dont think ill|doubt i will|"
        "doubt ill|dont expect to) ~2 (be around|be here|be alive|be a burden|see|be "
        "a problem|be a bother|be a worry|be trouble) ~3 (much longer|for long|long|after tonight|"
        "by morning|by tomorrow|next year|next christmas|to see|anymore|soon|for anyone soon|"
        "to anyone soon)",
        "(wont|not|will never|never) ~1 (hear from me|see me) ~1 (again|anymore|ever again)",
        "(take care of|look after) ~2 KIN ~2 (for me|when im gone|when i be gone|after im gone|"
        "if anything|after i)",
        "tell ~2 KIN ~3 (i love them|that i love them|i love|goodbye|i said goodbye)",
        "(if|when) ~1 (anything|something) ~1 (happen|happens) ~1 to me",
        "(this be|it be) ~1 the end",
        "(im|i|been|started|start|just|i have been) ~2 (sort|sorting|sorted|give|giving|gave|"
        "organise|organising|organize|organizing|clear|clearing|cleared) ~2 (out)? ~1 "
        "(my|everything|all my) ~1 "
        "(thing|stuff|belonging|possession|affairs|finances|account|accounts|passwords|room|"
        "desk|locker)",
        "(see you|meet you) ~1 (on the other side|in another life|in the next life)",
        "my (goodbye|goodbyes|farewell|farewells)",
        "(goodbye|goodbyes|affair|affairs) ~4 (all sort|sort|ready|finish|in order|for after|"
        "for when)",
        "(write|wrote|finish|finished) ~2 (the|my) (letter|letters) ~4 (all sort|sort|ready|done|"
        "finish|for after|for when)",
        "(give|put|leave|rehome|send|hand) ~5 (for good|permanently|forever)",
        "my (own)? funeral",
        "(tell|told|show|showed|let ~1 know) ~4 where ~4 (insurance|will|papers|documents|"
        "passwords|policy|bank details|life insurance)",
        "who (get|gets|should get|will get|take|takes|have|has) (my|the) ~1 (dog|cat|car|stuff|"
        "thing|pet|house|money|belonging|jewellery|jewelry|savings|flat|things)",
        "(wont|will not|not going to) need (it|them|any of it|anything|my|this) ~2 (anymore|again|"
        "where im going|after)",
        "(cancel|close) ~1 (all my|all of my|every) ~2 (account|direct debit|debits|subscription|"
        "subscriptions|standing orders|accounts|membership|memberships)",
        "(sorry|forgive me) ~3 (for what|for everything|for what im about to|for what i be)",
        "(thank|thanks) ~2 for everything ~8 (goodbye|bye|forever|for good|i love you)",
        "(please|can you|could you)? ~1 (look after|take care of) my (cat|dog|pet|pets|kids|"
        "children|boys|girls|babies|fish) $",
    ),
    "looking for means or a place": (
        "GATHER ~3 MEANS",
        "MEANS ~3 (saved|stockpiled|hoarded|lethal|fatal|would kill|to end it|lined up|"
        "all at once|take them all|all of them|to die|to sleep forever|would do it|enough to|"
        "to do it|to do it with|to finish it|"
        "should do it|should be enough|will be enough|would be enough|kill me|end me)",
        "swallow (the lot|them all|all of them|the whole lot|the bottle|the packet|the box|"
        "everything)",
        "(might|could|going to|want to|about to|gonna) ~1 (take|down|neck) (the lot|the whole lot|"
        "the bottle|the packet|everything)",
        "(take|swallow) ~1 everything ~2 (in the|from the|in my) ~1 (cupboard|cabinet|medicine|"
        "drawer|box|bathroom|cabinet)",
        "(take|swallow|down|downed) ~2 (all|every|the whole|a handful|too many|bottle|box|"
        "pack|packet|handful|loads|whole) ~2 DRUG",
        "(how much|how many|what dose|which dose|dose of|amount of) ~3 (lethal|fatal|kill|"
        "to die|overdose|od|stop my heart|stop a heart|to not wake up|kill me|kill a person)",
        "(lethal|fatal|overdose) (dose|amount|quantity|combination|level)",
        "(how much|how many) ~3 DRUG ~3 (would it take|would take|to take|do it take|"
        "be too many|be fatal|be lethal|to kill|kill|to die|to not wake up|too many|too much|"
        "be enough|enough to)",
        "(keep|be|cant stop|been|start) ~1 (look|stare|staring|think about) ~2 (the)? ~1 "
        "(tracks|bridge|edge|ledge|cliff|rope|gun|roof|drop|river|train|pills|noose|knife|knives|"
        "razor|razors|blade|blades|railway|railway line|train line|viaduct|cliffs)",
        "(how|ways|way|best way|quickest way|easiest way|painless way|method|methods) ~2 to ~2 "
        "(die|kill myself|end it|end my life|overdose|od|hang|jump|not wake|kill)",
        "painless ~2 (way|death|method|exit|end|out)",
        "(quick|quickest|easy|easiest|best|fastest|surest) ~1 (way|method) ~2 (to die|to end|"
        "to kill|out of life|to do it|to go to sleep forever)",
        "AT_PLACE ~3 PLACE",
        "(search|google|look up|research|look for|find|found) ~3 (highest|tallest|high|top) ~2 "
        "(building|bridge|place|point|floor|cliff|roof|car park|spot)",
        "HIGH_PLACE ~5 (think about it|sit there|sat there|for an hour|look down|stare|staring|"
        "how high|how easy|the drop|the water|jump|and thought)",
        "(keep|been) ~1 (drive|walk|go|going) (past|to|by|over) ~2 HIGH_PLACE",
        "(drive|walk|go|went|sit|stand|park) ~2 (to|on|at) (the|a) ~1 HIGH_PLACE ~4 (night|alone|"
        "an hour|for ages|and sat|and stood|again|thinking)",
        "MEANS ~4 (keep|keeps|crossing my mind|cross my mind|on my mind|in my head|calling|"
        "look at|staring at|wont stop)",
        "(keep|cant stop) ~1 (look|stare|staring) ~2 at ~1 MEANS",
        "(look|stare|staring) ~1 at (the|my|a) (rope|noose|gun|razor|blade|blades|shotgun)",
        "(ill|i will|i be going to|im going to|im|i be) ~2 (at|on) (the|a) HIGH_PLACE $",
        "(ill|i will|i be going to|im going to|im|i be) ~2 (at|on) (the|a) HIGH_PLACE (now|tonight|"
        "again|alone|right now)",
        "(going to|gonna|want to|about to) (take|swallow) (all of them|them all|the lot|"
        "the whole lot|every single one|every last one|all of it)",
        "(gun|shotgun|rifle|pistol|rope|noose|firearm) ~3 (in the|in my|at|under) ~1 (house|loft|"
        "garage|car|drawer|locker|bag|room|home|bed|shed|attic|cupboard)",
        "(take|took|bring|brought|keep|kept|hide|hid|stash|stashed|pocket|pocketed|steal|stole|"
        "nick|nicked) ~3 (DRUG|vial|vials|ampoule|ampoules|potassium|insulin|morphine|propofol|"
        "midazolam|fentanyl|some|amp|amps) ~3 (home|in my locker|in my bag|from the ward|from work|"
        "in my car|from theatre|for myself|in my pocket)",
        "(vial|vials|ampoule|ampoules|syringe|syringes) ~3 (in my|at home|home|locker|bag|car|"
        "drawer|pocket)",
        "(buy|bought|get|got) ~2 DRUG ~3 (different|several|multiple|shop|shops|pharmacies|"
        "chemists|places|supermarkets)",
        "(line|lined|count|counted|lay|laid|spread|sort|sorted) ~2 (them|pill|med|DRUG) ~2 "
        "(up|out)",
        "DRUG ~4 (line them up|lined them up|lined up|counted out|laid out)",
        "(mix|mixed|mixing|with|and) ~2 (my|the|some)? ~1 DRUG ~3 (vodka|alcohol|wine|drink|"
        "booze|whisky|whiskey|gin|beer)",
        "(vodka|alcohol|booze|wine|whisky|whiskey|gin) ~3 (and|with) ~2 DRUG",
        "(drink|drinking|drunk|pills|vodka) ~3 (nerve|courage|guts)",
        "(nerve|courage|guts) ~2 (do it|go through with it|to end it)",
        "(in the|in my) garage ~4 engine (on|run|running)",
        "engine (on|running) ~4 (in the garage|garage|closed)",
        "PLACE ~3 (jump|edge|end it|over the edge|down there|so high|look peaceful|look calm|"
        "calling me|calling to me|nobody would find|no one would find)",
        "(buy|get|found|have|load|hold|clean) ~3 (a gun|the gun|my gun|a rope|the rope|rope|"
        "a noose|noose|bullets|bullet|pistol|rifle|shotgun)",
        "(tie|make|hang|put|test) ~3 (rope|noose|belt|cord) ~3 (neck|beam|ceiling|door|tree|"
        "banister|loft|garage|ready|strong enough)",
        "(exhaust) ~3 (hose|pipe|garage|window|car)",
        "(hose|pipe) ~2 exhaust",
        "(crash|drive|steer|swerve) ~3 (my car|the car|car|into|off) ~3 (tree|wall|bridge|"
        "truck|lorry|oncoming|cliff|on purpose|head on)",
        "crash my car",
        "(im|i be|stand|sit|im standing|im sitting) ~2 (on|at) the (bridge|cliff|tracks|edge|"
        "ledge|roof|rooftop|railway) (now|tonight|alone|again|right now|$)",
        "on the (ledge|tracks|edge of the)",
        "(gun|rope|noose|pills|pill|blade|razor) ~2 (in my hand|next to me|in front of me|"
        "on the table|beside me|right here|with me now)",
    ),
    # Held-out set 2 (issue 9) showed classes the groups above lacked; each is written as a
    # concept with its own slots, and tests/test_crisis.py holds new wording and near-misses.
    "a clinician's access to means": (
        # Knowing a lethal amount: "it would take" is about oneself, "to give for a K" is work.
        "(how much|how many|which|what dose) ~2 MEANS ~2 (it would take|would take|it would need|"
        "would need|would do it|would be enough|it take|be enough)",
        "(which|what) (MEANS|DRUG|med) and how (much|many) $",
        "(drug cupboard|drug cabinet|cd cupboard|controlled drug|controlled drugs|drug trolley|"
        "pharmacy|MEANS) ~4 (make it easy|make it so easy|would be easy|be so easy|easy way|"
        "quick and easy|would do it)",
        # Drawing from stock is routine; keeping it unused "yet" is not.
        "(take|steal|nick|pocket|hide|keep|bring|draw up) ~3 (amp|amps|ampoule|ampoules|vial|"
        "vials|DRUG|MEANS|it|them|some) ~6 (havent|have not|not|never) ~1 (use|used|touch|"
        "touched) (it|them) ~1 yet",
        "draw up ~2 (enough|for myself|for me|my own)",
        "(dose|amount|how much|how many|enough) ~4 (stop my heart|kill me|finish me|end me|"
        "be fatal|be lethal|do me in)",
        "(give myself|inject myself|inject|take) ~4 (MEANS|DRUG) ~4 be done with (it|everything|"
        "it all)",
        "(could|can) (take|get|grab|help myself to) (what i need|whatever i need|all i need|"
        "enough)",
        "look like an accident",
        "enough (to do it|to end it|to finish it|to finish me|to kill me|to not wake up)",
        "enough ~1 (in my|at home|in the house|stashed|saved|put by|hidden) ~3 to (do it|"
        "finish it|end it|finish me)",
        "(DRUG|MEANS) ~8 (leave over|leftover)",
        "(could|might|would) (use|inject|take) ~2 my own ~1 (MEANS|DRUG)",
        "(MEANS|DRUG) ~5 (no one|nobody) would (know|notice|suspect|find out)",
        "(have|get|got) access to ~3 (everything i need|what i need|all i need|all i would need|"
        "enough|the drugs|all the drugs)",
        "enough (DRUG|MEANS) ~3 (in the house|at home|saved|in my|stashed|put by|hidden)",
        # Unchecked stock is an audit complaint until the writer puts themself next to it.
        "(i|i know|i could|i can|i have|im) ~8 (drug cupboard|cd cupboard|controlled drug|"
        "controlled drugs|drug book|cd book|pharmacy|drug cabinet|drug trolley) ~8 (no one|nobody) "
        "(checks|check|counts|count|audits|notice|notices|would notice|would check)",
        "(no one|nobody) (checks|check|counts|count|audits|notices|would notice) ~8 (drug cupboard|"
        "cd cupboard|controlled drug|controlled drugs|drug book|cd book|drug cabinet) ~8 (i could|"
        "i can|i would|i have|i know)",
        "(lot|loads|plenty|box|boxes|bag|stash|supply|bottle|bottles) of (DRUG|MEANS) (leave|"
        "leftover|left over|spare|at home|in the house|stashed)",
        "(DRUG|MEANS) (leave|leftover|left over) ~2 (at home|in the house|from|over from)",
    ),
    "a place or method considered": (
        "(look|stare|staring|think about|see) ~3 (HIGH_PLACE|PLACE) ~2 (differently|different now|"
        "and wonder|and think|a lot lately|every day now)",
        "HIGH_PLACE ~10 (from the top|off the top|the drop|how far down|how high up|how far)",
        "(spot|place|location|somewhere) ~2 (pick|picked|chosen|choose|found|find|sorted|"
        "scouted) ~3 (by|at|near|on|off|under) (the)? ~1 (PLACE|HIGH_PLACE)",
        "(pick|picked|chosen|choose|found|scout|scouted|have) ~2 (a|the|my) (spot|place|location) "
        "~4 (PLACE|HIGH_PLACE)",
        "(go|going|head|heading|drive|walk) (to|over to|up to) the HIGH_PLACE ~1 (tonight|now|"
        "later|after work|after)",
        "(go|going|head|heading|drive|walk) (to|over to|up to) the HIGH_PLACE $",
        "(work|figure|plan|think|decide) ~1 (out)? ~2 how (i would|i could|i will|i be going to|"
        "to|ill) ~1 (do it|end it|go $|die|kill myself|go about it)",
        "(hope|hoping|wish|pray) ~3 (car|train|plane|bus|lorry|ambulance) crash",
        "(think|tempt|want|urge|urges|keep) ~3 (drive|swerve|steer|crash) ~3 (off the road|"
        "into a|into the|into oncoming|into traffic|off a|off the)",
        "the (long|last|final) walk ~1 (tonight|now|soon|today|tomorrow|off)",
        "(take|go for|go on) the (long|last|final) walk $",
        "the (big|eternal|endless|long) sleep",
        "(sleep|rest|close my eyes|switch ~3 off|turn ~3 off|shut ~3 down|log off) ~1 (for good|"
        "forever|permanently|for ever)",
    ),
    "a decision, a plan or a time set": (
        "(i have|have|get|i have get|have get) (a|the) plan (and|but|now|for tonight|for it|"
        "sorted|ready|in place)",
        "(plan|decide|decided|ready|make up my mind) ~6 (go through with it|do it tonight)",
        "(know|decide|decided|sure|made up my mind) (exactly)? ~1 what (im|i be|i will be) "
        "(doing|do|going to do) ~1 (tonight|now|later|this weekend|tomorrow)",
        "(decide|decided|made up my mind) (exactly)? ~1 what (im|i be|i will be) "
        "(doing|do|going to do) $",
        "(get|have) (it|everything) (all)? ~1 (ready|sorted|set up|prepared|laid out) ~4 tonight",
        "(by then|after that|after tonight|by tomorrow|by morning|by the weekend) ~2 (it|nothing) "
        "(wont|will not|dont|not going to) ~1 matter",
        "(it|nothing) (wont|will not) matter (anymore|soon|after tonight|by then)",
        "(if|assuming|provided) (im|i be) still ~1 (here|around|alive|breathing) ~1 (tomorrow|"
        "then|by then|later|next week)",
        "(if|assuming|provided) (im|i be) still ~1 (here|around|alive|breathing) $",
        "if i (make it|last|survive) (that long|that far|till then|until then|the night|"
        "through the night|to tomorrow)",
        "(decide|decided) ~4 (dont|not|no longer) ~1 (want|wanna) to (do this|be here|go on|live|"
        "carry on|exist|do any of this) ~2 (anymore|any of it)",
        # Voice-to-text hears "end" as "and": "going to and it", "thinking of and in it all".
        "(INTENT|think|keep think|should|just|going to|gonna) ~2 and (it|in it|my life|in my life|"
        "everything|in everything) (all|tonight|now|today)",
        "(INTENT|think|keep think|should|just|going to|gonna) ~2 and (it|in it|my life|"
        "in my life|everything|it all|in it all|things) $",
        "(better|best) (i|if i|that i) (die|be dead|dead|not live|kill myself|disappear)",
        "i (think|want|wish|try|plan|decide) ~4! to (kill|hurt|end|finish) me",
        "(i|just|i just) want out $",
        "(hope|pray|wish) ~1 i (dont|wont|never) make it (home|back|through|to morning|"
        "till morning|through the night) (tonight|today|alive|$)",
        "wish (i be|it be|it had be|i had be) ~4 (crash|accident|trolley|coffin|morgue|grave|"
        "their place|his place|her place)",
        "(google|search|look up|research|read up) ~2 how (many|much) (DRUG|MEANS)",
        "(google|search|look up|research|read up) ~2 how long (it take|to die|to bleed out|"
        "before you die) $",
        "love you all ~1 (sorry|goodbye|bye|forgive me|im sorry) $",
        "(write|written|wrote) to (everyone|everybody|all of them|each of them|my family|"
        "all of you) $",
        "(i|im) ~1 (ruin|ruins|spoil|wreck|mess up|messes up) (everything|everyones life|"
        "everyones lives|it) (for everyone|for everybody|for my family|for them|$)",
        "(i|im) ~1 (ruin|ruins|wreck) (everyones life|everyones lives|their lives|their life)",
        "(my head|voice|voices|something|the thoughts|the think|my mind|a voice) ~3 (say|tell|"
        "tells|says|telling|saying) ~3 (to)? (finish|end|kill|hurt) ~1 (everything|it all|myself|"
        "me|my life)",
        "(think|urge|urges|impulse|tempt) ~3 (do|doing) (something|anything) ~2 to myself",
        "(do|did) (something|anything) ~1 to myself",
        "act on ~2 (think|urge|urges|impulse|impulses|feelings)",
        "cant (anymore|do it anymore) $",
        "done ~1 (sorry|so sorry|im sorry|forgive me|love you) $",
    ),
    "preparing for after": (
        "(put|get|set) ~2 (thing|everything|my thing|my stuff|stuff|it all|my life|my house) in "
        "order",
        "passwords (be)? ~2 (in|on|under|inside) (the|my|a)",
        "(give|gave|sell|sold|get rid of|give away) ~10 (wont|will not|not going to|dont) need "
        "(it|them|any of it) ~1 (anymore|again|$)",
        "(covered|sorted|looked after|taken care of|provided for|ok|fine|set) (after|afterwards|"
        "for after) $",
        "(if anything happen|if anything happens|if something happen|if something happens|"
        "after im gone|when im gone) ~4 (the|my) (dog|cat|pet|pets|kids|children|car|house|flat) "
        "(go|goes|go to|to) ~2 (my|our)? ~1 (sister|brother|mum|mom|dad|parents|friend|"
        "neighbour|aunt|uncle|nan|gran|KIN)",
        "none of this ~1 be ~1 (your|anyones|anybodys) fault",
        "(why i bother|why bother|point of bother) ~4 (be here|living|be alive|any of it|"
        "existing|with anything)",
        "(bother|point) ~6 (with|of|in) (be here|be alive|living|existing) $",
        "(any of it|everything|anything) ~4 (least of all|especially|including) (be alive|living|"
        "be here|existing|life)",
    ),
    "self-injury to feel pain": (
        "(want|need|deserve) ~1 (it|myself|me) to (hurt|bleed) ~1 (more|again|so|properly)",
        "(want|need|deserve) ~1 (it|myself|me) to (hurt|bleed) $",
        "(scratch|pick|pull|cut|bite|hit|punch|burn|scrape) ~3 (till|until|so) (it|they|i) ~1 "
        "(bleed|bruise|scar|break|hurt)",
        "(i|me) ~1 (deserve|deserves) ~1 (to suffer|to be punished|to hurt|to be hurt|the pain|"
        "to rot|to feel pain)",
        "(extra|more|double|lots of|loads of|handful of|too many) ~1 (DRUG|MEANS) ~2 (to numb|"
        "to not feel|to feel nothing|to blank|to forget|to switch off|to escape|to stop feeling)",
        "(more|way more|extra) than i (should|be meant to|be supposed to)",
    ),
    # Held-out set 3 (issue 9) showed the classes below; tests/test_crisis.py holds new
    # wordings of each and near-misses that share their words.
    "not minding an ending": (
        # A passive wish is a wish: "wouldn't mind if the bus hit me", "fine not existing".
        "(wish|hope|pray|NOT_MIND) ~4 VEHICLE (had|would|will|could|might|just|to)? STRIKE ~1 me",
        # A vehicle's crash, not "if i crash at yours" or "if i dont make it to the meeting".
        "NOT_MIND ~2 if ~3 (VEHICLE|my VEHICLE) ~3 (crash|go off the road|come off the road|"
        "go down|go under|hit me)",
        "NOT_MIND ~2 if i (dont|never|didnt) wake up",
        "be (fine|ok|okay|alright|happy|content|glad|at peace) (with)? ~1 (not|never|no longer) "
        "~1 (exist|be here|be around|be alive|wake up|wake|live|here|be) (anymore|at all|"
        "for good|forever|ever again|again|$)",
        "NOT_MIND ~2 (not|never|no longer) (exist|be here|be around|be alive|wake up|live) "
        "(anymore|at all|for good|forever|ever again|$)",
        "asleep ~2 (forever|for good|permanently|for ever)",
        "if i (even|ever|do)? wake up (at all|again)",
    ),
    "surviving the night as a condition": (
        "if i (survive|last|live|live through|get through|get past|make it through|"
        "make it past|make it to|make it till|make it until) (tonight|the night|the weekend|"
        "tomorrow|morning|the morning|till morning|till tomorrow|that long|till then)",
        "(still|even|any) a me",
    ),
    "euphemisms for removing oneself": (
        "(take|remove|get|write) myself (out of|from|off) (the picture|the equation|the game|"
        "it all|the world|this world|existence|everything|the story)",
        "(way out|exit|solution|option|escape|way) ~3 (the)? permanent (kind|one|way|sort|type)",
        "permanent (exit|way out|escape|sleep|goodbye)",
        # Not "need to" or "want to": "need to finish it tonight" is work unfinished.
        "(going to|gonna|about to|ready to|plan to|time to|decided to|just want to) finish it "
        "(all|off|tonight|for good|for real|today|when i get home|"
        "when im home|once im home|once im alone|when im alone|while|this weekend|after work|"
        "after my shift)",
        # "go", not "leave": "leaving for good tomorrow" is as often a job or a partner.
        "(tonight|today|this weekend|soon|tomorrow) ~3 (i|im) (go|going|be going) (for good|"
        "forever|permanently|for ever)",
        "(i|im) (go|going|be going) (for good|forever|permanently) (tonight|today|soon|"
        "this weekend|tomorrow)",
        "(keep|cant stop|been|always|constantly|stop|cant help|kept) ~1 think (about|of) "
        "(doing it|do it) $",
        # Voice-to-text's "and" for "end" where a verb must stand: "want to and my life".
        "(to|should|will|would|could|gonna|just|might|must) and (my life|in my life|it all|"
        "in it all|myself)",
        # Voice-to-text's "my cell" for "myself", only after a verb of harm.
        "(kill|hurt|harm|hang|shoot|stab|poison|drown|strangle|unalive|suffocate|starve) my cell",
    ),
    "rumination on a method, a place or a means": (
        "(keep|cant stop|been|always|constantly|start|kept|cant help) ~1 (picture|imagine|"
        "visualise|visualize|see myself) ~3 (step|jump|fall|walk|drive|swerve|throw myself|lean|"
        "leap|hang|go over|go off) ~2 (off|into|in front|from)",
        "(PLACE|HIGH_PLACE) ~6 (pull|tug|beckon) (at|on)? me",
        "(PLACE|HIGH_PLACE) ~6 (call|calling|call out) (at|to) me",
        "(feel|be|im|keep get) draw to (the)? ~1 HIGH_PLACE",
        "(know|found|find|spot|notice) (which|where|a|the|one) ~3 (HIGH_PLACE|car park|building|"
        "tower|window) ~4 (no|without|with no) (railing|railings|barrier|barriers|fence|fencing|"
        "rail|rails|netting|guard rail|guardrail|lock|locks)",
        "WEAPON ~10 (keep|cant stop|been|always|constantly) ~1 think (about|of) (it|them|that|"
        "using it|using them) $",
        # Not a roof, a river or a motorway: "the motorway crash" may be the patient.
        "think (about|of) (the)? ~2 (train line|railway line|railway|train tracks|tracks|bridge|"
        "cliff|cliffs|ledge|viaduct) ~3 (a lot|all the time|constantly|every day|every night|"
        "more and more|lately|too much|so much)",
        # "with" the means: "how easy it is to take the wrong dose" is an error remembered.
        "(think|thought|wonder|realise|realize|know|cant stop think|keep think) ~2 (how easy|"
        "so easy|easy) ~4 (with|using) ~3 (MEANS|DRUG|WEAPON|keys|cd keys|drug keys)",
        "(think|urge|tempt|want|keep|wonder|could|might) ~4 (use|using|inject|injecting|turn|"
        "turning) ~2 (it|them|that|some|DRUG|MEANS) on (me|myself)",
        "(think|picture|imagine|keep think|been think|sit|sitting|sat) ~3 (the|my)? car ~4 "
        "garage ~4 (door|doors) ~1 (shut|closed|down|locked)",
        "(car|engine) (run|running|on) ~3 (closed|shut|locked) garage",
    ),
    "preparing a method, rehearsing it": (
        # A hose, not tubing: clinicians tape tubing all day.
        "(hose|hosepipe) ~4 (tape|duct tape|gaffer tape|exhaust)",
        "(tape|duct tape|gaffer tape) ~4 (hose|hosepipe)",
        # Not a cord or a strap: a badge hangs round every clinician's neck.
        "(belt|rope|ligature|noose) ~3 (round|around|on|against) my (neck|throat)",
        "(practise|practice|practised|practiced|rehearse|rehearsed) it ~4 (stop|halfway|bottle|"
        "chicken|nerve|couldnt finish|couldnt go through)",
        "(practice run|dry run|test run|trial run) ~4 (stop myself|lose my nerve|bottle it|"
        "chicken out|couldnt go through|couldnt do it|stop halfway)",
        # A plan, then waiting to be alone; "sorted, call once they're out of theatre" is not.
        "(plan|planned|decided) ~4 (wait|waiting|till|until) ~3 (house|flat|home|everyone|kids|"
        "family|wife|husband|partner) ~3 (empty|asleep|out|gone|leave|go out|away|to bed|"
        "in bed)",
        # Acquiring for oneself: "took the gun off a patient" is work, so no "take".
        "(buy|pick up|borrow|fetch|collect|grab|get hold of) ~4 (gun|rifle|shotgun|pistol|firearm)",
        # Setting one's own supply aside: "put aside the meds for bay 4" is a drug round.
        "(put aside|set aside|put by|kept back|keep back|squirrel away|held back|hold back|"
        "store up|put to one side) ~4 (my|my own) ~1 MEANS",
        "(my|my own) ~1 MEANS ~3 (more than enough|plenty)",
        "(buy|get|pick up|collect) ~4 (box|boxes|pack|packs|packet|packets|bottle|bottles) (of)? "
        "~1 DRUG ~4 (different|several|multiple|shop|shops|pharmacies|chemists|places|"
        "supermarkets|each)",
        "(what|which|where) (be)? ~2 (the)? (tallest|highest) ~1 (bridge|building|car park|cliff|"
        "cliffs|multi storey|tower|viaduct|flyover|drop) ~3 (near|around|round|nearby|close|"
        "local)",
    ),
    "hopelessness or a burden, said another way": (
        "(no one|nobody|nothing) can ~1 (fix|help|save|mend|undo) ~2 (this|me) $",
        "no (road|way|path|light|future|life|tomorrow) ahead ~1 (for me|of me)",
        "(cant|dont) see ~2 (road|way|path|light|future) ahead ~1 for me",
        # A person's, never "a" or "the" problem: "the bed won't be a problem soon" is logistics.
        "(wont|will not|not going to|no longer|never) ~1 be (anyones|anybodys|your|their|"
        "everyones|my familys|his|her|you all) ~1 (headache|problem|burden|bother|worry|"
        "trouble|concern|responsibility|issue|nuisance|pain) ~2 (much longer|for long|"
        "any longer|anymore|soon|for much longer|ever again|after tonight)",
        "soon ~3 (wont|will not|not going to|no longer) be (anyones|anybodys|your|their|"
        "everyones|my familys|you all) ~1 (headache|problem|burden|bother|worry|"
        "trouble|concern|responsibility|issue|nuisance|pain)",
        "i (only|just|always|ever) (cause|bring|make|give|create) ~1 (trouble|"
        "problems|pain|grief|hassle|misery|stress|worry|heartache|harm) (for|to) ~1 (people|"
        "everyone|everybody|them|others|those around me|KIN|OTHERS)",
        "out of (the|everyones|everybodys|your|their) way (permanently|for good|forever)",
        "(wont|will not|not going to|dont expect to) be (around|here|alive) to (need|worry|care|"
        "suffer|bother|burden|feel|be a burden|be a problem|be a bother)",
        "(im|i be|i have be|nothing but|feel like|such) ~2 (weight|millstone|albatross|"
        "dead weight) (on|around|round|to|for) (my|the|our)? ~1 (KIN|OTHERS|everyone|them|"
        "people)",
    ),
    "a farewell to work, a pet, a proxy, a calm decision": (
        "(done|finish|over|the end|that be it|all over) ~1 sorry (everyone|everybody|all|you all|"
        "guys|to everyone|to all) $",
        "tell ~3 (KIN|OTHERS|team|my team|the ward|ward|colleagues|my colleagues|them|the unit|"
        "the department|everyone at work) ~3 i (love|enjoy|enjoyed|like|liked) (work|working|"
        "be|being) with",
        "(make sure|ensure|promise|promise me) ~3 (feed|walk|look after|take care of|take in|"
        "rehome|home) ~1 my (cat|dog|pet|pets|fish|animals|rabbit|bird|hamster|horse|cats|dogs) $",
        "if (anyone|anybody|they|people|someone|somebody|the family|my family) (ask|asks|wonder|"
        "wonders|want to know) ~3 (wasnt|isnt|not|be not|never|nobody|no one) ~3 fault",
        "(leave|put|write|sort) ~4 (bank details|passwords|password|pin number|pin numbers|"
        "account details|life insurance|insurance papers|deeds) ~8 (for|to) (my)? ~1 KIN",
        "make (my|the|a) (decision|choice) ~2 (at peace|calm|relieved|peaceful|at ease|"
        "such a relief|feel calm|feel peaceful|feel at peace|feel relieved)",
        "(decided|made up my mind|mind be made up) ~3 (at peace|calm|peaceful|relieved|at ease)",
    ),
}

# Idiomatic frames that look like crisis words and are not. Each removes only its own words,
# so a crisis phrase next to an idiom still counts ("dead tired and I want to die").
IDIOM_PATTERNS: tuple[str, ...] = (
    "dead (tired|beat|serious|on my feet|on our feet|quiet|busy|good|easy|right|on|last|end|"
    "centre|center|heat|air|battery|phone|zone|bored|funny|set|sure|slow|ahead|cert|certain|"
    "ringer|lucky|keen|excited|hungry|cold|hot|late|straight|silent)",
    "(deadline|deadlines|deadlift|deadlifts|deadbeat|deadlocked|deadlock|deadpan)",
    "(kill|killing|killed) ~1 (it|them|that|this shift|this exam|the exam|the game|"
    "the interview|the presentation)"
    " ~1 (today|tonight|lol|haha|at work|out there|this week|though|mate|hun|x|xx)?",
    "(this|that|the|my|these|those|it|work|shift|night|nights|day|week|commute|rota|job|"
    "traffic|heat|wait|feet|back|legs|head|boss|patient|kids|manager|charting|paperwork|"
    "inbox|bleep|pager|suspense|noise|hangover|cold|flu|hay fever|headache|migraine|"
    "sciatica|knee|knees|shoulder|neck) ~3 (kill|die) ~1 (me|us)",
    "(kill|killed|die|dying) (for|of) (a|an|some|the)? ~1 (coffee|tea|drink|beer|wine|pint|"
    "burger|pizza|chocolate|cake|nap|sleep|shower|bath|holiday|vacation|break|day off|"
    "lie in|cigarette|smoke|snack|biscuit|food|meal|takeaway|bed|embarrassment|shame|boredom|"
    "laughter|laughing|cringe|jealousy|thirst|hunger|curiosity|it|that|one|those|a wee|"
    "the loo|a pee|sleep|caffeine|sugar|gin|vodka|cuppa|brew)",
    "to die for",
    "be the end of (me|us)",
    "be gone (all day|all week|all weekend|all night|all morning|all afternoon|most of the day)",
    "no (hope|chance) of (finishing|getting|leaving|making|being|seeing|sleeping|eating|going|"
    "catching|parking|home|a break|lunch|finish)",
    "way out of (the|this) ~1 (car park|carpark|building|hospital|ward|maze|garage|station|"
    "multi storey|meeting|rota|contract|job)",
    "(take|do|cover|work|pick up) anymore (shift|shifts|overtime|hours|patients|cases|work|calls|"
    "pages|nights|extra|bank|lates|earlies)",
    "(no one|nobody) (care|cares) about (the|this|that) (parking|car parking|rota|rotas|form|"
    "forms|audit|policy|paperwork|food|canteen|weather|printer|computer|it system)",
    "(overdose|od|suicide|selfharm|suicidal|self harm) (admission|admissions|patient|patients|"
    "case|cases|pt|referral|referrals|assessment|assessments|risk|protocol|training|team|bay|"
    "watch|obs|observations|audit|screening|prevention|attempt|attempts|review|call|calls)",
    "(bored|scared|worried|sick|frightened|freezing|starving) to death",
    # A patient named by their presentation ("the overdose in bay 4"), and a rope for a sport.
    "the (overdose|od|selfharm|suicide attempt) (in|on|from) (bay|bed|cubicle|resus|side room|"
    "majors|minors|the ward|ward|ed|icu|hdu|room)",
    "(rope|ropes) ~3 (climbing|climb|boat|sailing|skipping|tow|towing|swing|tent|camping|"
    "abseil|abseiling|bouldering)",
    "(climbing|boat|sailing|skipping|tow|towing|tent|camping|abseil|abseiling) ~2 (rope|ropes)",
    "be the death of (me|us)",
    "(die|dying) here ~4 (hot|cold|busy|boring|bored|heat|freezing|starving|lol|haha)",
    "(ward|unit|shift|clinic|department|dept|place|night|day|town|pub|ed|er) ~2 dead",
    "drown ~1 in (paperwork|work|email|emails|notes|admin|charting|referrals|bleeps|jobs)",
    "(brain|head) ~2 (fried|mush|frazzled|scrambled)",
    "(crash|crashing) (early|out|now|soon|on the sofa|on the couch|for an hour|after this)",
    "bridge (club|game|night|party|tournament|pub|inn|hotel|street|road|lane|roll|loan)",
    # No gap inside these frames: a frame removes every word it spans, and "finish it all
    # tonight, sorry about the rota" must keep its "finish it all tonight".
    "finish (it|off)? ~1 (the|my|this|that) (audit|rota|report|notes|paperwork|essay|"
    "assignment|portfolio|presentation|charting|discharge|form|forms|course|module|book|film|"
    "show|series|jigsaw|crossword|painting|job|jobs|list|laundry|washing|ironing|reflection|"
    "revalidation|cpd|training|elearning|dinner|homework|letter|referral|summary)",
    "(gun|guns) (dog|dogs)",
    "(glue|nail|staple|water|nerf|heat|temperature|thermometer|paint|spray) gun",
    "(kill|drain|die|dead) (my|the|your)? (cell|phone) (battery|data|signal|plan|bill|service|"
    "reception|coverage|contract)",
    "(gun|rifle|shooting) (range|club|licence|license|safety|course|lesson)",
    "(say|said|saying) goodbye to (nights|days|lates|earlies|the night shift|my old job|the ward|"
    "the team|my old ward|summer|the weekend)",
    "over for (me|us) (today|tonight|this week|for the day|for today)",
    "(shift|day|week|work|night|rota|season) ~2 over for (me|us)",
    "be gone (on|for) ~2 (holiday|leave|vacation|the weekend|a week|a few days|work|a course|"
    "nights|a bit|an hour|lunch|the day|a while|hols|annual leave|training)",
    "be gone (by|at|till|until|from|before|after) (#|noon|lunch|midday|then so|the time)",
    "(give|giving|gave) up on (this|that|the|my|these) ~1 (parking|rota|printer|computer|system|"
    "app|game|crossword|diet|traffic|bus|train|queue|wifi|phone|laptop|form|course|exam|"
    "idea|plan|car|project)",
    "(die|dying|died) (laughing|of laughter|a little inside|a little)",
    "dying to (see|know|hear|try|meet|go|get|tell|talk|find|visit|sleep|eat|have|watch|read|"
    "catch up|share)",
    "(phone|battery|laptop|pager|bleep|car|charger|plant|plants|tablet|ipad|computer|screen|"
    "torch|signal|wifi|conversation|party|music|engine|printer|mobile|cell) ~3 (dead|die|dying)",
    "(die|dying|dead) ~1 (phone|battery|laptop|pager|bleep|car|charger|mobile|cell)",
    "(joke|jokes|meme|show|episode|comedy|video|tiktok|film|movie|song|you|that) ~3 (kill) ~1 "
    "me (lol|haha|lmao|xd|xx)?",
    "(kill) ~1 me ~1 (lol|haha|lmao|xd|with|that|this|laughing)",
    "(killer|killers|pain killer|painkiller|painkillers|kill time|kill some time|"
    "kill an hour|kill a few minutes|kill the time)",
    "(i would|could) ~1 (kill|die) for (a|an|some)",
    "(could|would|might|will|going to|gonna) (kill|strangle|murder) ~1 (him|her|them|my|the|"
    "someone|for|you)",
    "(shoot|shot) (me|you|us) (a|an) (text|message|email|msg|line|quick)",
    "(take|took) (my|your|the|his|her) (med|pill)"
    " ~2 (on time|as usual|as prescribed|this morning|tonight|today|yet|with food|regularly)",
    "(end|ended) (it|things) (there|at that|on that|on a high|early)",
    "(end|ended) ~1 (it|things) (with) ~1 (him|her|them|my|boyfriend|girlfriend|partner|"
    "husband|wife|bf|gf|ex)",
    "end of (the|my|this|a|your)? ~1 (shift|day|week|night|rota|month|year|road|line|list|"
    "corridor|ward|bed|shift pattern|placement|contract|tunnel)",
    "(end) (the|this|my|your|our|a)? ~1 (shift|day|call|meeting|chat|conversation|"
    "contract|rotation|placement|week|night|rota|session|text|thread|month|year)",
    "checkout (of|at|by) (the|my)? ~1 (hotel|room|shop|store|library|book|system|rota|app|"
    "ward|shift|desk|airbnb|place|rota|link|website|page|article|new)",
    "checkout (the|this|that|my|your|a|our) ~2 (rota|email|link|website|page|article|new|"
    "list|schedule|notes|form|app|system|video|post)",
    # Wishing someone or something well; never "be" as the subject ("wish i was dead ok").
    "(hope|hoping|hopefully|wish) ~1 (you|your|shift|day|weather|it|they|team|patient|"
    "go|went) ~3 (well|ok|okay|good|better|fine|safe|alright)",
    "(safe|safety) (travels|trip|journey|drive|flight|home|and sound|netting|pin|word|"
    "huddle|brief|briefing|alert|incident|report|staffing|culture|concern|issue|event)",
    "(unsafe|not safe) (staffing|staff levels|ratio|ratios|rota|levels|numbers|to drive|"
    "practice|conditions|workload|environment|for patients|on the ward)",
    "staffing ~2 (unsafe|not safe)",
    "(ward|unit|department|floor|shift|it|place) ~2 (be|feel|felt) ~1 (so|really|very)? ~1 "
    "(unsafe|not safe) (today|tonight|lately)?",
    "(say|bid|said) ~1 (goodbye|bye) (to) (the|her|his|their|a|our|that) ~1 (patient|family|"
    "baby|body|parents|mum|dad|husband|wife|son|daughter|relatives|ward|team|colleagues|unit|"
    "kids|children|relative)",
    "(jump) (in|on|into) (the|a)? ~1 (shower|call|bath|car|cab|taxi|train|bus|zoom|teams|"
    "phone|bed|pool|queue|meeting|chat|conversation)",
    "jump (at the chance|ship|the queue|the gun|through hoops|to conclusions|start)",
    "(give|giving|gave) up (my|a|the|some|your) ~1 (shift|weekend|seat|spot|place|time|day|slot|"
    "lunch|break|evening|morning|night|holiday|leave)",
    "(give|giving|gave) up (smoking|drinking|sugar|caffeine|coffee|chocolate|booze|alcohol|"
    "vaping|meat|dairy|carbs)",
    "cut myself (shaving|cooking|chopping|on the|on a|opening|with the|with a|gardening)",
    "top myself up",
    "throw myself (into|at) ~1 (work|it|the job|things|my work|studying|revision|exercise)",
    "shoot myself in the foot",
    "(life) (back|in my hands|into my own hands|in my own hands)",
    "(burden) of (proof|paperwork|care|disease|work|documentation|admin|responsibility)",
    "(admin|administrative|disease|paperwork|workload|tax|financial|documentation|regulatory|"
    "caseload|illness|symptom|symptoms) burden",
    "trapped (wind|nerve)",
    "(trapped|stuck) (in|at|by|on) (the|a)? ~1 (traffic|meeting|lift|elevator|queue|jam|"
    "car park|handover|clinic|theatre|theater|ward|work|station|airport|rain|snow)",
    "(heat|weather|noise|traffic|queue|wait|smell|humidity|cold|commute|itch|itching) ~4 "
    "(unbearable|unbearably)",
    "(nothing|none) ~1 (left) ~1 (in the|on the|at the) ~1 (fridge|canteen|shop|machine|"
    "vending|cupboard|tank|account|budget|rota)",
    "point of (the|this|that|a) ~1 (meeting|call|form|training|audit|course|email|exercise|"
    "policy|rota|survey|text|message|question)",
    "no (hope|chance) (of|in) (getting|finding|a|the|parking|leave|making)",
    "(the|a|no|my|our) future (shift|shifts|rota|rotas|plan|plans|meeting|dates|reference)",
    "go on (call|shift|shifts|leave|break|holiday|vacation|rounds|duty|nights|site|the|a|an|"
    "time|days|lates|earlies|my|your|annual|"
    "maternity|paternity|sick|strike|placement|nights|course)",
    "(come|be) on (call|shift|duty)",
    "(shift|day|week|night|nights|meeting|rota|year|month|call|weekend|rain|noise|pager|"
    "bleep|alarm) ~1 (to)? (end|stop|be over)",
    "(not|dont|never) (hope|hopeless) ~1 (at|for)? (maths|math|directions|cooking|names)",
    "(hopeless|useless) (at|with) (maths|math|directions|cooking|names|computers|tech|it)",
)

# Frames about someone else's death or danger, or about a past fear: not the writer's crisis,
# but distress (a clinician whose patient died by suicide needs a coordinator's look).
ABOUT_OTHERS_PATTERNS: tuple[str, ...] = (
    "(think|thought) (i|we) (be|would) ~2 (going to)? die",
    "(he|she|they|pt|patient|patients) ~2 (overdose|od|suicidal|selfharm|jump|hang|cut|attempt|"
    "try to kill|kill (himself|herself|themselves)|harm (himself|herself|themselves))",
    "(he|she|they|patient|baby|child|man|woman|mum|dad|husband|wife) ~2 (not|never|didnt|dont|"
    "wont|wouldnt) ~1 (wake|woke) up",
    "(the|a|that|this|my|our|his|her) (patient|pt|patients|resident|client|baby|child|man|"
    "woman|boy|girl|mother|father|mum|dad|lady|guy|gentleman|kid) ~4 (in crisis|suicidal|"
    "suicide|overdose|od|died|dead|death|die|kill (himself|herself|themselves)|"
    "hang (himself|herself|themselves)|jump|selfharm|harm (himself|herself|themselves))",
)

# Distress that is not crisis: a reply we cannot read as an answer but that shows a person
# struggling, so a coordinator should look at it.
DISTRESS_PATTERNS: tuple[str, ...] = (
    "(wreck|mess|nervous wreck|basket case|shell of|in bits|in pieces)",
    "(cry|tears|sob|sobbing|weep|weeping|bawling|crying)",
    "(cant|dont|not) ~2 (sleep|eat|breathe|stop shaking|stop think|stop thinking|"
    "focus|concentrate|think straight|function|switch off|settle|get up|get out of bed|relax|"
    "calm down|stop|forget|shake it|get it out of my head|get over)",
    "(insomnia|nightmares|nightmare|flashback|flashbacks|intrusive|panic|panicking|panicked|"
    "anxiety|anxious|terrified|scared|afraid|frightened|dread|dreading|shake|shaking|shaky|"
    "trembling|tremble|numb|numbness|frozen|spiralling|spiraling|breakdown|break down|"
    "broke down|breaking down|falling apart|fall apart|broken|shattered|devastated|heartbroken|"
    "haunted|haunts|haunting|traumatised|traumatized|trauma|ptsd|overwhelmed|overwhelming|"
    "drowning|struggling|struggle|not coping|cant cope|sick to my stomach|throwing up|"
    "vomiting|hyperventilating|heart racing|racing heart|chest tight|lonely|isolated|"
    "depressed|depression|miserable|hate myself|ashamed|shame|humiliated|disgusted|"
    "useless|failure|incompetent|fraud|imposter|impostor|awful|horrible|terrible|dreadful|"
    "gutted|sad|grief|grieving|guilt|guilty|regret|cant forgive|unforgivable|upset|"
    "distressed|distraught|hurting|in pain|exhausted|burnt out|burned out|burnout|"
    "losing it|lost it|going mad|going crazy|too much|cant stop|suicide|suicidal|overdose|"
    "died|death|passed away|code|arrest|resus|lost (him|her|them|a patient|the patient)|"
    "my head|blame myself|blaming myself|not myself|on edge|jumpy|wired|cant switch off|"
    "sleepless|no sleep|havent slept|hardly slept|barely slept|empty|hollow)",
    "(replay|rewind|relive|see|hear|think|keep|picture) ~3 (it|her|his|him|face|eyes|scream|"
    "screams|over and over|again and again|on repeat|every time|all night|the code|"
    "the patient|what happened|the moment|that moment|the sound|the alarm|the monitor)",
    "(my|our|all my|totally my|entirely my|completely my) (fault|mistake|error|doing)",
    "(i|im) ~2 (killed|harmed|hurt|failed|let down|lost) ~2 (him|her|them|the patient|"
    "a patient|that patient|my patient|the baby|the child|someone|everyone)",
    "(should|shouldnt|could|would) have ~3 (done|caught|seen|noticed|known|called|checked|"
    "stopped|saved|been|spotted|listened|escalated|acted)",
    "(not|never) ~1 (ok|okay|alright|fine|good|well|myself|coping|great)",
    "(im|i be) ~1 (ok|okay|fine|alright) ~2 not really",
    "(all on me|let ~2 down|face the family|face them|face her family|face his family|"
    "mess up|messed up|screw up|screwed up|cock up|cocked up|fuck up|fucked up|apologise|"
    "apologising|apologize|apologizing|blame|blamed|my responsibility|responsible)",
    "(dont|not) ~2 deserve to be a (nurse|doctor|midwife|medic|paramedic|clinician)",
    "(back in that room|back there|keep come back|keeps coming back|keep coming back|"
    "all i can think about|all i think about|keep check|keep checking|a blur|blur since|"
    "cant get it out|every time i close my eyes|every time an alarm|every time the phone|"
    "every time my phone)",
    "(up all night|awake all night|slept ~3 (hours|hrs|hour|hr)|(hours|hrs) a night|"
    "no sleep|not slept|barely sleep|wake at|waking at|keep wake)",
    "(heart pound|heart pounding|heart racing|worried|worry|worrying|nerves|nerve|chest be tight|"
    "tight chest|sick with|on edge|jittery|cant breathe|hyperventilat)",
    "(so low|feel low|really low|down today|feeling down|so down|low mood|flat)",
    "(angry|furious|fuming|livid|mad at|so mad|pissed off|raging|rage|scream|resent|bitter|"
    "why be i the one|why me|sick of be|fed up)",
    "(dont|cant|not) ~1 feel anything",
    "(autopilot|not real|unreal|detached|zombie|in a daze|dazed|numb|spaced out|disconnected)",
    "(really hard|so hard|been hard|be be hard|hard going|tough going)",
    "(dont know|dont know how|not sure how) ~2 (to feel|what to do with myself|what to feel|"
    "how to cope|how to process)",
    "(hide|hiding) ~3 (duvet|covers|from everyone|away|in bed|under)",
    "(shaken|shook) (up)?",
    "(feel|feeling|felt) ~2 (bad|low|down|awful|terrible|sick|guilty|responsible|empty|"
    "numb|nothing|lost|broken|hollow|dead|like a failure|like shit|like crap|off|sick|"
    "horrible|rubbish|worse)",
    "(hard|rough|bad|awful|terrible|horrible|worst|tough) ~1 (day|night|shift|time|week|one)",
    "(need|needs|want|could use) ~2 (help|someone|support|to talk|talk|a chat|a hug)",
    "(quit|quitting|leave|leaving) ~2 (nursing|medicine|the job|my job|this job|"
    "the profession|healthcare)",
    "(cant|dont want to|dont think i can) ~2 (go back|face work|face the ward|face them|"
    "face anyone|do my job|go in|return)",
    "(what if|whatif) ~3 (sue|sued|lawsuit|struck off|fired|lose my|investigation|complaint)",
    "(what if|if only|keep think|cant stop think|keep go over|go over and over)",
)


# Words that name someone else: a gap marked "~N!" may not hold one, so a wish or plan read
# across it is the writer's own ("I wish he hadn't died" is grief, not a wish to die).
OTHER_PEOPLE: tuple[str, ...] = tuple(
    """
    he she they him her his hers them their theirs patient patients pt family relative relatives
    baby child boy girl man woman mum mom dad mother father husband wife son daughter someone
    somebody everyone everybody people doctor nurse consultant boss manager team colleague it
    phone pager battery shift you your
    """.split()
)

_PART = re.compile(r"~\d+!?|\$|#|\([^()]*(?:\([^()]*\)[^()]*)*\)\??|[A-Z_]+|[a-z0-9]+")


def _canon_words(words: str) -> str:
    """A pattern's literal words as a reply's words would read after normalise()."""
    return " ".join(_LEXICON.canon(w) for w in _expand(words.split()))


def _split_top(spec: str) -> list[str]:
    """A choice's options, split on the '|' that are not inside a nested choice."""
    out, depth, current = [], 0, ""
    for c in spec:
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        if c == "|" and depth == 0:
            out.append(current)
            current = ""
        else:
            current += c
    out.append(current)
    return out


def _choice(spec: str, frame: bool = False) -> str:
    """A choice; its options are word sequences or, when they hold parts, sub-patterns."""
    regexes = set()
    for option in _split_top(spec):
        option = option.strip()
        if not option:
            continue
        if re.fullmatch(r"[a-z0-9 ]+", option):
            regexes.add(r"\s".join(re.escape(w) for w in _canon_words(option).split()))
        else:
            regexes.add(_sequence(option, frame))
    return "(?:" + "|".join(sorted(regexes, key=len, reverse=True)) + ")"


_OTHERS_RE = "|".join(re.escape(w) for w in sorted(OTHER_PEOPLE, key=len, reverse=True))


def _gap(n: int, mine: bool, frame: bool = False) -> str:
    """Up to n other tokens. In a frame (an idiom, someone else's danger) the gap stays inside
    one clause and is captured, so that _blank keeps its words: a frame removes only its own."""
    if n == 0:
        return r"\s"
    if frame:
        return rf"((?:\s[^\s|]+){{0,{n}}})\s"
    if mine:
        return rf"(?:\s(?!(?:{_OTHERS_RE})(?!\S))\S+){{0,{n}}}\s"
    return rf"(?:\s\S+){{0,{n}}}\s"


_END = r"(?=\s\||$)"


def _sequence(pattern: str, frame: bool = False) -> str:
    """Parts joined by single spaces, or by a gap "~N" of up to N other tokens ("~N!": none of
    them another person); "(...)?" may be missing; "$" is the end of a sentence."""
    regex = ""
    gap, mine, first = 0, False, True
    for part in _PART.findall(pattern):
        if part.startswith("~"):
            gap += int(part[1:].rstrip("!"))
            mine = mine or part.endswith("!")
            continue
        if part == "$":
            regex += _END
            continue
        optional = part.startswith("(") and part.endswith("?")
        options = _split_top(part[1:-1]) if part.startswith("(") and not optional else []
        if not first and "$" in (o.strip() for o in options):
            # "(tonight|$)": the end of a sentence is one choice. The gap before a word needs a
            # space, and the end of the reply has none, so the end is tried on its own.
            rest = "|".join(o for o in options if o.strip() != "$")
            regex += f"(?:{_gap(gap, mine, frame)}{_choice(rest, frame)}|{_END})"
            gap, mine = 0, False
            continue
        if part.startswith("("):
            body = _choice(part[1 : -2 if optional else -1], frame)
        elif part == "#":
            body = r"\d[\d:.]*(?:am|pm)?"
        elif part.isupper() or "_" in part:
            body = _choice(SLOTS[part], frame)
        else:
            body = r"\s".join(re.escape(w) for w in _canon_words(part).split())
        if first:
            regex = f"(?:{body})?" if optional else body
            first = False
        elif optional:
            regex += f"(?:{_gap(gap, mine, frame)}{body})?"
            continue  # a missing optional part leaves the gap before it for the next part
        else:
            regex += _gap(gap, mine, frame) + body
        gap, mine = 0, False
    return regex


def _compile(patterns: tuple[str, ...], frame: bool = False) -> re.Pattern[str]:
    body = "|".join(f"(?:{_sequence(p, frame)})" for p in patterns)
    return re.compile(rf"(?<!\S)(?:{body})(?!\S)")


def _crisis_words() -> set[str]:
    """The vocabulary a typo may be corrected towards: the crisis patterns' own words."""
    text = (
        " ".join(SLOTS.values())
        + " "
        + " ".join(p for group in CRISIS_PATTERNS.values() for p in group)
    )
    return set(re.findall(r"[a-z][a-z0-9]*", text)) - COMMON_WORDS


def _pattern_words() -> set[str]:
    text = (
        " ".join(SLOTS.values())
        + " "
        + " ".join(p for group in CRISIS_PATTERNS.values() for p in group)
    )
    text += " " + " ".join(IDIOM_PATTERNS + ABOUT_OTHERS_PATTERNS + DISTRESS_PATTERNS)
    return set(re.findall(r"[a-z][a-z0-9]*", text))


_LEXICON = _Lexicon(_pattern_words(), _crisis_words())
_CRISIS_RE: dict[str, re.Pattern[str]] = {
    name: _compile(group) for name, group in CRISIS_PATTERNS.items()
}
_CRISIS_ANY = _compile(tuple(p for group in CRISIS_PATTERNS.values() for p in group))
_IDIOM_RE = _compile(IDIOM_PATTERNS, frame=True)
_ABOUT_OTHERS_RE = _compile(ABOUT_OTHERS_PATTERNS, frame=True)
_DISTRESS_RE = _compile(DISTRESS_PATTERNS)


def normalise(text: str) -> str:
    """The reply as the patterns read it: lemmas and plain spellings, '|' for punctuation."""
    words = _expand(_raw_tokens(text))
    out: list[str] = []
    for w in words:
        if w == _PAUSE:
            if out and out[-1] != _PAUSE:
                out.append(w)
            continue
        out.append(_LEXICON.canon(w))
    while out and out[-1] == _PAUSE:
        out.pop()
    return " ".join(out)


# --- 3. reviewed examples -------------------------------------------------------------------
#
# The phrases the previous, list-based reader matched, kept as examples a clinician reviewed:
# they are not matched as a list any more (the patterns above are), but the tests hold the
# patterns to catching every one of them, typed, shouted or inside a sentence.

CRISIS_WORDS: tuple[str, ...] = (
    "suicide",
    "suicidal",
    "hopeless",
    "hopelessness",
    "helpless",
    "worthless",
    "despair",
    "overdose",
    "overdosed",
    "overdosing",
    "od",
    "oding",
    "unalive",
)

CRISIS_PHRASES: tuple[str, ...] = (
    # Wanting to die or not to exist.
    "want to die",
    "wanting to die",
    "wish I was dead",
    "wish I were dead",
    "wish I could die",
    "wish I was never born",
    "wish I wasn't here",
    "want to be dead",
    "rather be dead",
    "ready to die",
    "deserve to die",
    "should just die",
    "let me die",
    "hope I die",
    "better off dead",
    "better of dead",
    "better off without me",
    "better of without me",
    "everyone would be better off",
    "don't want to be here",
    "not want to be here",
    "don't want to be alive",
    "don't want to live",
    "don't want to exist",
    "not want to live",
    "don't want to wake up",
    "not wake up",
    "never wake up",
    "sleep forever",
    "want to disappear",
    "disappear forever",
    # Self-harm and suicidal intent.
    "kill myself",
    "killing myself",
    "killed myself",
    "end my life",
    "ending my life",
    "end it all",
    "ending it all",
    "want to end it",
    "going to end it",
    "end things",
    "take my own life",
    "take my life",
    "taking my life",
    "hurt myself",
    "hurting myself",
    "harm myself",
    "harming myself",
    "self harm",
    "cut myself",
    "cutting myself",
    "hang myself",
    "hanging myself",
    "shoot myself",
    "jump off a bridge",
    "jump off the bridge",
    "jump off a building",
    "jump off the roof",
    "jump in front of",
    "crash my car",
    "all my pills",
    "all the pills",
    "too many pills",
    "handful of pills",
    "bottle of pills",
    # Hopelessness.
    "no reason to live",
    "nothing to live for",
    "no point living",
    "no point in living",
    "no point anymore",
    "no point in anything",
    "what's the point",
    "what is the point",
    "life isn't worth",
    "life is not worth",
    "not worth living",
    "life is pointless",
    "tired of living",
    "tired of life",
    "sick of living",
    "tired of being alive",
    "done with life",
    "done with living",
    "done with everything",
    "want it all to end",
    "want it to end",
    "want everything to end",
    "make it all stop",
    "make it stop",
    "can't go on",
    "can't keep going",
    "can't do this anymore",
    "can't take it anymore",
    "can't take this anymore",
    "can't take any more",
    "can't cope",
    "can't live like this",
    "can't live with myself",
    "can't live with this",
    "can't handle this anymore",
    "can't handle it anymore",
    "can't face anything",
    "give up on everything",
    "give up on life",
    "giving up on everything",
    "giving up on life",
    "gave up on life",
    "I give up",
    "want to give up",
    "ready to give up",
    "no way out",
    "no hope",
    "lost all hope",
    "no future",
    "feel trapped",
    "dead inside",
    "no one would miss me",
    "nobody would miss me",
    "no one would care",
    "nobody would care",
    "no one cares",
    "nobody cares",
    "I'm a burden",
    "burden to everyone",
    "such a burden",
    "this is goodbye",
    "goodbye forever",
    "final goodbye",
    # Safety.
    "not safe",
    "unsafe",
    "don't feel safe",
    "not feeling safe",
    "can't keep myself safe",
    "can't stay safe",
    # Asking for crisis help outright.
    "I'm in crisis",
    "crisis line",
    "crisis hotline",
)


# Idioms reviewed and deliberately NOT treated as crisis (the tests hold the patterns to this):
# everyday hyperbole in a hospital, where a false alarm would teach people to ignore the line.
# "I'm not OK" is not here either: it is distress, read as accepting the offer of a peer.
REVIEWED_NOT_CRISIS: tuple[str, ...] = (
    "dead tired",
    "killing it at work lol",
    "this shift is killing me",
    "my feet are killing me",
    "dying for a coffee",
    "I could die of embarrassment",
    "the cake was to die for",
    "my phone is dead",
    "deadline is tomorrow",
    "I'm safe",
    "safe travels",
    "can't talk now",
    "can't make it today",
    "can't go on call tonight",
    "that's odd",
    "volunteering at the homeless shelter",
    "I'm overdue a break",
)


def _blank(regex: re.Pattern[str], normal: str) -> str:
    """Each frame's own words become '_' (one per word, so gaps still measure distance); the
    words in its gaps stay. "I took a handful of tablets, dead tired" once lost its tablets to a
    "tablet ... dead" frame that reached across the comma: a frame is one clause, and the words
    between its parts are not its own."""

    def own_words_blanked(m: re.Match[str]) -> str:
        start = m.start()
        kept = [m.span(i) for i in range(1, (m.re.groups or 0) + 1) if m.start(i) != -1]
        out: list[str] = []
        for word in re.finditer(r"\S+", m.group()):
            at = start + word.start()
            inside_gap = any(a <= at < b for a, b in kept)
            out.append(word.group() if inside_gap else "_")
        return " ".join(out)

    return regex.sub(own_words_blanked, normal)


def _without_idioms(normal: str) -> str:
    return _blank(_ABOUT_OTHERS_RE, _blank(_IDIOM_RE, normal))


def canonical(word: str) -> str:
    """One word as the patterns read it (lemma, plain spelling): for callers that compare."""
    return _LEXICON.canon(word)


def idiom_words(text: str) -> frozenset[str]:
    """The words of a reply that sit inside a known idiomatic frame ("phone about to die",
    "dead keen"), in canonical form: ordinary speech a reply parser may treat as explained."""
    normal = normalise(text)
    return frozenset(w for m in _IDIOM_RE.finditer(normal) for w in m.group().split())


def crisis_signs(text: str) -> list[str]:
    """The warning-sign groups a reply matches (empty: none); for review and the benchmark."""
    normal = _without_idioms(normalise(text))
    return [name for name, regex in _CRISIS_RE.items() if regex.search(normal)]


def signals_crisis(text: str) -> bool:
    """True when a reply shows any sign of crisis; false alarms are accepted, misses are not."""
    return _CRISIS_ANY.search(_without_idioms(normalise(text))) is not None


def signals_distress(text: str) -> bool:
    """True when a reply shows distress (or crisis): a person a coordinator should look at.

    The same idiom frames are removed first: "that cake was to die for" is nobody's distress.
    """
    normal = _blank(_IDIOM_RE, normalise(text))
    if _DISTRESS_RE.search(normal) or _ABOUT_OTHERS_RE.search(normal):
        return True
    return signals_crisis(text)
