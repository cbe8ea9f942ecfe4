"""The pure call engine: events in, commands out, no I/O."""

from .call import (
    CallState,
    Outcome,
    Phase,
    adopt_connected,
    dialed_number,
    guard_seconds,
    new_call,
    step,
)
from .commands import Command
from .events import ChannelGone, CommandFailed, Drain, EngineEvent, GuardExpired, TimerFired

__all__ = [
    "CallState",
    "ChannelGone",
    "Command",
    "CommandFailed",
    "Drain",
    "EngineEvent",
    "GuardExpired",
    "Outcome",
    "Phase",
    "TimerFired",
    "adopt_connected",
    "dialed_number",
    "guard_seconds",
    "new_call",
    "step",
]
