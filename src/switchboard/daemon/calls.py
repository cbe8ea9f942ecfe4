"""The calls in progress: by id, and by the channels and bridges routed to them.

Built first of the daemon's parts (``parts.call_handling``), so that the parts that
reach calls (the queues, the agent router, the callback dialer) depend on this small
registry, not on the supervisor: ``deliver`` hands an engine event to a call by id,
``route``/``forget`` keep the channel and bridge routes, ``track`` keeps the daemon's
background tasks (the supervisor waits for them when it drains).

One late binding, and only one: a callback's customer call is started by the callback
dialer, built before the supervisor that runs calls. The supervisor, while it is
constructed, says it ``serves`` the registry (``CallbackStarter``); until then no
callback call can start (nothing can ring an agent before the supervisor exists).
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from switchboard.ari import events as ari
from switchboard.callbacks import Callback
from switchboard.callbacks.dialer import CallbackObserver
from switchboard.engine import CallState, EngineEvent

from .runner import CallRunner


class CallbackStarter(Protocol):
    """Who starts a callback's customer call (the supervisor)."""

    def start_callback(
        self,
        state: CallState,
        callback: Callback,
        observer: CallbackObserver,
        agent: str,
        start: ari.StasisStart,
    ) -> None: ...


class Calls:
    def __init__(self) -> None:
        self.by_id: dict[str, CallRunner] = {}
        self.routes: dict[str, CallRunner] = {}  # channel or bridge id -> its call
        self.tasks: set[asyncio.Task[None]] = set()
        self._starter: CallbackStarter | None = None

    def __len__(self) -> int:
        return len(self.by_id)

    def serve(self, starter: CallbackStarter) -> None:
        """The supervisor, once, while it is built (see the module docstring)."""
        if self._starter is not None:
            raise RuntimeError("these calls are served by a supervisor already")
        self._starter = starter

    def add(self, runner: CallRunner) -> None:
        self.route(runner, channel=runner.call_id)
        self.by_id[runner.call_id] = runner

    def deliver(self, call_id: str, event: EngineEvent) -> bool:
        """Hand ``event`` to the call ``call_id`` (False: that call is gone)."""
        runner = self.by_id.get(call_id)
        if runner is None:
            return False
        runner.queue.put_nowait(event)
        return True

    def route(self, runner: CallRunner, *, channel: str = "", bridge: str = "") -> None:
        if channel:
            runner.channels.add(channel)
            self.routes[channel] = runner
        if bridge:
            runner.bridges.add(bridge)
            self.routes[bridge] = runner

    def forget(self, runner: CallRunner) -> None:
        self.by_id.pop(runner.call_id, None)
        for key in runner.channels | runner.bridges:
            if self.routes.get(key) is runner:
                del self.routes[key]

    def track(self, task: asyncio.Task[None]) -> None:
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def start_callback(
        self,
        state: CallState,
        callback: Callback,
        observer: CallbackObserver,
        agent: str,
        start: ari.StasisStart,
    ) -> None:
        """The callback dialer's ``StartCall``: the serving supervisor starts it."""
        if self._starter is None:
            raise RuntimeError("no supervisor serves these calls")
        self._starter.start_callback(state, callback, observer, agent, start)
