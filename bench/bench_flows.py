"""Benchmark: how fast flows are checked and how fast the engine steps a call.

Prints the time to compile and check flows of growing size (a reload compiles
in a worker thread, so this is reload latency, not call latency) and the engine's
step rate through a menu-heavy call.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from switchboard.ari import events as ari
from switchboard.engine import TimerFired, new_call, step
from switchboard.flows import PromptCatalog, compile_flow
from tests.flowkit import CATALOG


def menu_flow(menus: int) -> bytes:
    """``menus`` menus in a row, each with 4 choices and a back key, then a route."""
    lines = ["languages: [en, ru]", 'entry: {"100": m0}', "nodes:"]
    for i in range(menus):
        nxt = f"m{i + 1}" if i + 1 < menus else "agent"
        lines.append(
            f"  m{i}: {{kind: menu, prompt: main_menu, invalid_prompt: invalid, "
            f'choices: {{"1": {nxt}, "2": {nxt}, "3": agent, "4": bye, "9": {{back: true}}}}, '
            "on_fail: bye}"
        )
    lines += ["  agent: {kind: route, endpoint: PJSIP/agent100, on_fail: bye}",
              "  bye: {kind: hangup, prompt: goodbye}"]  # fmt: skip
    return ("\n".join(lines) + "\n").encode()


def time_compile(raw: bytes, rounds: int, catalog: PromptCatalog = CATALOG) -> float:
    start = time.perf_counter()
    for _ in range(rounds):
        compile_flow("bench.yaml", raw, catalog)
    return (time.perf_counter() - start) / rounds


def engine_steps_per_second(calls: int) -> tuple[float, int]:
    flow, _ = compile_flow("bench.yaml", menu_flow(10), CATALOG)
    caller = ari.Channel(id="c1")
    steps = 0
    start = time.perf_counter()
    for _ in range(calls):
        state, _, _ = step(new_call("c1", flow, "m0"), ari.StasisStart(channel=caller))
        steps += 1
        while not state.terminal and state.phase.value == "ivr":
            if state.playing is not None:
                event: ari.AriEvent | TimerFired = ari.PlaybackFinished(
                    playback=ari.Playback(id=state.playing.playback_id)
                )
            else:
                event = ari.ChannelDtmfReceived(channel=caller, digit="7" if steps % 3 else "1")
            state, _, _ = step(state, event)
            steps += 1
    elapsed = time.perf_counter() - start
    return steps / elapsed, steps


def main() -> None:
    repo = Path(__file__).resolve().parent.parent
    prompts = PromptCatalog.scan(repo / "prompts")  # the lab's flows use the repo's prompts
    print(f"{'flow':<28} {'bytes':>9} {'check + compile':>16}")
    for name in ("flows/lab.yaml", "flows/agents.yaml"):
        raw = (repo / name).read_bytes()
        print(f"{name:<28} {len(raw):>9} {time_compile(raw, 50, prompts) * 1000:>13.2f} ms")
    for menus in (10, 100, 1000):
        raw = menu_flow(menus)
        rounds = max(1, 200 // menus)
        print(f"{f'{menus} menus':<28} {len(raw):>9} {time_compile(raw, rounds) * 1000:>13.2f} ms")
    rate, steps = engine_steps_per_second(2000)
    print(f"engine: {rate:,.0f} steps/s over {steps:,} steps (menus, wrong keys, prompts)")


if __name__ == "__main__":
    main()
