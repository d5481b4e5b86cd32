"""What the benchmarks share: their own database, percentiles, results, an on-call roster."""

from __future__ import annotations

import json
import os
from pathlib import Path

import psycopg

RESULTS = Path(__file__).parent / "results"


def bench_db_url() -> str:
    base = os.environ.get("DATABASE_URL", "postgresql+psycopg://svrr:svrr@127.0.0.1:5433/svrr")
    return base.rsplit("/", 1)[0] + "/svrr_bench"


def recreate_db(url: str) -> None:
    admin = url.replace("+psycopg", "").rsplit("/", 1)[0] + "/svrr"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS svrr_bench WITH (FORCE)")
        conn.execute("CREATE DATABASE svrr_bench")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def add_rotations(url: str, peer_ids: list[str], rotations: int) -> None:
    """Put the peers into `rotations` parallel daily rotations: that many are on call at once."""
    with psycopg.connect(url.replace("+psycopg", "")) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO schedules (id, name, time_zone) VALUES "
            "(gen_random_uuid(), 'Bench on call', 'America/New_York') RETURNING id"
        )
        (schedule_id,) = cur.fetchone()  # type: ignore[misc]
        per = max(1, len(peer_ids) // rotations)
        for r in range(rotations):
            cur.execute(
                "INSERT INTO rotations (id, schedule_id, name, kind, shift_hours, start_local) "
                "VALUES (gen_random_uuid(), %s, %s, 'daily', 24, '2026-01-05 07:00') "
                "RETURNING id",
                (schedule_id, f"R{r:02d}"),
            )
            (rotation_id,) = cur.fetchone()  # type: ignore[misc]
            for pos, staff_id in enumerate(peer_ids[r * per : (r + 1) * per]):
                cur.execute(
                    "INSERT INTO rotation_participants (rotation_id, position, staff_id) "
                    "VALUES (%s, %s, %s)",
                    (rotation_id, pos, staff_id),
                )
        conn.commit()


def report(name: str, title: str, result: dict[str, object], table: str) -> None:
    """Print the table, keep the run as JSON and the newest table as `<name>-latest.md`."""
    header = f"{title}\n\n{result['date']} on {result['machine']}"
    print(f"{header}\n\n{table}")
    RESULTS.mkdir(exist_ok=True)
    stamp = str(result["date"]).replace(":", "")[:15]
    (RESULTS / f"{name}-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"{name}-latest.md").write_text(f"{header}\n\n{table}\n")
