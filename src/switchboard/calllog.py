"""The call log: a row for every call, durable before PostgreSQL has it.

``record()`` writes the call's summary to a spool file on local disk (fsync'd);
a worker moves spooled calls into PostgreSQL (``calls``, ``call_legs``), retrying
while the database is away, oldest first. The spool is bounded (``MAX_SPOOLED``
files): past it, a call is logged as lost rather than filling the disk. A daemon
that stops flushes what it can; what is left stays spooled for the next start.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import asyncpg

from switchboard.db import Database
from switchboard.durable import Backoff, Outbox, Rejected, Spool, nothing
from switchboard.engine import CallState, Outcome, Phase
from switchboard.text import one_line

log = logging.getLogger("switchboard.calllog")
MAX_SPOOLED = 100_000  # calls kept on disk while PostgreSQL is away (~1 KB each)
CALLBACK_VERSION = "callback"  # the flow version of a callback call (agent -> customer)
RINGING = "ringing"  # a leg's result in the journal of a call in progress (never in a row)


@dataclass(frozen=True, slots=True)
class LegRecord:
    """One phone rung for a call (or a target skipped without ringing: no times)."""

    target: str  # endpoint or E.164 number (or "agents": the route found nobody)
    result: str  # answered, answered_elsewhere, no_answer, busy, unreachable, cancelled, ...
    # (in the journal of a call in progress, also ``ringing``: no result yet, no end)
    ringing_at: str = ""  # ISO 8601, when we asked Asterisk to ring it ("" never rang)
    ended_at: str = ""  # when its result was known (answered: the answer)
    agent: str = ""  # the agent whose phone it is (routes to agents)
    owner_ring: bool = False  # the customer's owner's short ring (not a missed call)

    @property
    def ring_s(self) -> float | None:
        return _seconds(self.ringing_at, self.ended_at)


@dataclass(frozen=True, slots=True)
class CallRecord:
    id: str
    dialed: str
    caller: str
    customer: int | None
    flow: str
    flow_version: str
    started_at: str  # ISO 8601
    answered_at: str  # "" if never answered
    ended_at: str
    answered_by: str
    agent: str
    outcome: str
    route_result: str
    path: tuple[str, ...]
    legs: tuple[LegRecord, ...]  # in the order their results were known
    # Since migration 008 (a spool file written before has none of these):
    queue: str = ""  # the first route/queue node where the caller waited for a person
    queued_at: str = ""  # when that wait began ("" never offered to a person)
    waited_until: str = ""  # when it ended: answered, hung up, or on to voicemail etc.
    ended_phase: str = ""  # the engine's phase when the call ended (dialing, queued, ...)
    answered_external: bool = False  # answered by an external number (a mobile, ...)
    recording: str = ""  # the conversation's recording (recordings.id), "" if not recorded

    @property
    def wait_s(self) -> float | None:
        return _seconds(self.started_at, self.answered_at)

    @property
    def talk_s(self) -> float | None:
        return _seconds(self.answered_at, self.ended_at) if self.answered_at else None

    @property
    def queue_wait_s(self) -> float | None:
        """Waiting for a person: from the first offer to the answer or the hang-up."""
        return _seconds(self.queued_at, self.waited_until or self.ended_at)

    @property
    def category(self) -> Category:
        return category_of(self)


class Category(StrEnum):
    """What became of a call, for statistics (``Outcome`` says how the engine ended it)."""

    ANSWERED = "answered"  # by an agent or an extension
    OVERFLOWED = "overflowed"  # by an external number (a mobile, another site)
    ABANDONED_IN_IVR = "abandoned_in_ivr"  # hung up before or after waiting for a person
    ABANDONED_IN_QUEUE = "abandoned_in_queue"  # hung up while waiting or while phones rang
    VOICEMAIL = "voicemail"
    CALLBACK_REQUESTED = "callback_requested"  # left the queue keeping their place
    ENDED_BY_FLOW = "ended_by_flow"  # the flow said goodbye (e.g. closed, a hangup node)
    FAILED = "failed"  # handed back to the dialplan, errors, a daemon stopping


WAITING_PHASES = frozenset({Phase.DIALING, Phase.QUEUED})
_BY_OUTCOME = {
    Outcome.ABANDONED_IN_QUEUE: Category.ABANDONED_IN_QUEUE,
    Outcome.VOICEMAIL: Category.VOICEMAIL,
    Outcome.VOICEMAIL_DIALPLAN: Category.VOICEMAIL,
    Outcome.CALLBACK: Category.CALLBACK_REQUESTED,
    Outcome.HANGUP_BY_FLOW: Category.ENDED_BY_FLOW,
}


def category_of(call: CallRecord) -> Category:
    """The statistics category of a logged call (pure: from its outcome and record).

    A callback call (flow version ``callback``) rings the customer's own number:
    reaching them is ``answered``, not an overflow. A call that ended while the daemon
    was down (``ended_unobserved``) counts as answered if it had been, else as failed
    (the daemon's fault: nobody could have served the caller)."""
    unobserved_talk = call.outcome == Outcome.ENDED_UNOBSERVED and bool(call.answered_at)
    if call.outcome == Outcome.ANSWERED or unobserved_talk:
        external = call.answered_external and call.flow_version != CALLBACK_VERSION
        return Category.OVERFLOWED if external else Category.ANSWERED
    if call.outcome == Outcome.ABANDONED:
        waiting = call.ended_phase in WAITING_PHASES
        return Category.ABANDONED_IN_QUEUE if waiting else Category.ABANDONED_IN_IVR
    try:
        return _BY_OUTCOME.get(Outcome(call.outcome), Category.FAILED)
    except ValueError:  # not an outcome this version knows
        return Category.FAILED


def _seconds(start: str, end: str) -> float | None:
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


_INSERT_CALL = """
INSERT INTO calls (id, dialed, caller, customer, flow, flow_version, started_at, answered_at,
                   ended_at, wait_s, talk_s, answered_by, agent, outcome, route_result, path,
                   queue, queued_at, queue_wait_s, category, recording)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16::jsonb,
        $17, $18, $19, $20, $21)
ON CONFLICT (id) DO NOTHING
"""
_INSERT_LEG = """
INSERT INTO call_legs (call_id, seq, target, result, ringing_at, ended_at, ring_s, agent,
                       owner_ring)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT DO NOTHING
"""


class CallLog:
    def __init__(
        self,
        spool: Path,
        database: Database | None,
        retry_s: float = 5.0,
        *,
        on_db_error: Callable[[], None] = nothing,  # metrics (given by the composition root)
    ) -> None:
        self.spool = spool
        self.database = database
        self.retry_s = retry_s
        self._spooled_count: int | None = None  # counted once, then kept (no listing per call)
        self.on_db_error = on_db_error
        unreadable = (OSError, ValueError, TypeError, KeyError, AttributeError)
        self._outbox = Outbox(
            Spool(spool, log, "calllog", unreadable=unreadable),
            _parse,
            self._store,
            backoff=Backoff.steady(retry_s),
            on_error=lambda: self.on_db_error(),
            after=self._gone,
            active=database is not None,
            back_event="calllog.database_back",
        )

    async def record(self, call: CallRecord) -> None:
        """Durable on local disk when this returns (unless the spool is full)."""
        if self.database is None:
            return  # nowhere to keep it: the call.end log line is the record
        if self._spooled_count is None:
            self._spooled_count = len(await asyncio.to_thread(self._outbox.spool.paths))
        if self._spooled_count >= MAX_SPOOLED:
            log.error("calllog.spool_full", extra={"call_id": call.id, "limit": MAX_SPOOLED})
            return
        data = json.dumps(asdict(call), sort_keys=True).encode()
        name = f"{call.ended_at.replace(':', '')}-{call.id}"  # oldest first
        try:
            await self._outbox.add(name, data)
        except OSError as exc:
            log.error("calllog.spool_failed", extra={"call_id": call.id, "error": str(exc)})
            return
        self._spooled_count += 1

    def spooled(self, call_ids: Collection[str]) -> set[str]:
        """Which of ``call_ids`` have a row in the spool (blocking: call it in a thread)."""
        names = [path.stem for path in self._outbox.spool.paths()]
        return {call_id for call_id in call_ids if any(n.endswith(f"-{call_id}") for n in names)}

    async def run(self) -> None:
        """Move spooled calls into PostgreSQL, retrying while it is away."""
        await self._outbox.run()

    async def flush(self) -> int:
        """Write every spooled call; returns how many. Raises on a database error
        (what is not written stays spooled)."""
        return await self._outbox.flush()

    async def _store(self, call: CallRecord) -> None:
        assert self.database is not None  # (the outbox is active only with one)
        pool = await self.database.pool()
        try:
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute(_INSERT_CALL, *_call_row(call))
                await conn.executemany(_INSERT_LEG, _leg_rows(call))
        except asyncpg.DataError as exc:  # this call's data, not the database: kept on
            raise Rejected(str(exc)) from exc  # disk as .rejected for the operator

    def _gone(self, _call: CallRecord | None) -> None:
        if self._spooled_count:
            self._spooled_count -= 1


def _parse(raw: bytes) -> CallRecord:
    return record_from_json(json.loads(raw))


_RECORD_FIELDS = frozenset(f.name for f in fields(CallRecord))


def record_from_json(raw: dict[str, Any]) -> CallRecord:
    """A spooled call. Files written before migration 008 have legs as ``[target,
    result]`` pairs and none of the newer fields: they load with those left empty
    (an external answer is then recognized by its E.164 number)."""
    known = {k: v for k, v in raw.items() if k in _RECORD_FIELDS}
    known["caller"] = one_line(str(raw["caller"]))  # (spooled before callers were cleaned)
    known["path"] = tuple(raw["path"])
    known["legs"] = tuple(_leg_from_json(leg) for leg in raw["legs"])
    if "answered_external" not in raw:
        known["answered_external"] = str(raw["answered_by"]).startswith("+")
    return CallRecord(**known)


_LEG_FIELDS = frozenset(f.name for f in fields(LegRecord))


def _leg_from_json(raw: Any) -> LegRecord:
    if isinstance(raw, dict):
        return LegRecord(**{k: v for k, v in raw.items() if k in _LEG_FIELDS})
    target, result = raw  # written before migration 008
    return LegRecord(str(target), str(result))


def _call_row(call: CallRecord) -> tuple[object, ...]:
    return (
        call.id,
        call.dialed,
        call.caller,
        call.customer,
        call.flow,
        call.flow_version,
        datetime.fromisoformat(call.started_at),
        _time(call.answered_at),
        datetime.fromisoformat(call.ended_at),
        call.wait_s if call.answered_at else None,
        call.talk_s,
        call.answered_by,
        call.agent,
        call.outcome,
        call.route_result,
        json.dumps(list(call.path)),
        call.queue,
        _time(call.queued_at),
        call.queue_wait_s,
        str(call.category),
        call.recording or None,
    )


def _leg_rows(call: CallRecord) -> list[tuple[object, ...]]:
    return [
        (call.id, n, leg.target, leg.result, _time(leg.ringing_at), _time(leg.ended_at),
         leg.ring_s, leg.agent, leg.owner_ring)
        for n, leg in enumerate(call.legs)
    ]  # fmt: skip


def _time(iso: str) -> datetime | None:
    return datetime.fromisoformat(iso) if iso else None


# -- the row of a call that has ended (built from the engine's CallState) ------------------
class CallTimings(Protocol):
    """What the daemon measured of a call beside its state (``daemon.calltimes``)."""

    queue: str
    queued_at: datetime | None
    waited_until: datetime | None
    ended_phase: Phase | None
    answered_external: bool

    def legs(
        self, route_log: tuple[tuple[str, str], ...], end: datetime | None
    ) -> tuple[LegRecord, ...]: ...


def call_record(
    state: CallState,
    times: CallTimings,
    *,
    started: datetime,
    answered_at: datetime | None,
    ended: datetime | None,
    recorded: bool,
) -> CallRecord:
    """The call log's row for a call that has ended (``recorded``: recordings are kept).

    ``ended`` None: the record of a call still in progress, for the journal
    (``calljournal``): no end, no outcome unless the engine set one already, the
    phase it is in as ``ended_phase``, phones still ringing as ``ringing``."""
    customer = state.customer
    if ended is None:
        outcome = str(state.outcome or "")
        ended_phase = str(state.phase.shown)
    else:
        outcome = str(state.outcome) if state.outcome else "failed"
        ended_phase = str(times.ended_phase or "")
    return CallRecord(
        id=state.call_id,
        dialed=state.dialed,
        caller=state.caller_number,
        customer=customer.id if customer is not None and customer.known else None,
        flow=state.flow.name,
        flow_version=state.flow.version,
        started_at=started.isoformat(),
        answered_at=answered_at.isoformat() if answered_at else "",
        ended_at=ended.isoformat() if ended is not None else "",
        answered_by=state.answered_by,
        agent=state.agent,
        outcome=outcome,
        route_result=state.route_result,
        path=state.path,
        legs=times.legs(state.route_log, ended),
        queue=times.queue,
        queued_at=times.queued_at.isoformat() if times.queued_at else "",
        waited_until=times.waited_until.isoformat() if times.waited_until else "",
        ended_phase=ended_phase,
        answered_external=times.answered_external,
        recording=state.call_recording if recorded else "",
    )


def customer_data(state: CallState) -> dict[str, object] | None:
    """The caller's CRM record as the call knows it (for the log and, later, the screen pop)."""
    customer = state.customer
    if customer is None:
        return None
    return {
        "id": customer.id,
        "name": customer.name,
        "segment": customer.segment.value,
        "language": customer.language,
        "products": list(customer.products),
        "owner": customer.owner_agent,
    }
