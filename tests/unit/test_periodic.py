"""durable.periodic: ticks on time, survives a failing tick, stops when cancelled."""

from __future__ import annotations

import asyncio
import logging

import pytest

from switchboard.durable import periodic


async def test_ticks_plain_and_async_functions() -> None:
    plain: list[int] = []
    awaited: list[int] = []

    async def later() -> None:
        awaited.append(1)

    tasks = [
        asyncio.create_task(periodic("plain", 0.01, lambda: plain.append(1))),
        asyncio.create_task(periodic("async", 0.01, later)),
    ]
    await asyncio.sleep(0.1)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert len(plain) >= 3
    assert len(awaited) >= 3


async def test_a_failing_tick_is_logged_and_the_next_one_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first tick breaks")

    caplog.set_level(logging.ERROR, logger="switchboard.periodic")
    task = asyncio.create_task(periodic("flaky", 0.01, flaky, first_after=0))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(calls) >= 2
    failed = [r for r in caplog.records if r.getMessage() == "flaky.tick_failed"]
    assert len(failed) == 1


async def test_first_after_delays_the_first_tick() -> None:
    calls: list[int] = []
    task = asyncio.create_task(periodic("slow", 0.01, lambda: calls.append(1), first_after=10))
    await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert calls == []
