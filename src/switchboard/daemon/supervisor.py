"""One task per call, and a supervisor above them.

The supervisor routes each ARI event to the call that owns its channel or
bridge (a per-call queue keeps that call's events in order; calls run in
parallel), starts a call on a caller's StasisStart, sends a crashed call's caller
to the dialplan fallback, reconciles after every (re)connection and drains on stop.

Its parts, assembled by ``parts.call_handling`` (in the composition root) and
received whole: ``calls`` (the calls by id and the routes of their channels and
bridges), ``runner`` (one call's task), ``commands`` (the command table the
runners look commands up in), ``reconcile`` (the pure plan after a reconnection),
``callbackdesk`` (queue callbacks and the callback dialer), ``announcer`` (live
events for the pages); the call log's row is built by ``calllog.call_record``, and
while a call runs, its record so far is kept in the ``calljournal`` (what a restarted
daemon finds of the calls this one did not see end: ``recover_journal``, then the
first reconcile settles each one).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime

from switchboard.ari import events as ari
from switchboard.ari.client import AriClient, AriError
from switchboard.blocklist.model import BlockSet, kind_of
from switchboard.callbacks import Callback
from switchboard.callbacks.dialer import CALLBACK_ARG, CallbackObserver
from switchboard.calljournal import CallJournal, Journaled, carried, completed, settled_legs
from switchboard.calllog import CallLog, CallRecord, call_record
from switchboard.config import AdmissionConfig
from switchboard.durable.periodic import periodic
from switchboard.engine import (
    CallState,
    Drain,
    EngineEvent,
    Outcome,
    Phase,
    adopt_connected,
    dialed_number,
    new_call,
)
from switchboard.engine.commands import FindAgent, ReportAgent
from switchboard.engine.events import AgentFound
from switchboard.flows.model import Flow
from switchboard.hours import Calendar

from .admission import Admission
from .commands import place_callback
from .parts import CallHandling, calendars_of
from .reconcile import LEG_ARG, Tracked, carry_out, catch_up, plan
from .runner import CallRunner, quietly
from .snapshot import LiveCall, WaitingCaller, agents_waiting, live_call, queue_waiting

log = logging.getLogger("switchboard.call")
slog = logging.getLogger("switchboard.supervisor")

# A channel found in our app by reconcile may be a brand-new call whose StasisStart
# is still in the websocket; it is handed back only if none arrives by then.
SUSPECT_GRACE_S = 2.0
ENDPOINT_POLL_S = 1.0  # how often endpoint states (registrations) are read


class Supervisor:
    def __init__(
        self,
        ari_client: AriClient,
        app: str,
        parts: CallHandling,
        *,
        call_log: CallLog | None = None,
        journal: CallJournal | None = None,
        admission: Admission | None = None,
        blocklist: Callable[[], BlockSet] = BlockSet,
    ) -> None:
        self.ari = ari_client
        self._blocklist = blocklist  # the entries in force (blocklist.LiveBlocklist)
        self.admission = admission or Admission(AdmissionConfig(0, 0))  # (none: no limit)
        self.app = app
        self.metrics = parts.metrics
        self._flows = parts.flows
        self._stall_guard = parts.stall_guard
        self.book = parts.book
        self.callback_gate = parts.callback_gate
        self.call_log = call_log
        self.journal = journal
        self._recovered: dict[str, Journaled] = {}  # the last process's calls, until reconcile
        self._handing_back: dict[str, CallRecord] = {}  # suspects the journal knew: history
        self._unseen_callers: dict[str, ari.Channel] = {}  # suspects nobody knew (a lost start)
        self.recorder = parts.recorder
        self.voicemail = parts.voicemail
        self.clock = parts.clock
        self.live = parts.live
        self.queues = parts.queues
        self.queue_callbacks = parts.queue_callbacks
        self.dialer = parts.dialer
        self.agents = parts.agents
        self.table = parts.table
        self._calls = parts.calls
        self._calls.serve(self)  # (the dialer starts callback calls through it)
        self._suspects: set[str] = set()
        self.draining = False

    # -- what web callbacks ask (webcallback.ports.CallbackDaemon) ------------------------
    def taking_callbacks(self) -> bool:
        """Not draining, and the phones' states are known."""
        return not self.draining and self.book.loaded_once

    def calendars(self) -> dict[str, Calendar]:
        """Every calendar of the flows being served (sites name theirs), by name."""
        return calendars_of(self._flows())

    async def find_agent(self, ask: FindAgent) -> AgentFound:
        return await self.agents.find(ask)

    def report_agent(self, cmd: ReportAgent) -> None:
        self.agents.report(cmd)

    def agent_search_ended(self, key: str) -> None:
        self.agents.call_ended(key)

    # -- bookkeeping --------------------------------------------------------------------
    @property
    def calls_in_progress(self) -> int:
        return len(self._calls)

    def live_calls(self) -> list[LiveCall]:
        """The calls in progress, oldest first (copies: for the API)."""
        calls = [
            live_call(r.state, r.answered_at, callback=r.callback is not None)
            for r in self._calls.by_id.values()
        ]
        return sorted(calls, key=lambda c: (c.started_at is not None, c.started_at, c.call_id))

    def waiting_callers(self) -> list[WaitingCaller]:
        """Who waits in each queue's line and in the agent router's, in line order."""
        calls = {call_id: runner.state for call_id, runner in self._calls.by_id.items()}
        now = self.clock()
        queued = queue_waiting(self.queues.lines, calls, time.time(), now)
        return queued + agents_waiting(self.agents.line(), now)

    def route(self, runner: CallRunner, *, channel: str = "", bridge: str = "") -> None:
        self._calls.route(runner, channel=channel, bridge=bridge)

    def forget(self, runner: CallRunner) -> None:
        self._calls.forget(runner)

    def _start(self, state: CallState, callback: Callback | None = None) -> CallRunner:
        runner = CallRunner(self, self.table, state, callback)
        self._calls.add(runner)
        self._track(asyncio.create_task(runner.run(), name=f"call-{runner.call_id}"))
        return runner

    def stepped(self, runner: CallRunner, before: CallState) -> None:
        """A step changed the call: who is talking (the target book must not offer them
        another call), the time to answer, the call log's times, the pages."""
        state = runner.state
        if state.phase is Phase.CONNECTED and runner.answered_at is None:
            runner.answered_at = self.clock()
            if state.started_at is not None and runner.callback is None:  # (not adopted)
                waited = runner.answered_at - state.started_at
                self.metrics.call_answered(waited.total_seconds())
        if state.phase is Phase.CONNECTED and not runner.talking_to and state.answered_by:
            runner.talking_to = state.answered_by
            self.book.call_started(runner.talking_to)
        elif runner.talking_to and state.phase is not Phase.CONNECTED:
            self.book.call_ended(runner.talking_to)
            runner.talking_to = ""
        runner.times.stepped(before, state, self.clock())
        self.live.announce(before, state)

    def finished(self, runner: CallRunner) -> None:
        """A call's task ends (whether it ended or crashed): free what it held."""
        self.live.announce_end(runner.state)
        agent = runner.callback_agent
        if runner.talking_to:
            self.book.call_ended(runner.talking_to)
            self.queues.wake()  # a phone is free: someone in line may get it
            self.agents.wake()
        if runner.callback is not None:
            self.book.call_ended(agent)
            self.queues.wake()
            assert runner.told is not None
            state = runner.state
            runner.told.attempted(runner.callback, state.answered_by, state.route_result, agent)
        place_callback(runner, self.queues)  # (stored, so it is kept even if the call crashed)
        self.queues.forget(runner.call_id)  # (after a crash it may still hold one)
        self.agents.call_ended(runner.call_id)  # (its agent is free: after a crash too)
        self.forget(runner)

    async def record_call(self, runner: CallRunner) -> None:
        """The call log's row for a call that has ended (spooled, then PostgreSQL);
        then its journal file goes."""
        self.metrics.call_ended(str(runner.state.outcome or "failed"))
        if self.call_log is None:
            return
        await self.call_log.record(self._record_of(runner, self.clock()))
        if self.journal is not None and runner.journaled is not None:
            self.journal.remove(runner.call_id)

    def _record_of(self, runner: CallRunner, ended: datetime | None) -> CallRecord:
        """The call's row (``ended`` None: so far, for the journal), after its history."""
        state = runner.state
        record = call_record(
            state,
            runner.times,
            started=state.started_at or runner.started_at,
            answered_at=runner.answered_at,
            ended=ended,
            recorded=self.recorder is not None,
        )
        return carried(runner.history, record) if runner.history is not None else record

    def note_progress(self, runner: CallRunner) -> None:
        """After a batch of steps: the call's journal file, if its record changed
        (callback calls have none: see ``calljournal``)."""
        if self.journal is None or runner.callback is not None:
            return
        record = self._record_of(runner, None)
        if record != runner.journaled and self.journal.write(record, self.clock()):
            runner.journaled = record

    # -- the journal of the last process (calljournal) -------------------------------------
    async def recover_journal(self) -> int:
        """Read the calls the last process journaled and did not see end (before the
        first reconcile, which settles them); those whose row is spooled already are
        just removed. Returns how many are left to settle."""
        if self.journal is None or self.call_log is None:
            return 0
        found = await asyncio.to_thread(self.journal.leftovers)
        logged = await asyncio.to_thread(self.call_log.spooled, [j.record.id for j in found])
        for entry in found:
            if entry.record.id in logged:
                slog.info("journal.already_logged", extra={"call_id": entry.record.id})
                self.journal.remove(entry.record.id)
            else:
                self._recovered[entry.record.id] = entry
        if self._recovered:
            slog.info("journal.recovered", extra={"calls": len(self._recovered)})
        return len(self._recovered)

    def _settle_journal(self) -> None:
        """After the first reconcile: journaled calls nobody adopted or handed back
        ended while the daemon was down (or are being hung up now): their rows are
        written in the background (one fsync each: new calls do not wait for them)."""
        left, self._recovered = self._recovered, {}
        if left:
            self._track(asyncio.create_task(self._record_unobserved(left)))

    async def _record_unobserved(self, left: dict[str, Journaled]) -> None:
        await self._gone(set(left))
        for call_id, entry in sorted(left.items()):
            log.info("call.end_unobserved", extra={"call_id": call_id, "seen_at": entry.seen_at})
            await self._record_journaled(entry.record, Outcome.ENDED_UNOBSERVED)

    async def _gone(self, call_ids: set[str]) -> None:
        """These callers' channels are gone, and with them any message they were
        leaving: fetched now. (Not for a caller handed back alive with a recording
        still running: it would be fetched cut short; ``_hand_back`` stops it first.)"""
        if self.voicemail is not None and call_ids:
            await self.voicemail.calls_left(call_ids)

    async def _record_journaled(self, record: CallRecord, outcome: Outcome) -> None:
        self.metrics.call_ended(str(outcome))
        if self.call_log is not None:
            await self.call_log.record(completed(record, outcome, self.clock()))
        if self.journal is not None:
            self.journal.remove(record.id)

    def _track(self, task: asyncio.Task[None]) -> None:
        self._calls.track(task)

    def _background(self, request: Awaitable[None], about: str) -> None:
        self._track(asyncio.create_task(quietly(request, about)))

    # -- events -------------------------------------------------------------------------
    def on_event(self, event: ari.AriEvent) -> None:
        """Called by the event stream for every event, in arrival order."""
        if isinstance(event, ari.EndpointStateChange):
            self.book.update(event.endpoint)
            self.queues.wake()
            return
        if isinstance(event, ari.ChannelDestroyed) and self.dialer.destroyed(event):
            return  # (an agent rung for a callback did not take it)
        for key in ari.routing_ids(event):
            runner = self._calls.routes.get(key)
            if runner is not None:
                runner.queue.put_nowait(event)
                return
        if isinstance(event, ari.StasisStart):
            self._stasis_start(event)
        elif isinstance(event, ari.UnknownEvent):
            slog.debug("event.unknown", extra={"type": event.type})
        else:
            slog.debug("event.unrouted", extra={"type": type(event).__name__})

    def _stasis_start(self, event: ari.StasisStart) -> None:
        channel = event.channel
        self._suspects.discard(channel.id)
        history = self._handing_back.pop(channel.id, None)
        self._unseen_callers.pop(channel.id, None)  # (its call starts: a row of its own)
        if event.args[:1] == (CALLBACK_ARG,):
            if not self.dialer.entered(event):  # (rung by a process that has since died)
                slog.info("callback.orphan_hangup", extra={"channel": channel.id})
                self._background(self.ari.hangup(channel.id), channel.id)
            return  # (an agent took a callback: the customer is called)
        if event.args[:1] == (LEG_ARG,):
            # A leg whose call has ended (e.g. the caller hung up while it rang).
            slog.info("leg.orphan_hangup", extra={"channel": channel.id})
            self._background(self.ari.hangup(channel.id), channel.id)
            return
        if self.draining:
            slog.info("call.refused_draining", extra={"channel": channel.id})
            self._background(self.ari.continue_in_dialplan(channel.id), channel.id)
            return
        if self.admission.refuse(channel.id, (r.state for r in self._calls.by_id.values())):
            # (overloaded: the dialplan's fallback serves this caller; the row says so)
            self._track(asyncio.create_task(self._shed(channel, history)))
            return
        flows = self._flows()  # this call keeps this version to its end
        dialed = dialed_number(event)
        found = flows.for_number(dialed)
        extra = {
            "call_id": channel.id,
            "caller": channel.caller_number,
            "dialed": dialed,
            "flows_version": flows.version,
        }
        if found is None:
            log.warning("call.no_flow", extra=extra)
            self._background(self.ari.continue_in_dialplan(channel.id), channel.id)
            return
        flow, entry = found
        blocked = self._blocked(flow, channel.caller_number)
        if blocked and flow.blocklist is not None:
            entry = flow.blocklist.node
            log.info("call.blocked", extra={**extra, "flow": flow.name, "entry": entry,
                                            "blocked_by": blocked})  # fmt: skip
        log.info("call.start", extra={**extra, "flow": flow.name, "entry": entry})
        state = new_call(channel.id, flow, entry, self._stall_guard)
        if blocked:  # (the call's variables, in its call.end line, say what matched)
            state = replace(state, vars=(("blocked", blocked),))
        runner = self._start(state)
        runner.history = history  # (a suspect the journal knew: it came back to our app)
        # The call's time is the daemon's clock (which tests and demos may set).
        runner.queue.put_nowait(replace(event, at=self.clock()))

    def _blocked(self, flow: Flow, caller_number: str) -> str:
        """The blocklist entry (or ``anonymous``) that sends this caller to the flow's
        ``blocklist.node``; "" when the flow has none or the caller is not on it."""
        rule = flow.blocklist
        if rule is None:
            return ""
        matched = self._blocklist().match(caller_number, anonymous=rule.anonymous)
        if matched:
            self.metrics.call_blocked(kind_of(matched))
        return matched

    # -- queues and callbacks -------------------------------------------------------------
    async def restore_callbacks(self, pending: list[Callback]) -> None:
        """Queue callbacks stored before a restart go back in line (``QueueCallbacks``)."""
        await self.queue_callbacks.restore(pending)

    def dial_callback(self, callback: Callback, endpoint: str, observer: CallbackObserver) -> None:
        """Ring ``endpoint`` (an agent) for a callback; when they answer, the customer
        is called (web callbacks: the dispatcher's agent, reserved already)."""
        self.dialer.dial(callback, endpoint, observer)

    def start_callback(
        self,
        state: CallState,
        callback: Callback,
        observer: CallbackObserver,
        agent: str,
        start: ari.StasisStart,
    ) -> None:
        runner = self._start(state, callback)
        runner.callback_agent = agent
        runner.told = observer
        runner.queue.put_nowait(replace(start, at=self.clock()))

    # -- reconcile ----------------------------------------------------------------------
    async def reconcile(self) -> None:
        """After (re)connecting: compare what we track with what Asterisk has.

        Events were lost while the websocket was down; Asterisk's lists tell what
        became of each call, and those facts are fed to the calls as events.
        """
        await self._load_endpoints()
        try:
            channels = await self.ari.list_channels()
            bridges = await self.ari.list_bridges()
        except AriError as exc:
            slog.warning("reconcile.failed", extra={"error": str(exc)})
            return
        by_id = {c.id: c for c in channels}
        for runner in list(self._calls.by_id.values()):
            tracked = Tracked(runner.state, runner.channels, runner.in_flight)
            await carry_out(catch_up(tracked, by_id), self)
        strays = plan(
            self._calls.routes.keys(),
            list(self.dialer.legs),
            self.dialer.dialing(),
            channels,
            bridges,
            self.app,
        )
        await carry_out(strays.actions, self)
        self._settle_journal()
        self.queues.paused = self.draining  # endpoint states are known: turns may be given
        self.queues.wake()
        slog.info(
            "reconcile.done",
            extra={"calls": len(self._calls), "channels": len(channels), "unknown": strays.unknown},
        )

    # (what carrying out a reconcile plan does: reconcile.PlanHost)
    def feed(self, call_id: str, event: EngineEvent) -> None:
        self._calls.deliver(call_id, event)

    def callback_leg_lost(self, channel_id: str) -> None:
        # Its ChannelDestroyed was lost while we could not hear: the agent did not
        # take it; the place is offered again.
        self.dialer.lost(channel_id)

    def callback_leg_answered(self, channel: ari.Channel) -> None:
        callback = self.dialer.legs[channel.id].callback
        self.dialer.entered(ari.StasisStart(channel=channel, args=(CALLBACK_ARG, callback.id)))

    def suspect(self, channel_id: str, channel: ari.Channel | None = None) -> None:
        self._suspects.add(channel_id)
        entry = self._recovered.pop(channel_id, None)
        if entry is not None:  # a caller of the last process, not connected: handed back
            record = entry.record
            self._handing_back[channel_id] = replace(
                record, legs=settled_legs(record.legs, self.clock())
            )
        elif channel is not None and self.call_log is not None:
            # A caller who entered our app while we could not hear it (its StasisStart
            # lost in a websocket cut): if it is handed back, that is its row.
            self._unseen_callers[channel_id] = channel

    async def _shed(self, channel: ari.Channel, history: CallRecord | None) -> None:
        # (only a caller the journal knew can have a message under way)
        journaled = history is not None
        await self._hand_back(channel.id, history or self._unseen(channel), journaled)

    async def _hand_back(self, channel_id: str, history: CallRecord, journaled: bool) -> None:
        """A caller no call runs goes on in the dialplan; their row says so, or that
        they had hung up (never handed back) if Asterisk no longer has the channel.
        A message a killed daemon's caller was leaving is stopped first (Asterisk
        keeps what was said) and fetched now."""
        unfinished = []
        if journaled and self.voicemail is not None:
            unfinished = await self.voicemail.unfinished({channel_id})
        for job in unfinished:
            await quietly(self.ari.stop_recording(job.id), channel_id)
        outcome = Outcome.HANDED_BACK
        try:
            await self.ari.continue_in_dialplan(channel_id)
        except AriError as exc:
            log.info("call.best_effort_failed", extra={"call_id": channel_id, "error": str(exc)})
            if exc.status == 404:
                outcome = Outcome.ENDED_UNOBSERVED
        if unfinished or outcome == Outcome.ENDED_UNOBSERVED:
            await self._gone({channel_id})
        await self._record_journaled(history, outcome)

    def _unseen(self, channel: ari.Channel) -> CallRecord:
        """The row of a caller no call ever ran (its start lost in a cut, or shed):
        who called, what, when Asterisk says the channel was made (else now), no path."""
        now = self.clock()
        dialed = channel.app_data.split(",")[2] if channel.app_data.count(",") >= 2 else ""
        dialed = dialed or channel.exten
        flows = self._flows()
        found = flows.for_number(dialed)
        try:
            started = datetime.strptime(channel.created, "%Y-%m-%dT%H:%M:%S.%f%z")
        except ValueError:
            started = now
        return CallRecord(
            id=channel.id, dialed=dialed, caller=channel.caller_number, customer=None,
            flow=found[0].name if found else "", flow_version=flows.version,
            started_at=started.isoformat(), answered_at="", ended_at="", answered_by="",
            agent="", outcome="", route_result="", path=(), legs=(), ended_phase="new",
        )  # fmt: skip

    def hand_back_suspects(self) -> None:
        if self._suspects:
            self._track(asyncio.create_task(self._hand_back_suspects(set(self._suspects))))

    def hang_up(self, channel_id: str) -> None:
        self._background(self.ari.hangup(channel_id), channel_id)

    def destroy_bridge(self, bridge_id: str) -> None:
        self._background(self.ari.destroy_bridge(bridge_id), bridge_id)

    async def _load_endpoints(self) -> None:
        """Read every endpoint's state (registered phones are ``online``)."""
        try:
            endpoints = await self.ari.list_endpoints()
        except AriError as exc:
            slog.warning("endpoints.unavailable", extra={"error": str(exc)})
            return
        before = {n for n, s in self.book.states.items() if s == "offline"}
        self.book.load(endpoints)
        offline = {n for n, s in self.book.states.items() if s == "offline"}
        if offline != before or not self.book.loaded_once:
            self.book.loaded_once = True
            slog.info(
                "endpoints.loaded",
                extra={"endpoints": len(self.book.states), "offline": sorted(offline)},
            )
            self.queues.wake()
            self.agents.wake()

    async def watch_endpoints(self, every: float = ENDPOINT_POLL_S) -> None:
        """Keep endpoint states current by asking Asterisk every ``every`` seconds.

        Not an ``endpoint:PJSIP`` subscription: Asterisk then also sends the app every
        event of every PJSIP channel, its own channels' events twice (a key pressed
        would count twice). Listing a few hundred endpoints is cheap.
        """
        await periodic(
            "endpoints",
            every,
            self._load_endpoints,
            failed_event="endpoints.watch_failed",
            logger=slog,
        )

    async def playback_exists(self, playback_id: str) -> bool:
        try:
            await self.ari.get_playback(playback_id)
        except AriError as exc:
            return exc.status != 404
        return True

    async def _hand_back_suspects(self, suspects: set[str]) -> None:
        await asyncio.sleep(SUSPECT_GRACE_S)
        for channel_id in sorted(suspects & self._suspects):
            self._suspects.discard(channel_id)
            slog.info("reconcile.hand_back", extra={"channel": channel_id})
            history = self._handing_back.pop(channel_id, None)
            unseen = self._unseen_callers.pop(channel_id, None)
            if history is not None:  # a caller of the last process: its row now
                await self._hand_back(channel_id, history, journaled=True)
            elif unseen is not None:  # a caller whose start was lost in a cut
                await self._hand_back(channel_id, self._unseen(unseen), journaled=False)
            else:
                await quietly(self.ari.continue_in_dialplan(channel_id), channel_id)

    def adopt(self, caller: ari.Channel, leg: str) -> None:
        flows = self._flows()
        found = flows.for_number(caller.exten)
        flow = found[0] if found else flows.flows[0]  # a connected call no longer needs it
        state = adopt_connected(caller.id, flow, leg)
        runner = self._start(state)
        self.route(runner, channel=leg, bridge=state.bridge_id)
        entry = self._recovered.pop(caller.id, None)
        if entry is not None:  # its row goes on from what the journal knew
            now = self.clock()
            history = entry.record
            runner.history = replace(history, legs=settled_legs(history.legs, now))
            runner.journaled = runner.history  # (its file is there: rewritten when it changes)
            runner.answered_at = (
                datetime.fromisoformat(history.answered_at) if history.answered_at else now
            )
        log.info(
            "call.adopted",
            extra={"call_id": caller.id, "leg": leg, "journaled": entry is not None},
        )

    # -- drain --------------------------------------------------------------------------
    async def drain(self, grace: float) -> int:
        """Refuse new calls, hand back calls not yet connected, wait for the rest.

        Returns how many calls were still running (connected) at the end of the
        grace; they stay bridged in Asterisk and a restarted daemon re-adopts them.
        """
        self.draining = True
        self.queues.paused = True  # no new turns, no callbacks started while stopping
        for runner in list(self._calls.by_id.values()):
            runner.queue.put_nowait(Drain())
        deadline = time.monotonic() + grace
        # Loop: callers refused while draining add short tasks of their own.
        while self._calls.tasks and (left_s := deadline - time.monotonic()) > 0:
            await asyncio.wait(set(self._calls.tasks), timeout=left_s)
        left = len(self._calls)
        if left:
            slog.warning("drain.timeout", extra={"calls_left": left})
        stragglers = set(self._calls.tasks)
        for task in stragglers:
            task.cancel()
        await asyncio.gather(*stragglers, return_exceptions=True)
        return left
