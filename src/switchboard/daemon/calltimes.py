"""When things happened to one call, for its call log row.

The engine is pure and has no clock: it says *what* happened (a leg's result lands
in ``route_log``, the phase changes). The call's runner notes *when*, with the
daemon's clock, by comparing the state before and after each step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from switchboard.calllog import RINGING, WAITING_PHASES, LegRecord
from switchboard.engine import CallState, Phase


@dataclass(frozen=True, slots=True)
class LegStart:
    label: str  # the target as route_log names it (endpoint or E.164 number)
    at: datetime  # when we asked Asterisk to ring it
    agent: str  # routes to agents: whose phone
    owner_ring: bool  # the customer's owner's short ring


class CallTimes:
    """The daemon's notes on one call: its wait for a person and its rung phones."""

    def __init__(self) -> None:
        self.ringing: dict[str, LegStart] = {}  # leg id -> its start, until its result lands
        self.ended: dict[int, tuple[LegStart, datetime]] = {}  # route_log index -> start, end
        self.queue = ""
        self.queued_at: datetime | None = None
        self.waited_until: datetime | None = None
        self.ended_phase: Phase | None = None
        self.answered_external = False

    def leg_originated(self, state: CallState, leg_id: str, now: datetime) -> None:
        leg = state.leg_by_id(leg_id)
        label = leg.target.label if leg is not None else leg_id
        self.ringing[leg_id] = LegStart(label, now, state.agent, state.agent_is_owner)

    def stepped(self, before: CallState, after: CallState, now: datetime) -> None:
        if after.phase.shown in WAITING_PHASES and self.queued_at is None:
            self.queue, self.queued_at = after.node, now
        if before.phase.shown in WAITING_PHASES and after.phase.shown not in WAITING_PHASES:
            self.waited_until = now
        if after.terminal and not before.terminal:
            self.ended_phase = before.phase.shown
        if after.phase is Phase.CONNECTED and before.phase is not Phase.CONNECTED:
            winner = before.leg_by_id(after.leg)
            self.answered_external = winner is not None and winner.target.external
        self._results_landed(before, after, now)

    def _results_landed(self, before: CallState, after: CallState, now: datetime) -> None:
        """New route_log entries, each matched to a leg that left the state in this step
        (skipped targets and "agents" entries never rang: they get no times)."""
        gone = [leg.id for leg in before.legs if after.leg_by_id(leg.id) is None]
        start = len(before.route_log)
        for index, (label, _result) in enumerate(after.route_log[start:], start):
            leg_id = next(
                (g for g in gone if g in self.ringing and self.ringing[g].label == label), ""
            )
            if leg_id:
                gone.remove(leg_id)
                self.ended[index] = (self.ringing.pop(leg_id), now)

    def legs(
        self, route_log: tuple[tuple[str, str], ...], end: datetime | None
    ) -> tuple[LegRecord, ...]:
        """Every phone of the call in the order its result was known; phones still
        ringing when the call ended (the caller hung up, ...) last, as ``cancelled``
        (``end`` None: the call goes on, they are ``ringing``, with no end: the journal)."""
        records = [
            self._leg(index, target, result) for index, (target, result) in enumerate(route_log)
        ]
        for started in self.ringing.values():
            records.append(_leg_record(started.label, "cancelled", started, end))
        return tuple(records)

    def _leg(self, index: int, target: str, result: str) -> LegRecord:
        timing = self.ended.get(index)
        if timing is None:
            return LegRecord(target, result)
        return _leg_record(target, result, *timing)


def _leg_record(target: str, result: str, started: LegStart, end: datetime | None) -> LegRecord:
    return LegRecord(
        target=target,
        result=result if end is not None else RINGING,
        ringing_at=started.at.isoformat(),
        ended_at=end.isoformat() if end is not None else "",
        agent=started.agent,
        owner_ring=started.owner_ring,
    )
