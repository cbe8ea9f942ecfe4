"""Tier 3: keys pressed by a real SIP caller reach ARI, and the IVR line's dialplan.

No Switchboard daemon here: a stand-in ARI application written in each test
takes the `switchboard` app name, so what is checked is Asterisk and the shipped
configs (deploy/asterisk/pjsip.conf, dialplan/extensions_switchboard.conf)
as the daemon will find them.

Callers press keys with SIP INFO (deploy/lab/labkit/sipp_scenarios.py).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from labkit.lab import (
    AGENT_PORTS,
    SCENARIOS,
    AsteriskLog,
    ari_app_names,
    finish_sipp,
    lab_root,
    start_agent_uas,
    wait_for_channel_count,
)
from labkit.sipp_scenarios import call_pressing_keys
from switchboard.ari.client import basic_auth_header

pytestmark = pytest.mark.e2e

IVR_NUMBER = "74951234568"
ARI = "http://127.0.0.1:8088/ari"
EVENTS = "ws://127.0.0.1:8088/ari/events"
ARI_AUTH = {"Authorization": basic_auth_header("switchboard", "switchboard")}

OnStart = Callable[[aiohttp.ClientSession, str], Awaitable[None]]


@dataclass
class StandInCall:
    """What the stand-in app saw of the one call it served."""

    channel_id: str = ""
    args: list[str] = field(default_factory=list)
    digits: list[str] = field(default_factory=list)
    # Event types in arrival order, a key as "dtmf:<digit>".
    events: list[str] = field(default_factory=list)


async def _serve_one_call(
    session: aiohttp.ClientSession,
    ws: aiohttp.ClientWebSocketResponse,
    on_start: OnStart,
    hang_up_after_digits: int | None = None,
) -> StandInCall:
    """A stand-in `switchboard` app: run `on_start` for the first inbound channel,
    record its keys, hang it up after `hang_up_after_digits` keys; return at StasisEnd."""
    call = StandInCall()
    async for message in ws:
        event = json.loads(message.data)
        kind = event["type"]
        if call.channel_id and event.get("channel", {}).get("id") not in (None, call.channel_id):
            continue
        if kind == "ChannelDtmfReceived":
            call.digits.append(event["digit"])
            call.events.append(f"dtmf:{event['digit']}")
        else:
            call.events.append(kind)
        if kind == "StasisStart" and not call.channel_id:
            call.channel_id = event["channel"]["id"]
            call.args = event["args"]
            await on_start(session, call.channel_id)
        elif kind == "ChannelDtmfReceived" and len(call.digits) == hang_up_after_digits:
            async with session.delete(f"{ARI}/channels/{call.channel_id}") as response:
                assert response.status == 204, await response.text()
        elif kind == "StasisEnd":
            return call
    raise AssertionError(f"the websocket closed before StasisEnd; saw {call.events}")


async def _call_stand_in(
    number: str,
    steps: list[tuple[int, str]],
    hold_ms: int,
    name: str,
    on_start: OnStart,
    hang_up_after_digits: int | None = None,
    within: float = 30.0,
) -> tuple[StandInCall, subprocess.CompletedProcess[bytes]]:
    """Connect the stand-in app, place the call, serve it; both results."""
    async with (
        aiohttp.ClientSession(headers=ARI_AUTH) as session,
        session.ws_connect(EVENTS, params={"app": "switchboard"}) as ws,
    ):
        caller = asyncio.create_task(
            asyncio.to_thread(call_pressing_keys, number, steps, hold_ms, name)
        )
        try:
            call = await asyncio.wait_for(
                _serve_one_call(session, ws, on_start, hang_up_after_digits), within
            )
        finally:
            result = await caller
    return call, result


async def _answer_and_play_greeting(session: aiohttp.ClientSession, channel_id: str) -> None:
    async with session.post(f"{ARI}/channels/{channel_id}/answer") as response:
        assert response.status == 204, await response.text()
    params = {"media": "sound:switchboard/greeting"}  # 4.1 s in English
    async with session.post(f"{ARI}/channels/{channel_id}/play", params=params) as response:
        assert response.status == 201, await response.text()


async def _answer(session: aiohttp.ClientSession, channel_id: str) -> None:
    async with session.post(f"{ARI}/channels/{channel_id}/answer") as response:
        assert response.status == 204, await response.text()


async def _continue_to_mailbox_101(session: aiohttp.ClientSession, channel_id: str) -> None:
    """What the daemon's voicemail node does: no answer, straight to the dialplan."""
    params = {"context": "switchboard-voicemail", "extension": "101", "priority": "1"}
    async with session.post(f"{ARI}/channels/{channel_id}/continue", params=params) as response:
        assert response.status == 204, await response.text()


def _inbox(mailbox: str) -> Path:
    return lab_root() / "var/spool/asterisk/voicemail/switchboard" / mailbox / "INBOX"


def _messages(mailbox: str) -> list[Path]:
    inbox = _inbox(mailbox)
    return sorted(inbox.glob("msg*.wav")) if inbox.exists() else []


@pytest.fixture
def no_daemon(lab: None) -> None:
    assert "switchboard" not in ari_app_names(), "a switchboard daemon is connected to the lab"


@pytest.mark.parametrize(
    ("keys", "gap_ms"),
    [("17*#2", 600), ("99", 300), ("5555", 150)],
    ids=["menu-keys", "same-key-twice", "fast-repeats"],
)
async def test_info_keys_reach_ari_in_order_during_playback(
    no_daemon: None, keys: str, gap_ms: int
) -> None:
    # Given the stand-in app answers and plays the 4 s greeting,
    # when the caller presses `keys` with `gap_ms` between them (SIP INFO),
    call, caller = await _call_stand_in(
        IVR_NUMBER,
        [(gap_ms, key) for key in keys],
        hold_ms=3000,
        name=f"dtmf-{len(keys)}x{gap_ms}",
        on_start=_answer_and_play_greeting,
        hang_up_after_digits=len(keys),
    )

    # then ARI reported every key once, in order, with no key lost or merged,
    assert call.digits == list(keys)
    # while the greeting was still playing: a key does not stop an ARI playback
    # and its ChannelDtmfReceived is not held back until the playback ends.
    keys_at = [i for i, kind in enumerate(call.events) if kind.startswith("dtmf:")]
    assert call.events.index("PlaybackStarted") < keys_at[0]
    assert keys_at[1] < call.events.index("PlaybackFinished")
    # The stand-in hung up after the last key; the caller saw a clean call,
    assert caller.returncode == 0, "caller failed, see artifacts/sipp"
    # and nothing is left behind in Asterisk.
    assert wait_for_channel_count(0) == 0


@pytest.mark.parametrize("dialled", [IVR_NUMBER, "+" + IVR_NUMBER])
async def test_ivr_line_enters_stasis_with_its_own_number(no_daemon: None, dialled: str) -> None:
    # When a caller dials the IVR line (with or without '+'),
    call, caller = await _call_stand_in(
        dialled, [(300, "1")], hold_ms=3000, name="ivr-line", on_start=_answer,
        hang_up_after_digits=1,
    )  # fmt: skip

    # then the app gets it with the number the flow is chosen by, without '+'.
    assert call.args == ["inbound", IVR_NUMBER]
    assert call.digits == ["1"]
    assert caller.returncode == 0, "caller failed, see artifacts/sipp"
    assert wait_for_channel_count(0) == 0


async def test_continue_to_switchboard_voicemail_records_in_mailbox_101(no_daemon: None) -> None:
    log = AsteriskLog()
    before = _messages("101")
    # When the app sends the caller to [switchboard-voicemail] 101 (as the
    # daemon's voicemail node does) and the caller, talking all along, hears
    # "the person at extension 101 is unavailable ..." (about 12 s up to the
    # beep), talks 2 s more and presses '#' to end the message,
    call, caller = await _call_stand_in(
        IVR_NUMBER, [(14_000, "#")], hold_ms=10_000, name="voicemail-101",
        on_start=_continue_to_mailbox_101, within=10,
    )  # fmt: skip
    # (the stand-in's part ends at once: /continue takes the channel out of Stasis)
    assert call.events[-1] == "StasisEnd"
    assert caller.returncode == 0, "caller failed, see artifacts/sipp"

    # then VoiceMail() ran for 101@switchboard, ended well, and hung up,
    notices = "\n".join(log.notices())
    assert "switchboard-voicemail: PJSIP/caller" in notices
    assert "to voicemail 101@switchboard" in notices
    assert "voicemail 101@switchboard VMSTATUS=SUCCESS" in notices
    # leaving one new message in 101's INBOX with real audio in it (an empty
    # recording is a 44-byte WAV header),
    after = _messages("101")
    assert len(after) == len(before) + 1
    new = sorted(set(after) - set(before))[0]
    assert new.stat().st_size > 8000, f"{new} is {new.stat().st_size} bytes: no audio recorded"
    # and nothing is left behind in Asterisk.
    assert wait_for_channel_count(0) == 0


def test_ivr_line_with_daemon_down_falls_back_like_the_main_line(no_daemon: None) -> None:
    log = AsteriskLog()
    ring_no_answer = SCENARIOS / "agent_ring_no_answer.xml"
    phones = {
        agent: start_agent_uas(port, None if agent == "agent100" else ring_no_answer)
        for agent, port in AGENT_PORTS.items()
    }
    try:
        # When a caller dials the IVR line while no daemon is connected,
        caller = call_pressing_keys(IVR_NUMBER, [], hold_ms=2000, name="ivr-fallback")
    finally:
        agents = {agent: finish_sipp(phone) for agent, phone in phones.items()}

    # then Stasis() fails, the ring group rings and agent100 answers.
    assert caller.returncode == 0, "caller failed, see artifacts/sipp"
    assert agents == {"agent100": 0, "agent101": 0, "agent102": 0}
    notices = "\n".join(log.notices())
    assert "STASISSTATUS=FAILED -> fallback (daemon-unavailable)" in notices
    assert "switchboard-fallback: PJSIP/caller" in notices
    assert "DIALSTATUS=ANSWER" in notices
    assert wait_for_channel_count(0) == 0
