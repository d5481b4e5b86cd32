"""What applying a stored status callback costs the worker: CPU per callback, by round size.

Why: the worker's applier (services.paging.callbacks.apply_waiting) takes the waiting
callbacks every 0.2 s; at a few incidents a second a round holds two or three callbacks,
in a burst 500. This writes `--pages` sent pages and two callbacks each (sent, delivered)
straight into a benchmark database (no API, no stand-in, no worker), then applies them in
rounds of `--round` callbacks in this process and reports this process's CPU
(process_time) per callback applied. (`--root`-style before figures: run this file from the
other checkout's folder; it falls back to apply_pending where apply_waiting is missing.)

    python -m benchmarks.callbacks_apply [--pages 1000] [--round 2,500]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import psycopg
from sqlalchemy import text

from benchmarks.callbacks import ROSTER, sent_pages
from benchmarks.common import prepare


def store_callbacks(url: str, pages: list[tuple[str, str]]) -> None:
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        conn.execute(
            "INSERT INTO status_callbacks (provider_sid, status, page_ids) "
            "SELECT s, st, ARRAY[p::uuid] FROM unnest(%s::text[], %s::text[]) AS v(p, s), "
            "unnest(ARRAY['sent', 'delivered']) WITH ORDINALITY AS x(st, o) ORDER BY p, o",
            ([p for p, _ in pages], [s for _, s in pages]),
        )
        conn.commit()


async def apply_in_rounds(size: int) -> tuple[int, int, float]:
    from services.db import async_engine, transaction
    from services.paging import callbacks

    async with transaction() as session:  # the pool's first connection is not the applier's
        await session.scalar(text(str(callbacks.WAITING)))
    cpu = time.process_time()
    applied = rounds = 0
    apply = getattr(callbacks, "apply_waiting", callbacks.apply_pending)
    while n := await apply(size):
        applied += n
        rounds += 1
    cpu = time.process_time() - cpu
    await async_engine().dispose()
    if hasattr(callbacks, "_autocommit"):
        await callbacks._autocommit().dispose()  # the next size recreates the database
    if hasattr(callbacks, "_applier_sessions"):
        await callbacks._applier_sessions().kw["bind"].dispose()
    return applied, rounds, cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--round", default="2,500", help="callbacks per round, in turn")
    parser.add_argument(
        "--log-level", default="warning", help="info: the worker's own level, its lines priced"
    )
    args = parser.parse_args(argv)
    from services.logs import configure

    for size in (int(s) for s in args.round.split(",")):
        url, _env = prepare("cbapply", ROSTER)
        os.environ.update(DATABASE_URL=url, LOG_LEVEL=args.log_level)
        from services.config import get_settings

        get_settings.cache_clear()
        configure("console", args.log_level)
        store_callbacks(url, sent_pages(url, args.pages))
        applied, rounds, cpu = asyncio.run(apply_in_rounds(size))
        print(
            f"rounds of {size}: {applied} callbacks in {rounds} rounds, "
            f"{1000 * cpu / applied:.3f} ms CPU per callback in the applier "
            f"({1000 * cpu / rounds:.2f} ms per round)"
        )


if __name__ == "__main__":
    main()
