"""Carries out engine commands over ARI and turns failures into engine events.

The executor decides nothing about the call: a 404 on a channel becomes
``ChannelGone``, any other refusal becomes ``CommandFailed``; the engine decides.
``senders()`` is its part of the command table (``commands.py``): one request per
ARI command type; ``attempt`` sends one and says what the refusal means.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from switchboard.ari.client import AriClient, AriError
from switchboard.daemon.reconcile import in_app
from switchboard.engine import ChannelGone, Command, CommandFailed, EngineEvent
from switchboard.engine.commands import (
    AddToBridge,
    Answer,
    ContinueInDialplan,
    CreateBridge,
    DestroyBridge,
    Hangup,
    Originate,
    Play,
    Record,
    RecordBridge,
    StartMoh,
    StartRinging,
    StopMoh,
    StopPlayback,
    StopRinging,
)

_ON_A_CHANNEL = (
    Answer,
    Play,
    StartRinging,
    StopRinging,
    StartMoh,
    StopMoh,
    Hangup,
    ContinueInDialplan,
    Record,
)

Sender = Callable[[Any], Awaitable[None]]  # one ARI request for one command type
LEAVING_PROBES = 5  # a refused addChannel: looks for the channel that left, this many times
LEAVING_PROBE_S = 0.2  # apart (a channel being hung up is destroyed within this second)


class GoneFromBridge(Exception):
    """A channel to bridge no longer exists: Asterisk answers ``addChannel`` with 400
    "Channel not found" (or 422) for the whole request, not naming which one."""

    def __init__(self, channel_id: str) -> None:
        super().__init__(channel_id)
        self.channel_id = channel_id


class Executor:
    def __init__(self, ari: AriClient, app: str) -> None:
        self._ari = ari
        self._app = app

    def senders(self) -> Mapping[type[Command], Sender]:
        """The ARI request of every command the executor carries out, by type."""
        return {
            Answer: self._answer,
            Play: self._play,
            StopPlayback: self._stop_playback,
            StartRinging: self._ring,
            StopRinging: self._ring_stop,
            Originate: self._originate,
            StartMoh: self._moh_start,
            StopMoh: self._moh_stop,
            Record: self._record,
            RecordBridge: self._record_bridge,
            CreateBridge: self._create_bridge,
            AddToBridge: self._add_to_bridge,
            DestroyBridge: self._destroy_bridge,
            Hangup: self._hangup,
            ContinueInDialplan: self._continue,
        }

    async def execute(self, cmd: Command) -> EngineEvent | None:
        """Send ``cmd``; the event its refusal means, if refused."""
        return await self.attempt(cmd, self.senders()[type(cmd)])

    @staticmethod
    async def attempt(cmd: Command, send: Sender) -> EngineEvent | None:
        try:
            await send(cmd)
        except GoneFromBridge as gone:
            return ChannelGone(gone.channel_id)
        except AriError as exc:
            if exc.status == 404 and isinstance(cmd, _ON_A_CHANNEL):
                return ChannelGone(cmd.channel_id)
            if exc.status == 404 and isinstance(cmd, DestroyBridge | StopPlayback):
                return None  # already gone: what we wanted
            return CommandFailed(cmd, exc.status, exc.body[:300])
        return None

    async def _answer(self, cmd: Answer) -> None:
        await self._ari.answer(cmd.channel_id)

    async def _play(self, cmd: Play) -> None:
        await self._ari.play(cmd.channel_id, cmd.media, cmd.playback_id, lang=cmd.language or None)

    async def _stop_playback(self, cmd: StopPlayback) -> None:
        await self._ari.stop_playback(cmd.playback_id)

    async def _ring(self, cmd: StartRinging) -> None:
        await self._ari.ring(cmd.channel_id)

    async def _ring_stop(self, cmd: StopRinging) -> None:
        await self._ari.ring_stop(cmd.channel_id)

    async def _originate(self, cmd: Originate) -> None:
        await self._ari.originate(
            cmd.endpoint,
            cmd.channel_id,
            app=self._app,
            app_args=cmd.app_args,
            ring_timeout=cmd.timeout,
            caller_id=cmd.caller_id or None,
        )

    async def _moh_start(self, cmd: StartMoh) -> None:
        await self._ari.moh_start(cmd.channel_id, cmd.moh_class)

    async def _moh_stop(self, cmd: StopMoh) -> None:
        await self._ari.moh_stop(cmd.channel_id)

    async def _record(self, cmd: Record) -> None:
        await self._ari.record(
            cmd.channel_id,
            cmd.name,
            max_duration=cmd.max_seconds,
            max_silence=cmd.max_silence,
            beep=cmd.beep,
            terminate_on=cmd.terminate_on,
        )

    async def _record_bridge(self, cmd: RecordBridge) -> None:
        await self._ari.record_bridge(cmd.bridge_id, cmd.name, format=cmd.format, beep=False)

    async def _create_bridge(self, cmd: CreateBridge) -> None:
        await self._ari.create_bridge(cmd.bridge_id)

    async def _add_to_bridge(self, cmd: AddToBridge) -> None:
        try:
            await self._ari.add_to_bridge(cmd.bridge_id, cmd.channel_ids)
        except AriError as exc:
            if exc.status not in (400, 422):
                raise
            # A caller who hangs up as the agent answers (or the reverse) makes the
            # whole request fail: 400 "Channel not found" once the channel is gone,
            # 422 "Channel not in Stasis application" while it is being hung up.
            # Which one left decides the call (the next phone, or its end), not
            # "failed"; a channel on its way out is gone within moments.
            for probe in range(LEAVING_PROBES):
                if probe:
                    await asyncio.sleep(LEAVING_PROBE_S)
                for channel_id in cmd.channel_ids:
                    if not await self._in_our_app(channel_id):
                        raise GoneFromBridge(channel_id) from exc
            raise

    async def _in_our_app(self, channel_id: str) -> bool:
        try:
            channel = await self._ari.get_channel(channel_id)
        except AriError as probe:
            if probe.status == 404:
                return False
            raise
        return in_app(channel, self._app)

    async def _destroy_bridge(self, cmd: DestroyBridge) -> None:
        await self._ari.destroy_bridge(cmd.bridge_id)

    async def _hangup(self, cmd: Hangup) -> None:
        await self._ari.hangup(cmd.channel_id)

    async def _continue(self, cmd: ContinueInDialplan) -> None:
        if not cmd.context and not cmd.extension:
            await self._ari.continue_in_dialplan(cmd.channel_id)
        else:
            await self._ari.continue_in_dialplan(
                cmd.channel_id, context=cmd.context, extension=cmd.extension, priority=1
            )
