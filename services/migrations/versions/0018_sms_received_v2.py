"""inbound SMS events are claim checks (SmsReceived v2): the v1 events leave the outbox

Why: an SmsReceived v1 event carried the sender's number and what they wrote, so both sat in
the outbox's JSONB, outside the sealed columns, for as long as the outbox keeps a row. The
v1 rows are deleted. A reply the old worker never acted on (its v1 event not yet published,
or published and not consumed before the upgrade) gets a v2 event naming its row, on the v2
topic of the same deployment (the v1 topic's name with its prefix), so the upgrade loses no
reply; one the old worker acted on meanwhile is a redelivery, which changes nothing. Nothing
reads the v1 topic any more: its records expire with its retention.

Downgrade changes nothing: the v1 events held what is no longer kept, and the v1 code reads
no v2 event (a reply still unhandled then waits for the next upgrade).

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 21:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

V1 = "svrr.sms-received.v1"
V2 = "svrr.sms-received.v2"

# The v2 event of every unhandled reply with a v1 event in the outbox, in the shape of
# schemas/json/SmsReceived.v2.schema.json, keyed by the sender's lookup value (0016).
REQUEUE = f"""
INSERT INTO outbox (topic, key, payload)
SELECT DISTINCT ON (s.id)
       left(o.topic, length(o.topic) - length('{V1}')) || '{V2}',
       s.from_number_key,
       jsonb_build_object(
           'schema_version', 2, 'event_id', gen_random_uuid(), 'emitted_at', now(),
           'event', 'SmsReceived', 'sms_id', s.id, 'provider_sid', s.provider_sid,
           'sender', s.from_number_key)
FROM outbox o
JOIN inbound_sms s ON CAST(s.id AS text) = o.payload->>'sms_id'
WHERE o.topic LIKE '%{V1}' AND s.handled_at IS NULL
  AND s.from_number_key IS NOT NULL AND s.body IS NOT NULL
ORDER BY s.id, o.id
"""
FORGET = f"DELETE FROM outbox WHERE topic LIKE '%{V1}'"


def upgrade() -> None:
    op.execute(REQUEUE)
    op.execute(FORGET)


def downgrade() -> None:
    pass
