"""One call's task: its event queue, its stall guard, its steps, its timers.

The runner takes the call's events in order, steps the engine and carries out the
commands of each step by looking each one up in the command table (``commands.py``),
as the engine looks up its transitions. A command the table lacks is a bug: the call
crashes (its caller goes to the dialplan fallback), nothing is dropped silently.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import astuple, dataclass, fields, is_dataclass
from datetime import datetime
from typing import Any, Protocol

from switchboard.ari.client import AriClient, AriError
from switchboard.callbacks import Callback
from switchboard.callbacks.dialer import CallbackObserver
from switchboard.calllog import CallRecord, customer_data
from switchboard.engine import (
    SETUP_COMMANDS,
    CallState,
    ChannelGone,
    Command,
    EngineEvent,
    GuardExpired,
    TimerFired,
    guard_seconds,
    step,
)
from switchboard.engine.commands import CancelTimer, StartTimer

from .calltimes import CallTimes

log = logging.getLogger("switchboard.call")


LATE_S = 0.5  # a stall guard firing this much after its time: the process was frozen
FROZEN_GRACE_S = 1.0  # then the events buffered meanwhile get this long to be read
SHOWN_ITEMS = 8  # a longer tuple in a logged command (a queue's phones) is cut short


def describe(cmd: Command) -> str:
    # What astuple(cmd) printed, without its deep copy of every field; a field
    # holding a dataclass is still shown as a tuple. A queue's hundreds of phones
    # are shown as the first few and the count (the flow file has them all).
    values = (getattr(cmd, f.name) for f in fields(cmd))
    return f"{type(cmd).__name__}({','.join(_shown(v) for v in values)})"


def _shown(value: object) -> str:
    if is_dataclass(value) and not isinstance(value, type):
        return str(astuple(value))
    if isinstance(value, tuple) and len(value) > SHOWN_ITEMS:
        first = ", ".join(repr(v) for v in value[:3])
        return f"({first}, ... {len(value)} in all)"
    return str(value)


@dataclass(frozen=True, slots=True)
class Reply:
    """What a command's handler hands back to the call at once: an answer (targets
    found, a queue position ...) or a refusal (the first refusal of a batch is fed
    to the engine after the answers; a refused setup command stops the batch)."""

    event: EngineEvent
    refused: bool = False


Handler = Callable[["CallRunner", Any], Awaitable[Reply | None]]
CommandTable = Mapping[type[Command], Handler]


class UnhandledCommand(Exception):
    """The engine asked for a command no handler is registered for (a wiring bug)."""


class RunnerHost(Protocol):
    """What a call needs from the daemon around it."""

    ari: AriClient  # (the safe fallback after a crash)
    clock: Callable[[], datetime]

    def route(self, runner: CallRunner, *, channel: str = "", bridge: str = "") -> None: ...
    def stepped(self, runner: CallRunner, before: CallState) -> None: ...
    def note_progress(self, runner: CallRunner) -> None: ...
    async def record_call(self, runner: CallRunner) -> None: ...
    def finished(self, runner: CallRunner) -> None: ...


class CallRunner:
    """Runs one call: takes its events in order, steps the engine, executes commands."""

    def __init__(
        self,
        host: RunnerHost,
        table: CommandTable,
        state: CallState,
        callback: Callback | None = None,
    ) -> None:
        self.host = host
        self.table = table
        self.state = state
        self.callback = callback  # this call is a callback: agent first, then the customer
        self.call_id = state.call_id  # a call is named after its caller's channel
        self.queue: asyncio.Queue[EngineEvent] = asyncio.Queue()
        self.channels: set[str] = {state.call_id}
        self.bridges: set[str] = set()
        self.in_flight: set[str] = set()  # legs and playbacks whose request is under way
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self.talking_to = ""  # who answered, while connected (the target book counts them)
        self.started_at = host.clock()  # (the call's own time, once StasisStart is in)
        self.answered_at: datetime | None = None
        self.callback_agent = ""  # a callback call: the agent who took it
        self.told: CallbackObserver | None = None  # a callback call: who asked for it
        self.times = CallTimes()  # for the call log: the wait, each phone's ring
        self.callback_taken: Callback | None = None  # stored, not yet in the caller's place
        self.history: CallRecord | None = None  # re-adopted: what the journal knew before
        self.journaled: CallRecord | None = None  # its journal file's record (as last written)

    async def run(self) -> None:
        recorded = False
        try:
            while not self.state.terminal:
                await self._advance(await self._next_event())
            log.info("call.end", extra=end_fields(self.state))
            recorded = True  # (a bug while recording must not record the call twice)
            await self.host.record_call(self)
        except Exception:
            log.exception("call.crashed", extra={"call_id": self.call_id})
            await self._safe_fallback()
            if not recorded:
                await self._record_after_crash()
        finally:
            for timer in self.timers.values():
                timer.cancel()
            self.host.finished(self)

    async def _record_after_crash(self) -> None:
        try:
            await self.host.record_call(self)
        except Exception:  # (the call.crashed line above is its record then)
            log.exception("call.record_failed", extra={"call_id": self.call_id})

    async def _next_event(self) -> EngineEvent:
        """The next event, or GuardExpired when Asterisk stays silent too long."""
        guard = guard_seconds(self.state)
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            async with asyncio.timeout(guard):  # not wait_for: it can lose a cancel on 3.11
                return await self.queue.get()
        except TimeoutError:
            pass
        assert guard is not None  # (no limit: the wait above never times out)
        if loop.time() - started - guard > LATE_S:
            # The guard fired late: the process was frozen (SIGSTOP, a VM paused) or
            # starved, and Asterisk's events of that time may still be unread in the
            # websocket. They decide the call, not the guard.
            try:
                async with asyncio.timeout(FROZEN_GRACE_S):
                    return await self.queue.get()
            except TimeoutError:
                pass
        log.warning("call.stalled", extra={"call_id": self.call_id, "after_s": guard})
        return GuardExpired(self.state.phase)

    async def _advance(self, event: EngineEvent) -> None:
        """One event and what follows from it at once (a batch of steps); then the
        call's journal, if any step changed the call."""
        pending: deque[EngineEvent] = deque([event])
        changed = False
        while pending:
            current = pending.popleft()
            before = self.state
            self.state, commands, ignored = step(before, current)
            if ignored is not None:
                log.debug(
                    "engine.ignored",
                    extra={
                        "call_id": self.call_id,
                        "phase": ignored.phase,  # (the engine's own: seeking_agent too)
                        "trigger": ignored.trigger or "",
                        "event": ignored.event,
                    },
                )
            if self.state is before and not commands:
                continue
            changed = True
            self.host.stepped(self, before)
            log.info(
                "call.transition",
                extra={
                    "call_id": self.call_id,
                    "event": type(current).__name__,
                    "from": before.phase.shown,
                    "to": self.state.phase.shown,
                    "node": self.state.node,
                    "commands": [describe(c) for c in commands],
                },
            )
            pending.extend(await self._execute(commands))
        if changed and not self.state.terminal:  # (a call that ends: its row, not this)
            self.host.note_progress(self)

    async def _execute(self, commands: list[Command]) -> list[EngineEvent]:
        """Run the commands in order. If Asterisk refuses one that builds the call, the
        batch stops there and the engine decides what next; other refusals (ringing,
        stopping a prompt, clean-up) are logged and the batch goes on. Returns the
        events that follow at once: answers to questions, and the refusal that matters:
        the set-up command's that stopped the batch, else the first (a clean-up refused
        before it, e.g. stopping the ringing of a caller who just hung up, must not hide
        a refused recording: the call would wait for a recording that never started).
        A channel found gone on the way is told first: a caller who hung up is
        abandoned, even if a later set-up command was refused because of it."""
        answers: list[EngineEvent] = []
        failure: EngineEvent | None = None
        gone: EngineEvent | None = None
        for cmd in commands:
            handler = self.table.get(type(cmd))
            if handler is None:
                raise UnhandledCommand(describe(cmd))
            reply = await handler(self, cmd)
            if reply is None:
                continue
            if not reply.refused:
                answers.append(reply.event)
                continue
            if gone is None and isinstance(reply.event, ChannelGone):
                gone = reply.event
            if isinstance(cmd, SETUP_COMMANDS) and not self.state.terminal:
                failure = reply.event
                break
            failure = failure or reply.event
        told = [gone] if gone is not None else []
        if failure is not None and failure is not gone:
            told.append(failure)
        return [*answers, *told]

    # -- timers (menu timeouts: the runner owns the clock and reports back as an event) --
    async def timer(self, cmd: StartTimer | CancelTimer) -> None:
        old = self.timers.pop(cmd.timer_id, None)
        if old is not None:
            old.cancel()
        if isinstance(cmd, StartTimer):
            fired = TimerFired(cmd.timer_id)
            loop = asyncio.get_running_loop()
            self.timers[cmd.timer_id] = loop.call_later(cmd.seconds, self._fire, fired)

    def _fire(self, fired: TimerFired) -> None:
        self.timers.pop(fired.timer_id, None)
        self.queue.put_nowait(fired)

    async def _safe_fallback(self) -> None:
        """After a crash: the caller goes on in the dialplan, everything else is torn down."""
        ari_client = self.host.ari
        for channel in sorted(self.channels - {self.call_id}):
            await quietly(ari_client.hangup(channel), self.call_id)
        for bridge in sorted(self.bridges):
            await quietly(ari_client.destroy_bridge(bridge), self.call_id)
        await quietly(ari_client.continue_in_dialplan(self.call_id), self.call_id)
        log.warning("call.safe_fallback", extra={"call_id": self.call_id})


def end_fields(state: CallState) -> dict[str, object]:
    """The ``call.end`` log line of a call that has ended."""
    return {
        "call_id": state.call_id,
        "outcome": state.outcome,
        "answered_by": state.answered_by,
        "path": list(state.path),
        "route_result": state.route_result,
        "route_log": [list(entry) for entry in state.route_log],
        "vars": state.variables,
        "agent": state.agent,
        "customer": customer_data(state),
    }


async def quietly(request: Awaitable[None], about: str) -> None:
    """Best effort: a refusal is logged, never raised (the caller is already safe-pathed)."""
    try:
        await request
    except AriError as exc:
        log.info("call.best_effort_failed", extra={"call_id": about, "error": str(exc)})
