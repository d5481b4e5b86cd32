"""What every part of the Twilio stand-in shares: Twilio's constants and wire formats.

Why one module: the Messages API, the lifecycle and the webhooks must agree on how Twilio
spells a date, a sid, a segment count or an error body, or the real `twilio` library would
see two different Twilios.
"""

from __future__ import annotations

import functools
import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Literal
from urllib.parse import urlsplit

from fastapi.responses import JSONResponse

# Webhooks in flight at once (see CallbackPoster).
POSTING_AT_ONCE = 32
API_VERSION = "2010-04-01"
# Same dev default as services/config.py so an unconfigured product and stand-in agree.
DEFAULT_ACCOUNT_SID = "AC" + "0" * 32
DEFAULT_AUTH_TOKEN = "dev-auth-token"
# Twilio's magic "valid sender" test number; used as the pool sender for MessagingServiceSid.
DEFAULT_SERVICE_SENDER = "+15005550006"
MAX_BODY_CHARS = 1600
ERRORS_DOC = "https://www.twilio.com/docs/errors/{code}"

E164 = re.compile(r"^\+[1-9]\d{1,14}$")
SHORT_CODE = re.compile(r"^\d{3,8}$")
ALPHA_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
ACCOUNT_SID_RE = re.compile(r"^AC[0-9a-f]{32}$")
SERVICE_SID_RE = re.compile(r"^MG[0-9a-f]{32}$")

# GSM 03.38: decides whether a body is billed in 160/153-char or 70/67-char segments.
GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = set("^{}\\[~]|€\f")

# "sent": the carrier never confirms, so the message stays 'sent' (no final callback).
DeliveryOutcome = Literal["delivered", "undelivered", "failed", "sent"]
CallbackStatus = Literal[
    "accepted", "queued", "sending", "sent", "delivered", "undelivered", "failed", "read"
]


def mask_number(number: str | None) -> str | None:
    """Keep enough of a number to tell recipients apart in a log, never the whole number."""
    if not number:
        return number
    if len(number) < 9:
        return "***" + number[-2:] if len(number) > 4 else "***"
    return f"{number[:5]}***{number[-4:]}"


def utcnow() -> datetime:
    return datetime.now(UTC)


def rfc2822(dt: datetime | None) -> str | None:
    """Twilio renders every resource date as RFC 2822 in GMT; the library parses only that."""
    return _rfc2822_second(int(dt.timestamp())) if dt else None


@functools.lru_cache(maxsize=64)
def _rfc2822_second(second: int) -> str:
    """Formatting is dear next to the rest of a message; a burst's share the same seconds."""
    return format_datetime(datetime.fromtimestamp(second, UTC))


def iso_micro(dt: datetime | None) -> str | None:
    """Always six fractional digits, so latency measurements never lose precision."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if dt else None


def new_sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def count_segments(body: str) -> int:
    """Segment count matters to callers that budget SMS cost and to Twilio's num_segments."""
    if not body:
        return 1
    if all(ch in GSM_BASIC or ch in GSM_EXTENDED for ch in body):
        septets = sum(2 if ch in GSM_EXTENDED else 1 for ch in body)
        return 1 if septets <= 160 else math.ceil(septets / 153)
    units = len(body.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


def country_of(number: str) -> str | None:
    """Twilio adds FromCountry/ToCountry to inbound webhooks; +1 is all the product uses."""
    return "US" if number.startswith("+1") else None


def fix_plus(value: str | None) -> str | None:
    """An unencoded '+' in a query string arrives as a space; undo that for phone numbers."""
    if value and value.startswith(" ") and value[1:].isdigit():
        return "+" + value[1:]
    return value


def url_for_log(url: str) -> str:
    """Query strings may hold secrets (e.g. tokens in callback URLs); log scheme/host/path."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def twilio_error(status: int, code: int, message: str, **headers: str) -> JSONResponse:
    """Shaped like Twilio's error body so TwilioRestException carries the right code."""
    body = {
        "code": code,
        "message": message,
        "more_info": ERRORS_DOC.format(code=code),
        "status": status,
    }
    return JSONResponse(body, status_code=status, headers=headers or None)


class DateFilterError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Answer:
    """What the product's webhook answered: the stand-in reads its status and TwiML only."""

    status_code: int
    text: str

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300


class WebhookError(Exception):
    """The webhook gave no answer; the text names the failure (ConnectError, Timeout...)."""


def parse_date_filter(raw: str) -> datetime:
    """Parse a DateSent value into an aware UTC datetime.

    Twilio documents YYYY-MM-DD but accepts full timestamps, and the Python library sends
    `%Y-%m-%dT%H:%M:%SZ`, so both must work or reconciliation silently widens to a day.
    """
    try:
        parsed = datetime.fromisoformat(raw.strip())  # YYYY-MM-DD parses as midnight
    except ValueError as exc:
        raise DateFilterError(raw) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
