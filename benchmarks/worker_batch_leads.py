"""benchmarks.worker_batch on a hospital whose units all have a Tier 1 lead.

Why a second run: the worker_batch hospital has no unit leads, so its batches never prompt
one; a hospital that names leads prompts one per incident, and a batch of one incident then
also writes the lead's prompt (Tier 1: services.cases.tier1). Same options and output as
benchmarks.worker_batch; its own database (svrr_bench_worker_batch_leads, with
SVRR_BENCH_SUFFIX appended). Each unit's lead is a member of staff of another unit who is
neither a peer nor one of the clinicians the incidents name.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import create_engine, text

from benchmarks import worker_batch
from benchmarks.common import Roster, prepare


def name_leads(url: str, roster: Roster) -> int:
    """A lead for every unit, taken from the end of the staff list (the clinicians the
    benchmark names come from its start). Returns how many units got one."""
    engine = create_engine(url)
    with engine.begin() as conn:
        units = [u for (u,) in conn.execute(text("SELECT code FROM units ORDER BY code"))]
        named = set(roster.clinicians[:2000])
        leads = [
            sid
            for (sid,) in conn.execute(
                text(
                    "SELECT s.staff_id FROM staff s WHERE NOT EXISTS (SELECT 1 FROM "
                    "peer_supporters p WHERE p.staff_id = s.staff_id) ORDER BY s.staff_id DESC"
                )
            )
            if sid not in named
        ]
        for unit, lead in zip(units, leads, strict=False):
            conn.execute(
                text("UPDATE units SET tier1_lead_staff_id = :l WHERE code = :u"),
                {"l": lead, "u": unit},
            )
    engine.dispose()
    return min(len(units), len(leads))


def main() -> None:
    args = worker_batch.arguments(__doc__.split("\n\n")[0]).parse_args()
    roster = Roster.of(args)
    url, _env = prepare("worker_batch_leads", roster)
    print(f"units with a Tier 1 lead: {name_leads(url, roster)}")
    asyncio.run(worker_batch.run(args, url))


if __name__ == "__main__":
    main()
