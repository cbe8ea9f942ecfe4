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

The agents in memory are ``directory``; the agents as the import, the CLI, the
API, the pages and the statistics read and write them are ``agents_store``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from enum import StrEnum

import asyncpg

from switchboard.numbers import BadNumber, to_e164

from .directory import candidate_of
from .rank import UNKNOWN, Candidate, Customer, Needs, Segment

log = logging.getLogger("switchboard.routing")
LEASE_S = 60.0  # a reservation not renewed for this long is freed
# Reservations are leases: one lost in a PostgreSQL crash costs a retry, never a
# double booking (the row lock and active < max_calls hold either way). So the
# routing pool need not wait for each commit to reach the disk.
ROUTING_SETTINGS = {"synchronous_commit": "off"}
MAX_CALLER_ID = 32  # longer "numbers" are not looked up at all


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
        return [candidate_of(r) for r in rows]

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
