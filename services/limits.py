"""Abuse limits: how much one caller may ask of the product, and how many answers one number
the product does not know may get.

Why limits per caller: the intake and the webhooks are open to integrations and to anyone who
can send an SMS. One runaway integration (a retry loop, a replayed export), a flood of made-up
tokens or one handset sending without end must not take the store, the worker or the other
callers down with it. Who the caller is:

- an integration token, for the API's intake (POST /incidents, its fast lane included) and the
  feed routes (/fhir*, /feeds/*): `intake`, keyed by the token's id;
- the sender's number, for Twilio's inbound SMS webhook, counted only once Twilio's signature
  has been checked (a forged form must not spend a real peer's allowance): `sms_sender`;
- the source address, for anything that is not a known token: a missing bearer, an unknown
  one, or one this process has not seen in the last few seconds and must look up in the store
  (services.identity.tokens caches lookups): `credentials`. A token already known to this
  process costs nothing and is never refused here, so an integration behind the same address
  as a flood keeps working.

Over its limit a caller is answered 429 with Retry-After (whole seconds until a request would
be admitted again), before any body is read where the caller is known from the headers (the
Gatekeeper and the fast lanes, services/auth.py and services/api_lanes.py), as an
OperationOutcome on /fhir paths. A refused request writes nothing.

Never limited: Twilio's delivery status callbacks. Twilio does not reliably retry a status
callback it was refused (a 429 is an HTTP error to it: the status is logged in its debugger
and dropped), and a lost `failed` or `undelivered` would leave a case waiting out its step
instead of moving on to the next peer at once. A callback is signed by Twilio, capped at 64
KiB before it is read, and costs the API a share of one group-committed insert
(services.paging.views.CallbackWriter): there is nothing for a limit to protect.

Inbound SMS over the sender's limit are answered 429 too: Twilio does not retry an inbound
message webhook either (it tries the number's fallback URL, if one is set, and shows error
11200), so such a message is dropped. No person reaches the default (30 at once, then one
every two seconds); an auto-responder or a scripted flood does. One exception: a message
that signals crisis is kept whatever the limit (services/paging/views.py), because a missed
crisis is the worst outcome the product has.

How: a token bucket per key, in this process's memory (`RateLimiter`). Each API process
counts on its own, so with N API processes behind a balancer a caller gets up to N times the
configured rate; the limits exist to stop floods, not to meter fair use, and a check costs a
dict lookup and a little arithmetic (well under a microsecond), which the hot lanes can
afford where a store round trip per request could not. A key idle long enough to be full
again is forgotten; past `MAX_KEYS` keys the oldest are dropped (a flood from very many
addresses then gets fresh buckets, never another caller's).

The answers to unknown numbers are different: they are counted in the store (the messages
table), so the cap holds across worker processes and restarts. See `may_answer_unknown`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Hashable
from dataclasses import dataclass

from prometheus_client import Counter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.config import Settings, get_settings
from services.logs import log
from services.sealing import keyring_of

# Keys kept per limiter before idle ones are pruned (and, if that is not enough, the oldest).
MAX_KEYS = 10_000

LIMITED = Counter(
    "svrr_rate_limited_total", "Requests and answers refused by an abuse limit", ["limit"]
)


class RateLimiter:
    """A token bucket per key: `burst` requests at once, then `per_second` on average.

    Off when `per_second` is 0 or less: every take() admits. Not thread-safe; the API's
    requests all run on one event loop, and take() never awaits.
    """

    __slots__ = ("name", "per_second", "burst", "max_keys", "_buckets")

    def __init__(self, name: str, per_second: float, burst: int, max_keys: int = MAX_KEYS) -> None:
        self.name = name
        self.per_second = float(per_second)
        self.burst = float(max(1, burst))
        self.max_keys = max_keys
        # key -> [tokens left, when last counted (monotonic s), refused since last admitted]
        self._buckets: dict[Hashable, list[float]] = {}

    @property
    def enabled(self) -> bool:
        return self.per_second > 0

    def take(self, key: Hashable, now: float | None = None) -> float:
        """Spend one request of `key`'s allowance: 0.0 when admitted, else the seconds until
        one would be (nothing is spent by a refused request, so a caller that keeps trying
        does not push its own wait further out)."""
        if self.per_second <= 0:
            return 0.0
        at = time.monotonic() if now is None else now
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._prune(at)
            self._buckets[key] = [self.burst - 1.0, at, 0.0]
            return 0.0
        tokens = min(self.burst, bucket[0] + (at - bucket[1]) * self.per_second)
        bucket[1] = at
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            bucket[2] = 0.0
            return 0.0
        bucket[0] = tokens
        wait = (1.0 - tokens) / self.per_second
        if not bucket[2]:
            # Logged when a caller is first refused, not per refused request: a flood must
            # not become a flood of log lines. The key (a token id, a number, an address) is
            # never logged; the metric counts every refusal.
            log().warning("limits.refused", limit=self.name, retry_after=retry_after(wait))
        bucket[2] = 1.0
        LIMITED.labels(self.name).inc()
        return wait

    def give_back(self, key: Hashable) -> None:
        """Return one request to `key`'s allowance: what was admitted turned out to cost
        nothing (a redelivery of a message already held), and must not count against the
        next one the caller really sends."""
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket[0] = min(self.burst, bucket[0] + 1.0)

    def _prune(self, at: float) -> None:
        """Forget buckets that have refilled (they would start full anyway); if that frees
        too little, the oldest half."""
        full = [
            k
            for k, (tokens, stamp, _) in self._buckets.items()
            if tokens + (at - stamp) * self.per_second >= self.burst
        ]
        for k in full:
            del self._buckets[k]
        if len(self._buckets) >= self.max_keys:
            for k in list(self._buckets)[: len(self._buckets) // 2]:
                del self._buckets[k]

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after(wait_s: float) -> int:
    """Retry-After in whole seconds, never 0 (0 would invite an immediate retry)."""
    return max(1, math.ceil(wait_s))


@dataclass(frozen=True)
class Limits:
    """This process's limiters, made from the settings (services/config.py)."""

    intake: RateLimiter
    sms_sender: RateLimiter
    credentials: RateLimiter

    @classmethod
    def from_settings(cls, s: Settings) -> Limits:
        return cls(
            intake=RateLimiter("intake_per_token", s.intake_per_second, s.intake_burst),
            sms_sender=RateLimiter(
                "sms_per_sender", s.sms_per_sender_per_minute / 60.0, s.sms_per_sender_burst
            ),
            credentials=RateLimiter(
                "unknown_credentials_per_address",
                s.unknown_credentials_per_minute / 60.0,
                s.unknown_credentials_burst,
            ),
        )


_limits: Limits | None = None


def limits() -> Limits:
    """The process's limiters, made on first use."""
    global _limits
    if _limits is None:
        _limits = Limits.from_settings(get_settings())
    return _limits


def reset() -> None:
    """Forget every bucket and read the settings again on next use (tests, after a change of
    settings; a process reads its settings once)."""
    global _limits
    _limits = None


# Paths whose requests are intake, counted per token (services.auth.Gatekeeper and the
# incident lane). GET /incidents/{id} and the involvement decisions are not intake.
def is_intake(method: str, path: str) -> bool:
    if path == "/incidents":
        return method == "POST"
    return path == "/fhir" or path.startswith(("/fhir/", "/feeds/"))


# --- answers to a number the product does not know ------------------------------------------

# Every message to the number made in the window, and how many were crisis replies. The
# store's own clock on both sides (created_at is the insert's now()): a window in real time,
# whatever clock the tiered response runs on. `:n` is the number's lookup value
# (services.sealing), which messages.to_number_key holds, indexed.
_ANSWERED = text(
    "SELECT count(*), count(*) FILTER (WHERE kind = 'crisis_reply') FROM messages "
    "WHERE to_number_key = :n AND created_at > now() - make_interval(hours => :h)"
)
# One answer decision per number at a time, across worker processes: two messages from the
# same number read in parallel must not both see room for the last answer.
_SERIALISE = text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))")


_HELPED = text(
    "SELECT count(*) FROM messages WHERE to_number_key = :n AND kind = 'help' "
    "AND created_at > now() - make_interval(hours => :h)"
)


async def may_send_help(session: AsyncSession, number: str, settings: Settings) -> bool:
    """Whether one more help text may go to `number` (anyone's: a clinician's or a peer's
    phone as much as a stranger's): at most `help_answers_per_number` in
    `help_answer_hours`, counted in the store, under the number's lock as
    may_answer_unknown counts. Why: a help text answers a message we did not understand,
    and an auto-responder's message is never understood, so without a cap the two phones
    would text each other for ever."""
    key = keyring_of(session).lookup(number)
    await session.execute(_SERIALISE, {"k": f"svrr:answers:{key}"})
    sent = await session.scalar(_HELPED, {"n": key, "h": settings.help_answer_hours})
    if int(sent or 0) < settings.help_answers_per_number:
        return True
    LIMITED.labels("help_answers_per_number").inc()
    return False


async def may_answer_unknown(
    session: AsyncSession, number: str, settings: Settings, *, crisis: bool = False
) -> bool:
    """Whether the product may answer one more SMS from `number`, a number it does not know
    (no staff record, no page to it): at most `unknown_number_replies` answers in
    `unknown_number_reply_hours`, counted in the store.

    Why: an unknown number gets the help text, and an auto-responder ("I am away", a shop's
    bot, a carrier's notice) answers that, which gets the help text again, for ever, each
    round an SMS both ways. With the cap the loop ends after that many answers and stays
    ended, on every worker and after a restart, until the window has passed.

    A crisis reply may go once per window even over the cap: a person in crisis who wrote
    to the wrong number three times still gets the crisis line (the coordinator is told
    whether or not). An auto-responder that echoes the crisis reply therefore gets at most
    one more answer: the loop still ends.

    Takes a transaction-scoped lock on the number, so the count and the answer it allows
    commit together (the caller queues the answer in the same transaction).
    """
    cap = settings.unknown_number_replies
    key = keyring_of(session).lookup(number)
    await session.execute(_SERIALISE, {"k": f"svrr:answers:{key}"})
    total, crisis_replies = (
        await session.execute(_ANSWERED, {"n": key, "h": settings.unknown_number_reply_hours})
    ).one()
    if total < cap or (crisis and not crisis_replies):
        return True
    LIMITED.labels("answers_per_unknown_number").inc()
    return False
