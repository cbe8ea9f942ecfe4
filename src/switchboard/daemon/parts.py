"""The daemon's call handling, assembled: the ports, and the command table built from them.

``call_handling`` is the one place they are wired (the composition root,
``app.build_services``, calls it; so do the tests that need a supervisor): first the
call registry (``calls.Calls``), which the others reach calls through; then the
callback dialer, the queues and their callbacks, the agent router; last the command
table (``commands.command_table``) from those ports. The supervisor receives the
result (``CallHandling``) whole.

Two forward references, both explicit: the queues ring an agent for a callback through
the dialer with the queue's callbacks as its observer, and those callbacks are built on
the queues (a closure below names them once they exist); the dialer starts the
customer's call through the registry, which the supervisor serves (see ``calls``).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from switchboard.callbacks import Callback, CallbackStore
from switchboard.config import RoutingConfig
from switchboard.db import Database
from switchboard.dialpolicy import CallbackGate
from switchboard.engine.commands import Originate
from switchboard.flows import FlowSet
from switchboard.hours import Calendar
from switchboard.live import LiveHub
from switchboard.metrics import Metrics
from switchboard.recording import RecordingKeeper
from switchboard.routing.service import AgentRouter
from switchboard.voicemail import VoicemailKeeper

from .announcer import Announcer
from .callbackdesk import CallbackDialer, QueueCallbacks
from .calls import Calls
from .commands import Keepers, command_table
from .executor import Executor
from .queues import QueueManager
from .runner import CommandTable
from .targets import TargetBook


@dataclass(frozen=True, slots=True)
class CallHandling:
    """What the supervisor runs calls with."""

    calls: Calls
    book: TargetBook
    queues: QueueManager
    queue_callbacks: QueueCallbacks
    dialer: CallbackDialer
    agents: AgentRouter
    table: CommandTable
    live: Announcer  # events for the screen pop and wallboard
    flows: Callable[[], FlowSet]
    stall_guard: float
    clock: Callable[[], datetime]
    metrics: Metrics
    callback_gate: CallbackGate  # which numbers may be called back
    recorder: RecordingKeeper | None
    voicemail: VoicemailKeeper | None = None


def calendars_of(flows: FlowSet) -> dict[str, Calendar]:
    """Every calendar of the flows being served (sites name theirs), by name."""
    return {name: c for flow in flows.flows for name, c in flow.calendars.items()}


def call_handling(
    executor: Executor,
    flows: Callable[[], FlowSet],
    stall_guard: float = 120.0,
    *,
    book: TargetBook | None = None,
    voicemail: VoicemailKeeper | None = None,
    callbacks: CallbackStore | None = None,
    clock: Callable[[], datetime] | None = None,
    database: Database | None = None,
    routing: RoutingConfig | None = None,
    metrics: Metrics | None = None,
    live: LiveHub | None = None,
    recorder: RecordingKeeper | None = None,
    callback_gate: CallbackGate | None = None,
) -> CallHandling:
    """The ports and the command table (defaults: what a bare daemon has)."""
    metrics = metrics or Metrics()
    book = book or TargetBook()
    gate = callback_gate or CallbackGate(None)  # (none called back without dial_policy:)
    now = clock or (lambda: datetime.now(UTC))
    announcer = Announcer(live, now)
    calls = Calls()
    dialer = CallbackDialer(
        executor.senders()[Originate], book, calls.start_callback, stall_guard, calls.track
    )

    def dial_queue_callback(callback: Callback, endpoint: str) -> None:
        """A queue callback's turn: ring one agent; the queue is told what follows."""
        dialer.dial(callback, endpoint, queue_callbacks)  # (bound just below)

    queues = QueueManager(book, calls.deliver, dial_queue_callback)
    queue_callbacks = QueueCallbacks(queues, callbacks, gate, metrics, now, calls.track)

    agents = AgentRouter(
        database,
        book,
        calls.deliver,
        routing or RoutingConfig(),
        f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}",
        calendars=lambda: calendars_of(flows()),
        clock=now,
        metrics=metrics,
    )
    table = command_table(
        executor=executor,
        book=book,
        lines=queues,
        offers=agents,
        publish=announcer.publish,
        keepers=Keepers(voicemail, recorder),
        request_callback=queue_callbacks.request,
        clock=now,
    )
    return CallHandling(
        calls, book, queues, queue_callbacks, dialer, agents, table, announcer,
        flows, stall_guard, now, metrics, gate, recorder, voicemail,
    )  # fmt: skip
