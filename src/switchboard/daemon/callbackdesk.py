"""Callbacks in the daemon: queue callbacks asked for and kept, agents rung for them.

``QueueCallbacks``: a caller in a queue asks to be called back (the number against
the dial policy, the request made durable), restored after a restart, and the
queue's side of what becomes of each call (it is their ``CallbackObserver``).
``CallbackDialer``: carries out the pure dialer (``callbacks.dialer``): the agent's
leg originated through the executor, its end or answer, then the customer's call.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from switchboard.ari import events as ari
from switchboard.ari.client import AriError
from switchboard.callbacks import Callback, CallbackStore
from switchboard.callbacks.dialer import (
    CALLBACK_RETRY_S,
    AgentLeg,
    Answered,
    CallbackObserver,
    Destroyed,
    Entered,
    LegEvent,
    Lost,
    Missed,
    Originated,
    Refused,
    Stage,
    attempted,
    callback_flow,
    customer_call,
    ring_agent,
    step,
)
from switchboard.dialpolicy import CallbackGate, NumberRefused, masked
from switchboard.engine import CallState
from switchboard.engine.commands import Originate, RequestCallback
from switchboard.engine.events import CallbackDecided
from switchboard.metrics import Metrics

from .executor import Sender
from .queues import QueueManager
from .targets import TargetBook

log = logging.getLogger("switchboard.call")

Track = Callable[["asyncio.Task[None]"], None]


class QueueCallbacks:
    """Callbacks asked for in a queue's line (and the observer of their calls)."""

    def __init__(
        self,
        queues: QueueManager,
        store: CallbackStore | None,
        gate: CallbackGate,
        metrics: Metrics,
        clock: Callable[[], datetime],
        track: Track,
    ) -> None:
        self.queues = queues
        self.store = store
        self.gate = gate
        self.metrics = metrics
        self.clock = clock
        self._track = track

    async def request(self, cmd: RequestCallback) -> tuple[CallbackDecided, Callback | None]:
        """May this caller be called back? The number against the dial policy and its
        limit, then the request made durable (spool, then PostgreSQL). The callback
        takes the caller's place only with ``PlaceCallback``, after the engine hung up
        the phones ringing for them."""
        extra = {"call_id": cmd.call_id, "queue": cmd.queue, "number": masked(cmd.number)}
        try:
            number = self.gate.admit(cmd.number)
        except NumberRefused as refused:
            return self._refused(cmd, refused.reason, extra), None
        place = next(
            (p for p in self.queues.lines.get(cmd.queue, []) if p.key == cmd.call_id), None
        )
        since = datetime.fromtimestamp(place.since, UTC) if place else self.clock()
        callback = Callback(
            id=uuid.uuid4().hex[:16],
            queue=cmd.queue,
            number=number,
            dialed=cmd.dialed,
            call_id=cmd.call_id,
            requested_at=since.isoformat(),
            endpoints=cmd.endpoints,
            strategy=cmd.strategy,
            ring_seconds=cmd.ring_seconds,
            trunk=cmd.trunk,
        )
        if self.store is None:
            log.warning("callback.not_persisted", extra={**extra, "detail": "no callback store"})
        else:
            try:
                await self.store.add(callback)
            except OSError as exc:  # not promised: the caller keeps their place
                log.error("callback.spool_failed", extra={**extra, "error": str(exc)})
                self.gate.refund(number)
                return self._refused(cmd, "unavailable", extra), None
        return CallbackDecided(cmd.request_id), callback

    async def restore(self, pending: list[Callback]) -> None:
        """Requests a restart must not lose go back in line, if the dial policy still
        lets us call them (one stored by an older version, or before the policy was
        narrowed, is marked failed instead of dialled)."""
        for callback in pending:
            try:
                self.gate.check(callback.number)
            except NumberRefused as refused:
                self.metrics.callback_refused("queue", refused.reason)
                log.warning("callback.refused", extra={"callback": callback.id,
                            "number": masked(callback.number), "reason": refused.reason,
                            "queue": callback.queue, "restored": True})  # fmt: skip
                if self.store is not None:
                    await self.store.finish(callback, "failed", f"refused_{refused.reason}", "")
                continue
            self.queues.add_callback(callback)

    def _refused(self, cmd: RequestCallback, reason: str, extra: dict[str, str]) -> CallbackDecided:
        self.metrics.callback_refused("queue", reason)
        log.warning("callback.refused", extra={**extra, "reason": reason})
        return CallbackDecided(cmd.request_id, refused=reason)

    # -- what becomes of its calls (CallbackObserver) ---------------------------------------
    def agent_missed(self, callback: Callback, missed: bool) -> None:
        self.queues.callback_missed(callback.id, callback.queue)

    def agent_answered(self, callback: Callback) -> None:
        self.queues.callback_taken(callback.id, callback.queue)

    def attempted(self, callback: Callback, answered_by: str, result: str, agent: str) -> None:
        """A callback call ended: done if the customer answered, else try again later."""
        attempt = attempted(callback, answered_by, result)
        if attempt.status == "pending":
            self.queues.add_callback(attempt.callback, not_before=time.time() + CALLBACK_RETRY_S)
        if self.store is not None:
            finish = self.store.finish(attempt.callback, attempt.status, attempt.result, agent)
            self._track(asyncio.create_task(finish))


StartCall = Callable[[CallState, Callback, CallbackObserver, str, ari.StasisStart], None]


class CallbackDialer:
    """Agents rung for callbacks (by channel id), then the customer's call."""

    def __init__(
        self,
        originate: Sender,
        book: TargetBook,
        start_call: StartCall,
        stall_guard: float,
        track: Track,
    ) -> None:
        self._originate = originate  # the executor's Originate request
        self.book = book
        self._start_call = start_call
        self._stall_guard = stall_guard
        self._track = track
        self.legs: dict[str, AgentLeg] = {}

    def dialing(self) -> set[str]:
        """Legs whose originate request is under way (reconcile leaves them alone)."""
        return {c for c, leg in self.legs.items() if leg.stage is Stage.DIALING}

    def dial(self, callback: Callback, endpoint: str, observer: CallbackObserver) -> None:
        """Ring ``endpoint`` (an agent) for a callback; when they answer, the customer
        is called. ``observer`` is told what becomes of it."""
        leg, originate = ring_agent(callback, endpoint, uuid.uuid4().hex[:6], observer)
        self.legs[leg.channel_id] = leg
        log.info(
            "callback.ring_agent",
            extra={"callback": callback.id, "agent": endpoint, "channel": leg.channel_id},
        )
        self._track(asyncio.create_task(self._ring(originate)))

    async def _ring(self, originate: Originate) -> None:
        try:
            await self._originate(originate)
        except AriError as exc:
            self.handle(originate.channel_id, Refused(str(exc)))
        else:
            self.handle(originate.channel_id, Originated())

    def destroyed(self, event: ari.ChannelDestroyed) -> bool:
        """An agent's leg ended unanswered (False: not one of ours)."""
        return self.handle(event.channel.id, Destroyed(event.cause))

    def entered(self, event: ari.StasisStart) -> bool:
        """An agent answered (False: not one of ours)."""
        return self.handle(event.channel.id, Entered(), event)

    def lost(self, channel_id: str) -> None:
        self.handle(channel_id, Lost())

    def handle(
        self, channel_id: str, event: LegEvent, start: ari.StasisStart | None = None
    ) -> bool:
        leg = self.legs.get(channel_id)
        if leg is None:
            return False
        after, told = step(leg, event)
        if after is None:
            del self.legs[channel_id]
        else:
            self.legs[channel_id] = after
        callback = leg.callback
        match told:
            case Missed(missed=missed, result=result):
                if isinstance(event, Refused):
                    extra = {"callback": callback.id, "error": event.error}
                    log.warning("callback.agent_failed", extra=extra)
                elif isinstance(event, Destroyed):
                    extra = {"callback": callback.id, "agent": leg.agent, "result": result}
                    log.info("callback.agent_missed", extra=extra)
                leg.observer.agent_missed(callback, missed)
            case Answered():
                assert start is not None
                self._answered(leg, start)
        return True

    def _answered(self, leg: AgentLeg, event: ari.StasisStart) -> None:
        callback, agent = leg.callback, leg.agent
        self.book.call_started(agent)  # busy for other calls, before the line moves on
        leg.observer.agent_answered(callback)
        log.info(
            "call.start",
            extra={"call_id": event.channel.id, "callback": callback.id, "caller": callback.number,
                   "dialed": callback.dialed, "flow": callback_flow(callback).name,
                   "entry": "customer"},
        )  # fmt: skip
        state, start = customer_call(callback, event, self._stall_guard)
        self._start_call(state, callback, leg.observer, agent, start)
