"""Benchmark: FastAGI sessions over loopback, the client playing Asterisk.

- route latency: one session after another (connect, environment, the router's
  decision on real PostgreSQL with the CRM lookup and the reservation, six SET
  VARIABLE round trips, close), each followed by its done; p50/p99 of route.
- sessions per second, 50 at once: hours (no database) and route + done pairs.

No assertion on the figures: a timing goal is a benchmark, not a test.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from switchboard.agi import AgiHandlers, AgiServer
from switchboard.ari import events as ari
from switchboard.config import AgiConfig, RoutingConfig
from switchboard.daemon.targets import TargetBook
from switchboard.db import Database
from switchboard.engine.events import EngineEvent
from switchboard.routing.repository import ROUTING_SETTINGS
from switchboard.routing.service import AgentRouter
from tests.adapter.test_agi_server import MAIN, NOON_IN_MOSCOW
from tests.agikit import agi_call
from tests.pgkit import DATABASE_URL, fresh_schema

AGENTS = 100
AT_ONCE = 50


def nowhere(call_id: str, event: EngineEvent) -> bool:
    return False


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def fill(database: Database) -> None:
    pool = await database.pool()
    await pool.executemany(
        "INSERT INTO agents (id, name, endpoints, languages, state, wrap_up_s)"
        " VALUES ($1, $1, $2, '{en}', 'available', 0)",
        [(f"a{n}", [f"PJSIP/{n}"]) for n in range(AGENTS)],
    )
    await pool.executemany(
        "INSERT INTO agent_skills VALUES ($1, 'sales', $2)",
        [(f"a{n}", 1 + n % 5) for n in range(AGENTS)],
    )


async def routed(port: int, n: int) -> float:
    started = time.perf_counter()
    await agi_call(port, "route?skill=sales", uniqueid=f"b.{n}", caller="+79160000001")
    took = time.perf_counter() - started
    await agi_call(port, "done?status=CANCEL", uniqueid=f"b.{n}")
    return took


async def at_once(count: int, one: object) -> float:
    gate = asyncio.Semaphore(AT_ONCE)

    async def limited(n: int) -> None:
        async with gate:
            await one(n)  # type: ignore[operator]

    started = time.perf_counter()
    await asyncio.gather(*(limited(n) for n in range(count)))
    return count / (time.perf_counter() - started)


async def main() -> None:
    async with fresh_schema("benchagi") as schema:
        database = Database(DATABASE_URL, schema, ROUTING_SETTINGS)  # as the daemon
        await fill(database)
        book = TargetBook()
        book.load(ari.Endpoint("PJSIP", str(n), "online") for n in range(AGENTS))
        router = AgentRouter(database, book, nowhere, RoutingConfig(), "bench")
        config = AgiConfig(port=0, max_sessions=1000)
        handlers = AgiHandlers(config, router, lambda: {"main": MAIN}, lambda: NOON_IN_MOSCOW)
        server = AgiServer(config, handlers)
        tasks = [asyncio.create_task(router.run()), asyncio.create_task(server.run())]
        await server.listening.wait()
        port = server.port
        try:
            await routed(port, -1)  # warm up: the directory is read, the pool opened
            latencies = [await routed(port, n) * 1000 for n in range(300)]
            print(
                f"route (one at a time, 300): p50 {statistics.median(latencies):.2f} ms, "
                f"p99 {percentile(latencies, 99):.2f} ms, max {max(latencies):.2f} ms"
            )

            async def hours(n: int) -> None:
                await agi_call(port, "hours?calendar=main", uniqueid=f"h.{n}")

            print(f"hours, {AT_ONCE} at once: {await at_once(3000, hours):.0f} sessions/s")
            pairs = await at_once(1000, lambda n: routed(port, 1000 + n))
            print(f"route + done, {AT_ONCE} at once: {pairs:.0f} pairs/s")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await database.close()


if __name__ == "__main__":
    asyncio.run(main())
