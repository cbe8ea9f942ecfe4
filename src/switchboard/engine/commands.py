"""Commands the engine asks the edge to carry out. Plain data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Answer:
    channel_id: str


@dataclass(frozen=True, slots=True)
class Play:
    channel_id: str
    media: str
    playback_id: str


@dataclass(frozen=True, slots=True)
class StartRinging:
    """Let the caller hear ringback while a leg is being dialed."""

    channel_id: str


@dataclass(frozen=True, slots=True)
class StopRinging:
    channel_id: str


@dataclass(frozen=True, slots=True)
class Originate:
    """Dial ``endpoint`` as a new channel that enters our app when answered."""

    channel_id: str
    endpoint: str
    timeout: int
    caller_id: str
    app_args: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CreateBridge:
    bridge_id: str


@dataclass(frozen=True, slots=True)
class AddToBridge:
    bridge_id: str
    channel_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DestroyBridge:
    bridge_id: str


@dataclass(frozen=True, slots=True)
class Hangup:
    channel_id: str


@dataclass(frozen=True, slots=True)
class ContinueInDialplan:
    """Hand the caller back to the dialplan, whose next priority is the fallback."""

    channel_id: str


Command = (
    Answer
    | Play
    | StartRinging
    | StopRinging
    | Originate
    | CreateBridge
    | AddToBridge
    | DestroyBridge
    | Hangup
    | ContinueInDialplan
)
