"""Voicemail (``RECORDING``): the beep, the caller speaks, the message is kept."""

from __future__ import annotations

from dataclasses import replace

from switchboard.flows import model as flow_model

from ..commands import Command, ContinueInDialplan, Hangup, KeepVoicemail, Record
from ..events import EngineEvent
from ..state import CallState, Outcome, Phase, Recording, Result
from . import common

VOICEMAIL_CONTEXT = "switchboard-voicemail"  # dialplan/extensions_switchboard.conf
RECORDING_MARGIN_S = 60


def _voicemail_node(state: CallState) -> flow_model.Voicemail:
    node = state.flow.nodes[state.node].kind
    assert isinstance(node, flow_model.Voicemail)
    return node


def _recording(state: CallState) -> Recording:
    wait = state.wait
    assert isinstance(wait, Recording)
    return wait


def record(state: CallState, cmds: list[Command]) -> Result:
    node = _voicemail_node(state)
    state, name = state.next_id("vm")
    cmds.append(Record(state.caller, name, node.max_seconds, node.max_silence))
    state = replace(state, phase=Phase.RECORDING, wait=Recording(name), playing=None)
    # Noted now, so a message being recorded when the daemon stops is not lost.
    cmds.append(_keep(state, "recording", node.max_seconds + RECORDING_MARGIN_S))
    return state, cmds


def _keep(state: CallState, stage: str = "fetch", wait_s: int = 0) -> KeepVoicemail:
    node = _voicemail_node(state)
    started = state.started_at.isoformat() if state.started_at else ""
    return KeepVoicemail(
        _recording(state).name,
        node.mailbox,
        state.call_id,
        state.caller_number,
        state.dialed,
        started,
        stage,
        wait_s,
    )


def recorded(state: CallState, event: EngineEvent) -> Result:
    """The message is complete (the caller pressed #, fell silent, reached the limit
    or hung up): keep it, then end the call."""
    caller_gone = _recording(state).caller_gone
    cmds: list[Command] = [_keep(state), *common.teardown(state, caller_gone=caller_gone)]
    if not caller_gone:
        cmds.append(Hangup(state.caller))
    return replace(state, phase=Phase.ENDED, outcome=Outcome.VOICEMAIL), cmds


def record_failed(state: CallState, event: EngineEvent) -> Result:
    """Our recorder failed: a caller still on the line leaves the message with
    Asterisk's VoiceMail() instead; nobody is left without a way to speak."""
    cancel = _keep(state, "cancel")
    recording = _recording(state)
    if recording.caller_gone:
        cmds = [cancel, *common.teardown(state, caller_gone=True)]
        return replace(state, phase=Phase.ENDED, outcome=Outcome.FAILED), cmds
    node = _voicemail_node(state)
    to_voicemail = ContinueInDialplan(state.caller, VOICEMAIL_CONTEXT, node.mailbox)
    state = replace(state, wait=replace(recording, name=""))
    return common.finish_in_dialplan(state, Outcome.VOICEMAIL_DIALPLAN, [cancel], to_voicemail)


def caller_left_recording(state: CallState, event: EngineEvent) -> Result:
    """Hanging up ends a message, it does not abandon it: wait for Asterisk to
    finish writing the file (RecordingFinished follows)."""
    return replace(state, wait=replace(_recording(state), caller_gone=True)), []


def recording_stalled(state: CallState, event: EngineEvent) -> Result:
    """No word from the recorder: keep what Asterisk has stored (the keeper looks
    for the file), and make sure the caller is not left on the line."""
    return recorded(state, event)
