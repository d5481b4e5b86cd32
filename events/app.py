"""The one Faust app. Start it with `faust -A events.app worker -l info`.

Topics are created by deploy/topics.py from schemas/topics.py; the app never declares them,
so a missing topic is a loud error instead of one made with the broker's defaults.
"""

from __future__ import annotations

from pathlib import Path

import faust
import mode

from schemas.events import Event, IncidentReported, SmsReceived
from schemas.topics import topic_name
from services import logs
from services.config import get_settings
from services.outbox import Relay

settings = get_settings()
logs.configure(settings.log_format, settings.log_level)
# Faust creates its own data folder but not the folders above it.
Path(settings.faust_datadir).parent.mkdir(parents=True, exist_ok=True)

app = faust.App(
    settings.worker_id,
    broker=[f"kafka://{h}" for h in settings.kafka_bootstrap_servers.split(",")],
    # Agents and timers live next to their domain (Faust's recommended layout).
    autodiscover=[
        "services.incidents.agents",
        "services.cases.agents",
        "services.paging.agents",
        "services.feeds.raw_topic",
    ],
    origin="events",
    value_serializer="raw",
    key_serializer="raw",
    topic_allow_declare=False,
    topic_disable_leader=True,
    consumer_auto_offset_reset="earliest",
    datadir=settings.faust_datadir,
    web_host="127.0.0.1",
    web_port=settings.worker_web_port,
    producer_acks=-1,
    # A crashed worker's partitions move to a live one after this long, not Kafka's default
    # 45 s: pages waiting behind a dead consumer are late pages.
    broker_session_timeout=10.0,
    broker_heartbeat_interval=3.0,
)


def topic(contract: type[Event]) -> faust.TopicT:
    return app.topic(topic_name(contract), value_serializer="raw", key_serializer="raw")


# The only topics the worker consumes. The others (cases, pages, involvement) carry
# notifications and the audit trail for other consumers; the product's own work follows
# the store, so nothing here reads back an event it wrote.
incident_reported = topic(IncidentReported)
sms_received = topic(SmsReceived)


@app.page("/metrics")
async def metrics(self: faust.web.View, request: faust.web.Request) -> faust.web.Response:
    """The worker's counters (pages sent, relayed events, dead letters) for Prometheus."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return self.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])


@app.service
class OutboxRelay(mode.Service):
    """The worker's outbox relay: events its agents stored reach Kafka even if the API is down."""

    relay: Relay

    async def on_start(self) -> None:
        self.relay = Relay(settings.database_url, settings.kafka_bootstrap_servers, name="worker")
        self.add_future(self.relay.run())

    async def on_stop(self) -> None:
        from services.incidents.agents import sends

        await sends.drain()
        self.relay.stop()
        # Close the Twilio HTTP session and the store's pool with the worker, not after it.
        from services.db import async_engine
        from services.paging import sending

        await sending.close()
        await async_engine().dispose()
