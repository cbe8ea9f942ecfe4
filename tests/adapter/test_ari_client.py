"""Tier 2: the REST client against the fake ARI: encoding, auth, errors."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest

from switchboard.ari.client import AriClient, AriError, AriUnavailable
from tests.fake_ari import PASSWORD, USER, FakeAri


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def test_path_segments_are_percent_encoded(
    fake: FakeAri, session: aiohttp.ClientSession
) -> None:
    client = AriClient(session, fake.url, USER, PASSWORD)
    with pytest.raises(AriError):
        await client.hangup("odd/id with space@x")
    sent = fake.requests[-1]
    assert sent.raw_path == "/channels/odd%2Fid%20with%20space%40x"
    assert sent.path == "/channels/odd/id with space@x"
    assert sent.query == {"reason": "normal"}


async def test_credentials_go_in_the_authorization_header_not_the_url(
    fake: FakeAri, session: aiohttp.ClientSession
) -> None:
    await AriClient(session, fake.url, USER, PASSWORD).list_channels()
    assert fake.requests[-1].authorization == "Basic c3dpdGNoYm9hcmQ6c2VjcmV0"
    assert "secret" not in fake.requests[-1].raw_path


async def test_error_status_and_body_are_kept(
    fake: FakeAri, session: aiohttp.ClientSession
) -> None:
    fake.fail("POST", "/bridges/b1", 500, '{"message":"Allocation failed"}')
    with pytest.raises(AriError) as caught:
        await AriClient(session, fake.url, USER, PASSWORD).create_bridge("b1")
    assert caught.value.status == 500
    assert caught.value.body == '{"message":"Allocation failed"}'
    assert "POST /bridges/b1 -> 500" in str(caught.value)


async def test_wrong_password_is_a_401_error(fake: FakeAri, session: aiohttp.ClientSession) -> None:
    with pytest.raises(AriError) as caught:
        await AriClient(session, fake.url, USER, "wrong").list_channels()
    assert caught.value.status == 401


async def test_unreachable_asterisk_is_ari_unavailable(session: aiohttp.ClientSession) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    with pytest.raises(AriUnavailable) as caught:
        await AriClient(session, f"http://127.0.0.1:{port}", USER, PASSWORD).answer("x")
    assert caught.value.status == 0


async def test_originate_sends_app_args_and_timeout(
    fake: FakeAri, session: aiohttp.ClientSession
) -> None:
    fake.answer_originates = False
    client = AriClient(session, fake.url, USER, PASSWORD)
    channel = await client.originate(
        "PJSIP/agent100",
        "c1-agent",
        app="switchboard",
        app_args=("leg", "c1"),
        ring_timeout=25,
        caller_id="+79161234567",
    )
    assert channel.id == "c1-agent"
    assert fake.requests[-1].query == {
        "endpoint": "PJSIP/agent100",
        "app": "switchboard",
        "appArgs": "leg,c1",
        "timeout": "25",
        "callerId": "+79161234567",
    }


async def test_endpoints_device_states_and_playbacks_are_parsed_at_the_edge(
    fake: FakeAri, session: aiohttp.ClientSession
) -> None:
    fake.endpoints = [
        {"technology": "PJSIP", "resource": "agent100", "state": "online", "channel_ids": []},
        {"technology": "PJSIP", "resource": "agent101", "state": "offline", "channel_ids": []},
    ]
    fake.device_states = {"PJSIP/agent100": "NOT_INUSE"}
    fake.finish_playbacks = False
    client = AriClient(session, fake.url, USER, PASSWORD)
    endpoints = await client.list_endpoints("PJSIP")
    assert [(e.resource, e.state) for e in endpoints] == [
        ("agent100", "online"),
        ("agent101", "offline"),
    ]
    assert fake.requests[-1].path == "/endpoints/PJSIP"
    state = await client.get_device_state("PJSIP/agent100")
    assert (state.name, state.state) == ("PJSIP/agent100", "NOT_INUSE")
    assert fake.requests[-1].raw_path == "/deviceStates/PJSIP%2Fagent100"
    caller = fake.new_channel()
    await client.play(caller, "sound:hello", "pb-1")
    assert (await client.get_playback("pb-1")).media_uri == "sound:hello"
    with pytest.raises(AriError) as caught:
        await client.get_playback("pb-gone")
    assert caught.value.status == 404


async def test_record_moh_and_subscribe_send_the_parameters_asterisk_expects(
    fake: FakeAri, session: aiohttp.ClientSession
) -> None:
    client = AriClient(session, fake.url, USER, PASSWORD)
    caller = fake.new_channel()
    await client.record(caller, "vm-1", max_duration=120, max_silence=5)
    assert fake.requests[-1].query == {
        "name": "vm-1", "format": "wav", "maxDurationSeconds": "120",
        "maxSilenceSeconds": "5", "beep": "true", "terminateOn": "#", "ifExists": "fail",
    }  # fmt: skip
    await client.moh_start(caller, "default")
    assert (fake.requests[-1].path, fake.requests[-1].query) == (
        f"/channels/{caller}/moh",
        {"mohClass": "default"},
    )
    await client.subscribe("switchboard", "endpoint:PJSIP")
    assert fake.requests[-1].path == "/applications/switchboard/subscription"
    assert fake.requests[-1].query == {"eventSource": "endpoint:PJSIP"}


async def test_an_endpoint_list_read_again_shows_every_change(
    fake: FakeAri, session: aiohttp.ClientSession
) -> None:
    """(An answer the same as the last is not decoded again: a changed one is.)"""
    client = AriClient(session, fake.url, USER, PASSWORD)
    first = await client.list_endpoints()
    assert first == await client.list_endpoints()
    fake.endpoints[1]["state"] = "offline"
    fake.endpoints[2]["channel_ids"] = ["1700000001.1"]
    changed = {e.resource: (e.state, e.channel_ids) for e in await client.list_endpoints()}
    assert changed[fake.endpoints[1]["resource"]] == ("offline", ())
    assert changed[fake.endpoints[2]["resource"]] == ("online", ("1700000001.1",))
    assert len(changed) == len(first)
    assert len(fake.requested("GET", "/endpoints")) == 3  # each one asked Asterisk
