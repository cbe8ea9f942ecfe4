"""What the daemon knows about the phones it rings, to answer ``FindTargets``.

- Asterisk's endpoint states (``online`` / ``offline`` / ``unknown``), read on
  every (re)connection and every second after (``Supervisor.watch_endpoints``): an
  ``offline`` endpoint (a phone not registered, a trunk whose qualify fails) is
  skipped without ringing it; an endpoint Asterisk does not know is skipped too.
- Who is talking on one of our calls now (not offered another call).
- When each phone last finished a call (longest idle first).
- Where each round robin starts next (``<flow>:<node>`` -> position).

Answers are computed in memory, without I/O, so a call never waits for them.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable

from switchboard.ari import events as ari
from switchboard.engine.commands import FindTargets
from switchboard.engine.events import TargetsFound
from switchboard.flows.model import Strategy

OFFLINE = "offline"
_UNKNOWN = object()  # not in Asterisk's list


def endpoint_name(endpoint: ari.Endpoint) -> str:
    return f"{endpoint.technology}/{endpoint.resource}"


class TargetBook:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.states: dict[str, str] = {}
        self.in_use: set[str] = set()  # endpoints with a channel in Asterisk (any call at all)
        self.loaded = False  # False until Asterisk's list is in: then nothing is skipped
        self.loaded_once = False  # (for the supervisor's log)
        self.talking: Counter[str] = Counter()
        self.idle_since: dict[str, float] = {}
        self.next_start: dict[str, int] = {}

    # -- what Asterisk says -------------------------------------------------------------
    def load(self, endpoints: Iterable[ari.Endpoint]) -> None:
        endpoints = list(endpoints)
        self.states = {endpoint_name(e): e.state for e in endpoints}
        self.in_use = {endpoint_name(e) for e in endpoints if e.channel_ids}
        self.loaded = True

    def update(self, endpoint: ari.Endpoint) -> None:
        name = endpoint_name(endpoint)
        self.states[name] = endpoint.state
        if endpoint.channel_ids:
            self.in_use.add(name)
        else:
            self.in_use.discard(name)

    # -- what our calls say -------------------------------------------------------------
    def call_started(self, who: str) -> None:
        self.talking[who] += 1

    def call_ended(self, who: str) -> None:
        if self.talking[who] > 0:
            self.talking[who] -= 1
        if self.talking[who] == 0:
            del self.talking[who]
            self.idle_since[who] = self._clock()

    def free_for_agent(self, endpoint: str) -> bool:
        """May an agent be offered a call on this phone? Registered, not talking on
        one of our calls, and with no channel at all in Asterisk (a phone busy with a
        call Switchboard does not know about, e.g. one adopted after a restart or an
        internal call, is in use too)."""
        return not self._why_not(endpoint) and endpoint not in self.in_use

    # -- the answer ---------------------------------------------------------------------
    def find(self, ask: FindTargets, *, advance: bool = True) -> TargetsFound:
        """Who can ring, in ring order. ``advance``: a round robin's next call starts
        one further along (the queue advances only when it really gives a turn)."""
        found = self._find(ask)
        if advance:
            self.advance(ask)
        return found

    def advance(self, ask: FindTargets) -> None:
        if ask.strategy == Strategy.ROUND_ROBIN:
            self.next_start[ask.route_key] = self.next_start.get(ask.route_key, 0) + 1

    def _find(self, ask: FindTargets) -> TargetsFound:
        # _why_not for each target, inlined: a queue of hundreds of phones asks on
        # every turn it tries to give.
        skipped: list[tuple[int, str]] = []
        ready: list[int] = []
        states, talking, loaded = self.states, self.talking, self.loaded
        for index, presence in enumerate(ask.presences):
            state = states.get(presence, _UNKNOWN)
            if state is _UNKNOWN and loaded:
                skipped.append((index, "unknown_endpoint"))
            elif state == OFFLINE:
                skipped.append((index, "unregistered"))
            elif talking.get(presence):
                skipped.append((index, "busy"))
            else:
                ready.append(index)
        return TargetsFound(ask.request_id, self._order(ask, ready), tuple(skipped))

    def _why_not(self, presence: str) -> str:
        if self.loaded and presence not in self.states:
            return "unknown_endpoint"
        if self.states.get(presence) == OFFLINE:
            return "unregistered"
        if self.talking.get(presence):
            return "busy"
        return ""

    def _order(self, ask: FindTargets, ready: list[int]) -> tuple[int, ...]:
        if ask.strategy == Strategy.ROUND_ROBIN:
            count = len(ask.presences)
            start = self.next_start.get(ask.route_key, 0) % max(count, 1)
            return tuple(sorted(ready, key=lambda i: (i - start) % count))
        if ask.strategy == Strategy.LONGEST_IDLE:
            # Never rung by us: idle since the daemon started (first, in written order).
            idle, presences = self.idle_since, ask.presences
            return tuple(sorted(ready, key=lambda i: idle.get(presences[i], 0.0)))
        return tuple(ready)
