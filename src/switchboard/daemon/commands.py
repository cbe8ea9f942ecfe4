"""The command table: for every engine command type, the handler that carries it out.

Built once (``command_table``) from small ports: call control (the executor's ARI
requests), timers (the runner's own clock), targets (the target book), lines (the
queues), agent offers (the agent router), keepers (voicemail, call recordings) and
callback requests. The runner looks each command up here, as the engine looks up
its transitions; what each handler hands back (``Reply``) and whether it is awaited
is what the supervisor's ``isinstance`` chain did before.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from switchboard.callbacks import Callback
from switchboard.engine import Command
from switchboard.engine.commands import (
    AskPosition,
    CancelTimer,
    CreateBridge,
    FindAgent,
    FindTargets,
    JoinQueue,
    KeepCallRecording,
    KeepVoicemail,
    LeaveQueue,
    Originate,
    PlaceCallback,
    Play,
    QueueReady,
    RecordBridge,
    ReportAgent,
    RequestCallback,
    StartTimer,
    StopAgentSearch,
)
from switchboard.engine.events import AgentFound, CallbackDecided
from switchboard.live import AgentsChanged, LiveEvent
from switchboard.recording import RecordingKeeper
from switchboard.voicemail import VoicemailKeeper

from .executor import Executor, Sender
from .queues import QueueManager
from .runner import CallRunner, CommandTable, Handler, Reply
from .targets import TargetBook

log = logging.getLogger("switchboard.call")


class AgentOffers(Protocol):
    """The agent router as calls use it."""

    async def find(self, ask: FindAgent) -> AgentFound: ...
    def report(self, cmd: ReportAgent) -> None: ...
    def stop(self, cmd: StopAgentSearch) -> None: ...


RequestCallbacks = Callable[[RequestCallback], Awaitable[tuple[CallbackDecided, Callback | None]]]


def command_table(
    *,
    executor: Executor,
    book: TargetBook,
    lines: QueueManager,
    offers: AgentOffers,
    publish: Callable[[LiveEvent], None],
    keepers: Keepers,
    request_callback: RequestCallbacks,
    clock: Callable[[], datetime],
) -> CommandTable:
    """Every engine command's handler (a command missing here crashes its call)."""
    return {
        **call_control(executor, recording=keepers.recorder is not None),
        **timers(),
        **targets(book),
        **queue_lines(lines),
        **agent_offers(offers, publish, clock),
        **keeping(keepers),
        **callback_requests(request_callback, lines),
    }


# -- call control: one ARI request each -------------------------------------------------
def call_control(executor: Executor, *, recording: bool) -> dict[type[Command], Handler]:
    table: dict[type[Command], Handler] = {
        kind: _ari_handler(send) for kind, send in executor.senders().items()
    }
    if not recording:  # (a flow reloaded to record, no recording: section): not recorded
        table[RecordBridge] = _nothing
    return table


def _ari_handler(send: Sender) -> Handler:
    async def handle(call: CallRunner, cmd: Command) -> Reply | None:
        key = _claim(call, cmd)
        feedback = await Executor.attempt(cmd, send)
        call.in_flight.discard(key)
        if feedback is None:
            return None
        log.info(
            "call.command_result", extra={"call_id": call.call_id, "result": repr(feedback)[:400]}
        )
        # One phone refused: the others of the batch still ring, and each refusal is
        # its own event (the engine drops that leg); so is a recording refused (the
        # call goes on unrecorded).
        return Reply(feedback, refused=not isinstance(cmd, Originate | RecordBridge))

    return handle


def _claim(call: CallRunner, cmd: Command) -> str:
    """Route a new leg's or bridge's events to the call *before* asking Asterisk for
    it; returns the id now in flight (reconcile must not take it for lost)."""
    if isinstance(cmd, Originate):
        call.in_flight.add(cmd.channel_id)
        call.host.route(call, channel=cmd.channel_id)
        call.times.leg_originated(call.state, cmd.channel_id, call.host.clock())
        return cmd.channel_id
    if isinstance(cmd, CreateBridge):
        call.host.route(call, bridge=cmd.bridge_id)
    if isinstance(cmd, Play):
        call.in_flight.add(cmd.playback_id)
        return cmd.playback_id
    return ""


async def _nothing(call: CallRunner, cmd: Command) -> None:
    return None


# -- timers -------------------------------------------------------------------------------
def timers() -> dict[type[Command], Handler]:
    return {StartTimer: CallRunner.timer, CancelTimer: CallRunner.timer}


# -- targets ------------------------------------------------------------------------------
def targets(book: TargetBook) -> dict[type[Command], Handler]:
    async def find(call: CallRunner, cmd: FindTargets) -> Reply:
        found = book.find(cmd)
        log.info(
            "call.targets",
            extra={"call_id": call.call_id, "order": found.order, "skipped": found.skipped},
        )
        return Reply(found)

    return {FindTargets: find}


# -- lines (queues) -------------------------------------------------------------------------
def queue_lines(lines: QueueManager) -> dict[type[Command], Handler]:
    async def join(call: CallRunner, cmd: JoinQueue) -> None:
        lines.join(cmd)

    async def ready(call: CallRunner, cmd: QueueReady) -> None:
        lines.ready(cmd.queue, cmd.call_id)

    async def leave(call: CallRunner, cmd: LeaveQueue) -> None:
        lines.leave(cmd.queue, cmd.call_id)

    async def position(call: CallRunner, cmd: AskPosition) -> Reply:
        return Reply(lines.position(cmd))

    return {JoinQueue: join, QueueReady: ready, LeaveQueue: leave, AskPosition: position}


# -- agent offers (the agent router) --------------------------------------------------------
def agent_offers(
    offers: AgentOffers, publish: Callable[[LiveEvent], None], clock: Callable[[], datetime]
) -> dict[type[Command], Handler]:
    async def find(call: CallRunner, cmd: FindAgent) -> Reply:
        return Reply(await offers.find(cmd))

    async def report(call: CallRunner, cmd: ReportAgent) -> None:
        offers.report(cmd)
        publish(AgentsChanged(clock(), cmd.agent))

    async def stop(call: CallRunner, cmd: StopAgentSearch) -> None:
        offers.stop(cmd)

    return {FindAgent: find, ReportAgent: report, StopAgentSearch: stop}


# -- keepers (voicemail, call recordings) ---------------------------------------------------
class Keepers:
    def __init__(self, voicemail: VoicemailKeeper | None, recorder: RecordingKeeper | None):
        self.voicemail = voicemail
        self.recorder = recorder

    async def keep_voicemail(self, cmd: KeepVoicemail) -> None:
        if self.voicemail is None:
            log.error(
                "voicemail.not_configured",
                extra={
                    "call_id": cmd.call_id,
                    "voicemail": cmd.recording,
                    "detail": "no voicemail section in the config: the recording stays in "
                    "Asterisk's recordings directory",
                },
            )
            return
        try:
            await self.voicemail.keep(cmd)
        except OSError as exc:
            # The spool cannot be written (disk full): the job is held in memory and
            # spooled once there is room; the recording waits in Asterisk. Say so loudly.
            detail = "held in memory until the spool has room; lost if the daemon stops first"
            log.error(
                "voicemail.spool_failed",
                extra={
                    "call_id": cmd.call_id,
                    "voicemail": cmd.recording,
                    "error": str(exc),
                    "detail": detail,
                },
            )

    async def keep_call_recording(self, cmd: KeepCallRecording) -> None:
        extra = {"call_id": cmd.call_id, "recording": cmd.name}
        if self.recorder is None:  # (RecordBridge is then not sent: Asterisk keeps nothing)
            detail = "no recording: section in the config: the call is not recorded"
            log.error("recording.not_configured", extra={**extra, "detail": detail})
            return
        try:
            await self.recorder.keep(cmd)
        except OSError as exc:  # the spool cannot be written: say so loudly; the call goes on
            log.error("recording.spool_failed", extra={**extra, "error": str(exc)})


def keeping(keepers: Keepers) -> dict[type[Command], Handler]:
    async def voicemail(call: CallRunner, cmd: KeepVoicemail) -> None:
        await keepers.keep_voicemail(cmd)

    async def recording(call: CallRunner, cmd: KeepCallRecording) -> None:
        await keepers.keep_call_recording(cmd)

    return {KeepVoicemail: voicemail, KeepCallRecording: recording}


# -- callback requests ----------------------------------------------------------------------
def callback_requests(
    request: RequestCallbacks, lines: QueueManager
) -> dict[type[Command], Handler]:
    async def requested(call: CallRunner, cmd: RequestCallback) -> Reply:
        decided, call.callback_taken = await request(cmd)
        return Reply(decided)

    async def place(call: CallRunner, cmd: PlaceCallback) -> None:
        place_callback(call, lines)

    return {RequestCallback: requested, PlaceCallback: place}


def place_callback(call: CallRunner, lines: QueueManager) -> None:
    """The stored callback takes the caller's place in line (once)."""
    if call.callback_taken is not None:
        lines.to_callback(call.call_id, call.callback_taken)
        call.callback_taken = None


__all__ = ["CommandTable", "Keepers", "command_table"]
