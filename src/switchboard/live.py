"""Live events: what the screen pop and wallboard pages show as it happens.

The supervisor publishes a :class:`CallEvent` when a call changes phase, when an
agent's phone starts ringing for it (*offered*), stops ringing without taking it
(*withdrawn*), takes it (*connected*) and when the call ends. ``LiveHub.publish``
never blocks and never raises into a call: listeners are small synchronous
functions (the pages' in-memory board), and each subscriber (a browser's
websocket) has a bounded queue; one that falls behind is dropped (its page
reconnects and starts again from a fresh picture) instead of slowing calls.

``call_changes`` and ``ivr_steps`` are pure: what to publish, given the call's
state before and after a step.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from switchboard.engine import CallState, Phase
from switchboard.flows.model import Flow, Menu
from switchboard.routing.rank import Customer

log = logging.getLogger("switchboard.live")
QUEUE_SIZE = 256  # events a subscriber may fall behind before it is dropped


class Kind(StrEnum):
    PHASE = "call.phase"  # the call entered another phase (started, waiting, ...)
    OFFERED = "call.offered"  # a phone rings for it
    WITHDRAWN = "call.withdrawn"  # that phone stopped ringing, someone else has it or no one
    CONNECTED = "call.connected"  # a phone took it
    ENDED = "call.ended"


WAITING_PHASES = frozenset({Phase.DIALING, Phase.QUEUED})  # a caller waits for a person


@dataclass(frozen=True, slots=True)
class IvrStep:
    """A node the caller went through; ``key``: the menu key that led out of it."""

    node: str
    key: str = ""


@dataclass(frozen=True, slots=True)
class CallEvent:
    kind: Kind
    call_id: str
    phase: Phase
    at: datetime  # the daemon's clock
    caller: str = ""
    dialed: str = ""
    flow: str = ""
    agent: str = ""  # the agent reserved for the call (routes to agents)
    endpoint: str = ""  # offered, withdrawn, connected: the phone concerned
    path: tuple[IvrStep, ...] = ()
    customer: Customer | None = None
    outcome: str = ""


@dataclass(frozen=True, slots=True)
class AgentsChanged:
    """An agent's state may have changed (a call released them, an operator paused
    them): pages that show agents read them again."""

    at: datetime
    agent: str = ""


LiveEvent = CallEvent | AgentsChanged


def ivr_steps(flow: Flow, path: tuple[str, ...]) -> tuple[IvrStep, ...]:
    """The nodes entered, each menu with the key that led to the node after it."""
    steps = []
    for index, node in enumerate(path):
        following = path[index + 1] if index + 1 < len(path) else ""
        action = flow.nodes[node].kind if node in flow.nodes else None
        key = ""
        if isinstance(action, Menu) and following:
            key = next((k for k, c in action.choices.items() if c.target == following), "")
        steps.append(IvrStep(node, key))
    return tuple(steps)


def call_event(
    kind: Kind, state: CallState, at: datetime, endpoint: str = "", outcome: str = ""
) -> CallEvent:
    return CallEvent(
        kind=kind,
        call_id=state.call_id,
        phase=state.phase.shown,
        at=at,
        caller=state.caller_number,
        dialed=state.dialed,
        flow=state.flow.name,
        agent=state.agent,
        endpoint=endpoint,
        path=ivr_steps(state.flow, state.path),
        customer=state.customer,
        outcome=outcome,
    )


def call_changes(before: CallState, after: CallState, at: datetime) -> list[CallEvent]:
    """What a step changed that the pages show: phones that started or stopped
    ringing, the phone that took the call, the phase."""
    events = []
    rang = {leg.target.endpoint: leg for leg in before.legs}
    rings = {leg.target.endpoint: leg for leg in after.legs}
    connected = after.phase is Phase.CONNECTED and before.phase is not Phase.CONNECTED
    # The phone that took the call (an external number's is its trunk endpoint).
    taker = next((e for e, leg in rang.items() if leg.id == after.leg), after.answered_by)
    for endpoint in rings.keys() - rang.keys():
        events.append(call_event(Kind.OFFERED, after, at, endpoint))
    for endpoint in rang.keys() - rings.keys():
        if not (connected and endpoint == taker):
            # (an agent's name is gone from the state once their phone rang out)
            event = call_event(Kind.WITHDRAWN, after, at, endpoint)
            events.append(event if event.agent else replace(event, agent=before.agent))
    if connected:
        events.append(call_event(Kind.CONNECTED, after, at, taker))
    elif after.phase.shown is not before.phase.shown and not after.terminal:
        events.append(call_event(Kind.PHASE, after, at))
    return events


class SubscriptionDropped(Exception):
    """The subscriber fell behind (or the hub closed): start again from a fresh picture."""


_DROPPED = object()


class Subscription:
    def __init__(self, hub: LiveHub, wants: Callable[[LiveEvent], bool], queue_size: int) -> None:
        self._hub = hub
        self.wants = wants
        self._queue: asyncio.Queue[object] = asyncio.Queue(queue_size)
        self.dropped = False

    def offer(self, event: LiveEvent) -> None:
        if self.dropped or not self.wants(event):
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            log.warning("live.subscriber_dropped", extra={"queued": self._queue.qsize()})
            self.drop()

    def drop(self) -> None:
        if self.dropped:
            return
        self.dropped = True
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(_DROPPED)  # wakes a reader waiting now
        self._hub.unsubscribe(self)

    def discard_pending(self) -> None:
        """Forget the events queued (the reader will show a fresh picture instead)."""
        while not self.dropped and not self._queue.empty():
            self._queue.get_nowait()

    async def next(self) -> LiveEvent:
        item = await self._queue.get()
        if isinstance(item, CallEvent | AgentsChanged):
            return item
        raise SubscriptionDropped

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.drop()


class LiveHub:
    """Fan-out of live events to in-process listeners and bounded subscribers."""

    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self._listeners: list[Callable[[LiveEvent], None]] = []
        self._subscribers: set[Subscription] = set()

    def publish(self, event: LiveEvent) -> None:
        """Never blocks, never raises: a broken listener is logged, a slow subscriber
        dropped."""
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("live.listener_failed")
        for subscriber in list(self._subscribers):
            subscriber.offer(event)

    def listen(self, listener: Callable[[LiveEvent], None]) -> None:
        """Call ``listener`` with every event, inline (it must be quick: no I/O)."""
        self._listeners.append(listener)

    def unlisten(self, listener: Callable[[LiveEvent], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def subscribe(self, wants: Callable[[LiveEvent], bool] = lambda _: True) -> Subscription:
        subscription = Subscription(self, wants, self.queue_size)
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def close(self) -> None:
        """Drop every subscriber (the server is stopping): their readers wake."""
        for subscription in list(self._subscribers):
            subscription.drop()
