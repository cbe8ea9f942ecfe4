"""Validated import rows -> PostgreSQL: one transaction per file, all or nothing.

What the file cannot know (owner agents, phones already taken, sites, calls in
progress) is fetched inside that transaction, under locks that keep it true until
the commit, and judged by the pure ``importer.*_conflicts``: any problem raises
:class:`RejectedImport` and the transaction rolls back. Values travel as bound
parameters or COPY data, never as SQL text.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import asyncpg

from switchboard.crm.importer import (
    AgentFile,
    Customer,
    RejectedImport,
    agent_conflicts,
    customer_conflicts,
)

CUSTOMER_COLUMNS = (
    "id",
    "name",
    "segment",
    "language",
    "products",
    "owner_agent",
    "lifetime_value",
    "churn_score",
    "first_contact",
    "last_contact",
    "notes",
)
CONNECT_TIMEOUT_S = 10


@dataclass(frozen=True, slots=True)
class CustomersImported:
    customers: int
    phones: int

    def __str__(self) -> str:
        return f"imported {_count(self.customers, 'customer')} ({_count(self.phones, 'phone')})"


@dataclass(frozen=True, slots=True)
class AgentsImported:
    agents: int
    sites: int

    def __str__(self) -> str:
        return f"imported {_count(self.agents, 'agent')}, {_count(self.sites, 'site')}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


async def connect(url: str, schema: str) -> asyncpg.Connection:
    """A connection for one import. No command timeout: a million rows take a while."""
    return await asyncpg.connect(
        url, timeout=CONNECT_TIMEOUT_S, server_settings={"search_path": schema}
    )


async def import_customers(
    conn: asyncpg.Connection, file: str, customers: Sequence[Customer]
) -> CustomersImported:
    """New customers and their phones; RejectedImport if the database disagrees."""
    phones = [phone for customer in customers for phone in customer.phones]
    async with conn.transaction():
        # Other writers of phones wait until the commit, so "not taken" stays true
        # (readers, such as the router's caller lookup, do not wait).
        await conn.execute("LOCK TABLE customer_phones IN SHARE ROW EXCLUSIVE MODE")
        owners = sorted({c.owner_agent for c in customers if c.owner_agent is not None})
        known = await conn.fetch(
            "SELECT id FROM agents WHERE id = ANY($1::text[]) FOR KEY SHARE", owners
        )
        taken = await conn.fetch(
            "SELECT phone, customer FROM customer_phones WHERE phone = ANY($1::text[])", phones
        )
        problems = customer_conflicts(
            file,
            customers,
            {row["id"] for row in known},
            {row["phone"]: row["customer"] for row in taken},
        )
        if problems:
            raise RejectedImport(problems)
        ids: list[int] = await conn.fetchval(
            "SELECT coalesce(array_agg(nextval(pg_get_serial_sequence('customers', 'id'))),"
            " '{}') FROM generate_series(1, $1)",
            len(customers),
        )
        await conn.copy_records_to_table(
            "customers", records=_customer_rows(ids, customers), columns=CUSTOMER_COLUMNS
        )
        await conn.copy_records_to_table(
            "customer_phones", records=_phone_rows(ids, customers), columns=("phone", "customer")
        )
    return CustomersImported(len(customers), len(phones))


def _customer_rows(ids: list[int], customers: Sequence[Customer]) -> Iterator[tuple[object, ...]]:
    for customer_id, c in zip(ids, customers, strict=True):
        yield (
            customer_id,
            c.name,
            c.segment,
            c.language,
            c.products,
            c.owner_agent,
            c.lifetime_value,
            c.churn_score,
            c.first_contact,
            c.last_contact,
            c.notes,
        )


def _phone_rows(ids: list[int], customers: Sequence[Customer]) -> Iterator[tuple[str, int]]:
    for customer_id, customer in zip(ids, customers, strict=True):
        for phone in customer.phones:
            yield phone, customer_id


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


async def import_agents(conn: asyncpg.Connection, file: str, agents: AgentFile) -> AgentsImported:
    """Sites and agents upserted by id, each agent's skills replaced by the file's."""
    ids = [agent.id for agent in agents.agents]
    named_sites = sorted({a.site for a in agents.agents if a.site is not None})
    async with conn.transaction():
        # Locked until the commit: a reservation cannot raise `active` meanwhile.
        active = await conn.fetch(
            "SELECT id, active FROM agents WHERE id = ANY($1::text[]) FOR UPDATE", ids
        )
        known = await conn.fetch(
            "SELECT id FROM sites WHERE id = ANY($1::text[]) FOR KEY SHARE", named_sites
        )
        problems = agent_conflicts(
            file,
            agents,
            {row["id"] for row in known},
            {row["id"]: row["active"] for row in active},
        )
        if problems:
            raise RejectedImport(problems)
        await conn.executemany(
            _UPSERT_SITE, [(s.id, s.name, s.zone, s.calendar) for s in agents.sites]
        )
        await conn.executemany(
            _UPSERT_AGENT,
            [
                (a.id, a.name, a.site, a.endpoints, a.languages, a.level, a.max_calls, a.wrap_up_s)
                for a in agents.agents
            ],
        )
        await conn.execute("DELETE FROM agent_skills WHERE agent = ANY($1::text[])", ids)
        await conn.copy_records_to_table(
            "agent_skills",
            records=[(a.id, skill, level) for a in agents.agents for skill, level in a.skills],
            columns=("agent", "skill", "proficiency"),
        )
    return AgentsImported(len(agents.agents), len(agents.sites))
