"""A callback's call: the agent first, then the customer (pure).

An agent rung for a callback is an ``AgentLeg``: ``DIALING`` while its originate
request is under way, ``RINGING`` once Asterisk took it. ``step`` says what an event
makes of it: gone (``None``) and what the callback's observer is told (``Missed``:
the agent did not take it; ``Answered``: the customer is called now). Whoever asked
for the callback is its observer (a queue, the web callbacks): told of its results,
no marker on the callback branches on it. The originate request is the engine's
``Originate`` command, carried out by the same executor as a call's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Protocol

from switchboard.ari import events as ari
from switchboard.calllog import CALLBACK_VERSION
from switchboard.engine import MISSED_RESULTS, CallState, new_call, result_for_cause
from switchboard.engine.commands import Originate
from switchboard.flows.model import Flow, Hangup, Node, Route, Target

from .model import MAX_ATTEMPTS, Callback

CALLBACK_ARG = "callback"  # appArgs of an agent rung for a callback: "callback,<id>"
CALLBACK_RETRY_S = 60.0  # the customer did not answer the callback: try again after this


class CallbackObserver(Protocol):
    """Who asked for a callback, told what becomes of its calls."""

    def agent_missed(self, callback: Callback, missed: bool) -> None: ...
    def agent_answered(self, callback: Callback) -> None: ...
    def attempted(self, callback: Callback, answered_by: str, result: str, agent: str) -> None: ...


class Stage(StrEnum):
    DIALING = "dialing"  # the originate request is under way
    RINGING = "ringing"


@dataclass(frozen=True, slots=True)
class AgentLeg:
    callback: Callback
    agent: str  # the agent's endpoint
    channel_id: str
    observer: CallbackObserver
    stage: Stage = Stage.DIALING


# -- what happens to an agent's leg -------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Originated:
    """Asterisk took the originate request: the agent's phone rings."""


@dataclass(frozen=True, slots=True)
class Refused:
    """Asterisk refused the originate request (or could not be reached)."""

    error: str


@dataclass(frozen=True, slots=True)
class Destroyed:
    """The agent's leg ended without answering (rang out, busy, hung up)."""

    cause: int


@dataclass(frozen=True, slots=True)
class Lost:
    """Reconcile: the leg is gone and its end was not heard."""


@dataclass(frozen=True, slots=True)
class Entered:
    """The agent answered: the leg entered our app."""


LegEvent = Originated | Refused | Destroyed | Lost | Entered


@dataclass(frozen=True, slots=True)
class Missed:
    """The agent did not take it: ``missed`` if their phone rang out or was busy (their
    miss is counted); else it could not ring (refused, Asterisk unreachable, the leg
    lost): not the agent's fault. ``result``: the leg's result, if it ended."""

    missed: bool
    result: str = ""


@dataclass(frozen=True, slots=True)
class Answered:
    """The agent took it: call the customer."""


Told = Missed | Answered


def ring_agent(
    callback: Callback, endpoint: str, suffix: str, observer: CallbackObserver
) -> tuple[AgentLeg, Originate]:
    """The callback's turn: ring one agent (who sees whom they will talk to)."""
    channel_id = f"cb-{callback.id}-{callback.attempts}-{suffix}"
    originate = Originate(
        channel_id=channel_id,
        endpoint=endpoint,
        timeout=callback.ring_seconds,
        caller_id=callback.number,
        app_args=(CALLBACK_ARG, callback.id),
    )
    return AgentLeg(callback, endpoint, channel_id, observer), originate


def step(leg: AgentLeg, event: LegEvent) -> tuple[AgentLeg | None, Told | None]:
    """The leg after ``event`` (``None``: gone) and what its observer is told."""
    match event:
        case Originated():
            return replace(leg, stage=Stage.RINGING), None
        case Refused():
            return None, Missed(missed=False)
        case Destroyed(cause=cause):
            result = result_for_cause(cause)
            return None, Missed(missed=result in MISSED_RESULTS, result=result)
        case Lost():
            return None, Missed(missed=False)
        case Entered():
            return None, Answered()


# -- then the customer ------------------------------------------------------------------------
def customer_call(
    callback: Callback, event: ari.StasisStart, stall_guard: float
) -> tuple[CallState, ari.StasisStart]:
    """A call from the agent to the customer, through the flow's trunk; the customer
    sees the company number they called. The call's state and its first event."""
    state = new_call(event.channel.id, callback_flow(callback), "customer", stall_guard)
    as_company = replace(event.channel, caller_number=callback.dialed)
    return state, replace(event, channel=as_company, args=("inbound", callback.dialed))


def callback_flow(callback: Callback) -> Flow:
    """The flow of a callback call: the agent (its "caller") rings the customer."""
    technology, _, trunk = callback.trunk.partition("/")
    target = Target(f"{technology}/{callback.number}@{trunk}", callback.number, callback.trunk)
    nodes = {
        "customer": Node(
            "customer",
            Route(targets=(target,), on_fail="end", timeout=callback.customer_ring_seconds),
        ),
        "end": Node("end", Hangup()),
    }
    return Flow(
        name=f"callback:{callback.queue}",
        version=CALLBACK_VERSION,
        languages=("en",),
        fallback_language="en",
        entry=MappingProxyType({}),
        nodes=MappingProxyType(nodes),
    )


@dataclass(frozen=True, slots=True)
class Attempt:
    """A queue callback's call ended: the callback as stored now."""

    callback: Callback  # (one attempt more)
    status: str  # done, failed, pending (tried again after CALLBACK_RETRY_S)
    result: str


def attempted(callback: Callback, answered_by: str, route_result: str) -> Attempt:
    """Done if the customer answered, else another attempt later (up to MAX_ATTEMPTS)."""
    reached = answered_by == callback.number
    attempt = replace(callback, attempts=callback.attempts + 1)
    status = "done" if reached else "failed" if attempt.attempts >= MAX_ATTEMPTS else "pending"
    return Attempt(attempt, status, route_result if not reached else "answered")
