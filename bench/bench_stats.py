"""Benchmark: the statistics over a large call log, and the call log's write rate.

Loads N generated calls (spread over 30 days, two phones rung per offered call)
into a fresh schema of the PostgreSQL at DATABASE_URL with COPY, then times the
whole report (agents, queues, flows, hours) for one day, a week and all 30 days,
and pages of the call log (the first, and one deep in the range). Separately,
times the real call log path (spool on disk, then ``flush`` into PostgreSQL) for a
few thousand calls. The schema is dropped afterwards.

    .venv/bin/python bench/bench_stats.py --calls 100000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg

from switchboard.calllog import CallLog, CallRecord, LegRecord
from switchboard.db import Database
from switchboard.stats import Cursor, Period
from switchboard.stats import repository as stats
from tests.pgkit import DATABASE_URL, fresh_schema

START = datetime(2026, 11, 1, tzinfo=UTC)
DAYS = 30
CATEGORIES = (  # (category, outcome, weight)
    ("answered", "answered", 70),
    ("overflowed", "answered", 5),
    ("abandoned_in_queue", "abandoned_in_queue", 10),
    ("abandoned_in_ivr", "abandoned", 8),
    ("voicemail", "voicemail", 5),
    ("failed", "handed_back", 2),
)


def generated(n: int, rng: random.Random) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Rows for ``calls`` and ``call_legs``, consistent with each other."""
    calls: list[tuple[Any, ...]] = []
    legs: list[tuple[Any, ...]] = []
    weights = [w for _, _, w in CATEGORIES]
    for i in range(n):
        category, outcome, _ = rng.choices(CATEGORIES, weights)[0]
        start = START + timedelta(seconds=rng.uniform(0, DAYS * 86400))
        queued = start + timedelta(seconds=8) if category != "abandoned_in_ivr" else None
        wait = rng.expovariate(1 / 15)
        answered = queued + timedelta(seconds=wait) if outcome == "answered" and queued else None
        end = (answered or start) + timedelta(seconds=rng.uniform(10, 300))
        agent = f"a{rng.randrange(200):03d}" if category == "answered" else ""
        call_id = f"{start.timestamp():.2f}.{i}"
        calls.append((
            call_id, "74951234567", f"+7916{i:07d}", None, f"flow{i % 3}.yaml", "v1",
            start, answered, end, (answered - start).total_seconds() if answered else None,
            (end - answered).total_seconds() if answered else None, agent, agent, outcome,
            "", "[]", f"queue{i % 5}" if queued else "", queued,
            wait if queued else None, category,
        ))  # fmt: skip
        if queued:
            missed = f"a{rng.randrange(200):03d}"
            legs.append((call_id, 0, "PJSIP/x", "no_answer", queued, queued, 15.0, missed, False))
            legs.append((call_id, 1, "PJSIP/y", "answered", queued, answered, 5.0, agent, False))
    return calls, legs


CALL_COLUMNS = [
    "id", "dialed", "caller", "customer", "flow", "flow_version", "started_at",
    "answered_at", "ended_at", "wait_s", "talk_s", "answered_by", "agent", "outcome",
    "route_result", "path", "queue", "queued_at", "queue_wait_s", "category",
]  # fmt: skip
LEG_COLUMNS = [
    "call_id", "seq", "target", "result", "ringing_at", "ended_at", "ring_s", "agent",
    "owner_ring",
]  # fmt: skip


async def timed(what: str, run: Callable[[], Awaitable[object]], repeat: int = 5) -> None:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        await run()
        times.append((time.perf_counter() - began) * 1000)
    print(f"  {what}: median {statistics.median(times):.0f} ms (min {min(times):.0f})")


async def bench_queries(n: int) -> None:
    calls, legs = generated(n, random.Random(7))
    async with fresh_schema("bench_stats") as schema:
        database = Database(DATABASE_URL, schema)
        try:
            pool = await database.pool()
            began = time.perf_counter()
            async with pool.acquire() as conn:
                await conn.copy_records_to_table("calls", records=calls, columns=CALL_COLUMNS)
                await conn.copy_records_to_table("call_legs", records=legs, columns=LEG_COLUMNS)
                await conn.execute("ANALYZE calls; ANALYZE call_legs")
            loaded = time.perf_counter() - began
            print(f"{n} calls, {len(legs)} legs over {DAYS} days loaded in {loaded:.1f} s")
            await report_times(pool)
        finally:
            await database.close()


async def report_times(pool: asyncpg.Pool) -> None:
    for label, first, days in (("one day", 3, 1), ("a week", 3, 7), (f"{DAYS} days", 0, DAYS)):
        period = Period(START + timedelta(days=first), START + timedelta(days=first + days), "UTC")
        await timed(f"report, {label}", _report(pool, period))
    end = START + timedelta(days=DAYS)
    await timed("call log, first page of 50", lambda: stats.call_page(pool, START, end, 50, None))
    deep = Cursor(START + timedelta(days=2), "~")
    await timed(
        "call log, a page of 50 deep in the range",
        lambda: stats.call_page(pool, START, end, 50, deep),
    )


def _report(pool: asyncpg.Pool, period: Period) -> Callable[[], Awaitable[object]]:
    return lambda: stats.report(pool, period)


def record(i: int) -> CallRecord:
    start = START + timedelta(seconds=i)
    iso = (start + timedelta(seconds=20)).isoformat()
    return CallRecord(
        id=f"w{i}", dialed="74951234567", caller="+79161234567", customer=None,
        flow="flow.yaml", flow_version="v1", started_at=start.isoformat(), answered_at=iso,
        ended_at=(start + timedelta(seconds=80)).isoformat(), answered_by="PJSIP/101",
        agent="a101", outcome="answered", route_result="", path=("welcome", "sales"),
        legs=(LegRecord("PJSIP/100", "no_answer", start.isoformat(), iso, "a100"),
              LegRecord("PJSIP/101", "answered", start.isoformat(), iso, "a101")),
        queue="sales", queued_at=start.isoformat(), waited_until=iso,
    )  # fmt: skip


async def bench_call_log(n: int) -> None:
    async with fresh_schema("bench_calllog") as schema:
        database = Database(DATABASE_URL, schema)
        try:
            await database.pool()
            with tempfile.TemporaryDirectory() as spool:
                log = CallLog(Path(spool), database)
                began = time.perf_counter()
                for i in range(n):
                    await log.record(record(i))
                spooled = time.perf_counter() - began
                began = time.perf_counter()
                assert await log.flush() == n
                flushed = time.perf_counter() - began
        finally:
            await database.close()
    print(
        f"call log: {n} calls spooled (fsync'd) at {n / spooled:.0f}/s,"
        f" written to PostgreSQL at {n / flushed:.0f}/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--logged", type=int, default=2_000, help="calls through the call log")
    args = parser.parse_args()
    asyncio.run(bench_queries(args.calls))
    asyncio.run(bench_call_log(args.logged))


if __name__ == "__main__":
    main()
