"""The pure call engine: events in, commands out, no I/O.

``state`` (the call, its phases and their records), ``triggers`` (an event as
seen by one call), ``table`` (the transitions and ``step``), ``handlers`` (the
transitions, by feature).
"""

from .commands import Command
from .events import ChannelGone, CommandFailed, Drain, EngineEvent, GuardExpired, TimerFired
from .handlers.ring import MISSED_RESULTS, result_for_cause
from .state import (
    CallState,
    Leg,
    Outcome,
    Phase,
    adopt_connected,
    dialed_number,
    guard_seconds,
    new_call,
)
from .table import Ignored, Step, step
from .triggers import SETUP_COMMANDS

__all__ = [
    "MISSED_RESULTS",
    "SETUP_COMMANDS",
    "CallState",
    "ChannelGone",
    "Command",
    "CommandFailed",
    "Drain",
    "EngineEvent",
    "GuardExpired",
    "Ignored",
    "Leg",
    "Outcome",
    "Phase",
    "Step",
    "TimerFired",
    "adopt_connected",
    "dialed_number",
    "guard_seconds",
    "new_call",
    "result_for_cause",
    "step",
]
