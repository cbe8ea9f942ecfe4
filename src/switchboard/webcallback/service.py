"""Web callbacks: requests taken from the API, kept until done, dispatched to agents.

A request is spooled (durable) before the visitor is answered and kept in memory
while open. Every second, and whenever a request arrives, the due ones are
offered, oldest first, to the agent router (the same directory, ranking and
atomic reservation as calls with ``agents:``): the request's skill, the
customer's owner first if the CRM knows the number. An agent reserved, the row is
claimed (``calling``) and the daemon's callback dialer rings the agent;
when they answer, the customer is called through the trunk and bridged.

What becomes of it comes back from the dialer (``CallbackObserver``):
the agent did not answer (the agent's miss is counted, the request waits for the
next agent), or the call to the customer ended (done; or another attempt after
``retry_seconds``, up to ``MAX_ATTEMPTS``). Either way the agent's reservation is
released (talked, missed or cancelled), never leaked.

A request is due at the first instant that is not before its preferred time or
its retry time and at which the configured calendar is open (``model.due_at``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from switchboard.callbacks import MAX_ATTEMPTS, WEB_QUEUE, Callback
from switchboard.config import CallbacksConfig
from switchboard.db import DB_ERRORS
from switchboard.dialpolicy import CallbackGate, NumberRefused, masked
from switchboard.engine.commands import FindAgent, ReportAgent
from switchboard.hours import Calendar

from .model import Status, WebCallback, due_at
from .request import CallbackRequest
from .store import WebCallbackStore

if TYPE_CHECKING:
    from .ports import CallbackDaemon

log = logging.getLogger("switchboard.webcallback")
TICK_S = 1.0
UNREACHABLE_PAUSE_S = 10.0  # an agent's phone could not be rung: no dispatch for this long
ID_BYTES = 16  # 128 random bits
WIDEN_AFTER_S = 60  # waiting this long, any proficiency in the skill will do
NEVER_S = 10**9  # the skill itself is never dropped


class Full(Exception):
    """Too many open requests (``max_pending``): the visitor should try later."""


@dataclass(frozen=True, slots=True)
class _Offer:
    key: str  # the request's name for the agent router (as a call id)
    agent: str


def _nothing(reason: str) -> None:
    pass


class WebCallbacks:
    def __init__(
        self,
        config: CallbacksConfig,
        store: WebCallbackStore,
        clock: Callable[[], datetime],
        daemon: CallbackDaemon | None = None,
        new_id: Callable[[], str] = lambda: secrets.token_urlsafe(ID_BYTES),
        gate: CallbackGate | None = None,
        on_refused: Callable[[str], None] = _nothing,  # metrics (the composition root)
    ) -> None:
        self.config = config
        self.gate = gate  # read-back requests are checked against the dial policy again
        self.on_refused = on_refused
        self.store = store
        self.clock = clock
        self.daemon = daemon
        self.new_id = new_id
        self.requests: dict[str, WebCallback] = {}  # open requests only
        self._searches: dict[str, str] = {}  # request id -> router key of its search
        self._offers: dict[str, _Offer] = {}  # request id -> the agent rung for it
        self._asks = itertools.count()
        self._wake = asyncio.Event()
        self._calendar_missing = False
        self._timed_by: Calendar | None = None  # the calendar the times below came from
        self._timed_at: dict[str, datetime] = {}  # request id -> its next attempt (scheduled)
        self._paused_until = 0.0  # (monotonic) Asterisk could not ring an agent: wait
        self._db_loaded = True  # PostgreSQL's open requests are in memory (see load)

    # -- the API's side --------------------------------------------------------------------
    async def submit(self, request: CallbackRequest, client_ip: str) -> WebCallback:
        """Durable when this returns (spool); dispatched from now on. ``Full``: refused."""
        if len(self.requests) >= self.config.max_pending:
            raise Full(f"{len(self.requests)} callback requests are open already")
        now = self.clock()
        callback = WebCallback(
            id=self.new_id(),
            number=request.number,
            name=request.name,
            skill=request.skill,
            client_ip=client_ip,
            requested_at=now,
            not_before=request.preferred_time,
        )
        callback = self._timed(callback, self._calendar(), now) or callback
        await self.store.add(callback)
        self.requests[callback.id] = callback
        log.info(
            "webcallback.requested",
            extra={"callback": callback.id, "number": callback.number, "skill": callback.skill,
                   "client_ip": client_ip, "status": str(callback.status)},
        )  # fmt: skip
        self._wake.set()
        return callback

    async def status(self, callback_id: str) -> WebCallback | None:
        """Open requests from memory; finished ones from PostgreSQL (raises DB_ERRORS)."""
        found = self.requests.get(callback_id)
        return found if found is not None else await self.store.lookup(callback_id)

    async def load(self) -> int:
        """The open requests a restart must not lose (one being called when the daemon
        stopped is due again). With PostgreSQL away, the spool's now and the database's
        once it answers (the dispatcher asks again)."""
        found, self._db_loaded = await self.store.open_requests()
        self._adopt(found)
        try:  # written before any claim (a row left 'calling' could not be claimed)
            await self.store.flush()
        except DB_ERRORS as exc:  # the worker retries; meanwhile nothing can be claimed
            log.warning("webcallback.flush_failed", extra={"error": str(exc)})
        log.info(
            "webcallback.loaded", extra={"open": len(self.requests), "complete": self._db_loaded}
        )
        return len(self.requests)

    async def _load_from_database(self) -> None:
        found, self._db_loaded = await self.store.open_requests()
        if self._db_loaded:
            self._adopt(found)
            log.info("webcallback.loaded", extra={"open": len(self.requests), "complete": True})

    def _refused_now(self, callback: WebCallback) -> bool:
        """A request stored by an older version, or before the dial policy was narrowed,
        that the policy refuses now: failed, not dialled."""
        if self.gate is None:
            return False
        try:
            self.gate.check(callback.number)
        except NumberRefused as refused:
            self.on_refused(refused.reason)
            log.warning("webcallback.refused", extra={"callback": callback.id,
                        "number": masked(callback.number), "reason": refused.reason,
                        "restored": True})  # fmt: skip
            self._finish(callback, Status.FAILED, f"refused_{refused.reason}")
            return True
        return False

    def _adopt(self, found: list[WebCallback]) -> None:
        """Open requests read back: those not known yet are kept (one left 'calling' by a
        daemon that stopped is due again)."""
        for callback in found:
            if callback.id in self.requests:
                continue
            if self._refused_now(callback):
                continue
            if callback.status is Status.CALLING:
                callback = replace(callback, status=Status.PENDING, agent="")
                self.store.update(callback)
            self.requests[callback.id] = callback

    # -- dispatch --------------------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Load the open requests (here, not before the daemon listens for calls: a slow
        database must not hold up the ARI connection), then dispatch until cancelled."""
        try:
            await self.load()
        except Exception:  # (the next passes read them again)
            log.exception("webcallback.load_crashed")
            self._db_loaded = False
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TICK_S):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.dispatch()
            except Exception:  # keep dispatching whatever went wrong this time
                log.exception("webcallback.dispatch_crashed")

    async def dispatch(self) -> None:
        """Time every open request; offer the due ones, oldest first, to agents (a skill
        nobody can take now is not asked again in this pass)."""
        sup = self.daemon
        if sup is None or not sup.taking_callbacks():
            return
        if time.monotonic() < self._paused_until:
            return
        if not self._db_loaded:
            await self._load_from_database()
        calendar = self._calendar()
        if self._calendar_missing:
            return
        now = self.clock()
        if calendar is not self._timed_by:  # (a reload): every request is timed again
            self._timed_by = calendar
            self._timed_at = {}
        no_agent: set[str] = set()
        waiting = [c for c in self.requests.values() if self._to_time(c, now)]
        for callback in sorted(waiting, key=lambda c: (c.requested_at, c.id)):
            timed = self._timed(callback, calendar, now)
            if timed is None:
                self._finish(callback, Status.FAILED, "calendar_never_opens")
                continue
            self._change(callback, timed)
            if timed.next_attempt_at is not None:
                self._timed_at[timed.id] = timed.next_attempt_at
            if timed.status is not Status.PENDING or timed.skill in no_agent:
                continue
            if not await self._offer(timed, sup):
                no_agent.add(timed.skill)

    def _to_time(self, callback: WebCallback, now: datetime) -> bool:
        """Not being called, and not known to wait still (a scheduled time is worked out
        once: finding the next opening across a long holiday takes a while)."""
        if callback.status is Status.CALLING:
            return False
        known = self._timed_at.get(callback.id)
        return known is None or known <= now or callback.next_attempt_at != known

    def _timed(
        self, callback: WebCallback, calendar: Calendar | None, now: datetime
    ) -> WebCallback | None:
        """The request as scheduled (its next attempt later) or pending (due now)."""
        due = due_at(callback, calendar, now)
        if due is None:
            return None
        if due > now:
            return replace(callback, status=Status.SCHEDULED, next_attempt_at=due)
        return replace(callback, status=Status.PENDING, next_attempt_at=None)

    def _calendar(self) -> Calendar | None:
        name = self.config.calendar
        if not name or self.daemon is None:
            return None
        calendar = self.daemon.calendars().get(name)
        if (calendar is None) != self._calendar_missing:
            self._calendar_missing = calendar is None
            if calendar is None:
                log.error(
                    "webcallback.calendar_missing",
                    extra={"calendar": name, "detail": "no flow defines this calendar: "
                           "web callbacks wait until one does (callbacks.calendar)"},
                )  # fmt: skip
        return calendar

    async def _offer(self, callback: WebCallback, sup: CallbackDaemon) -> bool:
        """Reserve an agent for the request and ring them. False: nobody free now."""
        key = self._searches.get(callback.id)
        if key is None:  # a new name per search: a late release of the last one (the
            # router frees all a call id holds) must not free this search's agent
            key = self._searches[callback.id] = f"web-{callback.id[:8]}-{next(self._asks)}"
        ask = FindAgent(
            request_id=f"{key}-{next(self._asks)}",
            search_id=f"{key}-agents",
            call_id=key,
            skills=((callback.skill, 1),),
            language="",  # the CRM's language of the customer, if known
            call_language="",
            site="",
            caller=callback.number,
            owner_first=True,
            exclude=(),
            wait=False,
            widen_after=WIDEN_AFTER_S,
            any_after=NEVER_S,
        )
        found = await sup.find_agent(ask)
        if found.error or not found.agent or not found.endpoints:
            return False
        calling = replace(callback, status=Status.CALLING, agent=found.agent)
        try:
            claimed = await self.store.claim(calling)
        except DB_ERRORS as exc:
            log.warning("webcallback.claim_failed", extra={"callback": callback.id,
                                                           "error": str(exc)})  # fmt: skip
            claimed = None
        if not claimed:
            sup.report_agent(ReportAgent(key, found.agent, "cancelled"))
            self._end_search(callback.id)
            if claimed is False:  # taken or finished by another daemon sharing the database
                self.requests.pop(callback.id, None)
            return True
        self.requests[callback.id] = calling
        self._offers[callback.id] = _Offer(key, found.agent)
        log.info(
            "webcallback.ring_agent",
            extra={"callback": callback.id, "agent": found.agent, "attempt": callback.attempts + 1},
        )
        sup.dial_callback(self._callback(calling, key), found.endpoints[0], self)
        return True

    def _callback(self, callback: WebCallback, key: str) -> Callback:
        """The supervisor's callback call: the agent first, then the customer."""
        cfg = self.config
        return Callback(
            id=callback.id,
            queue=WEB_QUEUE,
            number=callback.number,
            dialed=cfg.company_number,  # the customer sees the company's number
            call_id=key,
            requested_at=callback.requested_at.isoformat(),
            endpoints=(),
            strategy="",
            ring_seconds=cfg.agent_ring_seconds,
            trunk=cfg.trunk,
            attempts=callback.attempts,
            customer_ring_seconds=cfg.customer_ring_seconds,
        )

    # -- what became of it (the supervisor tells) ------------------------------------------
    def agent_missed(self, callback: Callback, missed: bool) -> None:
        """The agent did not take it: if their phone rang out (``missed``) it counts as
        their miss; if it could not ring (Asterisk refused or away) the agent is freed
        with nothing counted, and the dispatcher waits a little before trying again (so
        an outage does not go round every agent). Either way the request waits again."""
        offer = self._offers.pop(callback.id, None)
        if offer is None or self.daemon is None:
            return
        result = "missed" if missed else "cancelled"
        self.daemon.report_agent(ReportAgent(offer.key, offer.agent, result))
        self._end_search(callback.id)
        current = self.requests.get(callback.id)
        if current is not None:
            why = "agent_missed" if missed else "agent_unreachable"
            waiting = replace(current, status=Status.PENDING, agent="", last_result=why)
            self._change(current, waiting)
        if missed:
            self._wake.set()
        else:
            self._paused_until = time.monotonic() + UNREACHABLE_PAUSE_S

    def agent_answered(self, callback: Callback) -> None:
        offer = self._offers.get(callback.id)
        if offer is not None and self.daemon is not None:
            self.daemon.report_agent(ReportAgent(offer.key, offer.agent, "answered"))

    def attempted(self, callback: Callback, answered_by: str, result: str, agent: str) -> None:
        """The call to the customer ended: done, or another attempt later, or failed."""
        self._offers.pop(callback.id, None)
        self._end_search(callback.id)  # the agent talked: wrap-up, then free
        current = self.requests.get(callback.id)
        if current is None:
            return
        attempts = current.attempts + 1
        if answered_by == callback.number:
            self._finish(replace(current, attempts=attempts), Status.DONE, "answered")
        elif attempts >= MAX_ATTEMPTS:
            self._finish(replace(current, attempts=attempts), Status.FAILED, result or "no_answer")
        else:
            retry_at = self.clock() + timedelta(seconds=self.config.retry_seconds)
            again = replace(
                current, status=Status.SCHEDULED, attempts=attempts, retry_at=retry_at,
                next_attempt_at=retry_at, last_result=result or "no_answer",
            )  # fmt: skip
            self._change(current, again)
        self._wake.set()

    def release_all(self) -> None:
        """The daemon stops: every agent reserved or searched for is released (not left
        to its lease); a request being called waits again (due at the next start)."""
        for callback_id in list(self._searches):
            self._end_search(callback_id)
        self._offers.clear()
        for callback in list(self.requests.values()):
            if callback.status is Status.CALLING:
                self._change(callback, replace(callback, status=Status.PENDING, agent=""))

    # -- bookkeeping -----------------------------------------------------------------------
    def _end_search(self, callback_id: str) -> None:
        """The router forgets the request's search (whatever it still holds is freed)."""
        key = self._searches.pop(callback_id, None)
        if key is not None and self.daemon is not None:
            self.daemon.agent_search_ended(key)

    def _change(self, before: WebCallback, after: WebCallback) -> None:
        if after == before:
            return
        self.requests[after.id] = after
        self.store.update(after)
        if after.status != before.status:
            log.info(
                "webcallback.status",
                extra={"callback": after.id, "status": str(after.status),
                       "next_attempt_at": after.next_attempt_at.isoformat()
                       if after.next_attempt_at else None},
            )  # fmt: skip

    def _finish(self, callback: WebCallback, status: Status, result: str) -> None:
        self._end_search(callback.id)
        self._timed_at.pop(callback.id, None)
        final = replace(callback, status=status, last_result=result, next_attempt_at=None)
        self.requests.pop(callback.id, None)
        self.store.update(final)
        log.info(
            "webcallback.finished",
            extra={"callback": callback.id, "status": str(status), "result": result,
                   "attempts": final.attempts, "agent": final.agent},
        )  # fmt: skip

    @property
    def counts(self) -> Mapping[str, int]:
        """Open requests by status (for metrics and tests)."""
        counts: dict[str, int] = {}
        for callback in self.requests.values():
            counts[str(callback.status)] = counts.get(str(callback.status), 0) + 1
        return counts
