"""The pattern language, compiled to regular expressions over a normalised reply.

A pattern is a sequence of parts separated by spaces. A part is a slot name in capitals
(expanded to its words), a literal word, a choice "(a|b c)" of words or word sequences, or a
gap "~N": up to N other words (pauses count as words, so a gap may cross a comma). Written in
lemmas: "end" also matches "ending", "ended"; "die" matches "dying", "died".
"""

from __future__ import annotations

import re

from services.conversations.crisis.normalisation import canonical, expand_texting
from services.conversations.crisis.slots import SLOTS

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
    return " ".join(canonical(w) for w in expand_texting(words.split()))


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


def compile_patterns(patterns: tuple[str, ...], frame: bool = False) -> re.Pattern[str]:
    body = "|".join(f"(?:{_sequence(p, frame)})" for p in patterns)
    return re.compile(rf"(?<!\S)(?:{body})(?!\S)")
