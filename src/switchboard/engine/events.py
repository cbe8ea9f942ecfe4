"""Events the edge creates for the engine (besides the typed ARI events)."""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.ari import events as ari
from switchboard.routing.rank import Customer

from .commands import Command


@dataclass(frozen=True, slots=True)
class ChannelGone:
    """A REST call found the channel gone (404), or reconcile did not find it."""

    channel_id: str


@dataclass(frozen=True, slots=True)
class CommandFailed:
    """Asterisk refused or could not be reached for a command (not a 404)."""

    command: Command
    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class GuardExpired:
    """The call waited longer than ``guard_seconds(state)`` for Asterisk in one phase.

    Time reaches the engine only as this event: the runner owns the clock.
    """

    phase: str


@dataclass(frozen=True, slots=True)
class TimerFired:
    """A timer the engine asked for (StartTimer) ran out."""

    timer_id: str


@dataclass(frozen=True, slots=True)
class TargetsFound:
    """The answer to ``FindTargets``: target indices to ring, in order, and the
    ones skipped with why ("unregistered", "unknown_endpoint", "busy")."""

    request_id: str
    order: tuple[int, ...]
    skipped: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True, slots=True)
class AgentFound:
    """The answer to ``FindAgent``: the agent reserved for this call and the
    endpoints to ring; no agent (nobody free now); or an ``error`` (the router could
    not decide, e.g. the database is unreachable: the route's on_fail is taken)."""

    request_id: str
    agent: str = ""
    endpoints: tuple[str, ...] = ()
    owner: bool = False  # the customer's owner agent (rings ``owner_seconds``)
    customer: Customer | None = None  # the caller in the CRM (UNKNOWN: a new caller)
    error: str = ""


@dataclass(frozen=True, slots=True)
class QueuePosition:
    """The answer to ``AskPosition``: 1 is next in line."""

    request_id: str
    position: int


@dataclass(frozen=True, slots=True)
class CallbackDecided:
    """The answer to ``RequestCallback``: ``refused`` is "" if the callback is taken,
    else why not (a ``dialpolicy.REASONS`` word): the caller stays in line."""

    request_id: str
    refused: str = ""


@dataclass(frozen=True, slots=True)
class Drain:
    """The daemon is stopping: calls not yet connected go back to the dialplan."""


EngineEvent = (
    ari.AriEvent
    | ChannelGone
    | CommandFailed
    | GuardExpired
    | TimerFired
    | TargetsFound
    | AgentFound
    | QueuePosition
    | CallbackDecided
    | Drain
)
