"""The daemon's queues: who waits in which line, in arrival order, and whose turn it is.

A call in a queue node joins the line (``JoinQueue``). Whenever phones of the queue
can ring (the target book: registered, not talking, not rung for someone else), the
first place in line that is not already being offered gets them: its call receives
``TargetsFound`` and rings them while the caller hears music. If nobody answers
(``QueueReady``) the place keeps its position and is offered again a little later.
A caller who chose the callback keeps their place as a callback: on its turn one
agent is rung first (``dial_callback``), and once they answer the caller is called.

Everything here is in memory and synchronous (no I/O); ``run()`` only re-checks
the lines every second, for retries that fall due and phones that became free.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from switchboard.callbacks import Callback
from switchboard.engine.commands import AskPosition, FindTargets, JoinQueue
from switchboard.engine.events import EngineEvent, QueuePosition, TargetsFound

from .targets import TargetBook

log = logging.getLogger("switchboard.queue")
RETRY_S = 3.0  # after a turn nobody answered, before the same place is offered again
CHECK_EVERY_S = 1.0


@dataclass(frozen=True, slots=True)
class Place:
    key: str  # the call id, or "cb:<id>" for a callback
    queue: str
    request_id: str
    strategy: str
    presences: tuple[str, ...]
    since: float  # wall-clock arrival: the order of the line
    offered: tuple[str, ...] = ()  # phones being rung for this place now
    not_before: float = 0.0
    callback: Callback | None = None


class QueueManager:
    def __init__(
        self,
        book: TargetBook,
        deliver: Callable[[str, EngineEvent], bool],
        dial_callback: Callable[[Callback, str], None],
        clock: Callable[[], float] = time.time,
        retry_s: float = RETRY_S,
    ) -> None:
        self.book = book
        self._deliver = deliver  # False: that call is gone
        self._dial_callback = dial_callback
        self._clock = clock
        self.retry_s = retry_s
        self.lines: dict[str, list[Place]] = {}
        self._wake = asyncio.Event()
        # No turns until Asterisk's endpoint states are known, nor while draining.
        self.paused = True

    # -- what calls ask -----------------------------------------------------------------
    def join(self, cmd: JoinQueue) -> None:
        place = Place(
            cmd.call_id, cmd.queue, cmd.request_id, cmd.strategy, cmd.presences, self._clock()
        )
        self._insert(place)
        log.info("queue.join", extra={"call_id": cmd.call_id, "queue": cmd.queue})
        self.poke()

    def ready(self, queue: str, key: str) -> None:
        """Nobody answered this turn: keep the place, offer again after ``retry_s``."""
        self._update(queue, key, offered=(), not_before=self._clock() + self.retry_s)
        self.poke()

    def leave(self, queue: str, key: str) -> None:
        line = self.lines.get(queue, [])
        self.lines[queue] = [p for p in line if p.key != key]
        self.poke()

    def position(self, cmd: AskPosition) -> QueuePosition:
        """1 for the first place in line; 0 if the call is not in it."""
        keys = [p.key for p in self.lines.get(cmd.queue, [])]
        position = keys.index(cmd.call_id) + 1 if cmd.call_id in keys else 0
        return QueuePosition(cmd.request_id, position)

    def to_callback(self, call_id: str, callback: Callback) -> None:
        """The caller hung up keeping their place: the place becomes the callback's."""
        line = self.lines.get(callback.queue, [])
        for index, place in enumerate(line):
            if place.key == call_id:
                line[index] = replace(
                    place,
                    key=f"cb:{callback.id}",
                    request_id=f"cb:{callback.id}",
                    presences=callback.endpoints,  # its agents: the queue's extensions
                    offered=(),
                    not_before=0.0,
                    callback=callback,
                )
                break
        else:
            self.add_callback(callback)
        self.poke()

    def add_callback(self, callback: Callback, not_before: float = 0.0) -> None:
        """A callback waiting (after a restart, or after an attempt that failed)."""
        since = _epoch(callback.requested_at)
        place = Place(
            f"cb:{callback.id}",
            callback.queue,
            f"cb:{callback.id}",
            callback.strategy,
            callback.endpoints,
            since,
            not_before=not_before,
            callback=callback,
        )
        self._insert(place)

    def callback_missed(self, callback_id: str, queue: str) -> None:
        """The agent rung for a callback did not answer."""
        self.ready(queue, f"cb:{callback_id}")

    def callback_taken(self, callback_id: str, queue: str) -> None:
        """An agent answered for the callback: its place is done (the call goes on)."""
        self.leave(queue, f"cb:{callback_id}")

    # -- turns --------------------------------------------------------------------------
    def poke(self) -> None:
        """Give turns: in each line, in order, to places not being offered and due."""
        if self.paused:
            return
        now = self._clock()
        ringing = {p for line in self.lines.values() for place in line for p in place.offered}
        for queue, line in self.lines.items():
            for index, place in enumerate(list(line)):
                if place.offered or place.not_before > now:
                    continue
                ask = FindTargets(
                    place.request_id, f"queue:{queue}", place.strategy, place.presences
                )
                found = self.book.find(ask, advance=False)
                order = tuple(i for i in found.order if place.presences[i] not in ringing)
                if not order and place.callback is not None:
                    continue  # a callback's agents (extensions) are away: do not block others
                if not order:
                    break  # nobody for the first waiting place: later ones wait behind it
                self.book.advance(ask)  # round robin moves on when a turn is given
                if place.callback is not None:
                    order = order[:1]  # a callback rings one agent, then the customer
                offered = tuple(place.presences[i] for i in order)
                line[index] = replace(place, offered=offered)
                ringing.update(offered)
                self._give_turn(line[index], order, found.skipped)

    def _give_turn(
        self, place: Place, order: tuple[int, ...], skipped: tuple[tuple[int, str], ...]
    ) -> None:
        log.info(
            "queue.turn",
            extra={"call_id": place.key, "queue": place.queue, "offered": list(place.offered)},
        )
        if place.callback is not None:
            self._dial_callback(place.callback, place.offered[0])
            return
        turn = TargetsFound(place.request_id, order, skipped)
        if not self._deliver(place.key, turn):
            self.lines[place.queue] = [p for p in self.lines[place.queue] if p.key != place.key]

    def forget(self, call_id: str) -> None:
        """A call ended without leaving its line (it crashed): its place goes."""
        for queue, line in self.lines.items():
            if any(p.key == call_id for p in line):
                self.lines[queue] = [p for p in line if p.key != call_id]
                self.wake()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                self.poke()
            except Exception:  # a bug here must not stop every queue for good
                log.exception("queue.poke_failed")
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel
            # that arrives as the wake-up does, and the task would never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CHECK_EVERY_S):
                    await self._wake.wait()

    # -- bookkeeping --------------------------------------------------------------------
    def _insert(self, place: Place) -> None:
        line = self.lines.setdefault(place.queue, [])
        line[:] = [p for p in line if p.key != place.key]
        line.append(place)
        line.sort(key=lambda p: p.since)

    def _update(self, queue: str, key: str, **changes: object) -> None:
        line = self.lines.get(queue, [])
        for index, place in enumerate(line):
            if place.key == key:
                line[index] = replace(place, **changes)  # type: ignore[arg-type]


def _epoch(iso: str) -> float:
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return time.time()
