"""Agents and customers in PostgreSQL: read candidates, reserve one atomically,
and keep each agent's state (available, on call, wrap-up, paused, logged out).

Two calls (in one daemon, or in two daemons sharing the database) never get the
same agent beyond their ``max_calls``: a reservation takes the agent's row with
``FOR UPDATE SKIP LOCKED`` (the next call takes the next agent instead of waiting)
and raises ``agents.active`` under ``active < max_calls``, which PostgreSQL
re-checks on the row's newest version. Reservations are leases: renewed while the
call lasts, freed on release, and freed by ``sweep()`` when a crashed daemon
stops renewing them.

An agent is offered a call (``OFFERABLE``) when logged in and not paused, below
``max_calls`` and past ``not_before`` (the end of their wrap-up after a call, or of
the penalty after a missed offer). Each change of state is one statement.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum

import asyncpg

from switchboard.numbers import BadNumber, to_e164

from .rank import UNKNOWN, Candidate, Customer, Level, Needs, Segment

log = logging.getLogger("switchboard.routing")
LEASE_S = 60.0  # a reservation not renewed for this long is freed
# Reservations are leases: one lost in a PostgreSQL crash costs a retry, never a
# double booking (the row lock and active < max_calls hold either way). So the
# routing pool need not wait for each commit to reach the disk.
ROUTING_SETTINGS = {"synchronous_commit": "off"}
MAX_CALLER_ID = 32  # longer "numbers" are not looked up at all
REFRESH_SLICE = 500  # agents decoded at a time when the directory is read
# Changes are read from a little before the last read: a statement that set
# changed_at just before that read but committed after it is still seen.
CHANGES_OVERLAP = timedelta(seconds=5)
REREAD_AT_MOST = 500  # agents read whole one by one; more (a big import): all again


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    ON_CALL = "on_call"  # talking; a second line may still be offered
    WRAP_UP = "wrap_up"  # after a call, until not_before
    PAUSED = "paused"  # by hand, or after too many missed offers


# What a person sets (login, logout, pause, unpause); calls set the others.
SET_BY_HAND = frozenset({AgentState.AVAILABLE, AgentState.LOGGED_OUT, AgentState.PAUSED})
# What a supervisor (CLI or API) may do to an agent, and the state it sets.
AGENT_ACTIONS = {
    "login": AgentState.AVAILABLE,
    "logout": AgentState.LOGGED_OUT,
    "pause": AgentState.PAUSED,
    "unpause": AgentState.AVAILABLE,
}

# Who may be offered a call: the one rule, in every query below (alias ``a``).
OFFERABLE = """a.state NOT IN ('logged_out', 'paused') AND a.active < a.max_calls
  AND (a.not_before IS NULL OR a.not_before <= now())"""

# The first needed skill drives an index scan (agent_skills_by_skill: skill,
# proficiency DESC); the others are checked per row. Best proficiency first, then
# longest idle (an incremental sort within each proficiency), at most $5 rows: the
# ranking then orders that handful by the full policy.
_CANDIDATES = f"""
SELECT a.id, a.endpoints, a.level, a.languages, coalesce(a.site, '') AS site,
       a.last_call_ended_at, a.not_before,
       ARRAY(SELECT skill FROM agent_skills o
             WHERE o.agent = a.id AND o.skill = ANY($1::text[]) ORDER BY skill) AS skill_names,
       ARRAY(SELECT proficiency FROM agent_skills o
             WHERE o.agent = a.id AND o.skill = ANY($1::text[]) ORDER BY skill) AS levels
FROM agent_skills s
JOIN agents a ON a.id = s.agent
WHERE s.skill = $2 AND s.proficiency >= $3
  AND {OFFERABLE}
  AND ($4 = '' OR $4 = ANY(a.languages))
  AND (SELECT count(*) FROM agent_skills o
       WHERE o.agent = a.id AND o.skill = ANY($1::text[])) = cardinality($1::text[])
ORDER BY s.proficiency DESC, a.last_call_ended_at ASC NULLS FIRST
LIMIT $5
"""

# No skill needed (escalated to "anyone with the language"): longest idle first
# (agents_offerable_by_idle).
_ANY_CANDIDATES = f"""
SELECT a.id, a.endpoints, a.level, a.languages, coalesce(a.site, '') AS site,
       a.last_call_ended_at, a.not_before, '{{}}'::text[] AS skill_names,
       '{{}}'::smallint[] AS levels
FROM agents a
WHERE {OFFERABLE}
  AND ($1 = '' OR $1 = ANY(a.languages))
ORDER BY a.last_call_ended_at ASC NULLS FIRST
LIMIT $2
"""

_OWNER = f"""
SELECT a.id, a.endpoints, a.level, a.languages, coalesce(a.site, '') AS site,
       a.last_call_ended_at, a.not_before,
       coalesce(array_agg(s.skill) FILTER (WHERE s.skill IS NOT NULL), '{{}}') AS skill_names,
       coalesce(array_agg(s.proficiency) FILTER (WHERE s.skill IS NOT NULL), '{{}}') AS levels
FROM agents a
LEFT JOIN agent_skills s ON s.agent = a.id AND s.skill = ANY($1::text[])
WHERE a.id = $2 AND {OFFERABLE}
GROUP BY a.id
"""

# PostgreSQL re-checks the picked row's WHERE (OFFERABLE included) on its newest
# version once it holds the lock, so a state, not_before or active changed by
# another transaction meanwhile is seen.
_RESERVE = f"""
WITH picked AS (
    SELECT a.id FROM agents a
    WHERE a.id = ANY($1::text[]) AND {OFFERABLE}
    ORDER BY array_position($1::text[], a.id)
    LIMIT 1
    FOR UPDATE {{wait}}
), raised AS (
    UPDATE agents a SET active = a.active + 1
    FROM picked WHERE a.id = picked.id AND a.active < a.max_calls
    RETURNING a.id
)
INSERT INTO reservations (agent, call_id, daemon, expires_at)
SELECT id, $2, $3, now() + make_interval(secs => $4) FROM raised
RETURNING agent
"""
# First without waiting: a call takes the next free agent instead of queueing behind
# another call's reservation. That can miss an agent whose row another call holds
# for a moment and leaves free (a second line); so if nobody was found, once more,
# waiting: PostgreSQL then re-checks each locked agent when it is released.
_RESERVE_SKIPPING = _RESERVE.format(wait="SKIP LOCKED")
_RESERVE_WAITING = _RESERVE.format(wait="")

# The offer was answered: on call (a paused or logged-out agent stays so: they
# finish this call, then get no more), and the lease renewed.
_ANSWERED = """
WITH held AS (
    UPDATE reservations SET expires_at = now() + make_interval(secs => $3)
    WHERE agent = $1 AND call_id = $2 RETURNING agent
)
UPDATE agents a SET
    state = CASE WHEN a.state IN ('logged_out', 'paused') THEN a.state ELSE 'on_call' END,
    state_since = CASE WHEN a.state IN ('logged_out', 'paused', 'on_call') THEN a.state_since
                       ELSE now() END
FROM held WHERE a.id = held.agent
RETURNING a.id
"""

# $3 talked, $4 missed (never both), $5 the missed penalty (s), $6 misses in a row
# that pause the agent (0: never). Everything is computed from the agent's row in
# the UPDATE itself: PostgreSQL re-reads its newest version once locked, so two
# lines released at once still leave the right state. not_before only moves later
# (a miss does not cut a wrap-up short). The last call of an on_call agent puts
# them into wrap-up if talked or if an earlier call's wrap-up is still running (a
# second line that rang on), else (an offer taken elsewhere) back to available.
_AUTO_PAUSE = """($4 AND $6 > 0 AND a.missed_in_row + 1 >= $6
      AND a.state NOT IN ('logged_out', 'paused'))"""
_LAST_CALL = "(a.active = 1 AND a.state = 'on_call')"
# The agent's local date (their site's zone; UTC without one): calls_today's day.
_TODAY = (
    """(now() AT TIME ZONE coalesce((SELECT zone FROM sites WHERE id = a.site), 'UTC'))::date"""
)
_RELEASE = f"""
WITH gone AS (
    DELETE FROM reservations WHERE agent = $1 AND call_id = $2 RETURNING agent
)
UPDATE agents a SET
    active = a.active - 1,
    state = CASE WHEN {_AUTO_PAUSE} THEN 'paused'
                 WHEN {_LAST_CALL} AND ($3 OR a.not_before > now()) THEN 'wrap_up'
                 WHEN {_LAST_CALL} THEN 'available'
                 ELSE a.state END,
    state_since = CASE WHEN {_AUTO_PAUSE} OR {_LAST_CALL} THEN now() ELSE a.state_since END,
    pause_reason = CASE WHEN {_AUTO_PAUSE} THEN format('missed %s calls in a row',
                                                       a.missed_in_row + 1)
                        ELSE a.pause_reason END,
    last_call_ended_at = CASE WHEN $3 THEN now() ELSE a.last_call_ended_at END,
    calls_today = CASE WHEN NOT $3 THEN a.calls_today
                       WHEN a.calls_day = {_TODAY} THEN a.calls_today + 1
                       ELSE 1 END,
    calls_day = CASE WHEN $3 THEN {_TODAY} ELSE a.calls_day END,
    missed_in_row = CASE WHEN $4 THEN a.missed_in_row + 1 WHEN $3 THEN 0
                         ELSE a.missed_in_row END,
    not_before = CASE
        WHEN $3 THEN greatest(a.not_before, now() + make_interval(secs => a.wrap_up_s))
        WHEN $4 THEN greatest(a.not_before, now() + make_interval(secs => $5))
        ELSE a.not_before
    END
FROM gone WHERE a.id = gone.agent
RETURNING a.state
"""

# Wrap-up over and no call left: available (agents_wrapping_up: only the few in
# wrap-up are read).
_FINISH_WRAP_UP = """
UPDATE agents SET state = 'available', state_since = now()
WHERE state = 'wrap_up' AND active = 0 AND (not_before IS NULL OR not_before <= now())
RETURNING id
"""

# By hand. Back to available: a fresh start (no missed calls, no wait). The old
# state comes from the locked row as it was before the update.
_SET_STATE = """
UPDATE agents a SET
    state = $2,
    state_since = CASE WHEN before.state <> $2 THEN now() ELSE a.state_since END,
    pause_reason = CASE WHEN $2 = 'paused' THEN $3 ELSE '' END,
    missed_in_row = CASE WHEN $2 = 'available' THEN 0 ELSE a.missed_in_row END,
    not_before = CASE WHEN $2 = 'available' THEN NULL ELSE a.not_before END
FROM (SELECT id, state FROM agents WHERE id = $1 FOR UPDATE) AS before
WHERE a.id = before.id
RETURNING before.state
"""

# A crashed daemon's calls are over: as an untalked release, an on_call agent left
# with no call is in wrap-up if one is running, else available.
_NO_CALL_LEFT = "(a.state = 'on_call' AND a.active <= counts.n)"
_FREE_WHERE = f"""
WITH gone AS (
    DELETE FROM reservations WHERE {{where}} RETURNING agent
), counts AS (
    SELECT agent, count(*) AS n FROM gone GROUP BY agent
)
UPDATE agents a SET
    active = greatest(a.active - counts.n, 0),
    state = CASE WHEN {_NO_CALL_LEFT} AND a.not_before > now() THEN 'wrap_up'
                 WHEN {_NO_CALL_LEFT} THEN 'available'
                 ELSE a.state END,
    state_since = CASE WHEN {_NO_CALL_LEFT} THEN now() ELSE a.state_since END
FROM counts WHERE a.id = counts.agent
RETURNING a.id, counts.n
"""
_SWEEP = _FREE_WHERE.format(where="expires_at < now()")
# Whatever one call of this daemon still holds (a reservation whose answer was lost
# when the decision timed out, a call that crashed): freed as a release with neither
# talk nor miss.
_FREE_CALL = _FREE_WHERE.format(where="call_id = $1 AND daemon = $2")

_CUSTOMER = """
SELECT c.id, c.name, c.segment, c.language, c.products, coalesce(c.owner_agent, '') AS owner,
       c.notes
FROM customer_phones p JOIN customers c ON c.id = p.customer
WHERE p.phone = $1
"""


class AgentRepository:
    def __init__(self, pool: asyncpg.Pool, daemon_id: str, lease_s: float = LEASE_S) -> None:
        self.pool = pool
        self.daemon_id = daemon_id
        self.lease_s = lease_s

    async def candidates(self, needs: Needs, owner: str = "", limit: int = 30) -> list[Candidate]:
        """Offerable agents (``OFFERABLE``) with every needed skill (at any level: the
        ranking applies the minimum) and the language; the owner agent too."""
        skills = [name for name, _ in needs.skills]
        async with self.pool.acquire() as conn:
            if needs.skills:
                first, least = needs.skills[0]
                rows = await conn.fetch(_CANDIDATES, skills, first, least, needs.language, limit)
            else:
                rows = await conn.fetch(_ANY_CANDIDATES, needs.language, limit)
            if owner and all(r["id"] != owner for r in rows):
                rows += await conn.fetch(_OWNER, skills, owner)
        return [_candidate(r) for r in rows]

    async def reserve(self, ranked: Sequence[str], call_id: str) -> str | None:
        """The first of ``ranked`` that is still offerable, now held for ``call_id``."""
        if not ranked:
            return None
        args = (list(ranked), call_id, self.daemon_id, self.lease_s)
        agent: str | None = await self.pool.fetchval(_RESERVE_SKIPPING, *args)
        if agent is None:
            try:
                agent = await self.pool.fetchval(_RESERVE_WAITING, *args)
            except asyncpg.DeadlockDetectedError:
                # Waiting calls lock agents in their own ranking orders: PostgreSQL may
                # break a cycle by failing one; it skips the locked rows instead.
                agent = await self.pool.fetchval(_RESERVE_SKIPPING, *args)
        return agent

    async def answered(self, agent: str, call_id: str) -> bool:
        """The agent answered this call's offer: on call (unless paused or logged out
        meanwhile), the lease renewed. False if there is no such reservation."""
        found = await self.pool.fetchval(_ANSWERED, agent, call_id, self.lease_s)
        return found is not None

    async def release(
        self,
        agent: str,
        call_id: str,
        *,
        talked: bool = False,
        missed: bool = False,
        penalty_s: float = 0.0,
        auto_pause_after: int = 0,
    ) -> str | None:
        """Free the agent after a conversation (``talked``: wrap-up for their
        ``wrap_up_s``), a missed offer (``missed``: not offered for ``penalty_s``;
        paused at ``auto_pause_after`` misses in a row, 0: never), or an offer taken by
        someone else (neither). Returns the agent's state now, None if there was no
        such reservation (released already, or swept)."""
        if talked and missed:
            raise ValueError("a call is talked or missed, not both")
        state: str | None = await self.pool.fetchval(
            _RELEASE, agent, call_id, talked, missed, penalty_s, auto_pause_after
        )
        return state

    async def finish_wrap_up(self) -> list[str]:
        """Agents whose wrap-up is over (and who have no call): available again.
        Cheap enough to run every second or two (only agents in wrap-up are read)."""
        rows = await self.pool.fetch(_FINISH_WRAP_UP)
        return [r["id"] for r in rows]

    async def set_state(self, agent: str, state: str, reason: str = "") -> str | None:
        """Login or unpause (``available``: missed calls and any wait forgotten),
        logout (``logged_out``) or pause (``paused``, with ``reason``); calls in
        progress go on. Returns the state before, None for an unknown agent."""
        if state not in SET_BY_HAND:
            allowed = ", ".join(sorted(SET_BY_HAND))
            raise ValueError(f"agent state {state!r} is not set by hand (one of: {allowed})")
        before: str | None = await self.pool.fetchval(_SET_STATE, agent, state, reason)
        if before is not None:
            log.info("agent.state", extra={"agent": agent, "state": state, "was": before})
        return before

    async def renew(self, call_id: str) -> int:
        """Keep this call's reservations alive (the call goes on)."""
        status = await self.pool.execute(
            "UPDATE reservations SET expires_at = now() + make_interval(secs => $2)"
            " WHERE call_id = $1",
            call_id,
            self.lease_s,
        )
        return int(status.split()[-1])

    async def renew_daemon(self, call_ids: Sequence[str]) -> int:
        """Keep the reservations of these calls (this daemon's calls in progress)
        alive, in one statement; any other reservation of ours runs out and is swept."""
        status = await self.pool.execute(
            "UPDATE reservations SET expires_at = now() + make_interval(secs => $2)"
            " WHERE daemon = $1 AND call_id = ANY($3::text[])",
            self.daemon_id,
            self.lease_s,
            list(call_ids),
        )
        return int(status.split()[-1])

    async def release_call(self, call_id: str) -> int:
        """Free whatever this call still holds here; returns how many reservations."""
        rows = await self.pool.fetch(_FREE_CALL, call_id, self.daemon_id)
        return int(sum(r["n"] for r in rows))

    async def sites(self) -> dict[str, str]:
        """Each site's calendar (a name of the flows' calendars; "": always open)."""
        rows = await self.pool.fetch("SELECT id, calendar FROM sites")
        return {row["id"]: row["calendar"] for row in rows}

    async def sweep(self) -> int:
        """Free the reservations nobody renewed (a daemon that crashed)."""
        rows = await self.pool.fetch(_SWEEP)
        freed = sum(r["n"] for r in rows)
        if freed:
            log.warning("routing.leases_expired", extra={"freed": freed})
        return int(freed)

    async def customer(self, caller_id: str) -> Customer:
        """The CRM record for a caller ID; anything unknown, anonymous or hostile is a
        new caller (never an error). The number is bound, never interpolated."""
        if not caller_id or len(caller_id) > MAX_CALLER_ID:
            return UNKNOWN
        try:
            phone = to_e164(caller_id)
        except BadNumber:
            return UNKNOWN
        row = await self.pool.fetchrow(_CUSTOMER, phone)
        if row is None:
            return UNKNOWN
        return Customer(
            id=row["id"],
            name=row["name"],
            segment=Segment(row["segment"]),
            language=row["language"],
            products=tuple(row["products"]),
            owner_agent=row["owner"],
            notes=row["notes"],
        )


def _candidate(row: asyncpg.Record, *, available: bool = True) -> Candidate:
    ended: datetime | None = row["last_call_ended_at"]
    ready_at: datetime | None = row["not_before"]
    return Candidate(
        id=row["id"],
        endpoints=tuple(row["endpoints"]),
        level=Level(row["level"]),
        languages=tuple(row["languages"]),
        site=row["site"],
        skills=tuple(zip(row["skill_names"], row["levels"], strict=True)),
        last_call_ended_at=ended,
        ready_at=ready_at,
        available=available,
    )


# ``free``: OFFERABLE but for not_before, which is kept as ``ready_at`` and checked
# at each decision (a wrap-up ends between two refreshes).
_DIRECTORY = """
SELECT a.id, a.endpoints, a.level, a.languages, coalesce(a.site, '') AS site,
       a.last_call_ended_at, a.not_before, a.wrap_up_s, a.profile_at,
       a.state NOT IN ('logged_out', 'paused') AND a.active < a.max_calls AS free,
       coalesce(array_agg(s.skill ORDER BY s.skill) FILTER (WHERE s.skill IS NOT NULL), '{}')
           AS skill_names,
       coalesce(array_agg(s.proficiency ORDER BY s.skill)
           FILTER (WHERE s.skill IS NOT NULL), '{}') AS levels
FROM agents a LEFT JOIN agent_skills s ON s.agent = a.id
WHERE a.state <> 'logged_out'
GROUP BY a.id
"""


_DIRECTORY_SOME = _DIRECTORY.replace(
    "WHERE a.state <> 'logged_out'", "WHERE a.state <> 'logged_out' AND a.id = ANY($1::text[])"
)
assert _DIRECTORY_SOME != _DIRECTORY

# The agents whose row changed since $1 (changed_at: migration 005), logged out too.
_CHANGES = """
SELECT a.id, a.state = 'logged_out' AS gone, a.profile_at, a.last_call_ended_at, a.not_before,
       a.state NOT IN ('logged_out', 'paused') AND a.active < a.max_calls AS free
FROM agents a
WHERE a.changed_at > $1
"""


class AgentDirectory:
    """The agents as last read, in memory, to rank without a database round trip.

    It may be a little stale (``refresh()`` is called every few seconds); that is
    safe: the reservation in PostgreSQL is the authority and skips whoever is no
    longer offerable. For each skill the agents are kept in two orders (best first,
    and longest idle first), so a decision looks at a handful, not thousands.
    After a release the daemon tells it what the database did (``freed``,
    ``wrapped``, ``missed``) so the agent is not offered too early meanwhile.
    """

    def __init__(self, per_decision: int = 30) -> None:
        self.per_decision = per_decision
        self.agents: dict[str, Candidate] = {}
        # Each list's key (``_keys``): a skill, a skill at a site ("sales@msk"), a site
        # ("@msk") or everyone (""); ``best`` only for the keys with a skill.
        self.best: dict[str, list[Candidate]] = {}
        self.idle: dict[str, list[Candidate]] = {}
        self.wrap_up: dict[str, timedelta] = {}
        # (order, key) -> how many agents at the head of that list are taken
        self._heads: dict[tuple[str, str], int] = {}
        self.loaded_at = 0.0  # monotonic time of the last full read (0: never)
        self.reads = {"full": 0, "changes": 0, "whole": 0}  # full reads, change reads,
        # agents read whole between full reads
        self._since: datetime | None = None  # the database's clock at the last read
        self._profiles: datetime | None = None  # the newest profile_at seen

    async def refresh(self, pool: asyncpg.Pool, *, full: bool = False) -> int:
        """Bring the agents up to date: only the rows changed since the last read
        (their state, calls, wrap-up) are read and changed in place; everything is
        read again when an agent's profile changed (an import), an agent logged in,
        or ``full``. Returns how many agents were read."""
        if full or self._since is None:
            return await self._read_all(pool)
        since = self._since - CHANGES_OVERLAP  # a change committed late is not missed
        rows: list[asyncpg.Record] = []
        async with pool.acquire() as conn, conn.transaction(readonly=True):
            read_at: datetime = await conn.fetchval("SELECT now()")
            async for row in conn.cursor(_CHANGES, since, prefetch=REFRESH_SLICE):
                rows.append(row)
        profiles = self._profiles
        # Who they are changed (an import), or they logged in and are not in memory:
        # read them whole; everyone else, in place.
        renewed = [
            r["id"]
            for r in rows
            if not r["gone"]
            and (r["id"] not in self.agents or profiles is None or r["profile_at"] > profiles)
        ]
        if len(renewed) > REREAD_AT_MOST:
            return await self._read_all(pool)
        if renewed:
            await self._reread(pool, renewed)
        reorder = False
        for start in range(0, len(rows), REFRESH_SLICE):  # a slice at a time (see _read_all)
            for row in rows[start : start + REFRESH_SLICE]:
                agent = self.agents.get(row["id"])
                if agent is None:
                    continue  # logged out, and not in memory either
                ended = row["last_call_ended_at"]
                reorder = reorder or ended != agent.last_call_ended_at
                self._set(
                    agent.id,
                    available=row["free"],
                    ready_at=row["not_before"],
                    last_call_ended_at=ended,
                )
            await asyncio.sleep(0)
        if reorder:  # longest idle first, by the new last calls
            idle = {}
            for key, team in self.idle.items():
                idle[key] = sorted(team, key=_idle_key)
                await asyncio.sleep(0)
            self.idle = idle
            self._heads.clear()
        self._since = read_at
        self.reads["changes"] += 1
        return len(rows)

    async def _reread(self, pool: asyncpg.Pool, agent_ids: list[str]) -> None:
        """Read these agents whole and put them in their places in the lists."""
        rows = await pool.fetch(_DIRECTORY_SOME, agent_ids)
        self._heads.clear()
        self.reads["whole"] += len(rows)
        for row in rows:
            old = self.agents.pop(row["id"], None)
            if old is not None:
                self._drop(old)
            agent = _candidate(row, available=row["free"])
            self.agents[agent.id] = agent
            self.wrap_up[agent.id] = timedelta(seconds=row["wrap_up_s"])
            for key in _keys(agent):
                if _skill_of(key):
                    bisect.insort(self.best.setdefault(key, []), agent, key=_best_key(key))
                bisect.insort(self.idle.setdefault(key, []), agent, key=_idle_key)
            if self._profiles is None or row["profile_at"] > self._profiles:
                self._profiles = row["profile_at"]

    def _drop(self, old: Candidate) -> None:
        for lists in (self.best, self.idle):
            for key in _keys(old):
                if key in lists:
                    lists[key] = [a for a in lists[key] if a is not old]

    @property
    def idle_any(self) -> list[Candidate]:
        """Every agent, longest idle first."""
        return self.idle.get("", [])

    async def _read_all(self, pool: asyncpg.Pool) -> int:
        """Every logged-in agent. Rows are decoded and the lists built a slice at a
        time, giving way to the event loop in between (10,000 agents are about 0.2 s
        of work: calls must not wait for it); the new lists replace the old ones at
        once. (A worker thread was tried: the GIL's hand-over held the loop 50 ms.)"""
        rows: list[asyncpg.Record] = []
        async with pool.acquire() as conn, conn.transaction(readonly=True):
            read_at: datetime = await conn.fetchval("SELECT now()")
            async for row in conn.cursor(_DIRECTORY, prefetch=REFRESH_SLICE):
                rows.append(row)
        built = await _build_directory(rows)
        self.agents, self.best, self.idle, self.wrap_up = built
        self._heads.clear()
        self._profiles = max((r["profile_at"] for r in rows), default=read_at)
        self._since = read_at
        self.loaded_at = time.monotonic()
        self.reads["full"] += 1
        return len(self.agents)

    def taken(self, agent_id: str) -> None:
        """This daemon reserved the agent: not offered again until a refresh says so."""
        self._set(agent_id, available=False)

    def freed(self, agent_id: str) -> None:
        """Released with neither talk nor miss (an offer taken by someone else)."""
        self._set(agent_id, available=True)

    def wrapped(self, agent_id: str, ended_at: datetime) -> None:
        """Released after a conversation that ended at ``ended_at``: offered again
        once their wrap-up (``wrap_up_s`` as last read) is over."""
        until = ended_at + self.wrap_up.get(agent_id, timedelta())
        self._set(agent_id, available=True, ready_at=until, last_call_ended_at=ended_at)

    def missed(self, agent_id: str, until: datetime, *, paused: bool = False) -> None:
        """Released after a missed offer: offered again from ``until`` (the penalty's
        end), or not before a refresh if ``release`` paused them."""
        self._set(agent_id, available=not paused, ready_at=until)

    def _set(self, agent_id: str, **changes: object) -> None:
        agent = self.agents.get(agent_id)
        if agent is not None and changes.get("available") and not agent.available:
            for key in _keys(agent):  # free again: the walks start before them again
                self._heads.pop(("best", key), None)
                self._heads.pop(("idle", key), None)
        if agent is not None:
            # Candidates are shared by the skill lists: change them in place.
            for name, value in changes.items():
                object.__setattr__(agent, name, value)

    def candidates(
        self,
        needs: Needs,
        owner: str = "",
        *,
        best_first: bool = False,
        now: datetime | None = None,
    ) -> list[Candidate]:
        """Up to ``per_decision`` agents believed offerable that meet the needs, taken
        best first (VIP callers) or longest idle first; the owner too. With ``now``,
        agents still in wrap-up or a missed-call penalty are left out. With a home site
        (``needs.site``), agents of that site; only if it has none, of any site (the
        ranking then keeps those whose site is open)."""
        first = needs.skills[0][0] if needs.skills else ""
        order = "best" if best_first and first else "idle"
        found: list[Candidate] = []
        if needs.site:
            found = self._walk(order, f"{first}@{needs.site}", needs, now)
        if not found:
            found = self._walk(order, first, needs, now)
        chosen = self.agents.get(owner)
        if chosen is not None and chosen not in found and _ready(chosen, now):
            found.append(chosen)
        return found

    def _walk(self, order: str, key: str, needs: Needs, now: datetime | None) -> list[Candidate]:
        """Up to ``per_decision`` agents of one list that meet the needs. Agents taken
        at the head of the list are stepped over once, not at every decision (the
        head moves back when one of them is free again)."""
        walk = (self.best if order == "best" else self.idle).get(key, [])
        head = self._heads.get((order, key), 0)
        while head < len(walk) and not walk[head].available:
            head += 1
        self._heads[(order, key)] = head
        found = []
        for agent in itertools.islice(walk, head, None):
            if (
                agent.available
                and (not needs.language or needs.language in agent.languages)
                and all(agent.proficiency.get(n, 0) >= least for n, least in needs.skills)
                and _ready(agent, now)
            ):
                found.append(agent)
                if len(found) >= self.per_decision:
                    break
        return found


def _keys(agent: Candidate) -> list[str]:
    """The directory's lists this agent is in (see ``AgentDirectory.best``)."""
    keys = [""]
    if agent.site:
        keys.append(f"@{agent.site}")
    for skill, _ in agent.skills:
        keys.append(skill)
        if agent.site:
            keys.append(f"{skill}@{agent.site}")
    return keys


def _skill_of(key: str) -> str:
    return key.partition("@")[0]


def _ready(agent: Candidate, now: datetime | None) -> bool:
    return now is None or agent.ready_at is None or agent.ready_at <= now


_Built = tuple[
    dict[str, Candidate],
    dict[str, list[Candidate]],
    dict[str, list[Candidate]],
    dict[str, timedelta],
]


async def _build_directory(rows: list[asyncpg.Record]) -> _Built:
    agents = {}
    wrap_up = {}
    by_key: dict[str, list[Candidate]] = {}
    for start in range(0, len(rows), REFRESH_SLICE):
        for row in rows[start : start + REFRESH_SLICE]:
            candidate = _candidate(row, available=row["free"])
            agents[candidate.id] = candidate
            wrap_up[candidate.id] = timedelta(seconds=row["wrap_up_s"])
            for key in _keys(candidate):
                by_key.setdefault(key, []).append(candidate)
        await asyncio.sleep(0)  # let calls run
    best, idle = {}, {}
    for key, team in by_key.items():
        if _skill_of(key):
            best[key] = sorted(team, key=_best_key(key))
        idle[key] = sorted(team, key=_idle_key)
        await asyncio.sleep(0)
    return agents, best, idle, wrap_up


def _best_key(key: str) -> Callable[[Candidate], tuple[int, float]]:
    skill = _skill_of(key)
    return lambda agent: (-agent.proficiency[skill], _idle_key(agent))


def _idle_key(agent: Candidate) -> float:
    ended = agent.last_call_ended_at
    return ended.timestamp() if ended is not None else 0.0
