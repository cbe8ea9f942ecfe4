"""What the pages read from PostgreSQL: never in a call's path, always bounded.

Each read is done by a page (or its websocket) and limited to ``READ_TIMEOUT_S``;
a database that is down or slow leaves that part of the page empty, marked
unavailable, and nothing else waits for it. Values are bound parameters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

import asyncpg

from switchboard.calllog import CALLBACK_VERSION
from switchboard.db import DB_ERRORS, Database
from switchboard.routing import agents_store
from switchboard.stats.repository import ANSWERED_IN_TIME, IN_PERIOD

READ_TIMEOUT_S = 1.0
SERVICE_LEVEL_S = 20  # answered within this many seconds counts for the service level
LAST_CONTACTS = 5
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AgentProfile:
    id: str
    name: str
    endpoints: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Contact:
    at: datetime
    outcome: str
    agent: str
    talk_s: float | None


@dataclass(frozen=True, slots=True)
class CustomerCard:
    """The screen pop's customer: the CRM row, the owner's name, the last calls."""

    id: int
    name: str
    segment: str
    language: str
    products: tuple[str, ...]
    owner: str
    owner_name: str
    notes: str
    churn_score: float
    lifetime_value: str
    last_contacts: tuple[Contact, ...]


@dataclass(frozen=True, slots=True)
class AgentRow:
    id: str
    name: str
    state: str


@dataclass(frozen=True, slots=True)
class Today:
    """Calls that started today, by what became of them."""

    offered: int  # calls that reached a route (answered or abandoned there)
    answered: int
    answered_in_time: int  # within SERVICE_LEVEL_S
    abandoned: int

    @property
    def service_level(self) -> float | None:
        return self.answered_in_time / self.offered if self.offered else None


async def bounded(database: Database | None, read: Callable[[Database], Awaitable[T]]) -> T | None:
    """``read(database)``, or None if there is no database or it does not answer in time."""
    if database is None:
        return None
    try:
        async with asyncio.timeout(READ_TIMEOUT_S):
            return await read(database)
    except DB_ERRORS:
        return None


async def agent_profile(database: Database, agent: str) -> AgentProfile | None:
    pool = await database.pool()
    row = await agents_store.profile(pool, agent)
    return AgentProfile(row["id"], row["name"], tuple(row["endpoints"])) if row else None


async def customer_card(database: Database, customer: int) -> CustomerCard | None:
    pool = await database.pool()
    row = await pool.fetchrow("SELECT c.* FROM customers c WHERE c.id = $1", customer)
    if row is None:
        return None
    owner = row["owner_agent"] or ""
    owner_name = (await agents_store.names(pool, [owner])).get(owner, "") if owner else ""
    calls = await pool.fetch(
        "SELECT started_at, outcome, agent, talk_s FROM calls WHERE customer = $1"
        " ORDER BY started_at DESC, id DESC LIMIT $2",
        customer,
        LAST_CONTACTS,
    )
    return _card(row, owner_name, calls)


def _card(row: asyncpg.Record, owner_name: str, calls: list[asyncpg.Record]) -> CustomerCard:
    return CustomerCard(
        id=row["id"],
        name=row["name"],
        segment=row["segment"],
        language=row["language"],
        products=tuple(row["products"]),
        owner=row["owner_agent"] or "",
        owner_name=owner_name,
        notes=row["notes"],
        churn_score=float(row["churn_score"]),
        lifetime_value=str(row["lifetime_value"]),
        last_contacts=tuple(
            Contact(c["started_at"], c["outcome"], c["agent"], c["talk_s"]) for c in calls
        ),
    )


async def agents(database: Database) -> list[AgentRow]:
    pool = await database.pool()
    rows = await agents_store.states(pool)
    return [AgentRow(r["id"], r["name"], r["state"]) for r in rows]


def day_bounds(now: datetime) -> tuple[datetime, datetime]:
    """Today, midnight to midnight, in this machine's time zone."""
    local = now.astimezone()
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


# What the wallboard's "today" counts, as the statistics do (docs/stats.md): a call is
# offered once it waited for a person (a route or queue: calls.queue); answered by an
# agent or extension; abandoned while waiting or ringing; in time if answered within
# the service level of when it was offered (queued_at). Callback calls (the agent
# calling a customer back) are not inbound calls: left out.
TODAY_QUERY = f"""
SELECT count(*) FILTER (WHERE c.queue <> '') AS offered,
       count(*) FILTER (WHERE c.queue <> '' AND c.category = 'answered') AS answered,
       count(*) FILTER (WHERE c.queue <> '' AND {ANSWERED_IN_TIME}) AS answered_in_time,
       count(*) FILTER (WHERE c.queue <> '' AND c.category = 'abandoned_in_queue') AS abandoned
FROM calls c WHERE {IN_PERIOD} AND c.flow_version <> $4
"""


async def today(database: Database, now: datetime) -> Today:
    pool = await database.pool()
    start, end = day_bounds(now)
    row = await pool.fetchrow(TODAY_QUERY, start, end, SERVICE_LEVEL_S, CALLBACK_VERSION)
    assert row is not None  # (an aggregate always has its row)
    return Today(row["offered"], row["answered"], row["answered_in_time"], row["abandoned"])
