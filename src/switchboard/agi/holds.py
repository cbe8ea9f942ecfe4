"""Agents handed out by ``route``, held until the dialplan says what became of them.

An agent handed to a channel is reserved in PostgreSQL like any of the daemon's
calls (the router's atomic reservation, a lease renewed while this daemon runs),
so no other call, of this daemon or another, gets them meanwhile. The
reservation ends, whichever comes first, when:

1. the dialplan calls ``done`` (after ``Dial()``, and from a hangup handler):
   ``DIALSTATUS`` ANSWER -> talked (wrap-up), NOANSWER -> missed (penalty),
   anything else -> cancelled;
2. the same channel calls ``route`` again (the last agent is released by the
   channel's ``DIALSTATUS`` and not offered to this channel again);
3. the channel hung up before the variables reached it;
4. the channel no longer exists in Asterisk (checked over ARI every
   ``agi.check_interval`` seconds): cancelled;
5. ``agi.hold_limit`` seconds have passed (ARI unreachable too): cancelled;
6. the daemon stops or dies: its leases are not renewed and are swept by the
   next daemon within a minute (``routing.repository.LEASE_S``).

A channel without an agent (its route found nobody, or its agent was released)
is only remembered for the agents it was offered; it is forgotten
``FORGET_AFTER_S`` after its last session or release, whether or not ARI can be
asked (within a minute: the sweep runs every ``SWEEP_TICK_S`` at least). The
table holds at most ``agi.max_holds`` channels (anyone who reaches the FastAGI
port can make up channel ids): a new channel first pushes out the channel without
an agent that was seen longest ago; if every one holds an agent, its ``route``
is refused (no agent: the dialplan's fallback). A channel holding an agent is
never pushed out. (A route's decision can add its channel back while the table
is full, so it may exceed the bound by the sessions running at once.)

Each ``route`` is its own call for the router (``agi-<uniqueid>-<n>``, ``n``
counting the daemon's routes), so a ``done`` followed at once by another
``route`` on the same channel never races (the release of one cannot free the
reservation of the next), nor does a channel that was forgotten and came back.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from switchboard.engine.commands import ReportAgent

from .params import release_result

log = logging.getLogger("switchboard.agi")
SWEEP_GRACE_S = 5.0  # a channel seen this recently is not looked for in Asterisk yet
FORGET_AFTER_S = 45.0  # a channel without an agent, idle this long, is forgotten ...
SWEEP_TICK_S = 15.0  # ... by the sweep, which runs at least this often: within a minute
DEFAULT_MAX_HOLDS = 10_000


class AgentReports(Protocol):
    """What becomes of an agent handed out (the daemon's ``AgentRouter``)."""

    def report(self, cmd: ReportAgent) -> None: ...
    def call_ended(self, call_id: str) -> None: ...


def sweeps_per_check(check_interval: float) -> int:
    """Sweeps in each ``check_interval`` (only the last asks ARI), so that they are
    at most ``SWEEP_TICK_S`` apart."""
    return max(math.ceil(check_interval / SWEEP_TICK_S), 1)


@dataclass(slots=True)
class ChannelHold:
    """What one channel was handed (mutable: the table's own record)."""

    seen: float  # when a session of this channel last came, or its agent was released
    offered: list[str] = field(default_factory=list)  # agents handed out, in order
    agent: str = ""  # the agent held now ("": none)
    call_id: str = ""  # the router's call id of the hold
    held_since: float = 0.0


class Holds:
    def __init__(
        self,
        router: AgentReports,
        hold_limit: float,
        max_holds: int = DEFAULT_MAX_HOLDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.router = router
        self.hold_limit = hold_limit
        self.max_holds = max_holds
        self.clock = clock
        # Oldest seen first: a session or a release moves its channel to the end.
        self.channels: OrderedDict[str, ChannelHold] = OrderedDict()
        self.routes = 0  # routes asked of the router so far (each one's call id)
        self.pushed_out = 0  # channels without an agent forgotten to make room
        self.refused = 0  # routes refused: every channel in the table holds an agent

    def _seen(self, uniqueid: str) -> ChannelHold | None:
        """The channel's record, seen now (moved to the end); None if unknown."""
        channel = self.channels.get(uniqueid)
        if channel is not None:
            channel.seen = self.clock()
            self.channels.move_to_end(uniqueid)
        return channel

    def _make_room(self) -> bool:
        """Forget the channel without an agent seen longest ago, if the table is full;
        False if it is full of channels holding agents."""
        if len(self.channels) < self.max_holds:
            return True
        idle = next((u for u, c in self.channels.items() if not c.agent), None)
        if idle is None:
            self.refused += 1
            self._full("refused", self.refused)
            return False
        del self.channels[idle]
        self.pushed_out += 1
        self._full("pushed_out", self.pushed_out)
        return True

    def _full(self, what: str, count: int) -> None:
        if count == 1 or count % 100 == 0:
            log.warning(
                "agi.holds_full",
                extra={"max_holds": self.max_holds, "held": len(self.channels), what: count},
            )

    def held(self, uniqueid: str) -> str:
        """The agent this channel holds now ("": none)."""
        channel = self.channels.get(uniqueid)
        return channel.agent if channel is not None else ""

    def next_call(self, uniqueid: str) -> tuple[str, tuple[str, ...]] | None:
        """A fresh router call id for a route on this channel, and the agents it was
        handed before (not offered again); None: no room for a new channel."""
        channel = self._seen(uniqueid)
        if channel is None:
            if not self._make_room():
                return None
            channel = self.channels[uniqueid] = ChannelHold(seen=self.clock())
        self.routes += 1
        return f"agi-{uniqueid}-{self.routes}", tuple(channel.offered)

    def hold(self, uniqueid: str, call_id: str, agent: str) -> None:
        """Note the agent reserved for the channel (kept even above ``max_holds``:
        a reservation nobody would release must never be)."""
        channel = self._seen(uniqueid)
        if channel is None:  # (pushed out while its route was being decided)
            channel = self.channels[uniqueid] = ChannelHold(seen=self.clock())
        channel.agent, channel.call_id, channel.held_since = agent, call_id, self.clock()
        channel.offered.append(agent)

    def release(self, uniqueid: str, dialstatus: str, why: str) -> str:
        """Free what the channel holds, by Dial's status; returns the agent ("": none)."""
        channel = self._seen(uniqueid) if self.held(uniqueid) else None
        if channel is None:
            return ""
        agent, call_id = channel.agent, channel.call_id
        channel.agent = channel.call_id = ""
        result = release_result(dialstatus)
        if result == "talked":
            self.router.report(ReportAgent(call_id, agent, "answered"))
        self.router.report(ReportAgent(call_id, agent, result))
        self.router.call_ended(call_id)
        log.info(
            "agi.released",
            extra={
                "call_id": call_id,
                "agent": agent,
                "result": result,
                "dialstatus": dialstatus,
                "why": why,
                "held_s": round(self.clock() - channel.held_since, 3),
            },
        )
        return agent

    def old(self) -> bool:
        """Is any channel old enough to be looked for in Asterisk?"""
        oldest = next(iter(self.channels.values()), None)
        return oldest is not None and self.clock() - oldest.seen > SWEEP_GRACE_S

    def sweep(self, live: set[str] | None) -> int:
        """Release holds past ``hold_limit``, and those of channels Asterisk no longer
        has (``live``: the channel ids it has; None when it could not be asked);
        forget channels that are gone, and those without an agent idle for
        ``FORGET_AFTER_S``. Returns how many agents were released."""
        now = self.clock()
        released = 0
        for uniqueid, channel in list(self.channels.items()):
            if channel.agent and now - channel.held_since > self.hold_limit:
                released += bool(self.release(uniqueid, "", "hold_limit"))
            gone = live is not None and uniqueid not in live and now - channel.seen > SWEEP_GRACE_S
            if gone and channel.agent:
                released += bool(self.release(uniqueid, "", "channel_gone"))
            if gone or (not channel.agent and now - channel.seen > FORGET_AFTER_S):
                del self.channels[uniqueid]
        return released
