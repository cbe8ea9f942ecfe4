"""Agents and customers in PostgreSQL: read candidates, reserve one atomically.

Two calls (in one daemon, or in two daemons sharing the database) never get the
same agent beyond their ``max_calls``: a reservation takes the agent's row with
``FOR UPDATE SKIP LOCKED`` (the next call takes the next agent instead of waiting)
and raises ``agents.active`` under ``active < max_calls``, which PostgreSQL
re-checks on the row's newest version. Reservations are leases: renewed while the
call lasts, freed on release, and freed by ``sweep()`` when a crashed daemon
stops renewing them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

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

# The first needed skill drives an index scan (agent_skills_by_skill: skill,
# proficiency DESC); the others are checked per row. Best proficiency first, then
# longest idle (an incremental sort within each proficiency), at most $5 rows: the
# ranking then orders that handful by the full policy.
_CANDIDATES = """
SELECT a.id, a.endpoints, a.level, a.languages, coalesce(a.site, '') AS site,
       a.last_call_ended_at,
       ARRAY(SELECT skill FROM agent_skills o
             WHERE o.agent = a.id AND o.skill = ANY($1::text[]) ORDER BY skill) AS skill_names,
       ARRAY(SELECT proficiency FROM agent_skills o
             WHERE o.agent = a.id AND o.skill = ANY($1::text[]) ORDER BY skill) AS levels
FROM agent_skills s
JOIN agents a ON a.id = s.agent
WHERE s.skill = $2 AND s.proficiency >= $3
  AND a.state = 'available' AND a.active < a.max_calls
  AND ($4 = '' OR $4 = ANY(a.languages))
  AND (SELECT count(*) FROM agent_skills o
       WHERE o.agent = a.id AND o.skill = ANY($1::text[])) = cardinality($1::text[])
ORDER BY s.proficiency DESC, a.last_call_ended_at ASC NULLS FIRST
LIMIT $5
"""

# No skill needed (escalated to "anyone with the language"): longest idle first.
_ANY_CANDIDATES = """
SELECT a.id, a.endpoints, a.level, a.languages, coalesce(a.site, '') AS site,
       a.last_call_ended_at, '{}'::text[] AS skill_names, '{}'::smallint[] AS levels
FROM agents a
WHERE a.state = 'available' AND a.active < a.max_calls
  AND ($1 = '' OR $1 = ANY(a.languages))
ORDER BY a.last_call_ended_at ASC NULLS FIRST
LIMIT $2
"""

_OWNER = """
SELECT a.id, a.endpoints, a.level, a.languages, coalesce(a.site, '') AS site,
       a.last_call_ended_at,
       coalesce(array_agg(s.skill) FILTER (WHERE s.skill IS NOT NULL), '{}') AS skill_names,
       coalesce(array_agg(s.proficiency) FILTER (WHERE s.skill IS NOT NULL), '{}') AS levels
FROM agents a
LEFT JOIN agent_skills s ON s.agent = a.id AND s.skill = ANY($1::text[])
WHERE a.id = $2 AND a.state = 'available' AND a.active < a.max_calls
GROUP BY a.id
"""

_RESERVE = """
WITH picked AS (
    SELECT id FROM agents
    WHERE id = ANY($1::text[]) AND state = 'available' AND active < max_calls
    ORDER BY array_position($1::text[], id)
    LIMIT 1
    FOR UPDATE {wait}
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

_RELEASE = """
WITH gone AS (
    DELETE FROM reservations WHERE agent = $1 AND call_id = $2 RETURNING agent
)
UPDATE agents a SET active = a.active - 1,
       last_call_ended_at = CASE WHEN $3 THEN now() ELSE a.last_call_ended_at END,
       calls_today = a.calls_today + CASE WHEN $3 THEN 1 ELSE 0 END,
       missed_in_row = CASE WHEN $4 THEN a.missed_in_row + 1 WHEN $3 THEN 0
                            ELSE a.missed_in_row END
FROM gone WHERE a.id = gone.agent
RETURNING a.id
"""

_SWEEP = """
WITH gone AS (
    DELETE FROM reservations WHERE expires_at < now() RETURNING agent
), counts AS (
    SELECT agent, count(*) AS n FROM gone GROUP BY agent
)
UPDATE agents a SET active = greatest(a.active - counts.n, 0)
FROM counts WHERE a.id = counts.agent
RETURNING a.id, counts.n
"""

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
        """Available agents below capacity with every needed skill (at any level: the
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
        """The first of ``ranked`` that is still free, now held for ``call_id``."""
        if not ranked:
            return None
        args = (list(ranked), call_id, self.daemon_id, self.lease_s)
        agent: str | None = await self.pool.fetchval(_RESERVE_SKIPPING, *args)
        if agent is None:
            agent = await self.pool.fetchval(_RESERVE_WAITING, *args)
        return agent

    async def release(
        self, agent: str, call_id: str, *, talked: bool = False, missed: bool = False
    ) -> bool:
        """Free the agent: after a conversation (``talked``: idle from now), a
        missed offer (``missed``), or an offer taken by someone else (neither)."""
        found = await self.pool.fetchval(_RELEASE, agent, call_id, talked, missed)
        return found is not None

    async def renew(self, call_id: str) -> int:
        """Keep this call's reservations alive (the call goes on)."""
        status = await self.pool.execute(
            "UPDATE reservations SET expires_at = now() + make_interval(secs => $2)"
            " WHERE call_id = $1",
            call_id,
            self.lease_s,
        )
        return int(status.split()[-1])

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


def _candidate(row: asyncpg.Record) -> Candidate:
    ended: datetime | None = row["last_call_ended_at"]
    return Candidate(
        id=row["id"],
        endpoints=tuple(row["endpoints"]),
        level=Level(row["level"]),
        languages=tuple(row["languages"]),
        site=row["site"],
        skills=tuple(zip(row["skill_names"], row["levels"], strict=True)),
        last_call_ended_at=ended,
    )


_DIRECTORY = """
SELECT a.id, a.endpoints, a.level, a.languages, coalesce(a.site, '') AS site,
       a.last_call_ended_at, a.state = 'available' AND a.active < a.max_calls AS free,
       coalesce(array_agg(s.skill ORDER BY s.skill) FILTER (WHERE s.skill IS NOT NULL), '{}')
           AS skill_names,
       coalesce(array_agg(s.proficiency ORDER BY s.skill)
           FILTER (WHERE s.skill IS NOT NULL), '{}') AS levels
FROM agents a LEFT JOIN agent_skills s ON s.agent = a.id
WHERE a.state <> 'logged_out'
GROUP BY a.id
"""


class AgentDirectory:
    """The agents as last read, in memory, to rank without a database round trip.

    It may be a little stale (``refresh()`` is called every few seconds); that is
    safe: the reservation in PostgreSQL is the authority and skips whoever is no
    longer free. For each skill the agents are kept in two orders (best first,
    and longest idle first), so a decision looks at a handful, not thousands.
    """

    def __init__(self, per_decision: int = 30) -> None:
        self.per_decision = per_decision
        self.agents: dict[str, Candidate] = {}
        self.best: dict[str, list[Candidate]] = {}
        self.idle: dict[str, list[Candidate]] = {}
        self.idle_any: list[Candidate] = []
        self.loaded_at = 0.0

    async def refresh(self, pool: asyncpg.Pool) -> int:
        rows = await pool.fetch(_DIRECTORY)
        agents = {}
        by_skill: dict[str, list[Candidate]] = {}
        for row in rows:
            candidate = replace(_candidate(row), available=row["free"])
            agents[candidate.id] = candidate
            for skill, _ in candidate.skills:
                by_skill.setdefault(skill, []).append(candidate)
        self.best = {skill: sorted(team, key=_best_key(skill)) for skill, team in by_skill.items()}
        self.idle = {skill: sorted(team, key=_idle_key) for skill, team in by_skill.items()}
        self.idle_any = sorted(agents.values(), key=_idle_key)
        self.agents = agents
        self.loaded_at = time.monotonic()
        return len(agents)

    def taken(self, agent_id: str) -> None:
        """This daemon reserved the agent: not offered again until a refresh says so."""
        self._set(agent_id, available=False)

    def freed(self, agent_id: str) -> None:
        self._set(agent_id, available=True)

    def _set(self, agent_id: str, *, available: bool) -> None:
        agent = self.agents.get(agent_id)
        if agent is not None:
            # Candidates are shared by the skill lists: flip the flag in place.
            object.__setattr__(agent, "available", available)

    def candidates(
        self, needs: Needs, owner: str = "", *, best_first: bool = False
    ) -> list[Candidate]:
        """Up to ``per_decision`` agents believed free that meet the needs, taken
        best first (VIP callers) or longest idle first; the owner too."""
        if needs.skills:
            first = needs.skills[0][0]
            walk = (self.best if best_first else self.idle).get(first, [])
        else:
            walk = self.idle_any
        found = []
        for agent in walk:
            if (
                agent.available
                and (not needs.language or needs.language in agent.languages)
                and all(agent.proficiency.get(n, 0) >= least for n, least in needs.skills)
            ):
                found.append(agent)
                if len(found) >= self.per_decision:
                    break
        if owner in self.agents and self.agents[owner] not in found:
            found.append(self.agents[owner])
        return found


def _best_key(skill: str) -> Callable[[Candidate], tuple[int, float]]:
    return lambda agent: (-agent.proficiency[skill], _idle_key(agent))


def _idle_key(agent: Candidate) -> float:
    ended = agent.last_call_ended_at
    return ended.timestamp() if ended is not None else 0.0
