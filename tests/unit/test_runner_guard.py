"""The stall guard after a freeze: the events that arrived meanwhile decide."""

from __future__ import annotations

import asyncio
import time
import typing
from datetime import UTC, datetime
from typing import Any

from switchboard.ari import events as ari
from switchboard.daemon.runner import CallRunner
from switchboard.engine import GuardExpired, new_call
from tests.flowkit import SPINE, flow


class _Host:
    clock = staticmethod(lambda: datetime.now(UTC))


def _runner() -> CallRunner:
    state = new_call("c1", flow(SPINE), "74951234567", stall_guard=0.1)
    return CallRunner(typing.cast(Any, _Host()), {}, state)


def _next_after_freeze(freeze_s: float) -> object:
    """The loop frozen ``freeze_s`` (SIGSTOP) while the guard runs; an event that was
    waiting in the socket is delivered just after the guard's time."""

    async def scenario() -> object:
        runner = _runner()
        loop = asyncio.get_running_loop()
        event = ari.StasisEnd(channel=ari.Channel(id="c1"))
        loop.call_later(0.01, time.sleep, freeze_s)
        loop.call_later(0.15, runner.queue.put_nowait, event)  # due after the guard
        return await runner._next_event()

    return asyncio.run(scenario())


def test_a_guard_overdue_after_a_freeze_lets_the_event_read_meanwhile_decide() -> None:
    assert isinstance(_next_after_freeze(1.0), ari.StasisEnd)


def test_without_a_freeze_the_guard_fires_on_time() -> None:
    assert _next_after_freeze(0.0) == GuardExpired(new_call("c1", flow(SPINE), "x").phase)
