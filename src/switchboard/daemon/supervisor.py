"""One task per call, and a supervisor above them.

The supervisor routes each ARI event to the call that owns its channel or
bridge (a per-call queue keeps that call's events in order; calls run in
parallel), starts a call on a caller's StasisStart, sends a crashed call's caller
to the dialplan fallback, reconciles after every (re)connection and drains on stop.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import astuple

from switchboard.ari import AriClient, AriError
from switchboard.ari import events as ari
from switchboard.engine import (
    CallState,
    ChannelGone,
    Command,
    Drain,
    EngineEvent,
    SpineFlow,
    adopt_connected,
    new_call,
    step,
)
from switchboard.engine.commands import CreateBridge, Originate

from .executor import Executor

log = logging.getLogger("switchboard.call")
slog = logging.getLogger("switchboard.supervisor")

LEG_ARG = "leg"  # appArgs of legs we originate: "leg,<call id>"


def describe(cmd: Command) -> str:
    return f"{type(cmd).__name__}({','.join(str(v) for v in astuple(cmd))})"


class CallRunner:
    """Runs one call: takes its events in order, steps the engine, executes commands."""

    def __init__(self, supervisor: Supervisor, state: CallState) -> None:
        self.sup = supervisor
        self.state = state
        self.call_id = state.call_id
        self.queue: asyncio.Queue[EngineEvent] = asyncio.Queue()
        self.channels: set[str] = set()
        self.bridges: set[str] = set()

    async def run(self) -> None:
        try:
            while not self.state.terminal:
                await self._advance(await self.queue.get())
            log.info(
                "call.end",
                extra={
                    "call_id": self.call_id,
                    "outcome": self.state.outcome,
                    "answered_by": self.state.answered_by,
                },
            )
        except Exception:
            log.exception("call.crashed", extra={"call_id": self.call_id})
            await self._safe_fallback()
        finally:
            self.sup.forget(self)

    async def _advance(self, event: EngineEvent) -> None:
        pending: deque[EngineEvent] = deque([event])
        while pending:
            current = pending.popleft()
            before = self.state
            self.state, commands = step(before, current)
            if self.state is before and not commands:
                continue
            log.info(
                "call.transition",
                extra={
                    "call_id": self.call_id,
                    "event": type(current).__name__,
                    "from": before.phase,
                    "to": self.state.phase,
                    "commands": [describe(c) for c in commands],
                },
            )
            for cmd in commands:
                self._claim(cmd)
                feedback = await self.sup.executor.execute(cmd)
                if feedback is not None:
                    log.info(
                        "call.command_result",
                        extra={"call_id": self.call_id, "result": repr(feedback)[:400]},
                    )
                    pending.append(feedback)

    def _claim(self, cmd: Command) -> None:
        """Route a new leg's or bridge's events here *before* asking Asterisk for it."""
        if isinstance(cmd, Originate):
            self.sup.route(self, channel=cmd.channel_id)
        elif isinstance(cmd, CreateBridge):
            self.sup.route(self, bridge=cmd.bridge_id)

    async def _safe_fallback(self) -> None:
        """After a crash: the caller goes on in the dialplan, everything else is torn down."""
        ari_client = self.sup.ari
        caller = self.call_id  # a call is named after its caller's channel
        for channel in sorted(self.channels - {caller}):
            await _quietly(ari_client.hangup(channel), self.call_id)
        for bridge in sorted(self.bridges):
            await _quietly(ari_client.destroy_bridge(bridge), self.call_id)
        if caller:
            await _quietly(ari_client.continue_in_dialplan(caller), self.call_id)
        log.warning("call.safe_fallback", extra={"call_id": self.call_id, "caller": caller})


async def _quietly(request: object, call_id: str) -> None:
    assert asyncio.iscoroutine(request)
    try:
        await request
    except AriError as exc:
        log.info("call.fallback_step_failed", extra={"call_id": call_id, "error": str(exc)})


class Supervisor:
    def __init__(self, ari_client: AriClient, app: str, flow: Callable[[], SpineFlow]) -> None:
        self.ari = ari_client
        self.app = app
        self.executor = Executor(ari_client, app)
        self._flow = flow
        self._calls: dict[str, CallRunner] = {}
        self._routes: dict[str, CallRunner] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.draining = False

    # -- bookkeeping --------------------------------------------------------------------
    @property
    def calls_in_progress(self) -> int:
        return len(self._calls)

    def route(self, runner: CallRunner, *, channel: str = "", bridge: str = "") -> None:
        if channel:
            runner.channels.add(channel)
            self._routes[channel] = runner
        if bridge:
            runner.bridges.add(bridge)
            self._routes[bridge] = runner

    def forget(self, runner: CallRunner) -> None:
        self._calls.pop(runner.call_id, None)
        for key in runner.channels | runner.bridges:
            if self._routes.get(key) is runner:
                del self._routes[key]

    def _spawn(self, runner: CallRunner) -> None:
        self._calls[runner.call_id] = runner
        task = asyncio.create_task(runner.run(), name=f"call-{runner.call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _background(self, request: object, what: str) -> None:
        async def go() -> None:
            await _quietly(request, what)

        task = asyncio.create_task(go())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- events -------------------------------------------------------------------------
    def on_event(self, event: ari.AriEvent) -> None:
        """Called by the event stream for every event, in arrival order."""
        for key in ari.routing_ids(event):
            runner = self._routes.get(key)
            if runner is not None:
                runner.queue.put_nowait(event)
                return
        if isinstance(event, ari.StasisStart):
            self._stasis_start(event)
        elif isinstance(event, ari.UnknownEvent):
            slog.debug("event.unknown", extra={"type": event.type})
        else:
            slog.debug("event.unrouted", extra={"type": type(event).__name__})

    def _stasis_start(self, event: ari.StasisStart) -> None:
        channel = event.channel
        if event.args[:1] == (LEG_ARG,):
            # A leg whose call has ended (e.g. the caller hung up while it rang).
            slog.info("leg.orphan_hangup", extra={"channel": channel.id})
            self._background(self.ari.hangup(channel.id), channel.id)
            return
        if self.draining:
            slog.info("call.refused_draining", extra={"channel": channel.id})
            self._background(self.ari.continue_in_dialplan(channel.id), channel.id)
            return
        runner = CallRunner(self, new_call(channel.id, self._flow()))
        self.route(runner, channel=channel.id)
        log.info(
            "call.start",
            extra={
                "call_id": runner.call_id,
                "caller": channel.caller_number,
                "dialed": event.args[1] if len(event.args) > 1 else channel.exten,
            },
        )
        runner.queue.put_nowait(event)
        self._spawn(runner)

    # -- reconcile ----------------------------------------------------------------------
    async def reconcile(self) -> None:
        """After (re)connecting: compare what we track with what Asterisk has."""
        try:
            channels = await self.ari.list_channels()
            bridges = await self.ari.list_bridges()
        except AriError as exc:
            slog.warning("reconcile.failed", extra={"error": str(exc)})
            return
        present = {c.id for c in channels}
        for runner in list(self._calls.values()):
            for channel_id in sorted(runner.channels - present):
                runner.queue.put_nowait(ChannelGone(channel_id))
        ours = [c for c in channels if self._in_our_app(c) and c.id not in self._routes]
        self._adopt_or_clean(ours, bridges)
        slog.info(
            "reconcile.done",
            extra={"calls": len(self._calls), "channels": len(channels), "unknown": len(ours)},
        )

    def _in_our_app(self, channel: ari.Channel) -> bool:
        return channel.app_name == "Stasis" and channel.app_data.split(",")[0] == self.app

    def _adopt_or_clean(self, unknown: list[ari.Channel], bridges: list[ari.Bridge]) -> None:
        unknown_ids = {c.id for c in unknown}
        by_id = {b.id: b for b in bridges}
        for channel in unknown:
            is_leg = channel.app_data.split(",")[1:2] == [LEG_ARG]
            if is_leg:
                continue  # adopted with its caller below, or hung up at the end
            bridge = by_id.get(f"{channel.id}-bridge")
            agent = f"{channel.id}-agent"
            if bridge and {channel.id, agent} <= set(bridge.channels) and agent in unknown_ids:
                self._adopt(channel.id)
            else:
                slog.info("reconcile.hand_back", extra={"channel": channel.id})
                self._background(self.ari.continue_in_dialplan(channel.id), channel.id)
        for channel in unknown:
            if channel.app_data.split(",")[1:2] == [LEG_ARG] and channel.id not in self._routes:
                slog.info("reconcile.hangup_leg", extra={"channel": channel.id})
                self._background(self.ari.hangup(channel.id), channel.id)

    def _adopt(self, caller: str) -> None:
        runner = CallRunner(self, adopt_connected(caller, self._flow(), caller))
        self.route(runner, channel=caller, bridge=runner.state.bridge_id)
        self.route(runner, channel=runner.state.agent_channel)
        log.info("call.adopted", extra={"call_id": caller})
        self._spawn(runner)

    # -- drain --------------------------------------------------------------------------
    async def drain(self, grace: float) -> int:
        """Refuse new calls, hand back calls not yet connected, wait for the rest.

        Returns how many calls were still running (connected) at the timeout;
        they stay bridged in Asterisk and a restarted daemon re-adopts them.
        """
        self.draining = True
        for runner in list(self._calls.values()):
            runner.queue.put_nowait(Drain())
        pending = set(self._tasks)
        if pending:
            _, pending = await asyncio.wait(pending, timeout=grace)
        left = len(self._calls)
        if left:
            slog.warning("drain.timeout", extra={"calls_left": left})
        for task in pending:
            task.cancel()
        return left
