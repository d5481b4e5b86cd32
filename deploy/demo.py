#!/usr/bin/env python3
"""The scripted incident of the main job: one incident followed from intake to a peer's "yes".

Why it exists: the product's promise is a time ("a peer is on the phone within minutes"), and
the path to it crosses five processes (API, outbox relay, Kafka, Faust worker, Twilio). This
script lets a person watch that path on a real stack, one line per milestone with its
recorded time, and lets CI assert it end to end (`make demo` / `bash deploy/demo.sh --once`).

It plays the peers too: before logging the incident it asks the Twilio stand-in to answer
each on-call peer's page with "1A" about two seconds after delivery, as a peer would.
Everything it prints comes from the store (PostgreSQL) and the stand-in's message log, never
from the services' own logs, so what it shows is what was recorded.

Env: API_URL, STANDIN_URL, API_TOKEN (default dev-token), DATABASE_URL, DEMO_TIMEOUT (s).
Exit 0 when every page is accepted; 1 on timeout or a page that cannot end accepted.
"""

from __future__ import annotations

import contextlib
import csv
import os
import random
import string
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # repo root, no install needed
from services.sealing import default_keyring

ROOT = Path(__file__).resolve().parent.parent
STAFF_CSV = ROOT / "services" / "seed" / "staff.csv"
PEERS_CSV = ROOT / "services" / "seed" / "peers.csv"
API_URL = os.environ.get("API_URL", f"http://127.0.0.1:{os.environ.get('API_PORT', '8000')}")
STANDIN_URL = os.environ.get(
    "STANDIN_URL", f"http://127.0.0.1:{os.environ.get('STANDIN_PORT', '8765')}"
)
API_TOKEN = os.environ.get("API_TOKEN") or os.environ.get("API_TOKENS", "dev-token").split(",")[0]
DATABASE_URL = os.environ.get(
    "DATABASE_URL", "postgresql+psycopg://svrr:svrr@127.0.0.1:5433/svrr"
).replace("+psycopg", "")
TIMEOUT_S = float(os.environ.get("DEMO_TIMEOUT", "60"))
POLL_S = 0.05
HOLD_BACK_S = 0.25
REPLY_DELAY_S = 2.0
INVOLVED = ["N1001", "P2001"]
CLINICIANS = {"N1001": "+15550101001", "P2001": "+15550102001"}
END_STATES = {"failed", "undelivered", "declined"}  # a page in one of these never ends accepted


def mask(number: str | None) -> str:
    """Enough of a number to tell peers apart on screen: +15550101101 -> +1555***1101.

    Four trailing digits, as the stand-in logs them: two would show +15550101101 and
    +15550102101 as the same peer.
    """
    if not number:
        return "-"
    return f"{number[:5]}***{number[-4:]}" if len(number) > 9 else "***"


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def ms(at: datetime | None, since: datetime) -> int | None:
    return None if at is None else round((at - since).total_seconds() * 1000)


def on_call_peers() -> dict[str, str]:
    """staff_id -> mobile of the seeded peers whose training is current.

    Which of them is on call at this minute is the schedule's business; every trained peer
    is scripted to answer, so whoever the schedule and matching choose will reply.
    """
    with STAFF_CSV.open(newline="", encoding="utf-8") as fh:
        mobiles = {r["staff_id"].strip(): r["mobile"].strip() for r in csv.DictReader(fh)}
    peers: dict[str, str] = {}
    with PEERS_CSV.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            trained = (row.get("trained_until") or "").strip()
            if trained and date.fromisoformat(trained) >= date.today():
                peers[row["staff_id"].strip()] = mobiles[row["staff_id"].strip()]
    return peers


@dataclass
class PageView:
    """One page as the story knows it so far; `shown` holds the milestones already printed."""

    id: uuid.UUID
    clinician: str
    peer: str | None
    to_number: str
    reply_code: str
    reason: str
    state: str = "requested"
    sid: str | None = None
    standin_sid: str | None = None
    times: dict[str, datetime] = field(default_factory=dict)
    shown: set[str] = field(default_factory=set)

    @property
    def short(self) -> str:
        return str(self.id)[:8]


class Story:
    """Poll the store and the stand-in; print each milestone once, in recorded-time order."""

    def __init__(self, http: httpx.Client, db: psycopg.Connection[Any]) -> None:
        self.http = http
        self.db = db
        self.pages: dict[uuid.UUID, PageView] = {}
        self.cases: int | None = None
        self.incident_id: uuid.UUID | None = None
        self.accepted_at = datetime.now(UTC)
        self.standin_since = 0
        self.body_shown = False
        # (recorded time, order of emission, line): printed sorted, after a short hold-back.
        self.pending: list[tuple[datetime, int, str]] = []
        self.emitted = 0
        self.case_steps_seen = 0
        self.case_states: dict[str, str] = {}

    # -- output -------------------------------------------------------------------------------

    def emit(self, at: datetime, label: str, detail: str) -> None:
        elapsed = ms(at, self.accepted_at) or 0
        self.note(at, f"{stamp(at)}  {elapsed:>+7} ms  {label:<20} {detail}")

    def note(self, at: datetime, line: str) -> None:
        """A line printed right after the milestones recorded at or before `at`."""
        self.emitted += 1
        self.pending.append((at, self.emitted, line))

    def flush(self, hold_back: float = HOLD_BACK_S) -> None:
        """Print what was recorded more than `hold_back` seconds ago, oldest first.

        A step's time is its transaction's start, but it becomes visible at commit, so a later
        step can be seen first; holding lines back briefly keeps the story in time order.
        """
        cutoff = datetime.now(UTC) - timedelta(seconds=hold_back)
        ready = sorted(item for item in self.pending if item[0] <= cutoff)
        for item in ready:
            print(item[2], flush=True)
            self.pending.remove(item)

    # -- setup --------------------------------------------------------------------------------

    def check_services(self) -> None:
        self.http.get(f"{STANDIN_URL}/_standin/health").raise_for_status()
        health = self.http.get(f"{API_URL}/healthz")
        if health.status_code != 200:
            raise SystemExit(f"demo: API at {API_URL} answered /healthz {health.status_code}")

    def register_replies(self, peers: dict[str, str]) -> None:
        """Each on-call peer answers "1A" once, two seconds after their page is delivered."""
        for staff_id, number in peers.items():
            self.set_reply(number, "1A")
            print(
                f'  peer {staff_id} ({mask(number)}) will reply "1A" {REPLY_DELAY_S:.0f} s '
                "after delivery"
            )
        # The affected clinicians answer the offer of support with YES.
        for staff_id, number in CLINICIANS.items():
            self.set_reply(number, "YES")
            print(f'  clinician {staff_id} ({mask(number)}) will reply "YES" to the offer')
        existing = self.http.get(f"{STANDIN_URL}/_standin/messages", params={"direction": "any"})
        existing.raise_for_status()
        self.standin_since = max((m["id"] for m in existing.json()), default=0)

    def set_reply(self, number: str, body: str) -> None:
        rule = {"number": number, "body": body, "delay": REPLY_DELAY_S, "once": True}
        self.http.post(f"{STANDIN_URL}/_standin/autoreply", json=rule).raise_for_status()

    def log_incident(self) -> None:
        # Letters only: intake refuses a run of six digits as a possible medical record number.
        key = "demo-" + "".join(random.choices(string.ascii_lowercase, k=12))
        body = {
            "occurred_at": datetime.now(UTC).isoformat(),
            "unit": "4E",
            "event_type": "unexpected_death",
            "harm_level": "death",
            "staff_ids": INVOLVED,
            "incident_key": key,
        }
        sent = time.perf_counter()
        resp = self.http.post(f"{API_URL}/incidents", json=body)
        self.accepted_at = datetime.now(UTC)
        took = round((time.perf_counter() - sent) * 1000)
        if resp.status_code != 202:
            raise SystemExit(f"demo: POST /incidents answered {resp.status_code}: {resp.text}")
        self.incident_id = uuid.UUID(resp.json()["incident_id"])
        print(
            f"\nPOST /incidents  unit 4E, unexpected_death, staff {', '.join(INVOLVED)}, "
            f"key {key}\n"
        )
        self.emit(
            self.accepted_at,
            "incident accepted",
            f"incident {self.incident_id} (HTTP 202 in {took} ms)",
        )
        self.flush(hold_back=0)

    # -- polling ------------------------------------------------------------------------------

    def poll(self) -> None:
        self.poll_case_steps()
        self.poll_cases()
        self.poll_pages()
        self.poll_standin()
        self.poll_transitions()
        self.poll_replies()
        self.flush()

    def poll_case_steps(self) -> None:
        """Every step of the tiered response, as the case's own history records it."""
        rows = self.db.execute(
            "SELECT c.staff_id, t.from_state, t.to_state, t.reason, t.at FROM case_transitions t "
            "JOIN support_cases c ON c.id = t.case_id WHERE c.incident_id = %s ORDER BY t.id",
            (self.incident_id,),
        ).fetchall()
        for staff_id, from_state, to_state, reason, at in rows[self.case_steps_seen :]:
            self.case_states[staff_id] = to_state
            self.emit(at, "case step", f"{staff_id}: {from_state} -> {to_state} ({reason})")
        self.case_steps_seen = len(rows)

    def poll_cases(self) -> None:
        if self.cases is not None:
            return
        count, first = self.db.execute(
            "SELECT count(*), min(created_at) FROM support_cases WHERE incident_id = %s",
            (self.incident_id,),
        ).fetchone() or (0, None)
        if count:
            self.cases = int(count)
            self.emit(first, "staff identified", f"{count} support cases opened")

    def poll_pages(self) -> None:
        rows = self.db.execute(
            """
            SELECT p.id, c.staff_id, p.peer_staff_id, p.to_number, p.reply_code, p.reason,
                   p.state, p.provider_sid, p.requested_at
              FROM pages p JOIN support_cases c ON c.id = p.case_id
             WHERE c.incident_id = %s
             ORDER BY p.requested_at
            """,
            (self.incident_id,),
        ).fetchall()
        for pid, clinician, peer, sealed_to, code, reason, state, sid, requested_at in rows:
            # Numbers are sealed in the store (services/sealing.py): the demo holds the keys.
            to = default_keyring().open(sealed_to, "pages.to_number")
            page = self.pages.get(pid)
            if page is None:
                page = PageView(pid, clinician, peer, to, code, reason)
                self.pages[pid] = page
                page.times["requested"] = requested_at
                who = f"peer {peer}" if peer else "COORDINATOR (no peer qualified)"
                self.emit(
                    requested_at,
                    "page requested",
                    f"page {page.short} for {clinician} -> {who}, reason: {reason}",
                )
                if code != "1" and peer:
                    # An earlier interrupted run left a page open to this peer, so this one
                    # carries another code; answer with the code it really shows.
                    self.set_reply(to, f"{code}A")
                    self.note(
                        requested_at,
                        f"{'':38}(reply code {code}: an older page to {mask(to)} is still "
                        f'open, so this peer will reply "{code}A")',
                    )
            page.state, page.sid = state, sid

    def poll_standin(self) -> None:
        resp = self.http.get(
            f"{STANDIN_URL}/_standin/messages", params={"since_id": self.standin_since}
        )
        resp.raise_for_status()
        for msg in resp.json():
            if msg["direction"] != "outbound-api":
                continue
            page = next(
                (p for p in self.pages.values() if p.sid and p.sid == msg["sid"]), None
            ) or next(
                (
                    p
                    for p in self.pages.values()
                    if p.standin_sid is None and p.sid is None and p.to_number == msg["to"]
                ),
                None,
            )
            if page is None or page.standin_sid is not None:
                continue
            page.standin_sid = msg["sid"]
            at = datetime.fromisoformat(msg["received_at"])
            page.times["standin"] = at
            self.emit(
                at,
                "SMS at stand-in",
                f"page {page.short} sid {msg['sid']} to {mask(msg['to'])}",
            )
            if not self.body_shown:
                self.body_shown = True
                # Deliberately patient-free: this is every word a peer receives.
                self.note(at, f'{"":38}the peer\'s phone shows: "{msg["body"]}"')

    def poll_transitions(self) -> None:
        if not self.pages:
            return
        rows = self.db.execute(
            "SELECT page_id, state, at, detail FROM page_transitions "
            "WHERE page_id = ANY(%s) ORDER BY id",
            (list(self.pages),),
        ).fetchall()
        for pid, state, at, detail in rows:
            page = self.pages[pid]
            if state in page.shown:
                continue
            if state == "sent":
                page.times["sent"] = at
                note = " (reconciled)" if (detail or {}).get("reconciled") else ""
                self.emit(
                    at,
                    "page sent",
                    f"page {page.short} recorded sid {(detail or {}).get('sid')}{note}",
                )
            elif state == "delivered":
                page.times["delivered"] = at
                self.emit(at, "delivered", f"page {page.short} delivered to {mask(page.to_number)}")
            elif state == "accepted":
                page.times["accepted"] = at
                self.emit(at, "page accepted", f"page {page.short}: {page.peer} takes the case")
            elif state in END_STATES:
                page.times[state] = at
                code = (detail or {}).get("error_code")
                self.emit(at, f"page {state.upper()}", f"page {page.short} error code {code}")
            page.shown.add(state)

    def poll_replies(self) -> None:
        waiting = {p.to_number: p for p in self.pages.values() if "replied" not in p.times}
        if not waiting:
            return
        keys = default_keyring()  # a reply is found by its sender's lookup value, then opened
        rows = self.db.execute(
            "SELECT provider_sid, from_number, body, received_at, page_id FROM inbound_sms "
            "WHERE from_number_key = ANY(%s) AND received_at >= %s ORDER BY received_at",
            ([keys.lookup(n) for n in waiting], self.accepted_at),
        ).fetchall()
        for sid, sealed_from, sealed_body, received_at, page_id in rows:
            from_number = keys.open(sealed_from, "inbound_sms.from_number")
            body = keys.open(sealed_body, "inbound_sms.body")
            page = self.pages.get(page_id) if page_id else waiting.get(from_number)
            if page is None or "replied" in page.times:
                continue
            page.times["replied"] = received_at
            self.emit(
                received_at,
                "peer replied",
                f'page {page.short} {mask(from_number)} sent "{body}" (sid {sid})',
            )

    # -- outcome ------------------------------------------------------------------------------

    def done(self) -> bool:
        return (
            self.cases is not None
            and len(self.pages) >= self.cases
            and all("accepted" in p.times for p in self.pages.values())
            and len(self.case_states) >= self.cases
            and all(s == "clinician_accepted" for s in self.case_states.values())
        )

    def dead_end(self) -> PageView | None:
        return next((p for p in self.pages.values() if END_STATES & p.times.keys()), None)

    def where_stuck(self) -> str:
        if self.cases is None:
            return "no support case yet: is the worker consuming incident-reported?"
        if len(self.pages) < self.cases:
            return f"{self.cases} cases but only {len(self.pages)} pages requested"
        return "; ".join(
            f"page {p.short} is '{p.state}' (to {mask(p.to_number)}, code {p.reply_code})"
            for p in self.pages.values()
            if "accepted" not in p.times
        )

    def summary(self) -> None:
        self.flush(hold_back=0)
        t0 = self.accepted_at
        print("\nms after the API answered:")
        head = f"  {'page':<9} {'peer':<6} {'to':<13} {'SMS at stand-in':>15} "
        print(head + f"{'delivered':>10} {'accepted':>9}")
        for p in sorted(self.pages.values(), key=lambda p: p.times["requested"]):
            cells = [ms(p.times.get(k), t0) for k in ("standin", "delivered", "accepted")]
            shown = ["-" if c is None else str(c) for c in cells]
            print(
                f"  {p.short:<9} {p.peer or 'coord':<6} {mask(p.to_number):<13} "
                f"{shown[0]:>15} {shown[1]:>10} {shown[2]:>9}"
            )
        print(f"  (each peer's reply was scripted {REPLY_DELAY_S:.0f} s after delivery)")


def main() -> int:
    peers = on_call_peers()
    if not peers:
        print(f"demo: no trained peer in {PEERS_CSV}", file=sys.stderr)
        return 1
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    with (
        httpx.Client(headers=headers, timeout=10) as http,
        psycopg.connect(DATABASE_URL, autocommit=True) as db,
    ):
        story = Story(http, db)
        story.check_services()
        print("\n=== The story: an unexpected death on unit 4E ===")
        print(f"Scripting the stand-in ({STANDIN_URL}) to answer as the peers:")
        story.register_replies(peers)
        story.log_incident()
        deadline = time.monotonic() + TIMEOUT_S
        try:
            while not story.done():
                if (page := story.dead_end()) is not None:
                    story.summary()
                    print(
                        f"\ndemo: FAILED: page {page.short} ended '{page.state}' and will "
                        "never be accepted",
                        file=sys.stderr,
                    )
                    return 1
                if time.monotonic() > deadline:
                    story.summary()
                    print(
                        f"\ndemo: FAILED: not every page accepted after {TIMEOUT_S:.0f} s: "
                        f"{story.where_stuck()}",
                        file=sys.stderr,
                    )
                    return 1
                time.sleep(POLL_S)
                story.poll()
        except KeyboardInterrupt:
            print("\ndemo: interrupted", file=sys.stderr)
            return 130
        finally:
            # Leftover "once" rules (peers not paged this time) must not answer later pages.
            with contextlib.suppress(httpx.HTTPError):
                http.delete(f"{STANDIN_URL}/_standin/autoreply")
        story.summary()
        total = max(ms(p.times["accepted"], story.accepted_at) or 0 for p in story.pages.values())
        print(f"\nAll {len(story.pages)} pages accepted, {total} ms after the API answered.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
