"""Benchmark: one routing decision per call against real PostgreSQL at scale.

Generates 10,000 agents (skills with proficiency, languages, sites) and 1,000,000
customers with their phones in a schema of its own (kept between runs; rebuilt if
the counts differ), then times a decision: CRM lookup by caller ID + candidates +
rank + atomic reservation (+ release, so agents stay free), p50/p99 over 10,000
decisions one at a time and the rate with 50 callers at once.

Targets (issue 6): p99 <= 2 ms sequential; >= 2,000 decisions/s with 50 callers.
    DATABASE_URL=... .venv/bin/python bench/bench_routing.py [--agents N --customers N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg

from switchboard import db
from switchboard.routing.directory import AgentDirectory
from switchboard.routing.rank import Needs, Segment, rank
from switchboard.routing.repository import ROUTING_SETTINGS, AgentRepository

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
SCHEMA = "bench_routing"
SKILLS = ["sales", "support", "billing", "loans", "cards", "insurance", "retention", "tech"]
LANGUAGES = ["ru", "en", "ro", "uk"]
SITES = [("msk", "Europe/Moscow"), ("spb", "Europe/Moscow"), ("kis", "Europe/Chisinau")]


async def populate(pool: asyncpg.Pool, agents: int, customers: int) -> None:
    have = await pool.fetchval("SELECT count(*) FROM agents")
    have_c = await pool.fetchval("SELECT count(*) FROM customers")
    if have == agents and have_c == customers:
        return
    started = time.perf_counter()
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "TRUNCATE reservations, agent_skills, customer_phones, customers, agents, sites"
        )
        await conn.executemany("INSERT INTO sites (id, name, zone) VALUES ($1, $1, $2)", SITES)
        # Agents: every one available, 1-3 skills at 1-5, one or two languages.
        await conn.execute(
            """
            INSERT INTO agents (id, name, site, endpoints, languages, level, state,
                                max_calls, last_call_ended_at)
            SELECT 'a' || g, 'Agent ' || g, (ARRAY['msk','spb','kis'])[1 + g % 3],
                   ARRAY['PJSIP/a' || g],
                   CASE WHEN h % 4 = 0 THEN ARRAY['ru','en'] ELSE
                        ARRAY[(ARRAY['ru','en','ro','uk'])[1 + (h / 4) % 4]] END,
                   (ARRAY['trainee','regular','regular','senior'])[1 + (h / 16) % 4],
                   'available', 1 + (g % 10 = 0)::int,
                   now() - make_interval(secs => (g * 7919) % 3600)
            FROM (SELECT g, abs(hashtext('agent' || g)) AS h
                  FROM generate_series(1, $1) AS g) AS agents_to_be
            """,
            agents,
        )
        await conn.execute(
            """
            INSERT INTO agent_skills (agent, skill, proficiency)
            SELECT DISTINCT ON (agent, skill) agent, skill, proficiency FROM (
                SELECT 'a' || a AS agent,
                       ($2::text[])[abs(hashtext(a || ':' || k)) % 8 + 1] AS skill,
                       1 + abs(hashtext(a || '/' || k)) % 5 AS proficiency
                FROM generate_series(1, $1) AS a, generate_series(1, 3) AS k
            ) AS generated
            """,
            agents,
            SKILLS,
        )
        await conn.execute(
            """
            INSERT INTO customers (id, name, segment, language, owner_agent)
            SELECT g, 'Customer ' || g,
                   (ARRAY['vip','regular','regular','new','occasional'])[1 + g % 5],
                   (ARRAY['ru','en','ro','uk'])[1 + g % 4],
                   CASE WHEN g % 3 = 0 THEN 'a' || (1 + g % $2) END
            FROM generate_series(1, $1) AS g
            """,
            customers,
            agents,
        )
        await conn.execute(
            "INSERT INTO customer_phones (phone, customer)"
            " SELECT '+7916' || lpad(g::text, 7, '0'), g FROM generate_series(1, $1) AS g",
            customers,
        )
    await pool.execute("ANALYZE")
    print(f"generated {agents:,} agents and {customers:,} customers in "
          f"{time.perf_counter() - started:.1f} s")  # fmt: skip


DIRECTORY = AgentDirectory()


async def decide(
    repo: AgentRepository, caller: str, call_id: str, rng: random.Random
) -> str | None:
    """One decision: who is calling (PostgreSQL), who can take it (the in-memory
    directory, ranked), reserve the best (PostgreSQL, atomic)."""
    customer = await repo.customer(caller)
    needs = Needs(
        skills=((rng.choice(SKILLS), rng.randint(1, 3)),),
        language=customer.language or "ru",
        site="msk",
    )
    vip = customer.segment is Segment.VIP
    now = datetime.now(UTC)  # agents in wrap-up or a missed-call penalty are left out
    candidates = DIRECTORY.candidates(needs, owner=customer.owner_agent, best_first=vip, now=now)
    ranked = rank(needs, customer, candidates, now)
    agent = await repo.reserve([a.id for a in ranked], call_id)
    if agent is not None:
        DIRECTORY.taken(agent)  # as the daemon does: not offered again until freed
    return agent


async def decide_and_free(
    repo: AgentRepository, caller: str, call_id: str, rng: random.Random
) -> str | None:
    agent = await decide(repo, caller, call_id, rng)
    if agent is not None:  # the call "ends" at once: the agent is free for the next
        await repo.release(agent, call_id)
        DIRECTORY.freed(agent)
    return agent


async def ticker(late: list[float], done: asyncio.Event) -> None:
    """Wants to run every millisecond; notes how late it was each time (ms)."""
    while not done.is_set():
        asked = time.perf_counter()
        await asyncio.sleep(0.001)
        late.append((time.perf_counter() - asked - 0.001) * 1000)


async def loop_held_during_refresh(pool: asyncpg.Pool, rounds: int = 5) -> None:
    """The daemon re-reads the directory every 2 s while calls run: how long does a
    read keep the event loop from serving them? A ticker that wants to run every
    millisecond measures how late it gets. A full read (at start, after an import or
    a login, every minute); a read of changes, here the worst case: every agent
    changed (a busy minute at 2,000 calls/s touches them all)."""

    async def full() -> None:
        await DIRECTORY.refresh(pool, full=True)

    async def changes() -> None:
        await pool.execute(
            "UPDATE agents SET last_call_ended_at = now() - random() * interval '1 hour'"
        )
        await DIRECTORY.refresh(pool)

    for what, read in (("full read", full), ("read of changes", changes)):
        late: list[float] = []
        done = asyncio.Event()
        ticking = asyncio.create_task(ticker(late, done))
        took = []
        for _ in range(rounds):
            started = time.perf_counter()
            await read()
            took.append((time.perf_counter() - started) * 1000)
        done.set()
        await ticking
        late.sort()
        print(
            f"directory {what:<16} {statistics.median(took):4.0f} ms each (x{rounds}); "
            f"the event loop was held at most {late[-1]:5.1f} ms, p99 "
            f"{late[int(len(late) * 0.99)]:4.1f} ms  max/target(20 ms)={late[-1] / 20:.2f}"
        )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--decisions", type=int, default=10_000)
    args = parser.parse_args()
    pool = await db.create_pool(DATABASE_URL, SCHEMA, max_size=50, settings=ROUTING_SETTINGS)
    try:
        await db.upgrade(pool)
        await populate(pool, args.agents, args.customers)
        repo = AgentRepository(pool, "bench")
        started = time.perf_counter()
        count = await DIRECTORY.refresh(pool)
        print(
            f"directory: {count:,} agents read in {(time.perf_counter() - started) * 1000:.0f} ms"
        )
        await loop_held_during_refresh(pool)
        rng = random.Random(1)

        def caller() -> str:
            return f"8916{rng.randint(1, args.customers):07d}"  # national format: normalized

        for n in range(200):  # warm up the pool and the plans
            await decide_and_free(repo, caller(), f"warm-{n}", rng)
        times, found = [], 0
        for n in range(args.decisions):
            started = time.perf_counter()
            agent = await decide(repo, caller(), f"seq-{n}", rng)  # lookup + rank + reserve
            times.append((time.perf_counter() - started) * 1000)
            if agent is not None:
                found += 1
                await repo.release(agent, f"seq-{n}")
                DIRECTORY.freed(agent)
        times.sort()
        p50, p99 = statistics.median(times), times[int(len(times) * 0.99)]
        print(
            f"sequential  n={args.decisions}  p50={p50:6.2f} ms  p99={p99:6.2f} ms  "
            f"max={times[-1]:6.2f} ms  reserved {found / args.decisions:.0%}  "
            f"p99/target(2 ms)={p99 / 2:.2f}"
        )
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(args.decisions):
            queue.put_nowait(n)

        async def caller_task() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                await decide(repo, caller(), f"par-{n}", rng)  # released all at once after

        started = time.perf_counter()
        await asyncio.gather(*(caller_task() for _ in range(50)))
        rate = args.decisions / (time.perf_counter() - started)
        held = await pool.fetchval("SELECT count(*) FROM reservations")
        for row in await pool.fetch("SELECT agent, call_id FROM reservations"):
            await repo.release(row["agent"], row["call_id"])
        print(
            f"concurrent  50 callers  {rate:,.0f} decisions/s  reserved {held / args.decisions:.0%}"
            f"  rate/target(2,000/s)={rate / 2000:.2f}"
        )
        left = await pool.fetchval("SELECT count(*) FROM reservations")
        print(f"reservations left after the run: {left} (every one was released)")
    finally:
        await pool.close()


if __name__ == "__main__":
    asyncio.run(main())
