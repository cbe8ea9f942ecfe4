"""Tier 3: when the Switchboard daemon can't take a call, callers still reach a person
or a mailbox.

Stasis() fails at once when no websocket is connected for the app, and returns
when the daemon hands a channel back with /continue; in both cases the shipped
dialplan (dialplan/extensions_switchboard.conf) must ring the fallback group
and, failing that, take a voicemail.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
from collections.abc import Iterator

import aiohttp
import pytest

from labkit.lab import (
    AGENT_PORTS,
    COMPANY_NUMBER,
    SCENARIOS,
    AsteriskLog,
    ari_app_names,
    finish_sipp,
    get_global,
    lab_root,
    run_caller,
    set_global,
    start_agent_uas,
    wait_for_channel_count,
)

pytestmark = pytest.mark.e2e

RING_NO_ANSWER = SCENARIOS / "agent_ring_no_answer.xml"
ARI = "http://127.0.0.1:8088/ari"
ARI_AUTH = {"Authorization": "Basic " + base64.b64encode(b"switchboard:switchboard").decode()}


@pytest.fixture
def no_daemon(lab: None) -> None:
    # Given no application connected as "switchboard" (else Stasis() would succeed).
    assert "switchboard" not in ari_app_names(), "a switchboard daemon is connected to the lab"


@pytest.fixture
def short_ring(lab: None) -> Iterator[None]:
    """Ring the fallback group 3 s instead of 20 s, so no-answer tests are quick."""
    original = get_global("SWITCHBOARD_FALLBACK_RING_SECONDS")
    set_global("SWITCHBOARD_FALLBACK_RING_SECONDS", "3")
    try:
        yield
    finally:
        set_global("SWITCHBOARD_FALLBACK_RING_SECONDS", original)


def _start_agents(answering: str | None) -> dict[str, subprocess.Popen[bytes]]:
    """One phone per agent: `answering` picks up at once, the others ring forever."""
    return {
        agent: start_agent_uas(port, None if agent == answering else RING_NO_ANSWER)
        for agent, port in AGENT_PORTS.items()
    }


def _finish_agents(phones: dict[str, subprocess.Popen[bytes]]) -> dict[str, int]:
    return {agent: finish_sipp(phone) for agent, phone in phones.items()}


def _voicemail_count() -> int:
    inbox = lab_root() / "var/spool/asterisk/voicemail/switchboard/100/INBOX"
    return len(list(inbox.glob("msg*.txt"))) if inbox.exists() else 0


@pytest.mark.parametrize("dialled", [COMPANY_NUMBER, "+" + COMPANY_NUMBER])
def test_daemon_down_call_rings_fallback_group_and_agent_answers(
    no_daemon: None, dialled: str
) -> None:
    log = AsteriskLog()
    phones = _start_agents(answering="agent100")
    try:
        # When a caller dials the company number and talks for 2 s.
        caller = run_caller(dialled, hold_ms=2000)
    finally:
        agents = _finish_agents(phones)

    # Then the call was answered by agent100, the others stopped ringing,
    assert caller.returncode == 0, "caller failed, see artifacts/sipp"
    assert agents == {"agent100": 0, "agent101": 0, "agent102": 0}
    # the fallback path was taken because Stasis() failed,
    notices = "\n".join(log.notices())
    assert "STASISSTATUS=FAILED -> fallback (daemon-unavailable)" in notices
    assert "switchboard-fallback: PJSIP/caller" in notices
    assert "DIALSTATUS=ANSWER" in notices
    assert "to voicemail" not in notices
    # and nothing is left behind in Asterisk.
    assert wait_for_channel_count(0) == 0


def test_daemon_down_nobody_answers_caller_reaches_voicemail(
    no_daemon: None, short_ring: None
) -> None:
    log = AsteriskLog()
    messages_before = _voicemail_count()
    phones = _start_agents(answering=None)
    try:
        # When a caller dials the company number and nobody picks up; the
        # caller speaks (g711a.pcap) and Asterisk ends the call after the
        # message (silence), which the scenario accepts as a far-end BYE.
        caller = run_caller(COMPANY_NUMBER, hold_ms=40_000)
    finally:
        agents = _finish_agents(phones)

    # Then every agent's phone rang and was cancelled,
    assert agents == {"agent100": 0, "agent101": 0, "agent102": 0}
    # the caller was answered by voicemail,
    assert caller.returncode == 0, "caller failed, see artifacts/sipp"
    notices = "\n".join(log.notices())
    assert "STASISSTATUS=FAILED -> fallback (daemon-unavailable)" in notices
    assert "ring group DIALSTATUS=NOANSWER" in notices
    assert "to voicemail 100@switchboard" in notices
    # left a message in mailbox 100@switchboard,
    assert _voicemail_count() == messages_before + 1
    # and nothing is left behind in Asterisk.
    assert wait_for_channel_count(0) == 0


async def _continue_first_call(
    session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse
) -> int:
    """A stand-in daemon: hand the first inbound call straight back to the dialplan."""
    async for message in ws:
        event = json.loads(message.data)
        if event["type"] == "StasisStart":
            channel_id = event["channel"]["id"]
            async with session.post(f"{ARI}/channels/{channel_id}/continue") as response:
                return response.status
    raise AssertionError("the websocket closed before any StasisStart")


async def test_daemon_hands_call_back_caller_reaches_fallback(lab: None) -> None:
    log = AsteriskLog()
    async with (
        aiohttp.ClientSession(headers=ARI_AUTH) as session,
        session.ws_connect("ws://127.0.0.1:8088/ari/events?app=switchboard") as ws,
    ):
        phones = _start_agents(answering="agent100")
        try:
            # When the daemon takes the call and gives it back with /continue,
            call = asyncio.create_task(asyncio.to_thread(run_caller, COMPANY_NUMBER, None, 2000))
            continue_status = await asyncio.wait_for(_continue_first_call(session, ws), 10)
            caller = await call
        finally:
            agents = await asyncio.to_thread(_finish_agents, phones)

    # then the caller still reaches the ring group and agent100 answers.
    assert continue_status == 204
    assert caller.returncode == 0, "caller failed, see artifacts/sipp"
    assert agents == {"agent100": 0, "agent101": 0, "agent102": 0}
    notices = "\n".join(log.notices())
    assert "STASISSTATUS=SUCCESS -> fallback (handed-back)" in notices
    assert "DIALSTATUS=ANSWER" in notices
    assert wait_for_channel_count(0) == 0
