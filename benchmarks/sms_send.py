"""What one SMS costs our sender: CPU in this process per message sent through
notifiers.sms.SmsSender (the real `twilio` client's async API) to the stand-in.

Why: every page and message leaves through it, in the worker and in the engine. The
stand-in runs as its own process (its CPU is not counted here), without status callbacks;
this process sends `--messages` SMS at most `--concurrency` at once and reports its own CPU
(process_time) per SMS. `--stock` uses twilio's stock AsyncTwilioHttpClient instead of
notifiers.sms.Transport, for the before/after figure.

    python -m benchmarks.sms_send [--messages 3000] [--concurrency 32] [--stock]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from types import SimpleNamespace

from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from benchmarks.standin import start_standin
from notifiers.sms import SmsSender
from tests.stack import TWILIO_SID, TWILIO_TOKEN, free_port


async def send_all(url: str, n: int, concurrency: int, stock: bool) -> tuple[float, float]:
    settings = SimpleNamespace(
        twilio_account_sid=TWILIO_SID,
        twilio_auth_token=TWILIO_TOKEN,
        twilio_api_base=url,
        twilio_messaging_service_sid="",
        twilio_from_number="+15005550006",
    )
    sender = SmsSender(settings)  # type: ignore[arg-type]
    if stock:
        await sender.close()
        sender._http = AsyncTwilioHttpClient(timeout=10)
        sender.client = Client(TWILIO_SID, TWILIO_TOKEN, http_client=sender._http)
        sender.client.api.base_url = url
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await sender.send(
                f"+1555{3000000 + i:07d}",
                f"Peer support needed: can you take case {i}? Reply {i}A or {i}P.",
                f"http://127.0.0.1:9/twilio/status?page={i}",
            )

    await asyncio.gather(*(one(i) for i in range(50)))  # warm: connections, imports
    cpu, wall = time.process_time(), time.monotonic()
    await asyncio.gather(*(one(i) for i in range(n)))
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    await sender.close()
    return cpu, wall


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--stock", action="store_true")
    args = parser.parse_args(argv)
    port = free_port()
    standin = start_standin("deploy/twilio_standin.py", port, "warning", 0.05)
    try:
        import uvloop

        cpu, wall = uvloop.run(
            send_all(f"http://127.0.0.1:{port}", args.messages, args.concurrency, args.stock)
        )
    finally:
        standin.terminate()
        standin.wait(20)
    which = "stock AsyncTwilioHttpClient" if args.stock else "notifiers.sms.Transport"
    print(
        f"{which}: {args.messages} SMS, {1000 * cpu / args.messages:.3f} ms CPU per SMS "
        f"in the sender, {wall:.1f} s wall"
    )


if __name__ == "__main__":
    main()
