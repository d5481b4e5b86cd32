"""Concept slots: the words behind each capitalised name in a pattern ("INTENT", "ENDING").

A slot is one idea said many ways (an intention, an ending, a means); patterns combine slots so
that new wording of the same idea needs no pattern of its own. Data, edited by a reviewer.
"""

from __future__ import annotations

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
