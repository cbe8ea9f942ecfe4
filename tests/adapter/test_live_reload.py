"""Tier 2: flows change while calls run: calls keep their version, bad files change nothing."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from switchboard.app import run_daemon
from switchboard.flows.model import Route, Target
from switchboard.flows.registry import FlowRegistry
from tests.adapter.test_daemon_fake_ari import lab_config
from tests.fake_ari import FakeAri

PROMPTS = Path(__file__).resolve().parents[2] / "prompts"
MENU = """
languages: [en]
entry:
  "74951234567": main
nodes:
  main:
    kind: menu
    prompt: main_menu
    choices: {"1": sales}
    on_fail: bye
  sales: {kind: route, endpoint: PJSIP/agent101, on_fail: bye}
  bye: {kind: hangup}
"""


async def press(fake: FakeAri, channel_id: str, digit: str) -> None:
    await fake.push(
        {"type": "ChannelDtmfReceived", "digit": digit, "duration_ms": 100,
         "channel": fake.channels[channel_id]}
    )  # fmt: skip


async def in_menu(fake: FakeAri) -> str:
    caller = fake.new_channel()
    await fake.stasis_start(caller)
    await fake.wait_request("POST", rf"/channels/{caller}/play/.*")
    return caller


def logged(caplog: pytest.LogCaptureFixture, msg: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == msg]


async def test_a_reload_changes_new_calls_only_and_a_broken_file_changes_nothing(
    fake: FakeAri, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    flow_file = tmp_path / "flow.yaml"
    flow_file.write_text(MENU)
    config = lab_config(fake, tmp_path)
    registry = FlowRegistry(list(config.flows.files), config.flows.prompts)
    stop = asyncio.Event()
    daemon = asyncio.create_task(run_daemon(config, registry, stop))
    await fake.wait_connected()
    fake.answer_originates = False

    # Given a caller in the menu of version 1
    old_call = await in_menu(fake)
    v1 = registry.current.version
    # When the file changes (sales now rings agent102) and is reloaded
    flow_file.write_text(MENU.replace("PJSIP/agent101", "PJSIP/agent102"))
    assert registry.reload()
    v2 = registry.current.version
    new_call = await in_menu(fake)
    # Then the call already in progress still follows version 1, the new one version 2
    for caller in (old_call, new_call):
        await press(fake, caller, "1")
    old_leg = await fake.wait_request("POST", rf"/channels/{old_call}-leg\d+")
    new_leg = await fake.wait_request("POST", rf"/channels/{new_call}-leg\d+")
    assert old_leg.query["endpoint"] == "PJSIP/agent101"
    assert new_leg.query["endpoint"] == "PJSIP/agent102"
    starts = {
        r.__dict__["call_id"]: r.__dict__["flows_version"] for r in logged(caplog, "call.start")
    }
    assert starts == {old_call: v1, new_call: v2}

    # A broken file is refused with its problems; version 2 keeps serving
    flow_file.write_text(MENU.replace("on_fail: bye}", "on_fail: nowhere}"))
    assert not registry.reload()
    assert registry.current.version == v2
    rejected = logged(caplog, "flows.reload_rejected")[0].__dict__
    assert rejected["kept_version"] == v2
    assert "goes to 'nowhere', which does not exist" in rejected["problems"][0]
    third = await in_menu(fake)
    await press(fake, third, "1")
    third_leg = await fake.wait_request("POST", rf"/channels/{third}-leg\d+")
    assert third_leg.query["endpoint"] == "PJSIP/agent102"

    for caller in (old_call, new_call, third):
        await fake.caller_hangs_up(caller)
    stop.set()
    assert await asyncio.wait_for(daemon, 10) == 0


async def test_the_watcher_reloads_a_changed_file_by_itself(tmp_path: Path) -> None:
    flow_file = tmp_path / "flow.yaml"
    flow_file.write_text(MENU)
    registry = FlowRegistry([flow_file], PROMPTS)
    before = registry.current.version
    watcher = asyncio.create_task(registry.watch(0.02))
    await asyncio.to_thread(flow_file.write_text, MENU.replace("agent101", "agent103"))
    async with asyncio.timeout(5):
        while registry.current.version == before:  # noqa: ASYNC110 - polling the watcher
            await asyncio.sleep(0.02)
    watcher.cancel()
    await asyncio.gather(watcher, return_exceptions=True)
    sales = registry.current.flows[0].nodes["sales"].kind
    assert sales == Route(targets=(Target("PJSIP/agent103"),), on_fail="bye")
