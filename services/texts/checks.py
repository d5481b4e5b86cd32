"""Whether an administrator's text may replace a default: its placeholders, its length."""

from __future__ import annotations

import string

from services.texts.defaults import KINDS, fill

# An SMS over 320 characters goes as three or more segments (or one long MMS on some
# carriers): slower, dearer, and more likely to arrive out of order.
MAX_LENGTH = 320
# Names an administrator might reach for that would put a patient or the event into an SMS.
PATIENT_WORDS = (
    "patient",
    "mrn",
    "dob",
    "birth",
    "diagnos",
    "room",
    "bed",
    "ward",
    "unit",
    "event",
    "incident",
    "clinical",
    "condition",
    "nhs",
    "ssn",
    "address",
)


def fields_of(body: str) -> list[str]:
    """The placeholders a body uses, in order; ValueError for a malformed one ("{", "{0}",
    "{code.x}", "{code!r}", "{code:>9}") so attribute or index access never reaches
    str.format."""
    names: list[str] = []
    for _, name, spec, conversion in string.Formatter().parse(body):
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValueError(f"{{{name}}} is not a placeholder: use a plain name such as {{code}}")
        names.append(name)
    return names


def check(kind: str, body: str) -> list[str]:
    """Why `body` may not replace `kind`'s text, or [] when it may."""
    spec = KINDS[kind]
    problems: list[str] = []
    text = body.strip()
    if not text:
        return ["The text is empty."]
    try:
        used = fields_of(text)
    except ValueError as exc:
        return [str(exc).capitalize() + "."]
    allowed = ", ".join(f"{{{p}}}" for p in sorted(spec.placeholders)) or "none"
    for name in dict.fromkeys(used):
        if name in spec.placeholders:
            continue
        if any(word in name.lower() for word in PATIENT_WORDS):
            problems.append(
                f"{{{name}}} would carry details of a patient or the event: an SMS never does, "
                f"so there is no such placeholder. Allowed here: {allowed}."
            )
        else:
            problems.append(f"{{{name}}} is not a placeholder of this text. Allowed: {allowed}.")
    for name in sorted(spec.required - set(used)):
        problems.append(f"{{{name}}} is missing: the default has it and the text needs it.")
    if len(text) > MAX_LENGTH:
        problems.append(f"{len(text)} characters: at most {MAX_LENGTH}.")
    elif not problems:
        filled = fill(text, spec.sample)
        if len(filled) > MAX_LENGTH:
            problems.append(f"{len(filled)} characters once filled in: at most {MAX_LENGTH}.")
    return problems
