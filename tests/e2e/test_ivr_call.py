"""Tier 3: callers press real keys (SIP INFO) through the lab's IVR on real Asterisk.

The IVR line 74951234568 runs flows/lab.yaml: greeting, main menu (1 sales,
2 support, 4 Russian), sales menu (1 new, 2 existing, 9 back), agent101 for
sales, agent102 (the operator) for support and for callers who never choose.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit.daemon import REPO, DaemonProcess
from labkit.lab import (
    AGENT_PORTS,
    SCENARIOS,
    finish_sipp,
    run_caller,
    start_agent_uas,
    wait_for_channel_count,
)
from labkit.sipp_scenarios import call_pressing_keys
from tests.e2e.observer import observe

pytestmark = pytest.mark.e2e

IVR_NUMBER = "74951234568"


def the_call(daemon: DaemonProcess) -> dict[str, object]:
    calls = daemon.calls()
    assert len(calls) == 1, calls
    return daemon.wait_for("call.end", calls[0])


async def test_keys_through_two_menus_with_one_wrong_key_reach_the_sales_agent(
    daemon: DaemonProcess,
) -> None:
    async with observe() as asterisk:
        agent101 = start_agent_uas(AGENT_PORTS["agent101"])
        # 1 (sales) during the main menu, 7 (wrong) in the sales menu, then 1 (new customer)
        # 4 s later: after the 2.5 s "invalid" prompt, while the sales menu replays
        keys = [(5000, "1"), (1500, "7"), (4000, "1")]
        caller = await asyncio.to_thread(call_pressing_keys, IVR_NUMBER, keys, 3000, "ivr_sales")
        agent_exit = await asyncio.to_thread(finish_sipp, agent101)
        assert await asyncio.to_thread(wait_for_channel_count, 0) == 0
        await asyncio.sleep(0.3)
    assert caller.returncode == 0
    assert agent_exit == 0, "agent101 did not get the call"
    pressed = [e["digit"] for e in asterisk.of_type("ChannelDtmfReceived")]
    assert pressed == ["1", "7", "1"]
    ended = the_call(daemon)
    assert ended["path"] == ["ivr_welcome", "main", "sales", "new_customer", "ring_sales"]
    assert (ended["outcome"], ended["answered_by"]) == ("answered", "PJSIP/agent101")
    assert ended["vars"] == {"skill": "sales_new"}
    played = [e["playback"]["media_uri"] for e in asterisk.of_type("PlaybackStarted")]
    assert played == [
        "sound:switchboard/greeting",
        "sound:switchboard/main_menu",
        "sound:switchboard/sales_menu",
        "sound:switchboard/invalid",  # the wrong key
        "sound:switchboard/sales_menu",
    ]


async def test_a_caller_who_presses_nothing_ends_at_the_timeout_fallback(
    daemon: DaemonProcess,
) -> None:
    agent102 = start_agent_uas(AGENT_PORTS["agent102"], timeout_s=90)
    caller = await asyncio.to_thread(call_pressing_keys, IVR_NUMBER, [], 30000, "ivr_silent", 90)
    agent_exit = await asyncio.to_thread(finish_sipp, agent102)
    assert caller.returncode == 0
    assert agent_exit == 0, "the operator (agent102) did not get the call"
    assert await asyncio.to_thread(wait_for_channel_count, 0) == 0
    ended = the_call(daemon)
    assert ended["path"] == ["ivr_welcome", "main", "operator"]
    assert (ended["outcome"], ended["answered_by"]) == ("answered", "PJSIP/agent102")
    transitions = [
        t["event"] for t in daemon.trace(str(ended["call_id"])) if t["msg"] == "call.transition"
    ]
    assert transitions.count("TimerFired") == 2  # two silences: the menu's 1 + 1 retry


@pytest.fixture
def reloading_daemon(lab: None, tmp_path: Path) -> Iterator[tuple[DaemonProcess, Path]]:
    """A daemon whose flow file is a copy the test may change (watched every 0.2 s)."""
    flow = tmp_path / "lab.yaml"
    shutil.copy(REPO / "flows" / "lab.yaml", flow)
    config = tmp_path / "switchboard.yaml"
    config.write_text(
        (REPO / "deploy" / "lab" / "switchboard.yaml")
        .read_text()
        .replace(
            "files: [../../flows/lab.yaml, ../../flows/examples/seed.yaml, "
            "../../flows/agents.yaml]",
            f"files: [{flow}]",
        )
        .replace("directory: ../../artifacts/voicemail", f"directory: {tmp_path / 'voicemail'}")
        .replace("directory: ../../artifacts/recordings", f"directory: {tmp_path / 'recordings'}")
        .replace("prompts: ../../prompts", f"prompts: {REPO / 'prompts'}")
        .replace("watch_interval: 0.5", "watch_interval: 0.2")
    )
    assert "../../" not in config.read_text(), "a path still relative to deploy/lab"
    process = DaemonProcess(REPO / "artifacts" / "daemon" / "reload.log", config)
    process.start()
    try:
        yield process, flow
    finally:
        assert process.stop() == 0


async def test_a_reload_during_a_call_does_not_change_that_calls_path(
    reloading_daemon: tuple[DaemonProcess, Path],
) -> None:
    daemon, flow = reloading_daemon
    phones = {name: start_agent_uas(AGENT_PORTS[name]) for name in ("agent101", "agent102")}
    # The first caller presses 2 (support -> the operator) 8 s into the call ...
    first = asyncio.create_task(
        asyncio.to_thread(call_pressing_keys, IVR_NUMBER, [(8000, "2")], 2000, "reload_first")
    )
    await asyncio.sleep(3)
    # ... but 3 s into it the operator becomes agent101 in a new version of the flow.
    await asyncio.to_thread(
        flow.write_text,
        flow.read_text().replace("endpoint: PJSIP/agent102", "endpoint: PJSIP/agent101"),
    )
    await asyncio.sleep(1)
    reloaded = [line for line in daemon.lines() if line.get("msg") == "flows.reloaded"]
    assert len(reloaded) == 1, "the watcher did not pick up the change"
    assert (await first).returncode == 0
    second = await asyncio.to_thread(
        call_pressing_keys, IVR_NUMBER, [(5000, "2")], 2000, "reload_second"
    )
    assert second.returncode == 0
    exits = {name: await asyncio.to_thread(finish_sipp, phone) for name, phone in phones.items()}
    assert exits == {"agent101": 0, "agent102": 0}
    first_call, second_call = daemon.calls()
    old, new = daemon.wait_for("call.end", first_call), daemon.wait_for("call.end", second_call)
    assert old["answered_by"] == "PJSIP/agent102"  # the version it started with
    assert new["answered_by"] == "PJSIP/agent101"  # the new version
    versions = [daemon.trace(c)[0]["flows_version"] for c in (first_call, second_call)]
    assert versions == [reloaded[0]["from"], reloaded[0]["to"]]


async def test_a_ring_group_rings_all_and_the_first_to_answer_gets_the_call(
    daemon: DaemonProcess,
) -> None:
    """agent100 and agent102 ring without answering; agent101 answers; the others stop."""
    never = SCENARIOS / "agent_ring_no_answer.xml"
    phones = {
        "agent100": start_agent_uas(AGENT_PORTS["agent100"], never),
        "agent101": start_agent_uas(AGENT_PORTS["agent101"]),
        "agent102": start_agent_uas(AGENT_PORTS["agent102"], never),
    }
    async with observe() as asterisk:
        caller = await asyncio.to_thread(run_caller, "74951234569", None, 8000)
        exits = {n: await asyncio.to_thread(finish_sipp, p) for n, p in phones.items()}
        assert await asyncio.to_thread(wait_for_channel_count, 0) == 0
        await asyncio.sleep(0.3)
    assert caller.returncode == 0
    assert exits == {"agent100": 0, "agent101": 0, "agent102": 0}  # the two others got CANCEL
    ended = the_call(daemon)
    assert (ended["outcome"], ended["answered_by"]) == ("answered", "PJSIP/agent101")
    call_id = str(ended["call_id"])
    bridged = {
        e["channel"]["id"]
        for e in asterisk.of_type("ChannelEnteredBridge")
        if e["bridge"]["id"] == f"{call_id}-bridge"
    }
    assert len(bridged) == 2  # the caller and exactly one agent leg
    assert call_id in bridged
