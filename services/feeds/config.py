"""The hospital's feeds: which interfaces may send us records, and how each is read.

Why a file and not one setting per feed: a hospital runs several interfaces of one kind
(two EHRs during a migration, a second ADT engine at a sister site), each with its own
identifier systems, quiet periods and wall clock. A record from a feed not listed here is
refused (an unknown sender is a misconfigured interface, not a record to guess about), and
the console's silent-feed warning needs to know every feed that should be talking, including
one that never did.

The file is `SVRR_FEEDS` when set, else the shipped `mappings/feeds.yaml`. It is read through
the same checker as the code mappings (mapfile.NodeReader): every bad line at once, at start.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, timedelta, tzinfo
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from schemas.events import HarmLevel, IncidentType
from services.feeds.hl7v2 import DEFAULT_TRIGGERS, Hl7Rule, Hl7Triggers
from services.feeds.mapfile import MappingInvalid, NodeReader
from services.feeds.matching import DEFAULT_WINDOW
from services.feeds.record import Problem, Source

FEEDS_FILE = "feeds.yaml"
DEFAULT_SILENT_AFTER = timedelta(hours=1)
FEED_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
DURATION = re.compile(r"^\s*(\d+)\s*(s|min|h|d)\s*$")
UNITS = {"s": 1, "min": 60, "h": 3600, "d": 86400}
SETTINGS = (
    "staff_id_systems",
    "staff_system",
    "window",
    "silent_after",
    "zone",
    "mapping",
    "triggers",
)
TRIGGER_KEYS = ("type", "events", "field", "values", "event_type", "harm_level", "required")


class UnknownFeed(LookupError):
    """A sender named a feed this hospital has not configured: its answer is a 404 or a NAK
    naming the feed, never a record taken under a guess."""

    def __init__(self, source: Source, feed: str) -> None:
        super().__init__(f"no {source} feed named {feed!r} is configured (feeds.yaml)")
        self.source, self.feed = source, feed


@dataclass(frozen=True)
class FeedSettings:
    source: Source
    feed: str
    staff_id_systems: frozenset[str] = frozenset()
    window: timedelta = DEFAULT_WINDOW
    silent_after: timedelta = DEFAULT_SILENT_AFTER
    zone: tzinfo = UTC  # the sender's wall clock, for times written without an offset
    mapping: Path | None = None  # a code mapping of the hospital's own; None: the shipped one
    # HL7 and code blue: the identifier system of a clinician sent without one (an XCN with
    # no assigning authority, a bare team id); None: such ids are our staff ids.
    staff_system: str | None = None
    # hl7v2: which messages are incidents; the death rule (PV1-36 in table 0112's expired
    # codes) always first, then the site's own (`triggers` in the file).
    hl7_triggers: Hl7Triggers = DEFAULT_TRIGGERS

    @property
    def label(self) -> str:
        """How logs, metrics and the board name the feed: `hl7v2/adt`."""
        return f"{self.source}/{self.feed}"


@dataclass(frozen=True)
class Feeds:
    feeds: dict[tuple[Source, str], FeedSettings] = field(default_factory=dict)

    def get(self, source: Source, feed: str) -> FeedSettings:
        found = self.feeds.get((Source(source), feed))
        if found is None:
            raise UnknownFeed(Source(source), feed)
        return found

    def all(self) -> tuple[FeedSettings, ...]:
        return tuple(self.feeds.values())

    def __iter__(self) -> Iterator[FeedSettings]:
        return iter(self.feeds.values())


def parse_feeds(text: str, *, name: str = FEEDS_FILE, base: Path | None = None) -> Feeds:
    """Feeds from YAML text; MappingInvalid names every bad line. `base`: where a relative
    `mapping` path is read from (the file's own folder)."""
    r = NodeReader(name)
    root = r.compose(text)
    if root is None:
        raise MappingInvalid([Problem(name, "empty: list at least one feed")])
    feeds: dict[tuple[Source, str], FeedSettings] = {}
    for kind, node in r.items(root, "").items():
        try:
            source = Source(kind)
        except ValueError:
            allowed = ", ".join(s.value for s in Source)
            r.refuse(node, kind, f"not a kind of feed (expected one of {allowed})")
            continue
        for feed, settings in r.items(node, kind).items():
            path = f"{kind}.{feed}"
            if not FEED_NAME.match(feed):
                r.refuse(node, path, "a feed name is lower-case letters, digits, - and _")
                continue
            read = _settings(r, source, feed, settings, path, base)
            if read is not None:
                feeds[(source, feed)] = read
    r.done()
    if not feeds:
        raise MappingInvalid([Problem(name, "no feed is listed")])
    return Feeds(feeds)


def _settings(
    r: NodeReader, source: Source, feed: str, node: yaml.Node, path: str, base: Path | None
) -> FeedSettings | None:
    if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
        return FeedSettings(source, feed)  # a feed with every default
    items = r.items(node, path)
    found = len(r.problems)
    for key, value in items.items():
        if key not in SETTINGS:
            r.refuse(value, f"{path}.{key}", f"not a feed setting (expected one of {SETTINGS})")
    systems = (
        frozenset(r.texts(items["staff_id_systems"], f"{path}.staff_id_systems"))
        if ("staff_id_systems" in items)
        else frozenset()
    )
    window = _duration(r, items.get("window"), f"{path}.window") or DEFAULT_WINDOW
    quiet = _duration(r, items.get("silent_after"), f"{path}.silent_after")
    zone: tzinfo = UTC
    if "zone" in items:
        zone_name = r.text(items["zone"], f"{path}.zone")
        if zone_name is not None:
            try:
                zone = ZoneInfo(zone_name)
            except (ZoneInfoNotFoundError, ValueError):
                r.refuse(items["zone"], f"{path}.zone", "not an IANA time zone name")
    staff_system = None
    if "staff_system" in items:
        staff_system = r.text(items["staff_system"], f"{path}.staff_system")
    mapping = None
    if "mapping" in items:
        where = r.text(items["mapping"], f"{path}.mapping")
        if where is not None:
            mapping = Path(where) if base is None else base / where
            if not mapping.is_file():
                r.refuse(items["mapping"], f"{path}.mapping", "no such file")
    triggers = DEFAULT_TRIGGERS
    if "triggers" in items:
        if source is not Source.hl7v2:
            r.refuse(items["triggers"], f"{path}.triggers", "only an hl7v2 feed has triggers")
        else:
            triggers = _hl7_triggers(r, items["triggers"], f"{path}.triggers")
    if len(r.problems) > found:
        return None
    return FeedSettings(
        source,
        feed,
        systems,
        window,
        quiet or DEFAULT_SILENT_AFTER,
        zone,
        mapping,
        staff_system,
        triggers,
    )


def _hl7_triggers(r: NodeReader, node: yaml.Node, path: str) -> Hl7Triggers:
    """A site's own HL7 triggers, after the death rule, which no file can remove: a death
    message must always reach a person."""
    if not isinstance(node, yaml.SequenceNode):
        r.refuse(node, path, "must be a list of triggers")
        return DEFAULT_TRIGGERS
    rules = []
    for i, item in enumerate(node.value):
        where = f"{path}[{i}]"
        items = r.items(item, where)
        for key, value in items.items():
            if key not in TRIGGER_KEYS:
                r.refuse(value, f"{where}.{key}", f"not a trigger setting ({TRIGGER_KEYS})")
        missing = [k for k in ("type", "event_type", "harm_level") if k not in items]
        if missing:
            r.refuse(item, where, f"needs {', '.join(missing)}")
            continue
        kind = r.text(items["type"], f"{where}.type")
        events = r.texts(items["events"], f"{where}.events") if "events" in items else []
        field = r.text(items["field"], f"{where}.field") if "field" in items else None
        values = r.texts(items["values"], f"{where}.values") if "values" in items else []
        event_type = r.member(
            IncidentType, items["event_type"], f"{where}.event_type", "an event type of ours"
        )
        harm = r.member(
            HarmLevel, items["harm_level"], f"{where}.harm_level", "a harm level of ours"
        )
        required = True
        if "required" in items:
            flag = r.text(items["required"], f"{where}.required")
            if flag not in ("true", "false"):
                r.refuse(items["required"], f"{where}.required", "true or false")
            required = flag == "true"
        if kind is None or event_type is None or harm is None:
            continue
        try:
            rules.append(
                Hl7Rule(
                    message_type=kind,
                    events=frozenset(events),
                    event_type=event_type,
                    harm_level=harm,
                    field=field,
                    values=frozenset(values),
                    required=required,
                )
            )
        except ValueError as exc:
            r.refuse(item, where, str(exc))
    return Hl7Triggers.deaths_and(*rules)


def _duration(r: NodeReader, node: yaml.Node | None, path: str) -> timedelta | None:
    if node is None:
        return None
    value = r.text(node, path)
    if value is None:
        return None
    m = DURATION.match(value)
    if m is None or int(m.group(1)) == 0:
        r.refuse(node, path, "a duration above zero: a number then s, min, h or d (e.g. 12h)")
        return None
    return timedelta(seconds=int(m.group(1)) * UNITS[m.group(2)])


def load_feeds(path: str | Path | None = None) -> Feeds:
    """`path`, else SVRR_FEEDS, else the shipped file."""
    chosen = path or os.environ.get("SVRR_FEEDS")
    if chosen:
        p = Path(chosen)
        return parse_feeds(p.read_text(encoding="utf-8"), name=p.name, base=p.parent)
    return shipped_feeds()


@functools.cache
def shipped_feeds() -> Feeds:
    text = resources.files("services.feeds").joinpath("mappings", FEEDS_FILE).read_text()
    return parse_feeds(text)
