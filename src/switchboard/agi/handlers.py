"""The AGI scripts: ``route``, ``done`` and ``hours`` (docs/agi.md).

Every session sets ``SWITCHBOARD_ERROR`` ("" when all went well; else what is
wrong and whose fault), and every variable of its script, empty when there is
nothing to say, so a value left from an earlier call on the channel never
lingers. The dialplan always goes on: nothing here waits for the caller.
"""

from __future__ import annotations

import itertools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

from switchboard.config import AgiConfig
from switchboard.durable import periodic
from switchboard.engine.commands import FindAgent
from switchboard.engine.events import AgentFound
from switchboard.hours import Calendar, DayState, next_change, state_at

from .holds import Holds, sweeps_per_check
from .params import BadParams, RouteAsk, done_status, hours_ask, route_ask
from .ports import AgentRouting
from .server import ERROR_VARIABLE, AgiSession

log = logging.getLogger("switchboard.agi")
WIDEN_AFTER_S = 30  # a route's escalation (flows' defaults): a decision here never waits
ANY_AFTER_S = 60
UNIQUEID_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ._-")
ROUTE_VARIABLES = ("TARGET", "AGENT", "CUSTOMER", "SEGMENT", "RESULT")
HOURS_VARIABLES = ("OPEN", "HOURS", "NEXT_CHANGE")
HOLDS_FULL = "agi.max_holds ({}) channels hold agents already"

LiveChannels = Callable[[], Awaitable[set[str]]]


def _variables(names: tuple[str, ...], error: str = "", **values: str) -> dict[str, str]:
    """Every variable of a script (empty unless given), and SWITCHBOARD_ERROR last."""
    found = {f"SWITCHBOARD_{n}": values.get(n.lower(), "") for n in names}
    return {**found, ERROR_VARIABLE: error}


def route_variables(found: AgentFound, fallback: str) -> dict[str, str]:
    """What ``route`` tells the dialplan: the agent's phones to Dial (several at once:
    ``PJSIP/102&PJSIP/112``), else the fallback, else nothing."""
    customer = found.customer
    if found.agent:
        target, result = "&".join(found.endpoints), "agent"
    elif fallback:
        target, result = fallback, "fallback"
    else:
        target, result = "", "none"
    return _variables(
        ROUTE_VARIABLES,
        found.error and f"routing unavailable: {found.error}",
        target=target,
        agent=found.agent,
        customer=str(customer.id) if customer is not None and customer.known else "",
        segment=str(customer.segment) if customer is not None else "",
        result=result,
    )


def hours_variables(calendar: Calendar, at: datetime) -> dict[str, str]:
    state = state_at(calendar, at)
    change = next_change(calendar, at)
    return _variables(
        HOURS_VARIABLES,
        open="1" if state is DayState.OPEN else "0",
        hours=str(state),
        next_change=change.astimezone(calendar.tz).isoformat() if change else "",
    )


def _uniqueid(session: AgiSession) -> str:
    uniqueid = session.request.uniqueid
    if not uniqueid or len(uniqueid) > 64 or not set(uniqueid) <= UNIQUEID_CHARS:
        raise BadParams(f"Asterisk sent no usable agi_uniqueid ({uniqueid[:70]!r})")
    return uniqueid


class AgiHandlers:
    def __init__(
        self,
        config: AgiConfig,
        router: AgentRouting,
        calendars: Callable[[], Mapping[str, Calendar]],
        clock: Callable[[], datetime],
        live_channels: LiveChannels | None = None,
    ) -> None:
        self.config = config
        self.router = router
        self.calendars = calendars
        self.clock = clock  # the daemon's clock (tests and demos may set it)
        self.live_channels = live_channels  # Asterisk's channel ids (over ARI)
        self.holds = Holds(router, config.hold_limit, config.max_holds)
        self.scripts: dict[str, Callable[[AgiSession], Awaitable[None]]] = {
            "route": self.route,
            "done": self.done,
            "hours": self.hours,
        }

    async def __call__(self, session: AgiSession) -> None:
        script = self.scripts.get(session.request.script)
        if script is None:
            known = ", ".join(sorted(self.scripts))
            error = f"unknown script {session.request.script[:40]!r} (known: {known})"
            log.warning("agi.unknown_script", extra={"channel": session.request.channel})
            await session.set_variables({ERROR_VARIABLE: error})
            return
        await script(session)

    # -- route ---------------------------------------------------------------------------
    async def route(self, session: AgiSession) -> None:
        started = time.monotonic()
        try:
            ask = route_ask(session.request, self.config.trunk)
            uniqueid = _uniqueid(session)
        except BadParams as exc:
            log.warning(
                "agi.bad_params", extra={"channel": session.request.channel, "error": str(exc)}
            )
            await session.set_variables(_variables(ROUTE_VARIABLES, str(exc)))
            return
        call_id, found = await self._decide(session, ask, uniqueid)
        told = False
        try:
            told = await session.set_variables(route_variables(found, ask.fallback))
        finally:
            if found.agent and not told:  # hung up (or cut off): nobody will Dial them
                self.holds.release(uniqueid, "", "hung_up")
        log.info(
            "agi.route",
            extra={
                "call_id": call_id,
                "channel": session.request.channel,
                "agent": found.agent,
                "customer": found.customer.id if found.customer else 0,
                "error": found.error,
                "ms": round((time.monotonic() - started) * 1000, 1),
            },
        )

    async def _decide(
        self, session: AgiSession, ask: RouteAsk, uniqueid: str
    ) -> tuple[str, AgentFound]:
        """The route's call id and the router's decision; no agent (the fallback) when
        the channel cannot be remembered (every one remembered holds an agent)."""
        if self.holds.held(uniqueid):  # asked again (the agent's Dial is over)
            status = await session.get_variable("DIALSTATUS")
            self.holds.release(uniqueid, status, "route_again")
        call = self.holds.next_call(uniqueid)
        if call is None:
            return "", AgentFound("", error=HOLDS_FULL.format(self.holds.max_holds))
        call_id, offered = call
        return call_id, await self._find(session, ask, call_id, offered)

    async def _find(
        self, session: AgiSession, ask: RouteAsk, call_id: str, offered: tuple[str, ...]
    ) -> AgentFound:
        """The router's decision (bounded by routing.decision_timeout); the agent is
        held for the channel before anything else can happen."""
        request = session.request
        find = FindAgent(
            request_id=uuid.uuid4().hex,
            search_id=f"{call_id}-agents",
            call_id=call_id,
            skills=ask.skills,
            language=ask.language,
            call_language=request.language,
            site=ask.site,
            caller=request.caller,
            owner_first=ask.owner_first,
            exclude=offered,
            wait=False,
            widen_after=WIDEN_AFTER_S,
            any_after=ANY_AFTER_S,
        )
        try:
            found = await self.router.find(find)
        except BaseException:
            self.router.call_ended(call_id)  # whatever it reserved is freed
            raise
        if found.agent:
            self.holds.hold(request.uniqueid, call_id, found.agent)
        else:
            self.router.call_ended(call_id)  # (its customer, and any orphan reservation)
        return found

    # -- done ----------------------------------------------------------------------------
    async def done(self, session: AgiSession) -> None:
        try:
            status = done_status(session.request)
            uniqueid = _uniqueid(session)
        except BadParams as exc:
            await session.set_variables({ERROR_VARIABLE: str(exc)})
            return
        if self.holds.held(uniqueid):
            if not status:
                status = await session.get_variable("DIALSTATUS")
            self.holds.release(uniqueid, status, "done")
        if not session.hung_up:  # (a hangup handler's channel is gone: nothing to say)
            await session.set_variables({ERROR_VARIABLE: ""})

    # -- hours ---------------------------------------------------------------------------
    async def hours(self, session: AgiSession) -> None:
        try:
            ask = hours_ask(session.request)
            calendars = self.calendars()
            calendar = calendars.get(ask.calendar)
            if calendar is None:
                known = ", ".join(sorted(calendars)) or "none"
                raise BadParams(f"unknown calendar {ask.calendar[:40]!r} (the flows have: {known})")
        except BadParams as exc:
            await session.set_variables(_variables(HOURS_VARIABLES, str(exc)))
            return
        await session.set_variables(hours_variables(calendar, self.clock()))

    # -- the safety net ------------------------------------------------------------------
    async def run(self) -> None:
        """Every ``check_interval``: release holds of channels Asterisk no longer has;
        more often (at least every ``holds.SWEEP_TICK_S``), whether or not ARI answers:
        release holds older than ``hold_limit`` and forget idle channels without an
        agent."""
        ticks = sweeps_per_check(self.config.check_interval)
        count = itertools.count(1)
        failing = False

        async def tick() -> None:  # (a crash is logged; the next tick sweeps again)
            nonlocal failing
            live: set[str] | None = None
            if next(count) % ticks == 0 and self.live_channels is not None and self.holds.old():
                live, failing = await self._live(self.live_channels, failing)
            self.holds.sweep(live)

        every = self.config.check_interval / ticks
        await periodic("agi.holds", every, tick, failed_event="agi.sweep_crashed", logger=log)

    @staticmethod
    async def _live(live_channels: LiveChannels, failing: bool) -> tuple[set[str] | None, bool]:
        """Asterisk's channel ids (None: ARI down, logged once per outage), and whether
        asking failed."""
        try:
            return await live_channels(), False
        except Exception as exc:  # ARI down: the hold limit and forgetting still apply
            if not failing:
                log.warning("agi.channels_unavailable", extra={"error": repr(exc)})
            return None, True
