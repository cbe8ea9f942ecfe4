"""Tier 2: the daemon against an in-process fake ARI (faults, drops, interleaving)."""

from __future__ import annotations

import asyncio
import logging
import re
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from switchboard.app import run_daemon
from switchboard.config import AriConfig, Config, DaemonConfig, FlowsConfig
from switchboard.engine import CallState, EngineEvent, step
from switchboard.flows.registry import FlowRegistry
from tests.fake_ari import PASSWORD, USER, FakeAri, Recorded, lab_endpoints
from tests.flowkit import SPINE

REPO = Path(__file__).resolve().parents[2]


def leg(call_id: str) -> str:
    """The agent leg of a spine call: greeting is the call's 1st id, the leg its 2nd."""
    return f"{call_id}-leg2"


def lab_config(fake: FakeAri, flow_dir: Path, drain: float = 1.0, stall: float = 120) -> Config:
    return Config(
        ari=AriConfig(url=fake.url, username=USER, password=PASSWORD),
        flows=FlowsConfig(files=(flow_dir / "flow.yaml",), prompts=REPO / "prompts",
                          watch_interval=0),
        daemon=DaemonConfig(drain_timeout=drain, stall_guard=stall),
    )  # fmt: skip


@dataclass
class Running:
    stop: asyncio.Event
    task: asyncio.Task[int]


@asynccontextmanager
async def daemon(
    fake: FakeAri, drain: float = 1.0, stall: float = 120, flow: str = SPINE
) -> AsyncIterator[Running]:
    with tempfile.TemporaryDirectory() as flow_dir:
        (Path(flow_dir) / "flow.yaml").write_text(flow)
        config = lab_config(fake, Path(flow_dir), drain, stall)
        registry = FlowRegistry(list(config.flows.files), config.flows.prompts)
        stop = asyncio.Event()
        running = Running(stop, asyncio.create_task(run_daemon(config, registry, stop)))
        await fake.wait_connected()
        await fake.wait_request("GET", "/bridges")  # first reconcile done
        try:
            yield running
        finally:
            running.stop.set()
            await asyncio.wait_for(asyncio.shield(running.task), 10)


async def connected_call(fake: FakeAri) -> str:
    """Given a caller who has been greeted and bridged to agent100."""
    caller = fake.new_channel()
    await fake.stasis_start(caller)
    await fake.wait_request("POST", rf"/bridges/{caller}-bridge/addChannel")
    return caller


def messages(caplog: pytest.LogCaptureFixture, msg: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == msg]


def torn_down(fake: FakeAri, call_id: str) -> list[Recorded]:
    """Requests that would end (part of) the call: hang-ups, hand-back, bridge removal."""
    legs = rf"/channels/{re.escape(call_id)}(-leg2)?"
    return (
        fake.requested("DELETE", legs)
        + fake.requested("DELETE", rf"/bridges/{re.escape(call_id)}-bridge")
        + fake.requested("POST", rf"/channels/{re.escape(call_id)}/continue")
    )


async def logged(caplog: pytest.LogCaptureFixture, msg: str, count: int = 1) -> None:
    """Wait until the daemon has logged ``msg`` ``count`` times (it runs in this loop)."""
    async with asyncio.timeout(5):
        while len(messages(caplog, msg)) < count:  # noqa: ASYNC110 - log records have no event
            await asyncio.sleep(0.01)


async def test_a_call_is_greeted_bridged_and_both_legs_end_together(fake: FakeAri) -> None:
    async with daemon(fake):
        caller = await connected_call(fake)
        await fake.caller_hangs_up(caller)
        await fake.wait_request("DELETE", rf"/channels/{leg(caller)}")
        await fake.wait_request("DELETE", rf"/bridges/{caller}-bridge")
    calls = [(r.method, r.path) for r in fake.requests if caller in r.path]
    assert calls == [
        ("POST", f"/channels/{caller}/answer"),
        ("POST", f"/channels/{caller}/play/{caller}-pb1"),
        ("POST", f"/channels/{caller}/ring"),
        ("POST", f"/bridges/{caller}-bridge"),
        ("POST", f"/channels/{leg(caller)}"),
        ("DELETE", f"/channels/{caller}/ring"),
        ("POST", f"/bridges/{caller}-bridge/addChannel"),
        ("DELETE", f"/channels/{leg(caller)}"),
        ("DELETE", f"/bridges/{caller}-bridge"),
    ]
    originate = fake.requested("POST", rf"/channels/{leg(caller)}")[0]
    assert originate.query["endpoint"] == "PJSIP/agent100"
    assert originate.query["appArgs"] == f"leg,{caller}"
    assert all(r.authorization.startswith("Basic ") for r in fake.requests)
    assert fake.channels == {}


async def test_websocket_drop_mid_call_reconnects_reconciles_and_the_call_goes_on(
    fake: FakeAri, caplog: pytest.LogCaptureFixture
) -> None:
    async with daemon(fake):
        caller = await connected_call(fake)
        await fake.drop_websockets()
        await fake.wait_connected(count=2)
        await logged(caplog, "reconcile.done", count=2)
        await asyncio.sleep(0.1)  # anything reconcile started in the background has run
        assert torn_down(fake, caller) == []  # the connected call was left alone
        await fake.caller_hangs_up(caller)
        await fake.wait_request("DELETE", rf"/channels/{leg(caller)}")


async def test_caller_gone_during_the_outage_is_found_by_reconcile(fake: FakeAri) -> None:
    async with daemon(fake):
        caller = await connected_call(fake)
        await fake.drop_websockets()
        del fake.channels[caller]  # hung up while we could not hear it: no event
        fake.in_stasis.discard(caller)
        await fake.wait_connected(count=2)
        await fake.wait_request("DELETE", rf"/channels/{leg(caller)}")
        await fake.wait_request("DELETE", rf"/bridges/{caller}-bridge")


async def test_404_on_hangup_becomes_channel_gone_and_nothing_escapes(
    fake: FakeAri, caplog: pytest.LogCaptureFixture
) -> None:
    async with daemon(fake):
        caller = await connected_call(fake)
        fake.fail("DELETE", rf"/channels/{caller}", 404, '{"message":"Channel not found"}')
        agent = fake.channels.pop(leg(caller))
        await fake.push({"type": "StasisEnd", "channel": agent})
        await fake.wait_request("DELETE", rf"/bridges/{caller}-bridge")
        await fake.wait_request("DELETE", rf"/channels/{caller}")
    results = [r.__dict__.get("result", "") for r in messages(caplog, "call.command_result")]
    assert any(f"ChannelGone(channel_id='{caller}')" in r for r in results)
    assert messages(caplog, "call.crashed") == []


async def test_interleaved_events_of_two_calls_reach_each_call_in_order(
    fake: FakeAri, caplog: pytest.LogCaptureFixture
) -> None:
    fake.finish_playbacks = False
    caplog.set_level(logging.INFO)
    async with daemon(fake):
        first, second = fake.new_channel(), fake.new_channel()
        await fake.stasis_start(first)
        await fake.stasis_start(second)
        await fake.wait_request("POST", rf"/channels/{second}/play/.*")
        await fake.wait_request("POST", rf"/channels/{first}/play/.*")
        for call in (second, first):  # finish the second call's greeting first
            done = {"id": f"{call}-pb1", "target_uri": f"channel:{call}", "state": "done"}
            await fake.push({"type": "PlaybackFinished", "playback": done})
        for call in (first, second):
            await fake.wait_request("POST", rf"/bridges/{call}-bridge/addChannel")
            await fake.caller_hangs_up(call)
            await fake.wait_request("DELETE", rf"/bridges/{call}-bridge")
    for call in (first, second):
        phases = [
            (r.__dict__["from"], r.__dict__["to"])
            for r in messages(caplog, "call.transition")
            if r.__dict__["call_id"] == call
        ]
        assert phases == [
            ("new", "ivr"),
            ("ivr", "dialing"),  # which phones can ring?
            ("dialing", "dialing"),  # the answer: ring them
            ("dialing", "connected"),
            ("connected", "ended"),
        ]


async def test_500_from_ari_is_logged_with_status_and_body_and_caller_goes_to_fallback(
    fake: FakeAri, caplog: pytest.LogCaptureFixture
) -> None:
    async with daemon(fake):
        caller = fake.new_channel()
        fake.fail("POST", rf"/channels/{caller}/answer", 500, '{"message":"Internal boom"}')
        await fake.stasis_start(caller)
        await fake.wait_request("POST", rf"/channels/{caller}/continue")
    results = " ".join(
        r.__dict__.get("result", "") for r in messages(caplog, "call.command_result")
    )
    assert "status=500" in results
    assert "Internal boom" in results


async def test_malformed_json_and_unknown_events_are_logged_and_the_daemon_keeps_working(
    fake: FakeAri, caplog: pytest.LogCaptureFixture
) -> None:
    async with daemon(fake):
        await fake.push_raw("{not json")
        await fake.push_raw("[1, 2]")
        await fake.push({"type": "StasisStart", "args": []})  # known type, no channel
        await fake.push({"type": "BrandNewEvent", "x": 1})
        caller = await connected_call(fake)
        await fake.caller_hangs_up(caller)
        await fake.wait_request("DELETE", rf"/channels/{leg(caller)}")
    assert len(messages(caplog, "ari.malformed_event")) == 3


async def test_a_crashing_call_sends_its_caller_to_the_fallback_and_others_go_on(
    fake: FakeAri, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    doomed, healthy = "1711111111.1", "1722222222.2"

    def faulty_step(state: CallState, event: EngineEvent) -> Any:
        if state.call_id == doomed:
            raise RuntimeError("bug in a flow")
        return step(state, event)

    monkeypatch.setattr("switchboard.daemon.runner.step", faulty_step)
    async with daemon(fake):
        for channel_id in (doomed, healthy):
            await fake.stasis_start(fake.new_channel(channel_id))
        await fake.wait_request("POST", rf"/channels/{doomed}/continue")
        await fake.wait_request("POST", rf"/bridges/{healthy}-bridge/addChannel")
        await fake.caller_hangs_up(healthy)
        await fake.wait_request("DELETE", rf"/channels/{leg(healthy)}")
    crashed = messages(caplog, "call.crashed")
    assert [r.__dict__["call_id"] for r in crashed] == [doomed]
    assert fake.requested("DELETE", rf"/channels/{doomed}") == []  # not dropped
    assert fake.requested("POST", rf"/channels/{healthy}/continue") == []


async def test_agent_who_does_not_answer_sends_the_caller_to_the_dialplan_fallback(
    fake: FakeAri,
) -> None:
    fake.answer_originates = False
    async with daemon(fake):
        caller = fake.new_channel()
        await fake.stasis_start(caller)
        await fake.wait_request("POST", rf"/channels/{leg(caller)}")
        agent = fake.channels.pop(leg(caller))
        await fake.push(
            {"type": "ChannelDestroyed", "cause": 19, "cause_txt": "No answer", "channel": agent}
        )
        await fake.wait_request("POST", rf"/channels/{caller}/continue")
        await fake.wait_request("DELETE", rf"/bridges/{caller}-bridge")


async def test_stop_drains_unconnected_calls_refuses_new_ones_and_waits_for_connected(
    fake: FakeAri,
) -> None:
    async with daemon(fake, drain=10.0) as running:
        talking = await connected_call(fake)
        fake.finish_playbacks = False
        greeting = fake.new_channel()
        await fake.stasis_start(greeting)
        await fake.wait_request("POST", rf"/channels/{greeting}/play/.*")
        running.stop.set()
        await fake.wait_request("POST", rf"/channels/{greeting}/continue")
        late = fake.new_channel()
        await fake.stasis_start(late)
        await fake.wait_request("POST", rf"/channels/{late}/continue")
        assert not running.task.done()  # the connected call keeps the daemon alive
        await fake.caller_hangs_up(talking)
        assert await asyncio.wait_for(asyncio.shield(running.task), 5) == 0
    assert fake.requested("POST", rf"/channels/{late}/answer") == []
    assert fake.requested("DELETE", rf"/channels/{leg(talking)}") != []


async def test_a_leg_answering_after_its_call_ended_is_hung_up(fake: FakeAri) -> None:
    async with daemon(fake):
        orphan = "1699999999.9-leg2"
        fake.new_leg(orphan, "1699999999.9", answered=False)
        await fake.stasis_start(orphan, ["leg", "1699999999.9"])
        await fake.wait_request("DELETE", rf"/channels/{orphan}")


async def test_restart_adopts_connected_calls_and_cleans_up_what_no_call_owns(
    fake: FakeAri,
) -> None:
    caller = fake.new_channel()
    agent = leg(caller)
    fake.new_leg(agent, caller, answered=True)
    fake.bridges[f"{caller}-bridge"] = {"id": f"{caller}-bridge", "channels": [caller, agent]}
    lone = fake.new_channel()  # its agent left while no daemon listened: the call is over
    fake.bridges[f"{lone}-bridge"] = {"id": f"{lone}-bridge", "channels": [lone]}
    fake.bridges["1600000000.1-bridge"] = {"id": "1600000000.1-bridge", "channels": []}
    stray = fake.new_channel()  # in our app, in no bridge, no StasisStart: handed back
    fake.new_leg("1600000000.2-leg2", "1600000000.2", answered=True)
    async with daemon(fake):
        await fake.wait_request("DELETE", rf"/channels/{lone}")
        await fake.wait_request("DELETE", rf"/bridges/{lone}-bridge")
        await fake.wait_request("DELETE", r"/bridges/1600000000.1-bridge")
        await fake.wait_request("DELETE", r"/channels/1600000000.2-leg2")
        await fake.wait_request("POST", rf"/channels/{stray}/continue")
        await fake.caller_hangs_up(caller)
        await fake.wait_request("DELETE", rf"/channels/{agent}")
        await fake.wait_request("DELETE", rf"/bridges/{caller}-bridge")
    assert fake.requested("POST", rf"/channels/{lone}/continue") == []


async def test_application_replaced_stops_the_daemon_with_exit_code_1(fake: FakeAri) -> None:
    async with daemon(fake) as running:
        await fake.push({"type": "ApplicationReplaced"})
        assert await asyncio.wait_for(asyncio.shield(running.task), 5) == 1


async def test_a_new_caller_seen_by_reconcile_before_its_stasis_start_is_served(
    fake: FakeAri, caplog: pytest.LogCaptureFixture
) -> None:
    """Reconcile lists a channel whose StasisStart is still on its way: not a leftover."""
    caller = fake.new_channel()  # already in our app when the daemon connects
    async with daemon(fake):
        await fake.stasis_start(caller)
        await fake.wait_request("POST", rf"/bridges/{caller}-bridge/addChannel")
        await asyncio.sleep(2.5)  # past the grace in which leftovers are handed back
        assert fake.requested("POST", rf"/channels/{caller}/continue") == []
        await fake.caller_hangs_up(caller)
        await fake.wait_request("DELETE", rf"/channels/{leg(caller)}")
    assert messages(caplog, "call.command_result") == []


async def test_greeting_that_ended_during_an_outage_is_found_by_reconcile(fake: FakeAri) -> None:
    fake.finish_playbacks = False
    async with daemon(fake):
        caller = fake.new_channel()
        await fake.stasis_start(caller)
        await fake.wait_request("POST", rf"/channels/{caller}/play/.*")
        await fake.drop_websockets()
        fake.playbacks.clear()  # finished while nobody listened
        await fake.wait_connected(count=2)
        await fake.wait_request("POST", rf"/channels/{leg(caller)}")
        await fake.wait_request("POST", rf"/bridges/{caller}-bridge/addChannel")


async def test_agent_who_answered_during_an_outage_is_bridged_after_reconcile(
    fake: FakeAri,
) -> None:
    fake.answer_originates = False
    async with daemon(fake):
        caller = fake.new_channel()
        await fake.stasis_start(caller)
        await fake.wait_request("POST", rf"/channels/{leg(caller)}")
        await fake.drop_websockets()
        fake.answer_leg(leg(caller))  # answered while nobody listened
        await fake.wait_connected(count=2)
        bridged = await fake.wait_request("POST", rf"/bridges/{caller}-bridge/addChannel")
    assert bridged.query["channel"] == f"{caller},{leg(caller)}"


async def test_a_call_that_hears_nothing_from_asterisk_is_handed_back_by_its_guard(
    fake: FakeAri, caplog: pytest.LogCaptureFixture
) -> None:
    fake.finish_playbacks = False  # PlaybackFinished never comes
    async with daemon(fake, stall=0.3):
        caller = fake.new_channel()
        await fake.stasis_start(caller)
        await fake.wait_request("POST", rf"/channels/{caller}/continue")
    assert [r.__dict__["call_id"] for r in messages(caplog, "call.stalled")] == [caller]


async def test_a_refused_bridge_stops_the_set_up_before_the_agent_is_rung(
    fake: FakeAri,
) -> None:
    async with daemon(fake):
        caller = fake.new_channel()
        fake.fail("POST", rf"/bridges/{caller}-bridge", 500, '{"message":"no bridge"}')
        await fake.stasis_start(caller)
        await fake.wait_request("POST", rf"/channels/{caller}/continue")
    assert fake.requested("POST", rf"/channels/{leg(caller)}") == []


async def test_drain_timeout_leaves_connected_calls_bridged_and_exits_0(
    fake: FakeAri, caplog: pytest.LogCaptureFixture
) -> None:
    async with daemon(fake, drain=0.3) as running:
        caller = await connected_call(fake)
        running.stop.set()
        assert await asyncio.wait_for(asyncio.shield(running.task), 5) == 0
    assert messages(caplog, "drain.timeout")[0].__dict__["calls_left"] == 1
    assert torn_down(fake, caller) == []


async def test_a_refused_ringback_does_not_stop_the_agent_from_being_rung(fake: FakeAri) -> None:
    async with daemon(fake):
        caller = fake.new_channel()
        fake.fail("POST", rf"/channels/{caller}/ring", 500, '{"message":"Internal"}')
        await fake.stasis_start(caller)
        await fake.wait_request("POST", rf"/bridges/{caller}-bridge/addChannel")
        await fake.caller_hangs_up(caller)
        await fake.wait_request("DELETE", rf"/channels/{leg(caller)}")


SILENT_MENU = """
languages: [en]
entry: {"74951234567": main}
nodes:
  main: {kind: menu, prompt: main_menu, choices: {"1": bye}, timeout: 1, retries: 1,
         timeout_prompt: no_input, on_fail: bye}
  bye: {kind: hangup, prompt: goodbye}
"""


async def test_menu_timers_run_on_the_runner_clock_and_end_a_silent_caller(
    fake: FakeAri, caplog: pytest.LogCaptureFixture
) -> None:
    async with daemon(fake, flow=SILENT_MENU):
        caller = fake.new_channel()
        started = asyncio.get_running_loop().time()
        await fake.stasis_start(caller)
        await fake.wait_request("DELETE", rf"/channels/{caller}", within=10)
        elapsed = asyncio.get_running_loop().time() - started
    played = [r.query["media"] for r in fake.requested("POST", rf"/channels/{caller}/play/.*")]
    assert played == [
        "sound:switchboard/main_menu",
        "sound:switchboard/no_input",
        "sound:switchboard/main_menu",
        "sound:switchboard/no_input",
        "sound:switchboard/goodbye",
    ]
    assert elapsed >= 2.0  # two 1 s timeouts
    fired = [r for r in messages(caplog, "call.transition") if r.__dict__["event"] == "TimerFired"]
    assert len(fired) == 2


async def test_an_unregistered_phone_is_not_rung_until_asterisk_says_it_is_back(
    fake: FakeAri, caplog: pytest.LogCaptureFixture
) -> None:
    """The daemon reads endpoint states at connect and every second after: the
    spine's agent100, offline, is skipped at once (its route fails over to the
    dialplan without ringing); once it registers, the next call rings it."""
    fake.endpoints = lab_endpoints(offline=("agent100",))
    async with daemon(fake):
        first = fake.new_channel()
        await fake.stasis_start(first)
        await fake.wait_request("POST", rf"/channels/{first}/continue")
        assert not fake.requested("POST", rf"/channels/{first}-leg\d+")
        fake.endpoints = lab_endpoints()  # the phone registers
        await next_endpoint_poll(fake)
        second = fake.new_channel()
        await fake.stasis_start(second)
        await fake.wait_request("POST", rf"/bridges/{second}-bridge/addChannel")
        await fake.caller_hangs_up(second)
    (ended, _) = [r.__dict__ for r in messages(caplog, "call.end")]
    assert ended["route_log"] == [["PJSIP/agent100", "unregistered"]]
    assert ended["route_result"] == "unregistered"
    assert not fake.requested("POST", "/applications/.*/subscription")  # see watch_endpoints


async def next_endpoint_poll(fake: FakeAri) -> None:
    """Until the daemon has read the endpoint list once more."""
    seen = len(fake.requested("GET", "/endpoints$"))
    async with asyncio.timeout(5):
        while len(fake.requested("GET", "/endpoints$")) <= seen:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


GROUP = """
languages: [en]
entry:
  "74951234567": ring
nodes:
  ring:
    kind: route
    endpoints: [PJSIP/agent100, PJSIP/agent101, PJSIP/agent102]
    on_fail: bye
  bye: {kind: hangup}
"""


async def test_a_phone_asterisk_refuses_does_not_stop_the_others_of_the_group(
    fake: FakeAri, caplog: pytest.LogCaptureFixture
) -> None:
    fake.answer_originates = False
    async with daemon(fake, flow=GROUP):
        caller = fake.new_channel()
        fake.fail("POST", rf"/channels/{caller}-leg1$", 500, '{"error":"Allocation failed"}')
        await fake.stasis_start(caller)
        await fake.wait_request("POST", rf"/channels/{caller}-leg3$")  # still rung
        assert fake.requested("POST", rf"/channels/{caller}-leg2$")
        fake.answer_leg(f"{caller}-leg3")
        await fake.stasis_start(f"{caller}-leg3", ["leg", caller])
        await fake.wait_request("POST", rf"/bridges/{caller}-bridge/addChannel")
        await fake.caller_hangs_up(caller)
    (ended,) = [r.__dict__ for r in messages(caplog, "call.end")]
    assert ["PJSIP/agent100", "failed"] in ended["route_log"]
    assert ended["answered_by"] == "PJSIP/agent102"


@pytest.mark.parametrize("who", ["caller", "caller_leaving", "agent"])
async def test_a_hang_up_as_the_agent_answers_is_not_a_failed_call(
    fake: FakeAri, caplog: pytest.LogCaptureFixture, who: str
) -> None:
    """Asterisk refuses the whole addChannel when one of the two has just hung up,
    its StasisEnd still on the way: 400 "Channel not found" once it is gone, 422
    "Channel not in Stasis application" while it is being hung up (``caller_leaving``:
    still listed for a moment). The daemon asks which one left, and the call ends as
    that means, never ``failed`` (seen at 80 calls/s in the load bench: callers
    hanging up at 7 s)."""
    fake.answer_originates = False
    async with daemon(fake):
        caller = fake.new_channel()
        await fake.stasis_start(caller)
        await fake.wait_request("POST", rf"/channels/{leg(caller)}")
        gone = caller if who.startswith("caller") else leg(caller)
        if who == "caller":
            chan = fake.channels.pop(caller)  # hung up; its events not sent yet
            fake.in_stasis.discard(caller)
            await fake.stasis_start(leg(caller))
        elif who == "caller_leaving":
            fake.fail("POST", r"/bridges/.*/addChannel", 422,
                      '{"message":"Channel not in Stasis application"}')  # fmt: skip
            fake.leaving.add(caller)  # listed by one more GET, then destroyed
            chan = fake.channels[caller]
            await fake.stasis_start(leg(caller))
        else:
            await fake.stasis_start(leg(caller))
            chan = fake.channels.pop(leg(caller))
            fake.in_stasis.discard(leg(caller))
        await fake.wait_request("GET", rf"/channels/{re.escape(gone)}")
        await fake.push({"type": "StasisEnd", "channel": chan})
        if who == "agent":
            await fake.caller_hangs_up(caller)
        await logged(caplog, "call.end")
    (ended,) = [r.__dict__ for r in messages(caplog, "call.end")]
    # The agent picked up: answered (the caller left at that moment, as any caller
    # leaving a connected call); the agent who left at once is an answered call too.
    assert ended["outcome"] == "answered"
    other = caller if who == "agent" else leg(caller)
    assert fake.requested("DELETE", rf"/channels/{re.escape(other)}")
