"""The agents' records as everyone but the router reads and writes them.

The import (``crm.store``) writes sites, agents and skills inside its own
transaction; ``switchboard check`` asks what skills, languages and sites exist; the
API lists agents; the pages show an agent, the agents' states and an owner's name;
the statistics name the agents. The router's own reads and writes (reservations,
states) are ``repository`` and ``directory``. Values are bound parameters.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import asyncpg

from switchboard.crm.importer import Agent, Site

# -- the import (crm.store), in its transaction --------------------------------------------
_UPSERT_SITE = """
INSERT INTO sites (id, name, zone, calendar) VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE
SET name = EXCLUDED.name, zone = EXCLUDED.zone, calendar = EXCLUDED.calendar
"""
# The runtime columns (state, active, last_call_ended_at, ...) are not touched;
# profile_at tells the daemons to read who the agent is (skills too) again.
_UPSERT_AGENT = """
INSERT INTO agents (id, name, site, endpoints, languages, level, max_calls, wrap_up_s)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (id) DO UPDATE
SET name = EXCLUDED.name, site = EXCLUDED.site, endpoints = EXCLUDED.endpoints,
    languages = EXCLUDED.languages, level = EXCLUDED.level,
    max_calls = EXCLUDED.max_calls, wrap_up_s = EXCLUDED.wrap_up_s,
    profile_at = clock_timestamp()
"""


async def known_agents(conn: asyncpg.Connection, ids: Sequence[str]) -> set[str]:
    """Which of these agents exist, kept so until the commit (``FOR KEY SHARE``)."""
    rows = await conn.fetch("SELECT id FROM agents WHERE id = ANY($1::text[]) FOR KEY SHARE", ids)
    return {row["id"] for row in rows}


async def lock_agents(conn: asyncpg.Connection, ids: Sequence[str]) -> dict[str, int]:
    """These agents' calls in progress (``active``), by id, for those that exist; locked
    until the commit, so a reservation cannot raise ``active`` meanwhile."""
    rows = await conn.fetch(
        "SELECT id, active FROM agents WHERE id = ANY($1::text[]) FOR UPDATE", ids
    )
    return {row["id"]: row["active"] for row in rows}


async def known_sites(conn: asyncpg.Connection, ids: Sequence[str]) -> set[str]:
    """Which of these sites exist, kept so until the commit (``FOR KEY SHARE``)."""
    rows = await conn.fetch("SELECT id FROM sites WHERE id = ANY($1::text[]) FOR KEY SHARE", ids)
    return {row["id"] for row in rows}


async def save_agents(
    conn: asyncpg.Connection, sites: Sequence[Site], agents: Sequence[Agent]
) -> None:
    """Sites and agents upserted by id, each agent's skills replaced by these."""
    await conn.executemany(_UPSERT_SITE, [(s.id, s.name, s.zone, s.calendar) for s in sites])
    await conn.executemany(
        _UPSERT_AGENT,
        [
            (a.id, a.name, a.site, a.endpoints, a.languages, a.level, a.max_calls, a.wrap_up_s)
            for a in agents
        ],
    )
    ids = [agent.id for agent in agents]
    await conn.execute("DELETE FROM agent_skills WHERE agent = ANY($1::text[])", ids)
    await conn.copy_records_to_table(
        "agent_skills",
        records=[(a.id, skill, level) for a in agents for skill, level in a.skills],
        columns=("agent", "skill", "proficiency"),
    )


# -- switchboard check --------------------------------------------------------------------
async def vocabulary(conn: asyncpg.Connection) -> tuple[set[str], set[str], set[str]]:
    """The skills, languages and sites some agent has (all empty before the schema)."""
    if not await conn.fetchval("SELECT to_regclass('agents') IS NOT NULL"):
        return set(), set(), set()
    skills = {r[0] for r in await conn.fetch("SELECT DISTINCT skill FROM agent_skills")}
    languages = {r[0] for r in await conn.fetch("SELECT DISTINCT unnest(languages) FROM agents")}
    sites = {r[0] for r in await conn.fetch("SELECT id FROM sites")}
    return skills, languages, sites


# -- the API ------------------------------------------------------------------------------
# calls_today counts the agent's local day (their site's zone; UTC without one).
_LISTING = """
SELECT a.id, a.name, coalesce(a.site, '') AS site, a.state, a.pause_reason, a.state_since,
       a.endpoints, a.languages, a.level, a.max_calls, a.active,
       CASE WHEN a.calls_day = (now() AT TIME ZONE coalesce(
                 (SELECT zone FROM sites WHERE id = a.site), 'UTC'))::date
            THEN a.calls_today ELSE 0 END AS calls_today,
       ARRAY(SELECT skill FROM agent_skills s WHERE s.agent = a.id ORDER BY skill) AS skill_names,
       ARRAY(SELECT proficiency FROM agent_skills s WHERE s.agent = a.id ORDER BY skill) AS levels
FROM agents a
WHERE ($1::text IS NULL OR a.id > $1) AND ($2::text IS NULL OR a.state = $2)
ORDER BY a.id
LIMIT $3
"""


async def listing(
    pool: asyncpg.Pool, after: str | None, state: str | None, limit: int
) -> list[asyncpg.Record]:
    """Up to ``limit`` agents by id after ``after`` (None: from the first), in
    ``state`` if given: id, name, site, state, pause_reason, state_since, endpoints,
    languages, level, max_calls, active, calls_today, skill_names, levels."""
    rows: list[asyncpg.Record] = await pool.fetch(_LISTING, after, state, limit)
    return rows


# -- the pages and the statistics -----------------------------------------------------------
async def profile(pool: asyncpg.Pool, agent: str) -> asyncpg.Record | None:
    """One agent's id, name and endpoints (None: no such agent)."""
    row: asyncpg.Record | None = await pool.fetchrow(
        "SELECT id, name, endpoints FROM agents WHERE id = $1", agent
    )
    return row


async def states(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    """Every agent's id, name and state, by id."""
    rows: list[asyncpg.Record] = await pool.fetch("SELECT id, name, state FROM agents ORDER BY id")
    return rows


async def names(pool: asyncpg.Pool, ids: Iterable[str]) -> dict[str, str]:
    """The names of those of these agents that exist, by id."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await pool.fetch("SELECT id, name FROM agents WHERE id = ANY($1::text[])", wanted)
    return {row["id"]: row["name"] for row in rows}
