"""Tier 1: the call registry: events by call id, routes, and the one late binding."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from switchboard.daemon.calls import Calls
from switchboard.daemon.runner import CallRunner
from switchboard.engine import Drain


class Runner:
    def __init__(self, call_id: str) -> None:
        self.call_id = call_id
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.channels = {call_id}
        self.bridges: set[str] = set()


def test_events_reach_a_call_by_id_until_it_is_forgotten() -> None:
    calls, runner = Calls(), Runner("c1")
    calls.add(cast(CallRunner, runner))
    calls.route(cast(CallRunner, runner), channel="leg", bridge="b1")
    assert calls.deliver("c1", Drain())
    assert runner.queue.qsize() == 1
    assert set(calls.routes) == {"c1", "leg", "b1"}
    assert len(calls) == 1
    calls.forget(cast(CallRunner, runner))
    assert not calls.deliver("c1", Drain())
    assert calls.routes == {}
    assert len(calls) == 0


def test_a_callback_call_starts_only_through_the_supervisor_serving_it() -> None:
    calls, started = Calls(), []

    class Starter:
        def start_callback(self, *args: Any) -> None:
            started.append(args)

    with pytest.raises(RuntimeError):
        calls.start_callback(*cast(Any, (1, 2, 3, 4, 5)))
    calls.serve(Starter())
    calls.start_callback(*cast(Any, (1, 2, 3, 4, 5)))
    assert started == [(1, 2, 3, 4, 5)]
    with pytest.raises(RuntimeError):
        calls.serve(Starter())
