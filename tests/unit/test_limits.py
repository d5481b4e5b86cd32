"""The abuse limits (services/limits.py) in process: the token bucket, and the Gatekeeper's
429s per token and per address decided from the headers, before any body is read and before
the store is asked. The real store and webhooks: tests/integration/test_limits.py.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from services import limits
from services.auth import Gatekeeper
from services.identity import tokens
from services.identity.models import Role
from services.identity.principal import Principal
from services.limits import RateLimiter, is_intake, retry_after

# --- the bucket ----------------------------------------------------------------------------


def test_a_burst_is_admitted_then_the_rate() -> None:
    limiter = RateLimiter("t", per_second=2.0, burst=3)
    assert [limiter.take("a", now=100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a", now=100.0) == pytest.approx(0.5)  # one token in half a second
    assert limiter.take("a", now=100.25) == pytest.approx(0.25)
    assert limiter.take("a", now=100.5) == 0.0
    assert limiter.take("a", now=100.5) == pytest.approx(0.5)


def test_a_refused_request_spends_nothing() -> None:
    """A caller that keeps hammering is admitted as soon as one who waited would be."""
    limiter = RateLimiter("t", per_second=1.0, burst=1)
    assert limiter.take("a", now=0.0) == 0.0
    for at in (0.1, 0.2, 0.5, 0.9):
        assert limiter.take("a", now=at) > 0
    assert limiter.take("a", now=1.0) == 0.0


def test_a_request_given_back_is_spent_again_and_never_past_the_burst() -> None:
    limiter = RateLimiter("t", per_second=0.001, burst=2)
    assert [limiter.take("a", now=0.0) for _ in range(2)] == [0.0, 0.0]
    limiter.give_back("a")  # the second was a redelivery
    assert limiter.take("a", now=0.0) == 0.0
    assert limiter.take("a", now=0.0) > 0
    for _ in range(5):
        limiter.give_back("a")
    takes = [limiter.take("a", now=0.0) for _ in range(3)]
    assert takes[:2] == [0.0, 0.0] and takes[2] > 0  # given back up to the burst, no more
    limiter.give_back("nobody")  # a caller never seen: nothing to give back


def test_callers_have_buckets_of_their_own() -> None:
    limiter = RateLimiter("t", per_second=1.0, burst=2)
    for _ in range(2):
        limiter.take("a", now=0.0)
    assert limiter.take("a", now=0.0) > 0
    assert limiter.take("b", now=0.0) == 0.0
    assert limiter.take("b", now=0.0) == 0.0


def test_the_bucket_refills_to_the_burst_and_no_further() -> None:
    limiter = RateLimiter("t", per_second=10.0, burst=5)
    limiter.take("a", now=0.0)
    admitted = 0
    while limiter.take("a", now=3600.0) == 0.0:
        admitted += 1
    assert admitted == 5


def test_a_rate_of_zero_is_off() -> None:
    limiter = RateLimiter("t", per_second=0.0, burst=1)
    assert not limiter.enabled
    assert all(limiter.take("a", now=0.0) == 0.0 for _ in range(10_000))
    assert len(limiter) == 0  # nothing kept either


def test_keys_are_bounded_and_idle_full_ones_go_first() -> None:
    limiter = RateLimiter("t", per_second=1.0, burst=3, max_keys=100)
    for _ in range(3):
        limiter.take("busy", now=1000.0)  # empty: must survive the pruning
    for n in range(99):
        limiter.take(n, now=0.0)  # full again by t=1000
    limiter.take("new", now=1000.0)
    assert len(limiter) <= 100
    assert limiter.take("busy", now=1000.0) > 0  # still refused: its bucket was kept
    for n in range(1000):  # a flood of fresh keys never grows past the bound
        limiter.take(("flood", n), now=1000.0)
    assert len(limiter) <= 100


def test_retry_after_is_whole_seconds_never_zero() -> None:
    assert retry_after(0.001) == 1
    assert retry_after(1.0) == 1
    assert retry_after(1.01) == 2
    assert retry_after(59.5) == 60


@pytest.mark.parametrize(
    ("method", "path", "intake"),
    [
        ("POST", "/incidents", True),
        ("GET", "/incidents/1b4e28ba-2fa1-11d2-883f-0016d3cca427", False),
        ("POST", "/incidents/1b4e28ba-2fa1-11d2-883f-0016d3cca427/involvement/N1", False),
        ("POST", "/fhir", True),
        ("POST", "/fhir/AdverseEvent", True),
        ("POST", "/feeds/reporting/incident-reports", True),
        ("POST", "/feeds/reporting/incident-reports/csv", True),
        ("POST", "/feeds/code-blue/code-team", True),
        ("POST", "/fhirish", False),
        ("POST", "/admin/staff/import", False),
        ("POST", "/twilio/sms", False),
        ("POST", "/twilio/status", False),
    ],
)
def test_what_counts_as_intake(method: str, path: str, intake: bool) -> None:
    assert is_intake(method, path) is intake


def test_a_take_costs_well_under_a_microsecond_or_so() -> None:
    """The hot lanes take one per request; at 500 requests a second even 10 us would be
    0.5% of a core. Measured loosely (a shared VM), the figure goes in the report."""
    limiter = RateLimiter("t", per_second=1e9, burst=10**9)
    n = 200_000
    started = time.perf_counter()
    for _ in range(n):
        limiter.take("token")
    per_take_us = (time.perf_counter() - started) / n * 1e6
    print(f"\nRateLimiter.take: {per_take_us:.3f} us")
    assert per_take_us < 10


# --- the Gatekeeper, before any body and before the store ----------------------------------


@pytest.fixture
def small_limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Limits small enough to reach in a test, read afresh; the defaults back afterwards."""
    from services.config import get_settings

    for name, value in {
        "INTAKE_BURST": "3",
        "INTAKE_PER_SECOND": "0.5",
        "UNKNOWN_CREDENTIALS_BURST": "2",
        "UNKNOWN_CREDENTIALS_PER_MINUTE": "6",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    limits.reset()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()
    limits.reset()


def known(role: Role = Role.risk_manager) -> str:
    """A token this process has looked up a moment ago (its cache): no store needed."""
    token = tokens.new_token()
    who = Principal(kind="token", id=uuid.uuid4(), name="limits test", role=role)
    tokens._cache[tokens.token_hash(token)] = (who, time.monotonic() + 3600)
    return token


def forgotten_bad() -> str:
    """A made-up token this process already knows to be unknown (its negative cache)."""
    token = tokens.new_token()
    tokens._cache[tokens.token_hash(token)] = (None, time.monotonic() + 3600)
    return token


class Reply:
    def __init__(self, sent: list[dict[str, Any]]) -> None:
        start = sent[0]
        self.status: int = start["status"]
        self.headers = {k.decode(): v.decode() for k, v in start["headers"]}
        self.body = b"".join(m.get("body", b"") for m in sent[1:])

    def json(self) -> Any:
        return json.loads(self.body)


async def app_ok(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Stands for the routes: whatever the Gatekeeper lets through is answered 200."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def call(
    app: Any,
    path: str,
    *,
    token: str | None = None,
    address: str = "10.0.0.1",
    method: str = "POST",
    extra: list[tuple[bytes, bytes]] | None = None,
) -> Reply:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"2")]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        raise AssertionError("a refused request's body was read")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers + (extra or []),
        "client": (address, 40000),
        "server": ("127.0.0.1", 8000),
    }
    gate = Gatekeeper(app)
    if app is app_ok:
        # The stand-in routes never read: anything admitted is answered without its body.
        await gate(scope, receive, send)
    else:
        await app(scope, receive, send)
    return Reply(sent)


async def test_a_token_over_its_intake_limit_gets_429_and_another_token_does_not(
    small_limits: None,
) -> None:
    hot, other = known(), known()
    assert [(await call(app_ok, "/incidents", token=hot)).status for _ in range(3)] == [200] * 3
    refused = await call(app_ok, "/incidents", token=hot)
    assert refused.status == 429
    assert refused.headers["retry-after"] == "2"  # one request at 0.5/s
    assert "slow down" in refused.json()["detail"]
    assert (await call(app_ok, "/incidents", token=other)).status == 200
    # Not intake: the same token still reads what it logged.
    status = f"/incidents/{uuid.uuid4()}"
    assert (await call(app_ok, status, token=hot, method="GET")).status == 200


async def test_a_fhir_client_over_its_limit_is_told_in_fhir(small_limits: None) -> None:
    feed = known(Role.feed)
    for _ in range(3):
        assert (await call(app_ok, "/fhir/AdverseEvent", token=feed)).status == 200
    refused = await call(app_ok, "/fhir/AdverseEvent", token=feed)
    assert refused.status == 429 and refused.headers["retry-after"] == "2"
    assert refused.headers["content-type"] == "application/fhir+json"
    outcome = refused.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "throttled"
    # The intake allowance is the token's, whichever intake route it spends it on.
    assert (await call(app_ok, "/feeds/code-blue/code-team", token=feed)).status == 429


async def test_requests_without_a_known_token_are_limited_per_address(
    small_limits: None,
) -> None:
    statuses = [(await call(app_ok, "/incidents", address="10.6.6.6")).status for _ in range(2)]
    assert statuses == [401, 401]
    over = await call(app_ok, "/incidents", token=forgotten_bad(), address="10.6.6.6")
    assert over.status == 429 and over.headers["retry-after"] == "10"  # 6 a minute
    # Over the limit the store is not asked: the unit tests' store is a closed port, so a
    # lookup of a token this process has never seen would raise here.
    never_seen = tokens.new_token()
    assert (await call(app_ok, "/incidents", token=never_seen, address="10.6.6.6")).status == 429
    # Another address is unaffected, and a token this process knows passes at once.
    assert (await call(app_ok, "/incidents", address="10.7.7.7")).status == 401
    assert (await call(app_ok, "/incidents", token=known(), address="10.6.6.6")).status == 200


async def test_the_incident_lane_hands_a_throttled_request_on_counted_once(
    small_limits: None,
) -> None:
    """Over the limit the lane declines (services/api_lanes.py) and the Gatekeeper behind it
    answers 429 from the decision the lane's check kept: one refusal, nothing read."""
    from services.api import app

    token = known()
    who = tokens.cached(token)
    assert isinstance(who, Principal)
    for _ in range(3):
        assert limits.limits().intake.take(who.id) == 0.0

    def refusals() -> float:
        labels = {"limit": "intake_per_token"}
        return REGISTRY.get_sample_value("svrr_rate_limited_total", labels) or 0.0

    before = refusals()
    refused = await call(app, "/incidents", token=token)
    assert refused.status == 429 and refused.headers["retry-after"] == "2"
    assert refusals() == before + 1
