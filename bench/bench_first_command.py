"""Benchmark: time from StasisStart to the first ARI command (the answer).

Runs the real daemon (run_daemon: websocket, supervisor, engine, executor, REST
client) against the in-process fake ARI on loopback, so the figure includes the
websocket hop, JSON parsing, dispatch to the call's task, the engine step and
the HTTP request. Target: p99 < 5 ms on the 2-core machine.

``--journal-cost``: the same with the call log in PostgreSQL (tests.pgkit's server,
a fresh schema) and the call journal on, then off, alternating ``--rounds`` times:
what journaling each call's progress (calljournal) costs the set-up.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from switchboard.app import run_daemon
from switchboard.config import DatabaseConfig
from switchboard.flows.registry import FlowRegistry
from tests.adapter.test_daemon_fake_ari import lab_config
from tests.fake_ari import FakeAri
from tests.flowkit import SPINE
from tests.pgkit import DATABASE_URL, fresh_schema

TARGET_P99_MS = 5.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def measure(calls: int, burst: bool, schema: str = "", journal: bool = True) -> list[float]:
    """``schema``: the call log goes to PostgreSQL (and ``journal``: the calls are
    journaled as they go); none: no database, no journal."""
    fake = FakeAri(finish_playbacks=False)
    await fake.start()
    flow_dir = Path(tempfile.mkdtemp())
    (flow_dir / "flow.yaml").write_text(SPINE)
    config = lab_config(fake, flow_dir, drain=5.0)
    if schema:
        daemon_cfg = replace(config.daemon, state_directory=flow_dir / "state", journal=journal)
        database = DatabaseConfig(DATABASE_URL, schema)
        config = replace(config, daemon=daemon_cfg, database=database)
    flows = FlowRegistry(list(config.flows.files), config.flows.prompts)
    stop = asyncio.Event()
    daemon = asyncio.create_task(run_daemon(config, flows, stop))
    await fake.wait_connected()
    await fake.wait_request("GET", "/bridges")
    latencies: list[float] = []
    started: dict[str, float] = {}
    channels = [fake.new_channel() for _ in range(calls)]
    for i, channel in enumerate(channels):
        started[channel] = time.perf_counter()
        await fake.stasis_start(channel)
        if not burst:
            answer = await fake.wait_request("POST", rf"/channels/{channel}/answer", within=10)
            latencies.append((answer.at - started[channel]) * 1000)
        if not burst and i % 20 == 19:
            await asyncio.sleep(0)  # let finished calls' tasks run
    if burst:
        # Poll rarely so the benchmark's own bookkeeping does not load the shared loop.
        answered = r"/channels/[^/]+/answer"
        while len(answers := fake.requested("POST", answered)) < calls:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        for answer in answers:
            latencies.append((answer.at - started[answer.path.split("/")[2]]) * 1000)
    for channel in channels:  # end the calls so the drain is quick
        await fake.caller_hangs_up(channel)
    stop.set()
    await daemon
    await fake.stop()
    shutil.rmtree(flow_dir)
    return latencies


def report(name: str, latencies: list[float]) -> None:
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    print(
        f"{name:<34} n={len(latencies):<4} p50={p50:6.2f} ms  p99={p99:6.2f} ms  "
        f"max={max(latencies):6.2f} ms  mean={statistics.fmean(latencies):6.2f} ms  "
        f"p99/target={p99 / TARGET_P99_MS:.2f}"
    )


async def journal_cost(calls: int, rounds: int) -> None:
    async with fresh_schema("benchjournal") as schema:
        await measure(20, burst=False, schema=schema)  # warm-up
        for n in range(rounds):
            for journal in (True, False) if n % 2 == 0 else (False, True):
                name = "journal on " if journal else "journal off"
                report(f"{name}, one by one", await measure(calls, False, schema, journal))
                burst = await measure(calls, True, schema, journal)
                print(
                    f"{name + ', burst':<34} n={len(burst):<4} all answered within "
                    f"{max(burst):6.2f} ms = {len(burst) / max(burst) * 1000:,.0f} set-ups/s"
                )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--journal-cost", action="store_true")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    if args.journal_cost:
        await journal_cost(args.calls, args.rounds)
        return
    await measure(20, burst=False)  # warm-up: imports, first connections
    report("StasisStart -> answer, one by one", await measure(args.calls, burst=False))
    burst = await measure(args.calls, burst=True)
    print(
        f"{'StasisStart -> answer, burst':<34} n={len(burst):<4} all answered within "
        f"{max(burst):6.2f} ms = {len(burst) / max(burst) * 1000:,.0f} call set-ups/s "
        "(fake ARI and daemon share one process)"
    )
    print(f"target: p99 < {TARGET_P99_MS} ms for one call at a time")


if __name__ == "__main__":
    asyncio.run(main())
