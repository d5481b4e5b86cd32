"""Reading a mapping file a hospital edits (YAML), so that every mistake names its line.

Why the composed node tree rather than `yaml.safe_load`: a node knows its line, a duplicate
key is seen instead of silently overwritten, and every scalar stays the text it was written
as (YAML 1.1 reads a code `N` or `no` as false and `405535005` as a number). A file with
mistakes is refused whole, every problem at once in file order, so a typo fails at start-up
and not on the first death.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import TypeVar

import yaml

from services.feeds.record import Problem

E = TypeVar("E", bound=enum.Enum)
NULL_TAG = "tag:yaml.org,2002:null"


class MappingInvalid(ValueError):
    """A mapping file that cannot be used; every problem at once, each with its line."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.where}: {p.why}" for p in problems))
        self.problems = problems


def _exact(key: str) -> str:
    return key


class NodeReader:
    """Collects a file's problems while its nodes are read; `done` raises them together.

    `same_key`: how two keys are compared for duplicates (exact by default; a picklist
    file compares them the way its codes are compared)."""

    def __init__(self, name: str, same_key: Callable[[str], str] = _exact) -> None:
        self.name = name
        self.same_key = same_key
        self.problems: list[tuple[int, Problem]] = []

    def compose(self, text: str) -> yaml.Node | None:
        """The document's root node (None for an empty file); MappingInvalid if not YAML."""
        try:
            return yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            line = f" line {mark.line + 1}" if mark else ""
            # e.problem is the parser's fixed wording; str(e) would quote the text around it.
            problem = Problem(f"{self.name}{line}", f"not YAML: {e.problem}")
            raise MappingInvalid([problem]) from None

    def refuse(self, node: yaml.Node, path: str, why: str) -> None:
        line = node.start_mark.line + 1
        where = f"{self.name} line {line}"
        self.problems.append((line, Problem(f"{where}, {path}" if path else where, why)))

    def done(self) -> None:
        """Raise every problem found, in file order: the person fixing them reads the file
        top to bottom."""
        if self.problems:
            raise MappingInvalid([p for _, p in sorted(self.problems, key=lambda lp: lp[0])])

    def items(self, node: yaml.Node, path: str) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            self.refuse(node, path, "must be a mapping of keys to values")
            return {}
        out: dict[str, yaml.Node] = {}
        seen: dict[str, int] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == NULL_TAG:
                self.refuse(key, path, "a key must be text")
                continue
            norm = self.same_key(key.value)
            if norm in seen:
                why = f"the same key as line {seen[norm]}"
                if self.same_key is not _exact:
                    why += " (keys ignore case, spaces, _ and -)"
                self.refuse(key, f"{path}.{key.value}".lstrip("."), why)
                continue
            seen[norm] = key.start_mark.line + 1
            out[key.value] = value
        return out

    def text(self, node: yaml.Node, path: str, *, nullable: bool = False) -> str | None:
        if isinstance(node, yaml.ScalarNode):
            if node.tag == NULL_TAG:
                if nullable:
                    return None
                self.refuse(node, path, "must not be empty")
                return None
            return node.value
        self.refuse(node, path, "must be a single value")
        return None

    def texts(self, node: yaml.Node, path: str) -> list[str]:
        if not isinstance(node, yaml.SequenceNode):
            self.refuse(node, path, "must be a list")
            return []
        out = []
        for i, item in enumerate(node.value):
            text = self.text(item, f"{path}[{i}]")
            if text is not None:
                out.append(text)
        return out

    def member(
        self, kind: type[E], node: yaml.Node, path: str, what: str, also: str = ""
    ) -> E | None:
        """One of an enum's values (ours: an event type, a harm level), or a problem that
        lists them all; `what` names the kind ("an event type of ours"), `also` any other
        word the setting takes."""
        value = self.text(node, path)
        if value is None:
            return None
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(str(m.value) for m in kind) + (f", or {also}" if also else "")
            self.refuse(node, path, f"not {what} (expected one of {allowed})")
            return None
