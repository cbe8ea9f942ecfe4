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
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from switchboard.numbers import BadNumber, to_e164

from .rank import UNKNOWN, Candidate, Customer, Level, Needs, Segment

log = logging.getLogger("switchboard.routing")
LEASE_S = 60.0  # a reservation not renewed for this long is freed
MAX_CALLER_ID = 32  # longer "numbers" are not looked up at all

_CANDIDATES = """
SELECT a.id, a.endpoints, a.level, a.languages, coalesce(a.site, '') AS site,
       a.last_call_ended_at,
       coalesce(array_agg(s.skill) FILTER (WHERE s.skill IS NOT NULL), '{}') AS skill_names,
       coalesce(array_agg(s.proficiency) FILTER (WHERE s.skill IS NOT NULL), '{}') AS levels
FROM agents a
LEFT JOIN agent_skills s ON s.agent = a.id AND s.skill = ANY($1::text[])
WHERE a.state = 'available' AND a.active < a.max_calls
  AND ($2 = '' OR $2 = ANY(a.languages))
GROUP BY a.id
HAVING count(s.skill) = cardinality($1::text[])
ORDER BY max(s.proficiency) DESC NULLS LAST, a.last_call_ended_at ASC NULLS FIRST, a.id
LIMIT $3
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
    FOR UPDATE SKIP LOCKED
), raised AS (
    UPDATE agents a SET active = a.active + 1
    FROM picked WHERE a.id = picked.id AND a.active < a.max_calls
    RETURNING a.id
)
INSERT INTO reservations (agent, call_id, daemon, expires_at)
SELECT id, $2, $3, now() + make_interval(secs => $4) FROM raised
RETURNING agent
"""

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
            rows = await conn.fetch(_CANDIDATES, skills, needs.language, limit)
            if owner and all(r["id"] != owner for r in rows):
                rows += await conn.fetch(_OWNER, skills, owner)
        return [_candidate(r) for r in rows]

    async def reserve(self, ranked: Sequence[str], call_id: str) -> str | None:
        """The first of ``ranked`` that is still free, now held for ``call_id``."""
        if not ranked:
            return None
        agent: str | None = await self.pool.fetchval(
            _RESERVE, list(ranked), call_id, self.daemon_id, self.lease_s
        )
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
