"""Profile: the daemon's CPU per call (greeting -> queue -> agent answers -> hang-up).

The real daemon (run_daemon: websocket, supervisor, engine, executor, REST client,
JSON logging at info) runs in this process; the in-process fake ARI and the
driver that places the calls run in a child process, so ``time.process_time()``
here counts the daemon's CPU only. Each call: StasisStart, the greeting plays
(it finishes at once), the caller joins the queue, the agent's leg is
originated and answers at once, the two are bridged, then the caller hangs up.

    .venv/bin/python bench/profile_call.py --calls 500               # CPU ms per call
    .venv/bin/python bench/profile_call.py --calls 500 --profile     # + cProfile tops

The figure is the daemon's CPU divided by the calls (idle ticks included, which
over a short run are negligible); on a shared machine, compare runs made
alternately on the same tree.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib
import io
import logging
import multiprocessing
import multiprocessing.connection
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from switchboard import logs
from switchboard.app import run_daemon
from switchboard.config import AriConfig, Config, DaemonConfig, FlowsConfig
from switchboard.flows.registry import FlowRegistry
from tests.fake_ari import PASSWORD, USER, FakeAri

REPO = Path(__file__).resolve().parent.parent
AGENTS = 40


def flow_text(agents: int) -> str:
    endpoints = ", ".join(f"PJSIP/agent{100 + i}" for i in range(agents))
    return f"""\
languages: [en]
entry: {{"74951234567": welcome}}
nodes:
  welcome: {{kind: play, prompt: greeting, next: wait}}
  wait:
    kind: queue
    name: sales
    endpoints: [{endpoints}]
    strategy: longest_idle
    ring_seconds: 15
    max_wait: 60
    on_timeout: bye
  bye: {{kind: hangup}}
"""


# -- the child: fake ARI and the callers ------------------------------------------------
class WatchedAri(FakeAri):
    """The fake ARI, keeping no request log; a request can be awaited by its path."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.waiters: dict[tuple[str, str], asyncio.Future[None]] = {}
        self.count = 0

    def _record(self, request: Any, path: str, raw_path: str = "") -> None:
        self.count += 1
        if path in ("/events", "/bridges"):  # what the harness waits for at start
            super()._record(request, path, raw_path)
        waiter = self.waiters.pop((request.method, path), None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def expect(self, method: str, path: str) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters[(method, path)] = future
        return future


async def one_call(fake: WatchedAri, index: int) -> None:
    channel = fake.new_channel(f"1700{index:08d}.1")
    bridged = fake.expect("POST", f"/bridges/{channel}-bridge/addChannel")
    ended = fake.expect("DELETE", f"/bridges/{channel}-bridge")
    await fake.stasis_start(channel)
    await asyncio.wait_for(bridged, 10)
    await fake.caller_hangs_up(channel)
    await asyncio.wait_for(ended, 10)


async def callers(conn: multiprocessing.connection.Connection, agents: int) -> None:
    fake = WatchedAri()
    fake.endpoints = [
        {"technology": "PJSIP", "resource": f"agent{100 + i}", "state": "online",
         "channel_ids": []}
        for i in range(agents)
    ]  # fmt: skip
    conn.send(await fake.start())
    await fake.wait_connected(within=20)
    await fake.wait_request("GET", "/bridges", within=20)
    conn.send("ready")
    index = 0
    loop = asyncio.get_running_loop()
    while True:
        order = await loop.run_in_executor(None, conn.recv)
        if order is None:
            break
        calls, parallel = order
        if calls == 0:  # idle for `parallel` seconds
            await asyncio.sleep(parallel)
            conn.send((float(parallel), fake.count))
            continue
        started = time.perf_counter()
        for first in range(0, calls, parallel):
            batch = range(index + first, index + min(calls, first + parallel))
            await asyncio.gather(*(one_call(fake, i) for i in batch))
        index += calls
        conn.send((time.perf_counter() - started, fake.count))
    await fake.stop()


def child(conn: multiprocessing.connection.Connection, agents: int) -> None:
    asyncio.run(callers(conn, agents))


# -- the parent: the daemon --------------------------------------------------------------
async def _idle(
    parent: multiprocessing.connection.Connection, loop: asyncio.AbstractEventLoop, seconds: int
) -> tuple[float, float, int]:
    cpu = time.process_time()
    parent.send((0, seconds))
    wall, requests = await loop.run_in_executor(None, parent.recv)
    return time.process_time() - cpu, wall, requests


async def run(args: argparse.Namespace) -> None:
    parent, child_end = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=child, args=(child_end, args.agents), daemon=True
    )
    process.start()
    url = parent.recv()
    work = Path(tempfile.mkdtemp())
    (work / "flow.yaml").write_text(flow_text(args.agents))
    config = Config(
        ari=AriConfig(url=url, username=USER, password=PASSWORD),
        flows=FlowsConfig(files=(work / "flow.yaml",), prompts=REPO / "prompts",
                          watch_interval=0),
        daemon=DaemonConfig(drain_timeout=5, state_directory=work / "state"),
    )  # fmt: skip
    flows = FlowRegistry(list(config.flows.files), config.flows.prompts)
    stop = asyncio.Event()
    daemon = asyncio.create_task(run_daemon(config, flows, stop))
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, parent.recv) == "ready"

    async def calls(n: int) -> tuple[float, float, int]:
        cpu = time.process_time()
        parent.send((n, args.parallel))
        wall, requests = await loop.run_in_executor(None, parent.recv)
        return time.process_time() - cpu, wall, requests

    _, _, warm_requests = await calls(args.warmup)
    if args.idle:
        idle_cpu, _, _ = await _idle(parent, loop, args.idle)
        print(
            f"idle {args.idle} s with {args.agents} endpoints: daemon CPU "
            f"{idle_cpu * 1000 / args.idle:.2f} ms/s"
        )
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        profiler.enable()
    cpu, wall, requests_before = await calls(args.calls)
    if profiler is not None:
        profiler.disable()
    parent.send(None)
    stop.set()
    await daemon
    process.join(10)
    shutil.rmtree(work)
    requests = (requests_before - warm_requests) / args.calls
    print(
        f"calls={args.calls} parallel={args.parallel}: daemon CPU {cpu * 1000 / args.calls:.3f} "
        f"ms/call ({cpu:.2f} s CPU in {wall:.2f} s wall); ARI requests per call "
        f"(as the fake counts them): {requests:.1f}"
    )
    if profiler is not None:
        for order in ("cumulative", "tottime"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(args.top)
            print(f"--- top {args.top} by {order} ---")
            print(out.getvalue().split("ncalls", 1)[-1].join(["   ncalls", ""]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--parallel", type=int, default=10, help="calls at a time")
    parser.add_argument("--agents", type=int, default=AGENTS, help="queue's phones")
    parser.add_argument("--idle", type=int, default=0, help="also measure N s with no calls")
    parser.add_argument("--profile", action="store_true", help="cProfile the measured calls")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    sink = open("/dev/null", "w")  # noqa: SIM115 - the JSON log lines are formatted, not kept
    logs.configure(args.log_level, stream=sink)
    logging.getLogger("switchboard.bench").info("bench.start")
    if args.uvloop:
        importlib.import_module("uvloop").run(run(args))  # (not a dependency: pip install)
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
