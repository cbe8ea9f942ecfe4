"""Tier 2: the event websocket on its own: auth, order, a failing handler, reconnects."""

from __future__ import annotations

import asyncio
import random
from typing import get_args

import aiohttp
import pytest

from switchboard.ari import events as ari
from switchboard.ari.stream import Backoff, EventStream
from tests.fake_ari import PASSWORD, USER, FakeAri


async def test_events_arrive_in_order_survive_a_failing_handler_and_a_drop(
    fake: FakeAri, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []
    all_seen = asyncio.Event()
    connects = 0

    def on_event(event: ari.AriEvent) -> None:
        assert isinstance(event, ari.StasisEnd)
        if event.channel.id == "boom":
            raise RuntimeError("handler bug")
        seen.append(event.channel.id)
        if event.channel.id == "c":
            all_seen.set()

    async def on_connect() -> None:
        nonlocal connects
        connects += 1

    async with aiohttp.ClientSession() as session:
        stream = EventStream(
            session,
            fake.url,
            USER,
            PASSWORD,
            "switchboard",
            on_event=on_event,
            on_connect=on_connect,
            backoff=Backoff(base=0.05, cap=0.1),
            rng=random.Random(1),
        )
        task = asyncio.create_task(stream.run())
        await fake.wait_connected()
        for channel_id in ("a", "boom", "b"):
            await fake.push({"type": "StasisEnd", "channel": {"id": channel_id}})
        await fake.drop_websockets()
        await fake.wait_connected(count=2)
        await fake.push({"type": "StasisEnd", "channel": {"id": "c"}})
        await asyncio.wait_for(all_seen.wait(), 5)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert seen == ["a", "b", "c"]
    assert connects == 2
    assert stream.reconnects == 1
    assert [r.getMessage() for r in caplog.records].count("ari.dispatch_failed") == 1


async def test_wrong_credentials_are_logged_as_such_and_retried(
    fake: FakeAri, caplog: pytest.LogCaptureFixture
) -> None:
    async def nothing() -> None:
        return None

    async with aiohttp.ClientSession() as session:
        stream = EventStream(
            session,
            fake.url,
            USER,
            "wrong",
            "switchboard",
            on_event=lambda e: None,
            on_connect=nothing,
            backoff=Backoff(base=0.01, cap=0.02),
            rng=random.Random(1),
        )
        task = asyncio.create_task(stream.run())
        await fake.wait_request("GET", "/events", count=2)  # tried again after the 401
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert "ari.unauthorized" in [r.getMessage() for r in caplog.records]


async def test_a_failing_reconcile_does_not_stop_the_events(fake: FakeAri) -> None:
    seen = asyncio.Event()

    async def broken_reconcile() -> None:
        raise ValueError("bug in reconcile")

    async with aiohttp.ClientSession() as session:
        stream = EventStream(
            session,
            fake.url,
            USER,
            PASSWORD,
            "switchboard",
            on_event=lambda e: seen.set(),
            on_connect=broken_reconcile,
        )
        task = asyncio.create_task(stream.run())
        await fake.wait_connected()
        await fake.push({"type": "StasisEnd", "channel": {"id": "x"}})
        await asyncio.wait_for(seen.wait(), 5)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_each_connection_asks_for_the_parsed_events_only_and_a_refusal_changes_nothing(
    fake: FakeAri, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    def on_event(event: ari.AriEvent) -> None:
        assert isinstance(event, ari.StasisEnd)
        seen.append(event.channel.id)

    async def nothing() -> None:
        return None

    fake.fail("PUT", "/applications/switchboard/eventFilter", 400, "no filter", times=1)
    async with aiohttp.ClientSession() as session:
        stream = EventStream(
            session, fake.url, USER, PASSWORD, "switchboard", on_event=on_event,
            on_connect=nothing, backoff=Backoff(base=0.05, cap=0.1), rng=random.Random(1),
        )  # fmt: skip
        task = asyncio.create_task(stream.run())
        await fake.wait_connected()
        await fake.wait_request("PUT", "/applications/switchboard/eventFilter")
        await fake.push({"type": "StasisEnd", "channel": {"id": "a"}})  # refused: all come
        await fake.drop_websockets()
        await fake.wait_connected(count=2)
        await fake.wait_request("PUT", "/applications/switchboard/eventFilter", count=2)
        await fake.push({"type": "StasisEnd", "channel": {"id": "b"}})
        async with asyncio.timeout(5):
            while len(seen) < 2:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert seen == ["a", "b"]
    refused = [r for r in caplog.records if r.getMessage() == "ari.event_filter_refused"]
    assert [(r.status, r.body) for r in refused] == [(400, "no filter")]  # type: ignore[attr-defined]


def test_the_event_filter_lets_through_every_event_type_that_is_parsed() -> None:
    parsed = {kind.__name__ for kind in get_args(ari.AriEvent)} - {"UnknownEvent"}
    assert set(ari.EVENT_TYPES) == parsed
