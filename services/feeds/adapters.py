"""A configured feed's adapters: the one place a feed's settings become an adapter's options.

Why one place: the routes (views.py), the replay of kept refusals (replay.py) and any later
reader must read a feed the same way, or a record refused on the route would be taken on
replay (or the reverse) for a reason nobody could see. A feed's own mapping file is read
once per process and path.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

from services.feeds import codeblue, fhir, hl7v2, reporting
from services.feeds.config import FeedSettings
from services.feeds.record import FeedRecord, FeedRefused, Problem, Source
from services.feeds.reporting_mapping import ReportingMapping, default_mapping
from services.feeds.reporting_mapping import load_mapping as reporting_mapping_file


@cache
def _reporting_file(path: Path) -> ReportingMapping:
    return reporting_mapping_file(path)


def reporting_mapping(settings: FeedSettings) -> ReportingMapping:
    """The feed's own mapping (config: `mapping`) or the shipped one, reading times
    without an offset in the feed's zone when the mapping names none (config: `zone`)."""
    mapping = default_mapping() if settings.mapping is None else _reporting_file(settings.mapping)
    if mapping.timezone is None:
        mapping = replace(mapping, timezone=settings.zone)
    return mapping


@cache
def _fhir_mapping(path: Path) -> fhir.CodeMapping:
    return fhir.load_mapping(path.read_text(encoding="utf-8"), origin=path.name)


def fhir_feed(settings: FeedSettings) -> fhir.FhirFeed:
    """The adapter's view of a configured feed: identifiers in the systems that hold our
    staff ids are preferred when a practitioner has several; the feed's own code mapping
    (config: `mapping`) or the shipped one."""
    mapping = None if settings.mapping is None else _fhir_mapping(settings.mapping)
    systems = tuple(sorted(settings.staff_id_systems))
    return fhir.FhirFeed(settings.feed, staff_systems=systems, mapping=mapping)


def read_kept(settings: FeedSettings, kept: Mapping[str, Any]) -> list[FeedRecord]:
    """The records a kept refusal (services/feeds/redact.py, redact_hl7.py) reads as today,
    through the feed's adapter as configured now: FeedRefused when it still cannot be
    read, with the adapter's problems."""
    fmt = kept.get("format")
    body = kept.get("body")
    if settings.source is Source.fhir and fmt == "fhir":
        version = kept.get("fhir_version")
        return fhir.read(body, fhir_feed(settings), fhir_version=version)  # type: ignore[arg-type]
    if settings.source is Source.reporting and fmt == "json":
        return reporting.from_webhook(body, feed=settings.feed, mapping=reporting_mapping(settings))  # type: ignore[arg-type]
    if settings.source is Source.reporting and fmt == "csv":
        return _csv_row(settings, kept)
    if settings.source is Source.code_blue and fmt == "json":
        return codeblue.from_webhook(
            body,  # type: ignore[arg-type]
            feed=settings.feed,
            staff_system=settings.staff_system,
            default_zone=settings.zone,
        )
    if settings.source is Source.hl7v2 and fmt == "hl7v2-er7":
        return hl7v2.read(
            str(kept.get("message", "")),
            feed=settings.feed,
            zone=settings.zone,
            staff_system=settings.staff_system,
            triggers=settings.hl7_triggers,
        )
    raise FeedRefused(
        [Problem("kept", f"a {fmt} record is not one the {settings.source} feed reads")]
    )


def _csv_row(settings: FeedSettings, kept: Mapping[str, Any]) -> list[FeedRecord]:
    """A kept CSV row is its cells by column name: written back as a one-row export with the
    mapping's own dialect, so the adapter reads it exactly as it read the export."""
    mapping = reporting_mapping(settings)
    cells: Mapping[str, str] = kept.get("cells") or {}
    out = io.StringIO()
    writer = csv.writer(out, delimiter=mapping.csv.delimiter)
    writer.writerow(list(cells))
    writer.writerow(list(cells.values()))
    result = reporting.from_csv(out.getvalue(), feed=settings.feed, mapping=mapping)
    if result.problems:
        raise FeedRefused(list(result.problems))
    return list(result.records)
