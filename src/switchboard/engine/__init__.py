"""The pure call engine: events in, commands out, no I/O."""

from .commands import Command
from .events import ChannelGone, CommandFailed, Drain, EngineEvent
from .spine import CallState, Outcome, Phase, SpineFlow, adopt_connected, new_call, step

__all__ = [
    "CallState",
    "ChannelGone",
    "Command",
    "CommandFailed",
    "Drain",
    "EngineEvent",
    "Outcome",
    "Phase",
    "SpineFlow",
    "adopt_connected",
    "new_call",
    "step",
]
