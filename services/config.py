"""Configuration from the environment, validated once at start.

Why one settings object: the API, the worker and the CLI must agree on every address and
secret; a typo should stop the process at start, not surface as a lost page at 3 a.m.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    database_url: str = "postgresql+psycopg://svrr:svrr@127.0.0.1:5433/svrr"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"

    # Bootstrap only: at start (`svrr bootstrap`, and the API's start) each token here that
    # the store has never seen becomes an integration token, API_TOKENS with the risk-manager
    # role and ADMIN_TOKENS with the coordinator's. From then on the store decides: an
    # administrator revokes or replaces them in the console like any other token.
    # Empty by default: a deployment that forgets them gets no well-known token.
    api_tokens: str = ""
    admin_tokens: str = ""
    # Bootstrap only, like API_TOKENS: tokens with the feed role (the hospital's feeds).
    feed_tokens: str = ""
    # Bootstrap only: the first administrator, created when the store has no active one.
    bootstrap_admin_username: str = ""
    bootstrap_admin_password: str = ""

    # The console. Signs the CSRF cookie; every API process must share it.
    console_secret: str = "dev-console-secret-change-me"
    # Sessions end after this long without a request, and after max_hours whatever happens.
    session_idle_minutes: int = Field(default=60, ge=1, le=24 * 60)
    session_max_hours: int = Field(default=12, ge=1, le=24 * 7)
    # Sign-in throttling: failures allowed per account, and per address, in the window.
    signin_window_minutes: int = Field(default=15, ge=1)
    signin_max_per_account: int = Field(default=5, ge=1)
    signin_max_per_address: int = Field(default=20, ge=1)
    # Abuse limits (services/limits.py): token buckets per caller, counted in each API
    # process on its own (N processes admit up to N times these). A rate of 0 turns that
    # limit off. Intake (POST /incidents, /fhir*, /feeds/*) per integration token: a
    # hospital's real traffic is a few incidents an hour, a mass casualty or a feed's backlog
    # after an outage a few hundred at once; a runaway integration is held to the rate.
    intake_per_second: float = Field(default=50.0, ge=0)
    intake_burst: int = Field(default=1000, ge=1)
    # Inbound SMS per sender number (after the signature): no person reaches it.
    sms_per_sender_per_minute: float = Field(default=30.0, ge=0)
    sms_per_sender_burst: int = Field(default=30, ge=1)
    # Requests without a token this process knows, per source address (each may cost a
    # store lookup): missing, unknown, or not seen in the last few seconds.
    unknown_credentials_per_minute: float = Field(default=600.0, ge=0)
    unknown_credentials_burst: int = Field(default=600, ge=1)
    # Answers to one number the product does not know, in the store, per window (an
    # auto-responder loop ends after this many); a crisis reply may go once more.
    unknown_number_replies: int = Field(default=3, ge=0)
    unknown_number_reply_hours: int = Field(default=24, ge=1)
    # Help texts ("reply 1A to accept...") to any one number, known or not, per window: a
    # clinician's or a peer's auto-responder ("I am on leave") is not understood, so each of
    # its messages would get the help text, which it answers, for ever. The coordinator is
    # asked to look at such a reply anyway, so a person still sees every one.
    help_answers_per_number: int = Field(default=5, ge=0)
    help_answer_hours: int = Field(default=24, ge=1)
    # Numbers in imports without a country code are read as this region's.
    default_phone_region: str = "US"
    # Matching: "preferred" ranks peers from another unit first; "required" never pages a
    # peer from the clinician's own unit; "off" ignores units.
    match_other_unit: Literal["preferred", "required", "off"] = "preferred"
    # More staff than this (or several units) also opens a group debrief proposal.
    group_debrief_threshold: int = 5
    # Clinicians are not messaged between these local hours unless they wrote within the hour.
    quiet_start_hour: int = Field(default=22, ge=0, le=23)
    quiet_end_hour: int = Field(default=7, ge=0, le=23)

    # Twilio. With twilio_api_base empty the real Twilio API is used unchanged.
    twilio_account_sid: str = "AC00000000000000000000000000000000"
    twilio_auth_token: str = "dev-auth-token"
    # Accepted for webhook signatures while a rotated token is phased in.
    twilio_auth_token_secondary: str = ""
    twilio_from_number: str = "+15005550006"
    twilio_messaging_service_sid: str = ""
    twilio_api_base: str = ""
    # The address Twilio uses to reach us: signatures are computed over this exact URL.
    public_base_url: str = "http://127.0.0.1:8000"

    # Who is paged when no peer qualifies: never silence.
    coordinator_number: str = "+15550009999"
    crisis_line: str = "988"

    # Data at rest (services/sealing.py, docs/data-at-rest.md): phone numbers and what people
    # write are sealed with DATA_KEYS (`id:base64` keys, newest first, comma-separated) and
    # numbers are looked up by an HMAC under LOOKUP_KEY. Each may instead name a file
    # (readable by the service's user only). No default: a deployment that forgets them stops.
    data_keys: str = ""
    data_keys_file: str = ""
    lookup_key: str = ""
    lookup_key_file: str = ""

    worker_id: str = "svrr-worker"
    worker_web_port: int = 6066
    faust_datadir: str = ".run/faust/{conf.id}"
    log_format: str = "console"  # "json" in production
    log_level: str = "info"

    # A page claimed for sending longer ago than this with no recorded sid is reconciled
    # against the provider's message log before anything is re-sent.
    sending_stale_seconds: float = 30.0

    # Retention (services/retention.py): a closed case's numbers, names in texts, reply texts
    # and the peer-details message are purged this many days after it closed, SMS tied to no
    # case and dead letters this long after they arrived; the de-identified counts behind the
    # programme metrics stay. A reply's text goes sooner, once no open case needs it.
    retention_days: int = Field(default=90, ge=1, le=3650)
    # How often the deadline engine purges (0: never; `svrr retention purge` still does).
    retention_every_minutes: float = Field(default=60.0, ge=0, le=7 * 24 * 60)

    @property
    def secure_cookies(self) -> bool:
        """Cookies marked Secure whenever the public address is TLS (behind a proxy too)."""
        return self.public_base_url.lower().startswith("https://")

    @property
    def api_token_set(self) -> frozenset[str]:
        return frozenset(t.strip() for t in self.api_tokens.split(",") if t.strip())

    @property
    def admin_token_set(self) -> frozenset[str]:
        return frozenset(t.strip() for t in self.admin_tokens.split(",") if t.strip())

    @property
    def feed_token_set(self) -> frozenset[str]:
        return frozenset(t.strip() for t in self.feed_tokens.split(",") if t.strip())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
