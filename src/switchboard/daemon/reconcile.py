"""After a (re)connection: what became of our calls while we could not hear.

Pure planning: ``catch_up`` compares one call with Asterisk's channels (legs gone,
an agent who answered, a prompt that finished), ``plan`` looks at what no call owns
(callback legs, callers to adopt, stray legs and bridges, channels to hand back).
``carry_out`` is the small executor of those actions over the supervisor
(``PlanHost``). A call is caught up right before its actions run (the runner goes on
meanwhile), and strays are planned after every call was caught up, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from switchboard.ari import events as ari
from switchboard.callbacks.dialer import CALLBACK_ARG
from switchboard.engine import CallState, ChannelGone, EngineEvent, Phase

slog = logging.getLogger("switchboard.supervisor")

LEG_ARG = "leg"  # appArgs of legs we originate: "leg,<call id>"


def stasis_args(channel: ari.Channel) -> list[str]:
    """``Stasis(app,a,b)`` -> ``["a", "b"]`` (what a listed channel says of itself)."""
    return channel.app_data.split(",")[1:] if channel.app_name == "Stasis" else []


def leg_of(channel: ari.Channel) -> str | None:
    """For a leg we originated (in our app with ``leg,<call id>``): its call id."""
    args = stasis_args(channel)
    return args[1] if len(args) >= 2 and args[0] == LEG_ARG else None


def callback_leg_of(channel: ari.Channel) -> bool:
    """An agent rung for a callback (in our app with ``callback,<id>``)."""
    return stasis_args(channel)[:1] == [CALLBACK_ARG]


def in_app(channel: ari.Channel, app: str) -> bool:
    return channel.app_name == "Stasis" and channel.app_data.split(",")[0] == app


# -- actions ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Feed:
    """Tell the call a fact it missed (a channel gone, a leg that answered)."""

    call_id: str
    event: EngineEvent


@dataclass(frozen=True, slots=True)
class CheckPlayback:
    """The call's prompt may have finished unheard: if Asterisk no longer has it,
    the call is told ``PlaybackFinished``."""

    call_id: str
    playback_id: str


@dataclass(frozen=True, slots=True)
class CallbackLegLost:
    """An agent rung for a callback: its end was lost; the place is offered again."""

    channel_id: str


@dataclass(frozen=True, slots=True)
class CallbackLegAnswered:
    """An agent rung for a callback answered while we could not hear."""

    channel: ari.Channel


@dataclass(frozen=True, slots=True)
class Adopt:
    """A connected call (caller and agent bridged) no task runs: run it again."""

    caller: ari.Channel
    leg: str


@dataclass(frozen=True, slots=True)
class HangUp:
    """A caller whose agent left (``lone_caller``), or a leg no call owns (``leg``)."""

    channel_id: str
    event: str  # what the log says: reconcile.hangup_lone_caller, reconcile.hangup_leg


@dataclass(frozen=True, slots=True)
class Suspect:
    """In our app, owned by nobody: maybe a new call whose StasisStart is still on its
    way; handed back to the dialplan after a grace unless it arrives."""

    channel_id: str
    channel: ari.Channel | None = None  # as Asterisk listed it (who called, when)


@dataclass(frozen=True, slots=True)
class HandBackSuspects:
    """Start the grace of every suspect (if there is any)."""


@dataclass(frozen=True, slots=True)
class DestroyBridge:
    bridge_id: str


Action = (
    Feed
    | CheckPlayback
    | CallbackLegLost
    | CallbackLegAnswered
    | Adopt
    | HangUp
    | Suspect
    | HandBackSuspects
    | DestroyBridge
)


@dataclass(frozen=True, slots=True)
class Tracked:
    """A call as reconcile sees it: its state and the ids it owns."""

    state: CallState
    channels: Collection[str]
    in_flight: Collection[str]  # legs and playbacks whose request is under way


# -- planning (pure) ----------------------------------------------------------------------
def catch_up(call: Tracked, channels: Mapping[str, ari.Channel]) -> list[Action]:
    call_id = call.state.call_id
    actions: list[Action] = [
        Feed(call_id, ChannelGone(channel_id))
        for channel_id in sorted(set(call.channels) - channels.keys() - set(call.in_flight))
    ]
    state = call.state
    answered = [channels[leg] for leg in state.ringing_legs if leg in channels]
    for leg in answered:
        if state.phase.shown in (Phase.DIALING, Phase.QUEUED) and leg_of(leg) == call_id:
            # An agent answered (the leg entered our app) while we could not hear it.
            actions.append(Feed(call_id, ari.StasisStart(channel=leg, args=(LEG_ARG, call_id))))
    playing = state.playing
    if playing is not None and playing.playback_id not in call.in_flight:
        actions.append(CheckPlayback(call_id, playing.playback_id))
    return actions


@dataclass(frozen=True, slots=True)
class Strays:
    actions: list[Action]
    unknown: int  # channels in our app no call owns (for the log)


def plan(
    routes: Collection[str],
    callback_legs: Sequence[str],
    dialing: Collection[str],
    channels: Sequence[ari.Channel],
    bridges: Iterable[ari.Bridge],
    app: str,
) -> Strays:
    """What nobody owns: ``routes`` (channel and bridge ids calls own),
    ``callback_legs`` (agents rung for a callback, in ringing order; ``dialing``:
    their request is under way) against Asterisk's ``channels`` and ``bridges``."""
    by_id = {c.id: c for c in channels}
    actions: list[Action] = []
    for channel_id in callback_legs:
        if channel_id in dialing:
            continue
        if channel_id not in by_id:
            actions.append(CallbackLegLost(channel_id))
        elif in_app(by_id[channel_id], app):
            actions.append(CallbackLegAnswered(by_id[channel_id]))
    answered = {a.channel.id for a in actions if isinstance(a, CallbackLegAnswered)}
    owned = {*routes, *answered}  # (an answered callback leg becomes a call)
    legs_rung = set(callback_legs)
    unknown = [c for c in channels if in_app(c, app) and c.id not in owned | legs_rung]
    bridge_list = list(bridges)
    actions += _adopt_or_clean(unknown, bridge_list, owned)
    return Strays(actions, len(unknown))


def _adopt_or_clean(
    unknown: list[ari.Channel], bridges: list[ari.Bridge], owned: set[str]
) -> list[Action]:
    """Channels in our app that no call owns: re-adopt connected calls (ids are
    derived from the call id), end calls whose agent left, hang up stray legs,
    hand the rest back after a grace; then destroy bridges no call owns."""
    actions: list[Action] = []
    unknown_ids = {c.id for c in unknown}
    by_id = {b.id: b for b in bridges}
    callers = [c for c in unknown if leg_of(c) is None and not callback_leg_of(c)]
    calls_of_legs = {c.id: leg_of(c) for c in unknown}
    adopted: set[str] = set()
    for channel in callers:
        bridge = by_id.get(f"{channel.id}-bridge")
        members = set(bridge.channels) if bridge else set()
        legs = [m for m in members & unknown_ids if calls_of_legs.get(m) == channel.id]
        if channel.id in members and legs:
            actions.append(Adopt(channel, legs[0]))
            adopted |= {channel.id, legs[0], f"{channel.id}-bridge"}
        elif channel.id in members:  # talked to an agent who has since left
            actions.append(HangUp(channel.id, "reconcile.hangup_lone_caller"))
        else:
            actions.append(Suspect(channel.id, channel))
    actions.append(HandBackSuspects())
    for channel in unknown:
        if leg_of(channel) is not None and channel.id not in owned | adopted:
            actions.append(HangUp(channel.id, "reconcile.hangup_leg"))
        elif callback_leg_of(channel):  # (rung for a callback by a process now dead)
            actions.append(HangUp(channel.id, "reconcile.hangup_callback_leg"))
    for bridge in bridges:
        if bridge.id.endswith("-bridge") and bridge.id not in owned | adopted:
            actions.append(DestroyBridge(bridge.id))
    return actions


# -- carrying it out ------------------------------------------------------------------------
class PlanHost(Protocol):
    """What carrying out a plan needs from the supervisor."""

    def feed(self, call_id: str, event: EngineEvent) -> None: ...
    async def playback_exists(self, playback_id: str) -> bool: ...
    def callback_leg_lost(self, channel_id: str) -> None: ...
    def callback_leg_answered(self, channel: ari.Channel) -> None: ...
    def adopt(self, caller: ari.Channel, leg: str) -> None: ...
    def suspect(self, channel_id: str, channel: ari.Channel | None = None) -> None: ...
    def hand_back_suspects(self) -> None: ...
    def hang_up(self, channel_id: str) -> None: ...
    def destroy_bridge(self, bridge_id: str) -> None: ...


async def carry_out(actions: Iterable[Action], host: PlanHost) -> None:
    for action in actions:
        match action:
            case Feed(call_id=call_id, event=event):
                host.feed(call_id, event)
            case CheckPlayback(call_id=call_id, playback_id=playback_id):
                if not await host.playback_exists(playback_id):
                    playback = ari.Playback(id=playback_id, state="done")
                    host.feed(call_id, ari.PlaybackFinished(playback=playback))
            case CallbackLegLost(channel_id=channel_id):
                host.callback_leg_lost(channel_id)
            case CallbackLegAnswered(channel=channel):
                host.callback_leg_answered(channel)
            case Adopt(caller=caller, leg=leg):
                host.adopt(caller, leg)
            case HangUp(channel_id=channel_id, event=event):
                slog.info(event, extra={"channel": channel_id})
                host.hang_up(channel_id)
            case Suspect(channel_id=channel_id, channel=channel):
                host.suspect(channel_id, channel)
            case HandBackSuspects():
                host.hand_back_suspects()
            case DestroyBridge(bridge_id=bridge_id):
                slog.info("reconcile.destroy_bridge", extra={"bridge": bridge_id})
                host.destroy_bridge(bridge_id)
