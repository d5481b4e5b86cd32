"""The Twilio stand-in's "phones" page: the demo's fake phones, in a browser.

Why: in the demo nobody holds the peers' and clinicians' phones, so a person needs a place to
read what the product texted each of them and to answer as that person, then watch the case
board move. Each phone is a conversation (the product's messages and the phone's replies,
oldest first); the reply form posts through the stand-in's own inbound path, so the product
receives a webhook signed exactly as Twilio signs it, as from `/_standin/inbound`.

The page shows message bodies and whole numbers, which is its purpose; it sits behind the
control API's loopback guard, and nothing here logs a body or a number (the inbound path logs
them masked, as everywhere in the stand-in).

Live without a build step: the vendored htmx polls a fragment every second, and the fragment
answers 204 (no swap) while nothing changed, so a screen reader is not re-read the page and a
half-typed reply is kept (its form is hx-preserve'd across swaps anyway).
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

HTMX = Path(__file__).resolve().parents[2] / "services/console/static/vendor/htmx.min.js"
PAGE = "/_standin/phones"
FRAGMENT = "/_standin/phones/fragment"
REPLY = "/_standin/phones/reply"
HTMX_URL = "/_standin/static/htmx.min.js"
MAX_BODY_CHARS = 1600

Guard = Callable[[Request], Response | None]

log = structlog.get_logger("twilio_standin")

STYLE = """
*{box-sizing:border-box}
body{margin:0;font:1rem/1.45 system-ui,sans-serif;color:#1a1a1a;background:#fff}
main{max-width:46rem;margin:0 auto;padding:1rem}
h1{font-size:1.5rem;margin:0 0 .5rem}
h2{font-size:1.15rem;margin:0 0 .5rem;overflow-wrap:anywhere}
.phone{border:1px solid #8a8a8a;border-radius:.5rem;padding:.75rem;margin:1rem 0}
.conversation{list-style:none;margin:0 0 .75rem;padding:0}
.msg{margin:.4rem 0;padding:.5rem .65rem;border-radius:.5rem;max-width:90%}
.msg.out{background:#e6eefc;margin-right:auto}
.msg.in{background:#e4f4e4;margin-left:auto}
.meta{margin:0;font-size:.85rem;color:#3d3d3d}
.text{margin:.2rem 0 0;white-space:pre-wrap;overflow-wrap:anywhere}
.reply label{display:block;font-weight:600;margin-bottom:.25rem}
.reply .row{display:flex;gap:.5rem;flex-wrap:wrap}
.reply input[type=text]{flex:1 1 12rem;min-width:0;font:inherit;padding:.5rem;
  border:1px solid #595959;border-radius:.35rem}
.reply button{font:inherit;padding:.5rem 1rem;border:1px solid #0b3d91;border-radius:.35rem;
  background:#0b3d91;color:#fff;cursor:pointer}
:focus-visible{outline:3px solid #b35900;outline-offset:2px}
.status{margin:.35rem 0 0;min-height:1.45em;font-size:.9rem}
"""


@dataclass
class Phones:
    """What the product answered to each reply sent from the page (by message sid), shown
    beside the reply so a person sees a refused (403) or unreachable webhook at once."""

    answers: dict[str, str] = field(default_factory=dict)


def phone_id(number: str) -> str:
    """A stable HTML id per number, so htmx keeps a half-typed reply across swaps."""
    return "phone-" + (re.sub(r"\D", "", number) or number.encode().hex())


def clock(dt: datetime | None) -> str:
    if dt is None:
        return ""
    at = dt.astimezone(UTC)
    return (
        f'<time datetime="{at.isoformat(timespec="seconds")}">{at.strftime("%H:%M:%S")} UTC</time>'
    )


def conversations(state: Any) -> dict[str, tuple[str, list[Any]]]:
    """Phone number -> (the product number to answer, its messages oldest first).

    A phone is the far end of a message: the recipient of an outbound one, the sender of an
    inbound one. A reply goes to the product number that last wrote to the phone.
    """
    found: dict[str, tuple[str, list[Any]]] = {}
    for rec in state.messages:
        if rec.direction.startswith("outbound"):
            phone, product = rec.to, rec.from_ or state.config.service_sender
        elif rec.direction == "inbound":
            phone, product = rec.from_, rec.to
        else:
            continue
        if not phone:
            continue
        answer_to, messages = found.get(phone, (product, []))
        if rec.direction.startswith("outbound"):
            answer_to = product
        messages.append(rec)
        found[phone] = (answer_to, messages)
    return found


def render_message(rec: Any, phones: Phones) -> str:
    e = html.escape
    if rec.direction.startswith("outbound"):
        who = f"From the product ({e(rec.from_ or 'sender not chosen yet')})"
        state = e(rec.status) + (f", error {rec.error_code}" if rec.error_code else "")
        cls = "out"
    else:
        who = "Sent from this phone"
        answer = phones.answers.get(rec.sid)
        state = f"the product answered {e(answer)}" if answer else "received"
        cls = "in"
    return (
        f'<li class="msg {cls}"><p class="meta">{who} · {clock(rec.received_at)} · {state}</p>'
        f'<p class="text">{e(rec.body)}</p></li>'
    )


def render_phone(number: str, answer_to: str, messages: list[Any], phones: Phones) -> str:
    e = html.escape
    pid = phone_id(number)
    items = "".join(render_message(rec, phones) for rec in messages)
    return f"""<section class="phone" aria-labelledby="{pid}-title">
<h2 id="{pid}-title">{e(number)}</h2>
<ol class="conversation" aria-label="Messages with {e(number)}, oldest first">{items}</ol>
<form class="reply" id="{pid}-reply" method="post" action="{REPLY}" hx-post="{REPLY}"
 hx-target="#{pid}-status" hx-swap="innerHTML" hx-preserve="true"
 hx-on:reply-sent="this.reset()">
<input type="hidden" name="from" value="{e(number)}">
<input type="hidden" name="to" value="{e(answer_to)}">
<label for="{pid}-body">Reply as {e(number)}</label>
<div class="row"><input type="text" id="{pid}-body" name="body" required
 maxlength="{MAX_BODY_CHARS}" autocomplete="off">
<button type="submit">Send reply</button></div>
<p class="status" id="{pid}-status" role="status"></p>
</form>
</section>"""


def render_fragment(state: Any, phones: Phones) -> tuple[str, str]:
    """The polled part and a digest of what it shows. The part's own URL carries the digest,
    so the next poll is answered 204 (nothing to swap) until something changes."""
    found = conversations(state)
    if found:
        inner = "".join(render_phone(n, to, msgs, phones) for n, (to, msgs) in found.items())
    else:
        inner = "<p>No phone has sent or received a message yet.</p>"
    seen = digest(inner)
    return (
        f'<div id="phones" hx-get="{FRAGMENT}?seen={seen}" '
        f'hx-trigger="every 1s, phones-changed from:body" hx-swap="outerHTML">{inner}</div>'
    ), seen


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def render_page(state: Any, phones: Phones) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Phones · Twilio stand-in</title><style>{STYLE}</style>
<script src="{HTMX_URL}"></script></head>
<body><main>
<h1>Phones</h1>
<p>Every phone the product texted or that texted it, each as a conversation, oldest message
first. A reply is signed and posted to the product's SMS webhook as Twilio would post it.
Times are UTC; the page updates itself every second.</p>
{render_fragment(state, phones)[0]}
</main></body></html>"""


def same_origin(request: Request) -> bool:
    """Refuse a form posted from another site open in the same browser: the guard lets any
    loopback client in, and a browser on this machine is one."""
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")


def add_phone_routes(app: FastAPI, guard: Guard) -> None:
    phones = Phones()

    @app.get(PAGE)
    async def phones_page(request: Request) -> Response:
        if (err := guard(request)) is not None:
            return err
        return HTMLResponse(render_page(request.app.state.standin, phones))

    @app.get(FRAGMENT)
    async def phones_fragment(request: Request, seen: str = "") -> Response:
        if (err := guard(request)) is not None:
            return err
        fragment, now = render_fragment(request.app.state.standin, phones)
        if seen == now:
            return Response(status_code=204)
        return HTMLResponse(fragment)

    @app.post(REPLY)
    async def phones_reply(request: Request) -> Response:
        if (err := guard(request)) is not None:
            return err
        if not same_origin(request):
            return HTMLResponse("Refused: posted from another site.", status_code=403)
        form = await request.form()
        from_, to, body = (str(form.get(k) or "").strip() for k in ("from", "to", "body"))
        htmx = request.headers.get("hx-request") == "true"
        outcome, sent = await send(request.app.state.standin, phones, from_, to, body)
        if not htmx:
            # Without script the browser follows to the page, at the phone just answered.
            return RedirectResponse(f"{PAGE}#{phone_id(from_)}", status_code=303)
        # Always 200, so htmx shows the outcome. A sent reply empties its form (reply-sent)
        # and refreshes the conversations now rather than at the next poll (phones-changed).
        headers = {"HX-Trigger": "reply-sent, phones-changed"} if sent else None
        return HTMLResponse(html.escape(outcome), headers=headers)

    @app.get(HTMX_URL)
    async def htmx_js() -> Response:
        return FileResponse(HTMX, media_type="text/javascript")


async def send(state: Any, phones: Phones, from_: str, to: str, body: str) -> tuple[str, bool]:
    """Post the reply as an inbound SMS; the outcome as a sentence, and whether it was sent."""
    if not from_ or not to:
        return "Not sent: the form lost its phone numbers; reload the page.", False
    if not body:
        return "Not sent: write a reply first.", False
    if len(body) > MAX_BODY_CHARS:
        return f"Not sent: a reply holds at most {MAX_BODY_CHARS} characters.", False
    url = state.config.sms_url
    if not url:
        return "Not sent: the stand-in has no SMS webhook (start it with --sms-url).", False
    rec, resp, error = await state.send_inbound(from_=from_, to=to, body=body, url=url)
    at = rec.received_at.astimezone(UTC).strftime("%H:%M:%S")
    if resp is None:
        phones.answers[rec.sid] = "nothing (unreachable)"
        log.warning("phones.reply_unreachable", sid=rec.sid)
        return f"Sent at {at} UTC, but the product's webhook did not answer ({error}).", True
    phones.answers[rec.sid] = str(resp.status_code)
    log.info("phones.reply", sid=rec.sid, http_status=resp.status_code)
    if resp.is_success:
        return f"Sent at {at} UTC; the product answered {resp.status_code}.", True
    return f"Sent at {at} UTC, but the product refused it ({resp.status_code}).", True
