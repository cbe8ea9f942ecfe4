"""The pure call engine: events in, commands out, no I/O."""

from .commands import Command
from .events import ChannelGone, CommandFailed, Drain, EngineEvent, GuardExpired
from .spine import (
    CallState,
    Outcome,
    Phase,
    SpineFlow,
    adopt_connected,
    dialed_number,
    guard_seconds,
    new_call,
    step,
)

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
    "SpineFlow",
    "adopt_connected",
    "dialed_number",
    "guard_seconds",
    "new_call",
    "step",
]
