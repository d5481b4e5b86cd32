"""Frames that look like crisis and are not the writer's: idioms, other people, distress.

Idiomatic frames are removed before crisis patterns are read; frames about someone else are
removed too but count as distress; distress patterns are the wider net. Data, in the pattern
language (see `language`).
"""

from __future__ import annotations

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
