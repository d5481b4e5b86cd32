"""The reporting adapter's mapping file: reading and checking `mappings/reporting.yaml`.

Why apart from services.feeds.reporting: a hospital's risk manager edits this file, and its
loader (every refusal naming a line) is read and changed for other reasons than the reading of
reports; codeblue also compares codes the way this file does (`normalise`).
"""

from __future__ import annotations

import enum
import functools
import types
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import tzinfo
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from schemas.events import HarmLevel, IncidentType
from services.feeds.mapfile import MappingInvalid, NodeReader
from services.feeds.record import Problem

MAPPING_FILE = "reporting.yaml"
# Codes are short picklist values; anything longer is a description in the wrong column,
# and is refused rather than kept as a raw code.
MAX_CODE = 64


def normalise(code: str) -> str:
    """How a code is compared: "Severe_Harm", "severe-harm" and " SEVERE harm " are one
    picklist value typed three ways, and must not need three lines in the mapping."""
    return " ".join(code.replace("_", " ").replace("-", " ").casefold().split())


class Field(enum.StrEnum):
    """What the adapter reads from a report; each is named in the source's terms by the
    mapping (a JSON path or a CSV column)."""

    report_id = "report_id"
    occurred_at = "occurred_at"
    unit = "unit"
    event_type = "event_type"
    harm_scale = "harm_scale"
    harm = "harm"
    staff = "staff"


@dataclass(frozen=True)
class HarmScale:
    name: str  # as the mapping spells it: the prefix of raw_harm ("NCC MERP:F")
    codes: Mapping[str, HarmLevel]  # normalised code -> our level


@dataclass(frozen=True)
class CsvFormat:
    columns: Mapping[Field, str]
    encoding: str = "utf-8-sig"  # the BOM a spreadsheet export starts with is dropped
    delimiter: str = ","
    staff_separator: str = ";"


@dataclass(frozen=True)
class JsonFormat:
    fields: Mapping[Field, str]  # dotted paths
    staff_id: str = "id"
    staff_role: str = "role"


@dataclass(frozen=True)
class ReportingMapping:
    """A loaded, checked mapping file. Build it with `load_mapping` or `default_mapping`."""

    scales: Mapping[str, HarmScale]  # normalised name or alias -> scale
    event_types: Mapping[str, IncidentType]  # normalised source type -> ours
    unknown_event_type: IncidentType | None  # None: a report of an unmapped type is refused
    default_harm_scale: HarmScale | None
    timezone: tzinfo | None  # None: a time without an offset is refused
    time_formats: tuple[str, ...]
    staff_system: str | None  # None: the staff column holds our staff ids
    json: JsonFormat
    csv: CsvFormat


_TOP = {
    "version",
    "timezone",
    "time_formats",
    "staff_system",
    "unknown_event_type",
    "default_harm_scale",
    "harm_scales",
    "event_types",
    "json",
    "csv",
}


def load_mapping(source: str | Path, *, name: str | None = None) -> ReportingMapping:
    """A mapping from YAML text or a file; MappingInvalid names every bad line."""
    if isinstance(source, Path):
        name = name or source.name
        text = source.read_text(encoding="utf-8")
    else:
        text = source
    reader = NodeReader(name or MAPPING_FILE, same_key=normalise)
    root = reader.compose(text)
    if root is None:
        raise MappingInvalid([Problem(reader.name, "empty: a mapping file is required")])
    mapping = _read_mapping(reader, root)
    reader.done()
    assert mapping is not None  # no problems were found, so everything was read
    return mapping


@functools.cache
def default_mapping() -> ReportingMapping:
    """The shipped mapping (NCC MERP, AHRQ, the Common Formats event categories)."""
    text = resources.files("services.feeds").joinpath("mappings", MAPPING_FILE).read_text()
    return load_mapping(text)


def _read_mapping(r: NodeReader, root: yaml.Node) -> ReportingMapping | None:
    top = r.items(root, "")
    for key, node in top.items():
        if key not in _TOP:
            r.refuse(node, key, f"not a setting of this file (expected one of {sorted(_TOP)})")
    for key in ("version", "harm_scales", "event_types"):
        if key not in top:
            r.refuse(root, key, "missing")
    if "version" in top and r.text(top["version"], "version") != "1":
        r.refuse(top["version"], "version", "this loader reads version 1")

    zone: tzinfo | None = None
    if "timezone" in top:
        zone_name = r.text(top["timezone"], "timezone", nullable=True)
        if zone_name is not None:
            try:
                zone = ZoneInfo(zone_name)
            except (ZoneInfoNotFoundError, ValueError):
                r.refuse(top["timezone"], "timezone", "not an IANA time zone name")
    formats = tuple(r.texts(top["time_formats"], "time_formats")) if "time_formats" in top else ()
    staff_system = None
    if "staff_system" in top:
        staff_system = r.text(top["staff_system"], "staff_system", nullable=True)
        if staff_system is not None and not 0 < len(staff_system.strip()) <= 200:
            r.refuse(top["staff_system"], "staff_system", "must be 1 to 200 characters, or null")

    scales = _read_scales(r, top["harm_scales"]) if "harm_scales" in top else {}
    default_scale: HarmScale | None = None
    if "default_harm_scale" in top:
        name = r.text(top["default_harm_scale"], "default_harm_scale", nullable=True)
        if name is not None:
            default_scale = scales.get(normalise(name))
            if default_scale is None:
                r.refuse(top["default_harm_scale"], "default_harm_scale", "names no harm scale")

    events: dict[str, IncidentType] = {}
    if "event_types" in top:
        for code, node in r.items(top["event_types"], "event_types").items():
            target = _event_target(r, node, f"event_types.{code}")
            if target is not None:
                events[normalise(code)] = target
    unknown: IncidentType | None = IncidentType.other
    if "unknown_event_type" in top:
        node = top["unknown_event_type"]
        if isinstance(node, yaml.ScalarNode) and node.value == "refuse":
            unknown = None
        else:
            unknown = _event_target(r, node, "unknown_event_type", also="refuse")

    json_format = _read_json(r, top["json"]) if "json" in top else JsonFormat(_default_fields())
    csv_format = _read_csv(r, top["csv"]) if "csv" in top else CsvFormat(_default_fields())
    if r.problems:
        return None
    return ReportingMapping(
        scales=types.MappingProxyType(scales),
        event_types=types.MappingProxyType(events),
        unknown_event_type=unknown,
        default_harm_scale=default_scale,
        timezone=zone,
        time_formats=formats,
        staff_system=staff_system,
        json=json_format,
        csv=csv_format,
    )


def _event_target(r: NodeReader, node: yaml.Node, path: str, also: str = "") -> IncidentType | None:
    return r.member(IncidentType, node, path, "an event type of ours", also)


def _read_scales(r: NodeReader, node: yaml.Node) -> dict[str, HarmScale]:
    scales: dict[str, HarmScale] = {}
    for name, scale_node in r.items(node, "harm_scales").items():
        path = f"harm_scales.{name}"
        parts = r.items(scale_node, path)
        for key, part in parts.items():
            if key not in ("aliases", "codes"):
                r.refuse(part, f"{path}.{key}", "not a setting of a harm scale (aliases, codes)")
        if "codes" not in parts:
            r.refuse(scale_node, f"{path}.codes", "missing")
            continue
        codes: dict[str, HarmLevel] = {}
        for code, target in r.items(parts["codes"], f"{path}.codes").items():
            level = r.member(HarmLevel, target, f"{path}.codes.{code}", "a harm level of ours")
            if level is not None:
                codes[normalise(code)] = level
        if len(name) > MAX_CODE:
            r.refuse(scale_node, path, f"a scale's name is at most {MAX_CODE} characters")
        scale = HarmScale(name=name, codes=types.MappingProxyType(codes))
        aliases = r.texts(parts["aliases"], f"{path}.aliases") if "aliases" in parts else []
        for alias in [name, *aliases]:
            if normalise(alias) in scales:
                r.refuse(scale_node, path, "a name or alias already names another harm scale")
            scales[normalise(alias)] = scale
    return scales


def _default_fields() -> Mapping[Field, str]:
    return types.MappingProxyType({f: f.value for f in Field})


def _read_fields(
    r: NodeReader, parts: dict[str, yaml.Node], path: str, extra: set[str]
) -> dict[Field, str]:
    fields = dict(_default_fields())
    for key, node in parts.items():
        if key in extra:
            continue
        try:
            target = Field(key)
        except ValueError:
            allowed = sorted({*Field, *extra})
            r.refuse(node, f"{path}.{key}", f"not a field the adapter reads (expected {allowed})")
            continue
        name = r.text(node, f"{path}.{key}")
        if name is not None:
            fields[target] = name.strip()
    return fields


def _read_json(r: NodeReader, node: yaml.Node) -> JsonFormat:
    parts = r.items(node, "json")
    fields = _read_fields(r, parts, "json", {"staff_id", "staff_role"})
    staff_id = r.text(parts["staff_id"], "json.staff_id") if "staff_id" in parts else None
    role = r.text(parts["staff_role"], "json.staff_role") if "staff_role" in parts else None
    return JsonFormat(types.MappingProxyType(fields), staff_id or "id", role or "role")


def _read_csv(r: NodeReader, node: yaml.Node) -> CsvFormat:
    parts = r.items(node, "csv")
    settings = {"encoding", "delimiter", "staff_separator", "columns"}
    for key, part in parts.items():
        if key not in settings:
            r.refuse(
                part, f"csv.{key}", f"not a setting of the export (expected {sorted(settings)})"
            )
    columns = (
        _read_fields(r, r.items(parts["columns"], "csv.columns"), "csv.columns", set())
        if "columns" in parts
        else dict(_default_fields())
    )
    chosen: dict[str, str] = {}
    for key in ("encoding", "delimiter", "staff_separator"):
        if key in parts:
            value = r.text(parts[key], f"csv.{key}")
            if value is not None:
                chosen[key] = value
    for key in ("delimiter", "staff_separator"):
        if key in chosen and len(chosen[key]) != 1:
            r.refuse(parts[key], f"csv.{key}", "must be one character")
    if "encoding" in chosen:
        try:
            "".encode(chosen["encoding"])
        except LookupError:
            r.refuse(parts["encoding"], "csv.encoding", "not a text encoding Python knows")
    return CsvFormat(types.MappingProxyType(columns), **chosen)
