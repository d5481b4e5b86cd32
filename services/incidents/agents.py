"""From a reported incident to its first SMS: the worker's hot path, in one direction.

    incident-reported (Kafka, in batches)
      -> one transaction: involvement, a case per clinician, Tier 1 prompts, the best peer
         for each case, pages born claimed, escalation deadlines, every event
         (involvement.identify_many, outreach.start_outreach_many, cases.dispatch)
      -> the batch's SMS, several at once, outcomes recorded in one transaction
         (paging.sending.send_new -> notifiers.sms -> Twilio)

Whatever has arrived is one batch (natural batching, events.consume.take_batches): at a
steady trickle that is one incident, taken at once; in a burst, the hundreds that arrived
while the previous batch was written. A batch of any size costs about the same number of
statements (six without Tier 1 leads: record involvement and open the cases, lock the
chosen peers, count their load, reply codes' lock and read, write everything else). The
matching context, units and policies are kept across batches while the store's counters
say nothing they were read from changed (people.matching.ContextCache). Sending is not
waited for before the next batch is read: a few batches' SMS may be in flight at once, so a
burst's reading, writing and sending overlap.

If the worker dies after the commit and before the SMS are recorded, the pages' claims go
stale and the page sweep reconciles them against the provider's log; if it dies before
the commit, Kafka delivers the incidents again and nothing was written.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import faust

from events.app import app, incident_reported, settings
from events.consume import handle_batch, take_batches
from schemas.events import Event, IncidentReported
from services import clock
from services.cases import dispatch, outreach
from services.db import transaction
from services.incidents import involvement
from services.logs import log
from services.paging import sending
from services.people.matching import ContextCache

# Up to this many incidents in one transaction; a larger burst is several batches.
BATCH = 500
# How long a batch waits at most for incidents already delivered to the agent's stream.
WITHIN_S = 0.004
# Batches whose SMS are being sent while the next is read and written.
SENDS_IN_FLIGHT = 4

# The worker's matching context, shared by every agent and timer in this process.
contexts = ContextCache(settings.match_other_unit)
sends = sending.Background(SENDS_IN_FLIGHT)


async def open_and_page(incidents: list[IncidentReported]) -> None:
    at = clock.now()
    async with transaction() as session:
        # The incidents' events are written with the pages' (one statement for all), and
        # what outreach needs of the cases opened is read as they are opened.
        events: list[Event] = []
        opened: list[involvement.Opened] = []
        needs = await involvement.identify_many(
            session, incidents, settings.group_debrief_threshold, events=events, opened=opened
        )
        done = await outreach.start_outreach_many(
            session, needs, settings, contexts, claim=True, at=at, queued=events, opened=opened
        )
    log().info("staff.identified", incidents=len(incidents), cases=len(needs))
    dispatch.log_pages(done.pages)
    await sends.start(dispatch.bundle(done.pages, at))


@app.agent(incident_reported)
async def identify_staff(stream: faust.StreamT[bytes]) -> AsyncIterator[str]:
    async for batch in take_batches(stream, BATCH, WITHIN_S):
        for outcome in await handle_batch(IncidentReported, batch, open_and_page):
            yield outcome
