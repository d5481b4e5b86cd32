"""Prometheus metrics: the numbers an on-call engineer checks when pages seem late."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

INCIDENTS = Counter("svrr_incidents_total", "Incidents logged", ["outcome"])
PAGES = Counter("svrr_pages_total", "Page send attempts by outcome", ["outcome"])
MESSAGES = Counter("svrr_messages_total", "Non-page SMS send attempts by outcome", ["outcome"])
DEADLINES = Counter("svrr_deadlines_fired_total", "Deadlines fired by kind and outcome", ["kind"])
SEND_SECONDS = Histogram(
    "svrr_twilio_send_seconds",
    "Time for Twilio (or the stand-in) to accept a message",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RELAYED = Counter("svrr_outbox_published_total", "Outbox rows published to Kafka", ["relay"])
DEAD_LETTERS = Counter("svrr_dead_letters_total", "Events parked in dead_letters", ["topic"])
FEED_RECORDS = Counter(
    "svrr_feed_records_total",
    "Feed records taken, by what became of them",
    ["source", "feed", "disposition"],
)
FEED_REFUSED = Counter(
    "svrr_feed_refused_total", "Feed records refused to their sender", ["source", "feed"]
)
