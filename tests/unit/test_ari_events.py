"""Tier 1: ARI JSON becomes typed events; anything odd is a defined outcome."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switchboard.ari import events as ari
from switchboard.ari.stream import Backoff

CHANNEL = {
    "id": "1732.5",
    "name": "PJSIP/caller-00000001",
    "state": "Up",
    "caller": {"name": "Ivan", "number": "+79161234567"},
    "dialplan": {
        "context": "switchboard-inbound",
        "exten": "74951234567",
        "priority": 1,
        "app_name": "Stasis",
        "app_data": "switchboard,inbound,74951234567",
    },
    "language": "ru",
}


def test_stasis_start_is_parsed_with_caller_and_args() -> None:
    event = ari.decode_message(
        json.dumps({"type": "StasisStart", "args": ["inbound", "74951234567"], "channel": CHANNEL})
    )
    assert event == ari.StasisStart(
        channel=ari.Channel(
            id="1732.5",
            name="PJSIP/caller-00000001",
            state="Up",
            caller_number="+79161234567",
            caller_name="Ivan",
            exten="74951234567",
            context="switchboard-inbound",
            app_name="Stasis",
            app_data="switchboard,inbound,74951234567",
            language="ru",
        ),
        args=("inbound", "74951234567"),
    )


@pytest.mark.parametrize(
    ("raw", "ids"),
    [
        (
            {"type": "ChannelDtmfReceived", "digit": "5", "duration_ms": 100, "channel": CHANNEL},
            ("1732.5",),
        ),
        (
            {"type": "PlaybackFinished", "playback": {"id": "p", "target_uri": "channel:1732.5"}},
            ("1732.5",),
        ),
        (
            {"type": "RecordingFinished", "recording": {"name": "r", "target_uri": "bridge:b1"}},
            ("b1",),
        ),
        (
            {
                "type": "ChannelEnteredBridge",
                "bridge": {"id": "b1", "channels": ["1732.5"]},
                "channel": CHANNEL,
            },
            ("1732.5", "b1"),
        ),
        ({"type": "Dial", "peer": CHANNEL, "dialstatus": "RINGING"}, ("1732.5",)),
        (
            {
                "type": "EndpointStateChange",
                "endpoint": {"technology": "PJSIP", "resource": "agent100", "state": "online"},
            },
            (),
        ),
        (
            {
                "type": "DeviceStateChanged",
                "device_state": {"name": "PJSIP/agent100", "state": "NOT_INUSE"},
            },
            (),
        ),
    ],
)
def test_events_name_the_channels_and_bridges_they_concern(
    raw: dict[str, object], ids: tuple[str, ...]
) -> None:
    assert ari.routing_ids(ari.parse_event(raw)) == ids


def test_unknown_event_types_are_kept_not_fatal() -> None:
    event = ari.parse_event({"type": "ChannelTalkingStarted", "channel": CHANNEL})
    assert isinstance(event, ari.UnknownEvent)
    assert event.type == "ChannelTalkingStarted"


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "[1]",
        '"x"',
        '{"no": "type"}',
        '{"type": "StasisStart"}',
        '{"type": "StasisEnd", "channel": {"name": "no id"}}',
        '{"type": "PlaybackFinished", "playback": 7}',
    ],
)
def test_malformed_messages_raise_malformed_event(text: str) -> None:
    with pytest.raises(ari.MalformedEvent):
        ari.decode_message(text)


SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
JSONISH = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=3),
    st.dictionaries(
        st.sampled_from(["id", "channels", "target_uri", "caller"]), SCALARS, max_size=3
    ),
    st.just(CHANNEL),
)
TYPES = st.sampled_from(
    [
        "StasisStart",
        "StasisEnd",
        "ChannelDestroyed",
        "PlaybackFinished",
        "Dial",
        "ChannelEnteredBridge",
        "RecordingFailed",
        "Other",
    ]
)


@given(
    TYPES,
    st.dictionaries(
        st.sampled_from(
            ["channel", "playback", "peer", "bridge", "recording", "args", "cause", "digit"]
        ),
        JSONISH,
        max_size=5,
    ),
)
def test_any_json_is_an_event_or_a_malformed_event(kind: str, body: dict[str, object]) -> None:
    try:
        event = ari.parse_event({"type": kind, **body})
    except ari.MalformedEvent:
        return
    assert isinstance(ari.routing_ids(event), tuple)


@pytest.mark.parametrize("attempt", [0, 1, 3, 6, 20, 1000])
def test_backoff_grows_exponentially_with_jitter_and_a_cap(attempt: int) -> None:
    backoff = Backoff(base=0.5, cap=30.0)
    ceiling = min(30.0, 0.5 * 2**attempt)
    delays = [backoff.delay(attempt, random.Random(seed)) for seed in range(50)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len(set(delays)) > 1  # jittered, so daemons do not reconnect in lockstep


def test_stasis_start_carries_asterisks_timestamp() -> None:
    event = ari.parse_event(
        {"type": "StasisStart", "args": [], "channel": CHANNEL,
         "timestamp": "2026-11-25T10:00:00.123+0300"}
    )  # fmt: skip
    assert isinstance(event, ari.StasisStart)
    assert event.at is not None
    assert event.at.isoformat() == "2026-11-25T10:00:00.123000+03:00"
    odd = ari.parse_event({"type": "StasisStart", "channel": CHANNEL, "timestamp": "soon"})
    assert isinstance(odd, ari.StasisStart)
    assert odd.at is None


def test_a_caller_id_is_made_one_line_where_it_enters() -> None:
    """The caller ID is the calling side's to set (SIP From): a line break, an escape
    sequence or a bidi override never gets past the parsing of the event."""
    caller = {"number": "+79161234567\r\nBcc: x@evil", "name": "\u202eIvan\x1b[2J"}
    event = ari.parse_event({"type": "StasisStart", "channel": {**CHANNEL, "caller": caller}})
    assert isinstance(event, ari.StasisStart)
    assert event.channel.caller_number == "+79161234567\ufffdBcc: x@evil"
    assert event.channel.caller_name == "\ufffdIvan\ufffd[2J"
    listed = ari.parse_channel({"id": "c", "caller": {"number": "1" * 500 + "\n"}})
    assert len(listed.caller_number) == 80  # bounded too (GET /channels: the same parser)
