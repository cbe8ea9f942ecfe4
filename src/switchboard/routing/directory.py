"""The agents in memory (``AgentDirectory``): read from PostgreSQL every few
seconds, ranked without a database round trip.

Only the rows changed since the last read are read again (``changed_at``,
migration 005); everything is read again after an import (``profile_at``). The
reservation in PostgreSQL (``repository``) stays the authority on who is free.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import asyncpg

from .rank import Candidate, Level, Needs

REFRESH_SLICE = 500  # agents decoded at a time when the directory is read
# Changes are read from a little before the last read: a statement that set
# changed_at just before that read but committed after it is still seen.
CHANGES_OVERLAP = timedelta(seconds=5)
REREAD_AT_MOST = 500  # agents read whole one by one; more (a big import): all again


def candidate_of(row: asyncpg.Record, *, available: bool = True) -> Candidate:
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


# ``free``: ``repository.OFFERABLE`` but for not_before, which is kept as ``ready_at`` and checked
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
            agent = candidate_of(row, available=row["free"])
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
            candidate = candidate_of(row, available=row["free"])
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
