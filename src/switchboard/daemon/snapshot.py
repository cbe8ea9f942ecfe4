"""Read-only views of what the daemon is doing now, for the HTTP API.

Frozen copies made from the supervisor's live objects by pure functions, so a
reader never holds (or changes) a call's state: calls in progress, callers
waiting in the queues' lines and in the agent router's, and what the target book
knows of a phone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from switchboard.engine import CallState, Phase
from switchboard.engine.commands import FindAgent
from switchboard.routing.rank import Customer, Segment

from .queues import Place
from .targets import OFFLINE, TargetBook

AGENTS_LINE = "agents"  # the agent router's one line (routes with ``agents:``)


class CallStatus(StrEnum):
    IVR = "ivr"  # prompts and menus
    WAITING = "waiting"  # in a queue or for an agent, no phone ringing
    RINGING = "ringing"  # phones are being rung for the caller
    CONNECTED = "connected"
    VOICEMAIL = "voicemail"  # leaving a message
    ENDING = "ending"


@dataclass(frozen=True, slots=True)
class LiveCall:
    call_id: str
    caller: str
    dialed: str
    flow: str
    flow_version: str
    phase: str
    node: str
    status: CallStatus
    started_at: datetime | None  # None: adopted after a restart (its start is unknown)
    answered_at: datetime | None
    ringing: tuple[str, ...]  # the phones or numbers being rung
    answered_by: str  # the endpoint or number talking to the caller
    agent: str  # the agent reserved (ringing or talking), for routes to agents
    customer: int | None  # the caller's CRM id, once looked up and known
    callback: bool  # a callback: the agent called the customer


@dataclass(frozen=True, slots=True)
class WaitingCaller:
    line: str  # the queue's name, or AGENTS_LINE
    position: int  # 1: served next
    call_id: str  # "" for a callback whose caller has hung up
    caller: str
    since: datetime
    waited_s: float
    vip: bool
    callback_id: str  # a callback keeping the place ("" for a caller on the line)
    ringing: tuple[str, ...]  # phones being rung for this place now


@dataclass(frozen=True, slots=True)
class Phone:
    endpoint: str
    registered: bool | None  # None: Asterisk's endpoint list not read (yet), or unknown
    in_use: bool  # a channel on it in Asterisk, or talking on one of our calls


def status_of(state: CallState) -> CallStatus:
    if state.phase is Phase.CONNECTED:
        return CallStatus.CONNECTED
    if state.legs:
        return CallStatus.RINGING
    if state.phase.shown in (Phase.QUEUED, Phase.DIALING):
        return CallStatus.WAITING
    if state.phase is Phase.RECORDING:
        return CallStatus.VOICEMAIL
    if state.terminal:
        return CallStatus.ENDING
    return CallStatus.IVR


def live_call(
    state: CallState, answered_at: datetime | None, *, callback: bool = False
) -> LiveCall:
    customer = state.customer
    return LiveCall(
        call_id=state.call_id,
        caller=state.caller_number,
        dialed=state.dialed,
        flow=state.flow.name,
        flow_version=state.flow.version,
        phase=state.phase.shown.value,
        node=state.node,
        status=status_of(state),
        started_at=state.started_at,
        answered_at=answered_at,
        ringing=tuple(leg.target.number or leg.target.endpoint for leg in state.legs),
        answered_by=state.answered_by,
        agent=state.agent,
        customer=customer.id if customer is not None and customer.known else None,
        callback=callback,
    )


def queue_waiting(
    lines: Mapping[str, Sequence[Place]],
    calls: Mapping[str, CallState],
    now_epoch: float,
    now: datetime,
) -> list[WaitingCaller]:
    """Every place in every queue's line, in line order. ``now_epoch`` is the clock of
    ``Place.since`` (wall time); ``now`` the daemon's (what ``since`` is reported in)."""
    found = []
    for name in sorted(lines):
        for position, place in enumerate(lines[name], start=1):
            state = calls.get(place.key)
            callback = place.callback
            waited = max(now_epoch - place.since, 0.0)
            found.append(
                WaitingCaller(
                    line=name,
                    position=position,
                    call_id=state.call_id if state is not None else "",
                    caller=callback.number if callback else state.caller_number if state else "",
                    since=now - timedelta(seconds=waited),
                    waited_s=round(waited, 3),
                    vip=_vip(state.customer if state else None),
                    callback_id=callback.id if callback else "",
                    ringing=place.offered,
                )
            )
    return found


def agents_waiting(
    line: Sequence[tuple[FindAgent, Customer, float]], now: datetime
) -> list[WaitingCaller]:
    """The agent router's line (served in this order: VIPs first, then by arrival)."""
    return [
        WaitingCaller(
            line=AGENTS_LINE,
            position=position,
            call_id=ask.call_id,
            caller=ask.caller,
            since=now - timedelta(seconds=waited),
            waited_s=round(waited, 3),
            vip=_vip(customer),
            callback_id="",
            ringing=(),
        )
        for position, (ask, customer, waited) in enumerate(line, start=1)
    ]


def phone(book: TargetBook, endpoint: str) -> Phone:
    state = book.states.get(endpoint)
    registered = None if state is None or state == "unknown" else state != OFFLINE
    in_use = endpoint in book.in_use or book.talking.get(endpoint, 0) > 0
    return Phone(endpoint, registered, in_use)


def _vip(customer: Customer | None) -> bool:
    return customer is not None and customer.segment is Segment.VIP
