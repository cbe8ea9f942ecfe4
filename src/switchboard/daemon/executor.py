"""Carries out engine commands over ARI and turns failures into engine events.

The executor decides nothing about the call: a 404 on a channel becomes
``ChannelGone``, any other refusal becomes ``CommandFailed``; the engine decides.
"""

from __future__ import annotations

from switchboard.ari.client import AriClient, AriError
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


class Executor:
    def __init__(self, ari: AriClient, app: str) -> None:
        self._ari = ari
        self._app = app

    async def execute(self, cmd: Command) -> EngineEvent | None:
        try:
            await self._send(cmd)
        except AriError as exc:
            if exc.status == 404 and isinstance(cmd, _ON_A_CHANNEL):
                return ChannelGone(cmd.channel_id)
            if exc.status == 404 and isinstance(cmd, DestroyBridge | StopPlayback):
                return None  # already gone: what we wanted
            return CommandFailed(cmd, exc.status, exc.body[:300])
        return None

    async def _send(self, cmd: Command) -> None:
        ari = self._ari
        match cmd:
            case Answer(channel_id=ch):
                await ari.answer(ch)
            case Play(channel_id=ch, media=media, playback_id=pb, language=lang):
                await ari.play(ch, media, pb, lang=lang or None)
            case StopPlayback(playback_id=pb):
                await ari.stop_playback(pb)
            case StartRinging(channel_id=ch):
                await ari.ring(ch)
            case StopRinging(channel_id=ch):
                await ari.ring_stop(ch)
            case Originate():
                await ari.originate(
                    cmd.endpoint,
                    cmd.channel_id,
                    app=self._app,
                    app_args=cmd.app_args,
                    ring_timeout=cmd.timeout,
                    caller_id=cmd.caller_id or None,
                )
            case StartMoh(channel_id=ch, moh_class=moh):
                await ari.moh_start(ch, moh)
            case StopMoh(channel_id=ch):
                await ari.moh_stop(ch)
            case Record():
                await ari.record(
                    cmd.channel_id,
                    cmd.name,
                    max_duration=cmd.max_seconds,
                    max_silence=cmd.max_silence,
                    beep=cmd.beep,
                    terminate_on=cmd.terminate_on,
                )
            case RecordBridge(bridge_id=bridge, name=name, format=audio_format):
                await ari.record_bridge(bridge, name, format=audio_format, beep=False)
            case CreateBridge(bridge_id=bridge):
                await ari.create_bridge(bridge)
            case AddToBridge(bridge_id=bridge, channel_ids=channels):
                await ari.add_to_bridge(bridge, channels)
            case DestroyBridge(bridge_id=bridge):
                await ari.destroy_bridge(bridge)
            case Hangup(channel_id=ch):
                await ari.hangup(ch)
            case ContinueInDialplan(channel_id=ch, context="", extension=""):
                await ari.continue_in_dialplan(ch)
            case ContinueInDialplan(channel_id=ch, context=context, extension=extension):
                await ari.continue_in_dialplan(ch, context=context, extension=extension, priority=1)
