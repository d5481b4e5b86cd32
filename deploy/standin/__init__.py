"""A local stand-in for the slice of Twilio's Messages API the product uses.

Why it exists: the real Twilio API cannot be reached from development and CI machines, and
paging behaviour (status callbacks, failed deliveries, peer replies, crash reconciliation)
has to be exercised end to end with the real `twilio` library. Like GoAlert's Twilio mock it
records outbound messages, walks them through Twilio's status lifecycle, posts status
callbacks and inbound replies signed exactly as Twilio signs them, and offers a small JSON
control API (`/_standin/...`) so tests and demos can script recipients, and a "phones" page
(`/_standin/phones`) where a person reads each phone's conversation and replies as that
phone.

Its parts, each readable alone: common (Twilio's constants and wire formats), records,
state (the messages and their lifecycle), webhooks (signed posts, callbacks in order),
messages_api (Twilio's REST API), control (the control API), phones (the phones page), app
(the ASGI app), cli (the command line; deploy/twilio_standin.py runs it).

Logs never carry message bodies and only masked phone numbers: the stand-in sees the same
confidential peer-support text as production would.
"""

from .app import create_app
from .common import mask_number

__all__ = ["create_app", "mask_number"]
