"""Tier 1: the command table: every engine command has a handler; a missing one is a bug."""

from __future__ import annotations

import asyncio
import typing
from datetime import UTC, datetime
from typing import Any

import pytest

from switchboard.callbacks import Callback
from switchboard.daemon.commands import Keepers, command_table
from switchboard.daemon.executor import Executor
from switchboard.daemon.queues import QueueManager
from switchboard.daemon.runner import (
    CallRunner,
    CommandTable,
    Reply,
    UnhandledCommand,
    describe,
)
from switchboard.daemon.targets import TargetBook
from switchboard.engine import ChannelGone, Command, CommandFailed
from switchboard.engine.commands import (
    FindAgent,
    JoinQueue,
    Record,
    RecordBridge,
    ReportAgent,
    RequestCallback,
    StopAgentSearch,
    StopRinging,
)
from switchboard.engine.events import AgentFound, CallbackDecided


class Offers:
    async def find(self, ask: FindAgent) -> AgentFound:
        raise NotImplementedError

    def report(self, cmd: ReportAgent) -> None: ...
    def stop(self, cmd: StopAgentSearch) -> None: ...


async def _request(cmd: RequestCallback) -> tuple[CallbackDecided, Callback | None]:
    return CallbackDecided(cmd.request_id), None


def table(recorder: object | None = None) -> CommandTable:
    book = TargetBook()
    return command_table(
        executor=Executor(typing.cast(Any, None), "switchboard"),
        book=book,
        lines=QueueManager(book, lambda _c, _e: True, lambda _cb, _e: None),
        offers=Offers(),
        publish=lambda _e: None,
        keepers=Keepers(None, typing.cast(Any, recorder)),
        request_callback=_request,
        clock=lambda: datetime.now(UTC),
    )


def test_every_engine_command_has_exactly_one_handler() -> None:
    kinds = set(typing.get_args(Command))
    assert set(table()) == kinds


def test_a_bridge_is_recorded_only_with_a_recording_section() -> None:
    without, with_recorder = table()[RecordBridge], table(object())[RecordBridge]
    assert without is not with_recorder
    call = typing.cast(CallRunner, None)
    cmd = RecordBridge("c1-bridge", "c1")

    async def handle() -> object:
        return await without(call, cmd)

    assert asyncio.run(handle()) is None  # (nothing sent: ARI is never touched)


def test_a_command_without_a_handler_crashes_the_call_loudly() -> None:
    class Fake:
        clock = staticmethod(lambda: datetime.now(UTC))

    runner = CallRunner(typing.cast(Any, Fake()), {}, typing.cast(Any, _State()))
    with pytest.raises(UnhandledCommand, match="ReportAgent"):
        asyncio.run(runner._execute([ReportAgent("c1", "a1", "answered")]))


class _State:
    call_id = "c1"
    terminal = False


def test_a_logged_command_shows_a_long_list_of_phones_cut_short() -> None:
    phones = tuple(f"PJSIP/phone{i}" for i in range(400))
    shown = describe(JoinQueue("bench", "c1", "c1-q1", "longest_idle", phones))
    assert shown == (
        "JoinQueue(bench,c1,c1-q1,longest_idle,"
        "('PJSIP/phone0', 'PJSIP/phone1', 'PJSIP/phone2', ... 400 in all))"
    )
    few = describe(JoinQueue("sales", "c1", "c1-q1", "ring_all", ("PJSIP/100", "PJSIP/101")))
    assert few == "JoinQueue(sales,c1,c1-q1,ring_all,('PJSIP/100', 'PJSIP/101'))"


def test_a_refused_set_up_command_is_what_the_call_hears_of_not_an_earlier_clean_up() -> None:
    """Stopping the ringing refused (409: the caller is leaving Stasis), then the
    voicemail's Record refused too: the engine must hear of the Record (it would
    otherwise wait for a recording that never started)."""

    class Fake:
        clock = staticmethod(lambda: datetime.now(UTC))

    async def refuse(call: CallRunner, cmd: Command) -> Reply:
        return Reply(CommandFailed(cmd, 409, "Channel not in Stasis application"), refused=True)

    state = typing.cast(Any, _State())
    runner = CallRunner(typing.cast(Any, Fake()), {StopRinging: refuse, Record: refuse}, state)
    record = Record("c1", "c1-vm1", 180, 10, True, "#")
    fed = asyncio.run(runner._execute([StopRinging("c1"), record]))
    assert fed == [CommandFailed(record, 409, "Channel not in Stasis application")]
    only_cleanup = asyncio.run(runner._execute([StopRinging("c1")]))
    assert only_cleanup == [
        CommandFailed(StopRinging("c1"), 409, "Channel not in Stasis application")
    ]


def test_a_caller_found_gone_is_told_before_the_set_up_refusal_it_caused() -> None:
    """Stopping the music answered 404 (the caller hung up), then the Record was
    refused: the engine hears of the caller gone first (the call is abandoned, not
    failed), then of the refusal."""

    class Fake:
        clock = staticmethod(lambda: datetime.now(UTC))

    async def gone(call: CallRunner, cmd: Command) -> Reply:
        return Reply(ChannelGone("c1"), refused=True)

    async def refuse(call: CallRunner, cmd: Command) -> Reply:
        return Reply(CommandFailed(cmd, 409, "Channel not in Stasis application"), refused=True)

    state = typing.cast(Any, _State())
    runner = CallRunner(typing.cast(Any, Fake()), {StopRinging: gone, Record: refuse}, state)
    record = Record("c1", "c1-vm1", 180, 10, True, "#")
    fed = asyncio.run(runner._execute([StopRinging("c1"), record]))
    refused = CommandFailed(record, 409, "Channel not in Stasis application")
    assert fed == [ChannelGone("c1"), refused]
    assert asyncio.run(runner._execute([StopRinging("c1")])) == [ChannelGone("c1")]
