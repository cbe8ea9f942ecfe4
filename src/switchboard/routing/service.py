"""The agent router: answers ``FindAgent`` for routes with ``agents:``.

A decision is: the caller in the CRM (once per call), the agents that meet the
(possibly escalated) needs from the in-memory directory, only those whose phone
Asterisk says can ring (registered, not in use), ranked by the pure policy
(``routing.rank``), and the first of them that PostgreSQL lets us reserve. The
whole decision is bounded by ``routing.decision_timeout``: a database that is
down or slow gives the engine an error at once, and the call takes the route's
``on_fail`` (its fallback) instead of waiting.

Calls that find nobody free wait in one line, VIP callers first, then in
arrival order; the line is walked again whenever an agent may have freed up and
every second (escalation widens a call's needs as it waits).

What becomes of each offer (answered, talked, missed, cancelled) is written by
one worker, in order, without holding up the call; a write that fails is tried
again. Reservations are leases, renewed while this daemon runs; wrap-up ends
and expired leases (another daemon that crashed) are swept here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from switchboard.config import RoutingConfig
from switchboard.db import DB_ERRORS, Database
from switchboard.durable import periodic
from switchboard.engine.commands import FindAgent, ReportAgent, StopAgentSearch
from switchboard.engine.events import AgentFound, EngineEvent
from switchboard.hours import Calendar, DayState, state_at
from switchboard.metrics import Metrics

from .directory import AgentDirectory
from .rank import Candidate, Customer, Needs, Segment, effective_needs, rank
from .repository import LEASE_S, AgentRepository

if TYPE_CHECKING:  # (the daemon's package imports this module: no import at run time)
    from switchboard.daemon.targets import TargetBook

log = logging.getLogger("switchboard.routing")

SERVE_EVERY_S = 1.0  # the waiting line is walked at least this often (escalation)
HOUSEKEEPING_S = 1.0  # wrap-up ends, directory refresh, lease renewal and sweep
RENEW_EVERY_S = LEASE_S / 3
SWEEP_EVERY_S = 10.0
CALL_ENDED = "call_ended"  # (a report of the router's own: free whatever the call holds)
REPORT_RETRY_S = 2.0


@dataclass(slots=True)
class _Waiting:
    ask: FindAgent
    customer: Customer
    order: tuple[int, int]  # (0 for VIPs, arrival): the line's order


class AgentRouter:
    def __init__(
        self,
        database: Database | None,
        book: TargetBook,
        deliver: Callable[[str, EngineEvent], bool],
        config: RoutingConfig,
        daemon_id: str,
        *,
        calendars: Callable[[], Mapping[str, Calendar]] = dict,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        metrics: Metrics | None = None,
    ) -> None:
        self.database = database
        self.metrics = metrics or Metrics()
        self.book = book
        self.deliver = deliver
        self.config = config
        self.daemon_id = daemon_id
        self.calendars = calendars  # the flows' calendars, by name (sites' opening hours)
        self.clock = clock  # the daemon's clock: for calendars only (tests may set it)
        self.sites: dict[str, str] = {}  # site -> its calendar's name
        self.directory = AgentDirectory()
        self._repo: AgentRepository | None = None
        self._customers: dict[str, Customer] = {}  # call id -> the caller in the CRM
        self._first_ask: dict[str, float] = {}  # search id -> when it began (monotonic)
        self._waiting: dict[str, _Waiting] = {}  # search id -> its place in the line
        self._arrival: dict[str, int] = {}  # search id -> when it first joined the line
        self._asked: set[str] = set()  # calls that asked for an agent (others hold none)
        self._arrivals = itertools.count()
        self._held: dict[str, set[str]] = {}  # call id -> agents reserved for it
        self._talking: set[tuple[str, str]] = set()  # (call, agent) answered
        self._reports: deque[ReportAgent] = deque()
        self._report_ready = asyncio.Event()
        self._reports_written = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._line: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.stats: Counter[str] = Counter()  # decisions, errors (for metrics)
        # housekeeping: when each part last ran (monotonic; 0: not yet this run), and
        # whether the database was failing at the last pass
        self._last_refresh = self._last_renew = self._last_sweep = 0.0
        self._database_failing = False

    # -- the database --------------------------------------------------------------------
    async def _repository(self) -> AgentRepository:
        if self._repo is None:
            if self.database is None:
                raise LookupError("no database configured (add a database: section)")
            pool = await self.database.pool()
            self._repo = AgentRepository(pool, self.daemon_id)
        if not self.directory.loaded_at:
            await self.directory.refresh(self._repo.pool)
            self.sites = await self._repo.sites()
        return self._repo

    # -- asks from calls -----------------------------------------------------------------
    async def find(self, ask: FindAgent) -> AgentFound:
        """``_find``, timed (the routing decision latency)."""
        started = time.perf_counter()
        try:
            return await self._find(ask)
        finally:
            self.metrics.routing_decision(time.perf_counter() - started)

    def line(self) -> list[tuple[FindAgent, Customer, float]]:
        """The calls waiting for an agent, in serving order, with the seconds waited."""
        now = time.monotonic()
        places = sorted(self._waiting.values(), key=lambda w: w.order)
        first = self._first_ask
        return [(w.ask, w.customer, now - first.get(w.ask.search_id, now)) for w in places]

    async def _find(self, ask: FindAgent) -> AgentFound:
        """An agent reserved for this call; or none now (with ``ask.wait`` the call
        is in line and gets ``AgentFound`` later); or an error (on_fail at once)."""
        self._first_ask.setdefault(ask.search_id, time.monotonic())
        self._asked.add(ask.call_id)
        found = None
        try:
            async with asyncio.timeout(self.config.decision_timeout):
                customer = await self._customer(ask)
                if not ask.wait:
                    found = await self._decide(ask, customer)
        except (*DB_ERRORS, LookupError) as exc:
            self._count_db_error(exc)
            return self._failed(ask, exc)
        if ask.wait:  # in line: the serving task offers agents in the line's order
            self._join(ask, customer)
            self.wake()
        return found or AgentFound(ask.request_id, customer=customer)

    def _count_db_error(self, exc: BaseException) -> None:
        if not isinstance(exc, LookupError):  # (LookupError: no database configured)
            self.metrics.db_error("routing")

    def _failed(self, ask: FindAgent, exc: BaseException) -> AgentFound:
        self.stats["errors"] += 1
        why = str(exc) or type(exc).__name__
        if isinstance(exc, TimeoutError):
            why = f"no decision within {self.config.decision_timeout} s (database down or slow?)"
        log.error("routing.unavailable", extra={"call_id": ask.call_id, "error": why})
        return AgentFound(ask.request_id, customer=self._customers.get(ask.call_id), error=why)

    async def _customer(self, ask: FindAgent) -> Customer:
        customer = self._customers.get(ask.call_id)
        if customer is None:
            repo = await self._repository()
            customer = await repo.customer(ask.caller)
            self._customers[ask.call_id] = customer
            log.info(
                "routing.customer",
                extra={
                    "call_id": ask.call_id,
                    "customer": customer.id,
                    "segment": customer.segment,
                    "owner": customer.owner_agent,
                },
            )
        return customer

    def _join(self, ask: FindAgent, customer: Customer) -> None:
        # A call asking again (its agent rang out) keeps the place it first had.
        arrival = self._arrival.setdefault(ask.search_id, next(self._arrivals))
        priority = 0 if customer.segment is Segment.VIP else 1
        self._waiting[ask.search_id] = _Waiting(ask, customer, (priority, arrival))

    def stop(self, cmd: StopAgentSearch) -> None:
        self._forget_search(cmd.search_id)

    def _forget_search(self, search_id: str) -> None:
        self._waiting.pop(search_id, None)
        self._first_ask.pop(search_id, None)
        self._arrival.pop(search_id, None)

    async def _decide(self, ask: FindAgent, customer: Customer) -> AgentFound | None:
        """Rank who can take the call now and reserve the first one PostgreSQL gives."""
        repo = await self._repository()
        waited = time.monotonic() - self._first_ask.get(ask.search_id, time.monotonic())
        needs = Needs(
            skills=ask.skills,
            language=ask.language or customer.language or ask.call_language,
            site=ask.site,
            widen_after_s=ask.widen_after,
            any_after_s=ask.any_after,
        )
        wanted = customer if ask.owner_first else replace(customer, owner_agent="")
        # Real time, not the daemon's clock (which tests may set): it is compared with
        # the database's times (last call ended, end of wrap-up).
        now = datetime.now(UTC)
        current = effective_needs(needs, waited)
        best_first = customer.segment is Segment.VIP
        found = self.directory.candidates(
            current, wanted.owner_agent, best_first=best_first, now=now
        )
        ringable = [c for c in map(self._ringable, found) if c and c.id not in ask.exclude]
        if ask.site and any(c.site != ask.site for c in ringable):
            calendars = self.calendars()  # (once per decision: it gathers the flows')
            ringable = [self._with_site_hours(c, ask.site, calendars) for c in ringable]
        ranked = rank(needs, wanted, ringable, now, waited)
        if not ranked:
            return None
        agent = await repo.reserve([c.id for c in ranked], ask.call_id)
        self.stats["decisions"] += 1
        if agent is None:
            return None
        chosen = next(c for c in ranked if c.id == agent)
        self.directory.taken(agent)
        self._held.setdefault(ask.call_id, set()).add(agent)
        owner = agent == wanted.owner_agent
        log.info(
            "routing.reserved",
            extra={
                "call_id": ask.call_id,
                "agent": agent,
                "owner": owner,
                "waited_s": round(waited, 3),
                "skills": [list(s) for s in current.skills],
                "language": current.language,
            },
        )
        return AgentFound(ask.request_id, agent, chosen.endpoints, owner, customer)

    def _with_site_hours(
        self, agent: Candidate, home: str, calendars: Mapping[str, Calendar]
    ) -> Candidate:
        """An agent of another site, marked closed if their site's calendar says so
        now (the ranking offers other sites only when open)."""
        if agent.site == home or not agent.site:
            return agent
        calendar = calendars.get(self.sites.get(agent.site, ""))
        if calendar is None:
            return agent  # no calendar: always open
        is_open = state_at(calendar, self.clock()) is DayState.OPEN
        return agent if is_open == agent.site_open else replace(agent, site_open=is_open)

    def _ringable(self, agent: Candidate) -> Candidate | None:
        """The agent with only the phones that can ring now (registered, not in use)."""
        phones = tuple(e for e in agent.endpoints if self.book.free_for_agent(e))
        if not phones:
            return None
        return agent if phones == agent.endpoints else replace(agent, endpoints=phones)

    # -- the waiting line ----------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    async def _serve_line(self) -> None:
        """Walk the line when woken (an agent may be free) and every second (escalation)."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SERVE_EVERY_S):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self._serve()
            except Exception:  # keep serving whatever went wrong this time
                log.exception("routing.serve_crashed")

    async def _serve(self) -> None:
        """Offer agents to the calls in line, in order (VIPs first); deliver what is
        found. If the database fails, every call in line hears of it in this pass (each
        takes its on_fail now), not one decision timeout after another."""
        outage: BaseException | None = None
        for search in sorted(self._waiting, key=lambda s: self._waiting[s].order):
            place = self._waiting.get(search)
            if place is None:
                continue  # left the line meanwhile
            if outage is not None:
                found: AgentFound | None = self._failed(place.ask, outage)
            else:
                try:
                    async with asyncio.timeout(self.config.decision_timeout):
                        found = await self._decide(place.ask, place.customer)
                except (*DB_ERRORS, LookupError) as exc:
                    self._count_db_error(exc)
                    outage = exc
                    found = self._failed(place.ask, exc)
            if found is None:
                continue
            if self._waiting.get(search) is not place:  # it left while we reserved
                if found.agent:
                    self.report(ReportAgent(place.ask.call_id, found.agent, "cancelled"))
                continue
            if found.error:
                self._forget_search(search)  # out of the line: on to its on_fail
            else:
                del self._waiting[search]  # (a call asking again keeps its arrival)
            if not self.deliver(place.ask.call_id, found) and found.agent:
                self.report(ReportAgent(place.ask.call_id, found.agent, "cancelled"))

    # -- what became of an offer ---------------------------------------------------------
    def report(self, cmd: ReportAgent) -> None:
        if self.database is None:
            return  # no database: no agent was ever reserved
        if cmd.result == "answered":
            self._talking.add((cmd.call_id, cmd.agent))
        else:
            self._talking.discard((cmd.call_id, cmd.agent))
        self._reports.append(cmd)
        self._reports_written.clear()
        self._report_ready.set()

    def call_ended(self, call_id: str) -> None:
        """A call is over: whatever it still holds is released (after a crash too), and
        then anything of it left in PostgreSQL (a reservation made by a decision that
        timed out before it could say which agent)."""
        if call_id not in self._asked:
            return  # it never asked for an agent: it holds none
        self._asked.discard(call_id)
        for agent in sorted(self._held.get(call_id, set())):
            talked = (call_id, agent) in self._talking
            self.report(ReportAgent(call_id, agent, "talked" if talked else "cancelled"))
        self.report(ReportAgent(call_id, "", CALL_ENDED))
        self._talking = {(c, a) for c, a in self._talking if c != call_id}
        self._customers.pop(call_id, None)
        prefix = f"{call_id}-agents"
        for search in [s for s in {*self._first_ask, *self._waiting} if s.startswith(prefix)]:
            self._forget_search(search)

    async def _write(self, cmd: ReportAgent) -> None:
        repo = await self._repository()
        if cmd.result == CALL_ENDED:
            freed = await repo.release_call(cmd.call_id)
            self._held.pop(cmd.call_id, None)  # (its renewal stops with it)
            if freed:
                log.warning("routing.orphans_freed", extra={"call_id": cmd.call_id, "n": freed})
                self.wake()
            return
        if cmd.result == "answered":
            await repo.answered(cmd.agent, cmd.call_id)
            return
        held = self._held.get(cmd.call_id, set())
        if cmd.agent not in held:
            return  # released already (the engine's report and call_ended both say so)
        state = await repo.release(
            cmd.agent,
            cmd.call_id,
            talked=cmd.result == "talked",
            missed=cmd.result == "missed",
            penalty_s=self.config.missed_penalty,
            auto_pause_after=self.config.auto_pause_after,
        )
        held.discard(cmd.agent)
        if not held:
            self._held.pop(cmd.call_id, None)
        self._note_release(cmd, state)

    def _note_release(self, cmd: ReportAgent, state: str | None) -> None:
        """The in-memory copy follows at once (the next refresh confirms it)."""
        now = datetime.now(UTC)
        if cmd.result == "talked":
            self.directory.wrapped(cmd.agent, now)
        elif cmd.result == "missed":
            until = now + timedelta(seconds=self.config.missed_penalty)
            self.directory.missed(cmd.agent, until, paused=state == "paused")
        else:
            self.directory.freed(cmd.agent)
        if state == "paused":
            log.warning(
                "routing.agent_paused",
                extra={
                    "agent": cmd.agent,
                    "reason": f"missed {self.config.auto_pause_after} calls in a row",
                },
            )
        log.info(
            "routing.released",
            extra={"call_id": cmd.call_id, "agent": cmd.agent, "result": cmd.result},
        )
        self.wake()

    async def _write_reports(self) -> None:
        """One writer, in order; a failed write is tried again (nothing is dropped)."""
        while True:
            while not self._reports:
                self._report_ready.clear()
                await self._report_ready.wait()
            cmd = self._reports[0]
            try:
                await self._write(cmd)
            except (*DB_ERRORS, LookupError) as exc:
                self._count_db_error(exc)
                self.stats["report_errors"] += 1
                log.warning(
                    "routing.report_failed",
                    extra={"call_id": cmd.call_id, "agent": cmd.agent, "error": str(exc)},
                )
                await asyncio.sleep(REPORT_RETRY_S)  # the database is back soon: again
                continue
            except Exception:  # a bug: not tried again (the call's release follows)
                self.stats["report_errors"] += 1
                log.exception("routing.report_dropped", extra={"call_id": cmd.call_id})
            self._reports.popleft()
            if not self._reports:
                self._reports_written.set()

    async def written(self) -> None:
        """Until every report so far is in the database (for tests and tools)."""
        while self._reports:
            await self._reports_written.wait()

    async def flush(self) -> None:
        """Write what is left (the daemon is stopping): the writer stops first, so each
        report is written by one of us (a write cut short is done again: releases and
        answers are idempotent)."""
        for task in (self._line, self._writer):  # nothing new is offered or queued
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        while self._reports:
            cmd = self._reports.popleft()
            try:
                await self._write(cmd)
            except (*DB_ERRORS, LookupError):
                self._reports.appendleft(cmd)  # (their leases run out instead)
                raise
            except Exception:
                log.exception("routing.report_dropped", extra={"call_id": cmd.call_id})

    # -- housekeeping --------------------------------------------------------------------
    async def close(self) -> None:
        if self.database is not None:
            await self.database.close()

    async def run(self) -> None:
        self._writer = asyncio.create_task(self._write_reports(), name="routing-reports")
        self._line = asyncio.create_task(self._serve_line(), name="routing-line")
        helpers = [self._writer, self._line]
        try:
            await self._housekeeping()
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)

    async def _housekeeping(self) -> None:
        """Every HOUSEKEEPING_S: ``_housekeep`` (a crash in one pass is logged, the next
        pass tries again)."""
        self._last_refresh = self._last_renew = self._last_sweep = 0.0
        self._database_failing = False
        await periodic(
            "routing",
            HOUSEKEEPING_S,
            self._housekeep,
            failed_event="routing.housekeeping_crashed",
            logger=log,
        )

    async def _housekeep(self) -> None:
        """Wrap-ups that ended; the directory and the sites read again every
        ``refresh_interval`` (at once after a wrap-up ended); this daemon's leases
        renewed; expired leases swept. A database outage is logged once, not every pass."""
        now = time.monotonic()
        if self.database is None:
            return
        try:
            repo = await self._repository()
            if await repo.finish_wrap_up():
                self._last_refresh = 0.0  # they are free again: read them now
                self.wake()
            if now - self._last_refresh >= self.config.refresh_interval:
                await self.directory.refresh(repo.pool)
                self.sites = await repo.sites()
                self._last_refresh = now
            if now - self._last_renew >= RENEW_EVERY_S:
                await repo.renew_daemon(list(self._held))
                self._last_renew = now
            if now - self._last_sweep >= SWEEP_EVERY_S:
                await repo.sweep()
                self._last_sweep = now
            if self._database_failing:
                log.info("routing.database_back")
            self._database_failing = False
        except DB_ERRORS as exc:
            self.metrics.db_error("routing")
            if not self._database_failing:  # once per outage, not every second
                log.warning("routing.database_unavailable", extra={"error": str(exc)})
            self._database_failing = True
