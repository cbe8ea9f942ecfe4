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

Each ``route`` is its own call for the router (``agi-<uniqueid>-<n>``), so a
``done`` followed at once by another ``route`` on the same channel never races
(the release of one cannot free the reservation of the next).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from switchboard.daemon.agents import AgentRouter
from switchboard.engine.commands import ReportAgent

from .params import release_result

log = logging.getLogger("switchboard.agi")
SWEEP_GRACE_S = 5.0  # a channel seen this recently is not looked for in Asterisk yet


@dataclass(slots=True)
class ChannelHold:
    """What one channel was handed (mutable: the table's own record)."""

    seen: float  # when a session of this channel last came (monotonic)
    attempts: int = 0  # routes asked so far
    offered: list[str] = field(default_factory=list)  # agents handed out, in order
    agent: str = ""  # the agent held now ("": none)
    call_id: str = ""  # the router's call id of the hold
    held_since: float = 0.0


class Holds:
    def __init__(
        self,
        router: AgentRouter,
        hold_limit: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.router = router
        self.hold_limit = hold_limit
        self.clock = clock
        self.channels: dict[str, ChannelHold] = {}

    def _channel(self, uniqueid: str) -> ChannelHold:
        channel = self.channels.get(uniqueid)
        if channel is None:
            channel = self.channels[uniqueid] = ChannelHold(seen=self.clock())
        channel.seen = self.clock()
        return channel

    def held(self, uniqueid: str) -> str:
        """The agent this channel holds now ("": none)."""
        channel = self.channels.get(uniqueid)
        return channel.agent if channel is not None else ""

    def next_call(self, uniqueid: str) -> tuple[str, tuple[str, ...]]:
        """A fresh router call id for a route on this channel, and the agents it was
        handed before (not offered again)."""
        channel = self._channel(uniqueid)
        channel.attempts += 1
        return f"agi-{uniqueid}-{channel.attempts}", tuple(channel.offered)

    def hold(self, uniqueid: str, call_id: str, agent: str) -> None:
        channel = self._channel(uniqueid)
        channel.agent, channel.call_id, channel.held_since = agent, call_id, self.clock()
        channel.offered.append(agent)

    def release(self, uniqueid: str, dialstatus: str, why: str) -> str:
        """Free what the channel holds, by Dial's status; returns the agent ("": none)."""
        channel = self.channels.get(uniqueid)
        if channel is None or not channel.agent:
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
        now = self.clock()
        return any(now - c.seen > SWEEP_GRACE_S for c in self.channels.values())

    def sweep(self, live: set[str] | None) -> int:
        """Release holds past ``hold_limit``, and those of channels Asterisk no longer
        has (``live``: the channel ids it has; None when it could not be asked);
        forget channels that are gone. Returns how many agents were released."""
        now = self.clock()
        released = 0
        for uniqueid, channel in list(self.channels.items()):
            if channel.agent and now - channel.held_since > self.hold_limit:
                released += bool(self.release(uniqueid, "", "hold_limit"))
            gone = live is not None and uniqueid not in live and now - channel.seen > SWEEP_GRACE_S
            if gone and channel.agent:
                released += bool(self.release(uniqueid, "", "channel_gone"))
            if gone or (not channel.agent and now - channel.seen > self.hold_limit):
                del self.channels[uniqueid]
        return released
