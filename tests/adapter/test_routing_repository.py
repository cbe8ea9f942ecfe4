"""Tier 2, real PostgreSQL: candidates, atomic reservations from two daemons'
pools, leases that free a crashed daemon's agents, and the CRM lookup."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import asyncpg
import pytest

from switchboard import db
from switchboard.routing.rank import UNKNOWN, Needs, Segment
from switchboard.routing.repository import AgentDirectory, AgentRepository
from tests.pgkit import DATABASE_URL, fresh_schema

AGENTS = [f"a{i:02d}" for i in range(10)]


@pytest.fixture
async def pool() -> AsyncIterator[asyncpg.Pool]:
    async with fresh_schema("rt") as schema:
        pool = await db.create_pool(DATABASE_URL, schema, max_size=30)
        await db.upgrade(pool)
        await pool.execute(
            "INSERT INTO sites (id, name, zone) VALUES ('msk', 'Moscow', 'Europe/Moscow')"
        )
        for i, agent in enumerate(AGENTS):
            await pool.execute(
                "INSERT INTO agents (id, name, site, endpoints, languages, state, max_calls)"
                " VALUES ($1, $1, 'msk', $2, $3, 'available', $4)",
                agent,
                [f"PJSIP/{agent}"],
                ["ru"] if i % 2 else ["ru", "ro"],
                2 if agent == "a09" else 1,
            )
            await pool.execute(
                "INSERT INTO agent_skills VALUES ($1, 'sales', $2)", agent, 1 + i % 5
            )
        try:
            yield pool
        finally:
            await pool.close()


async def test_fifty_parallel_reservations_from_two_daemons_never_double_book(
    pool: asyncpg.Pool,
) -> None:
    schema = await pool.fetchval("SELECT current_schema()")
    other = await db.create_pool(DATABASE_URL, schema, max_size=30)
    try:
        daemons = [AgentRepository(pool, "daemon-1"), AgentRepository(other, "daemon-2")]

        async def one_call(n: int) -> str | None:
            ranked = random.Random(n).sample(AGENTS, len(AGENTS))  # every call, its own order
            return await daemons[n % 2].reserve(ranked, f"call-{n}")

        got = await asyncio.gather(*(one_call(n) for n in range(50)))
        booked = [agent for agent in got if agent is not None]
        # 9 agents of capacity 1 and a09 with 2: 11 offers at most, all taken
        assert len(booked) == 11
        assert {a: booked.count(a) for a in set(booked)} == {
            **{a: 1 for a in AGENTS[:9]},
            "a09": 2,
        }
        rows = await pool.fetch("SELECT id, active, max_calls FROM agents ORDER BY id")
        assert all(r["active"] == r["max_calls"] for r in rows)
        daemons_seen = await pool.fetch("SELECT DISTINCT daemon FROM reservations")
        assert {r["daemon"] for r in daemons_seen} == {"daemon-1", "daemon-2"}
    finally:
        await other.close()


async def test_a_crashed_daemons_reservations_expire_and_the_agents_come_back(
    pool: asyncpg.Pool,
) -> None:
    crashed = AgentRepository(pool, "crashed", lease_s=0.3)
    alive = AgentRepository(pool, "alive")
    assert await crashed.reserve(["a00"], "call-1") == "a00"
    assert await alive.reserve(["a00"], "call-2") is None  # held
    await asyncio.sleep(0.5)  # nobody renews the lease
    assert await alive.sweep() == 1
    assert await alive.reserve(["a00"], "call-2") == "a00"


async def test_renewing_keeps_a_long_call_reserved(pool: asyncpg.Pool) -> None:
    repo = AgentRepository(pool, "d", lease_s=0.4)
    assert await repo.reserve(["a01"], "long") == "a01"
    for _ in range(3):
        await asyncio.sleep(0.2)
        assert await repo.renew("long") == 1
    assert await repo.sweep() == 0
    assert await repo.reserve(["a01"], "other") is None


async def test_release_after_a_conversation_or_a_missed_offer(pool: asyncpg.Pool) -> None:
    repo = AgentRepository(pool, "d")
    assert await repo.reserve(["a02"], "c1") == "a02"
    assert await repo.release("a02", "c1", talked=True)
    row = await pool.fetchrow("SELECT * FROM agents WHERE id = 'a02'")
    assert row is not None
    assert (row["active"], row["calls_today"], row["missed_in_row"]) == (0, 1, 0)
    assert row["last_call_ended_at"] is not None
    assert await repo.reserve(["a02"], "c2") == "a02"
    assert await repo.release("a02", "c2", missed=True)
    assert await pool.fetchval("SELECT missed_in_row FROM agents WHERE id = 'a02'") == 1
    assert not await repo.release("a02", "c2")  # twice: nothing more to free


async def test_candidates_have_the_skill_and_language_and_include_the_owner(
    pool: asyncpg.Pool,
) -> None:
    repo = AgentRepository(pool, "d")
    romanian = await repo.candidates(Needs(skills=(("sales", 1),), language="ro"))
    assert sorted(c.id for c in romanian) == ["a00", "a02", "a04", "a06", "a08"]
    assert romanian[0].proficiency["sales"] == 5  # best first (a04: 1 + 4)
    nobody = await repo.candidates(Needs(skills=(("billing", 1),)))
    assert nobody == []
    with_owner = await repo.candidates(Needs(skills=(("billing", 1),)), owner="a03")
    assert [c.id for c in with_owner] == ["a03"]  # rank decides if the owner qualifies


@pytest.mark.parametrize(
    "caller_id",
    ["", "anonymous", "'; DROP TABLE customers; --", "9" * 500, "+7 (916) 12\x00", "+0"],
)
async def test_unknown_or_hostile_caller_ids_are_new_callers(
    pool: asyncpg.Pool, caller_id: str
) -> None:
    assert await AgentRepository(pool, "d").customer(caller_id) == UNKNOWN
    assert await pool.fetchval("SELECT count(*) FROM customers") == 0  # still there


async def test_a_known_number_in_any_format_finds_the_customer(pool: asyncpg.Pool) -> None:
    customer = await pool.fetchval(
        "INSERT INTO customers (name, segment, language, owner_agent, products)"
        " VALUES ('Boris', 'vip', 'ro', 'a03', '{loan}') RETURNING id"
    )
    await pool.execute("INSERT INTO customer_phones VALUES ('+79161234567', $1)", customer)
    repo = AgentRepository(pool, "d")
    for written in ("+79161234567", "89161234567", "79161234567", "8 (916) 123-45-67"):
        found = await repo.customer(written)
        assert (found.id, found.segment, found.owner_agent) == (customer, Segment.VIP, "a03")


async def test_the_in_memory_directory_offers_a_handful_and_forgets_who_was_taken(
    pool: asyncpg.Pool,
) -> None:
    directory = AgentDirectory(per_decision=3)
    assert await directory.refresh(pool) == 10
    needs = Needs(skills=(("sales", 2),), language="ru")
    best = directory.candidates(needs, best_first=True)
    assert [c.proficiency["sales"] for c in best] == [5, 5, 4]  # best first, three of them
    idle = directory.candidates(needs)
    assert len(idle) == 3
    assert all(c.proficiency["sales"] >= 2 for c in idle)
    directory.taken(best[0].id)  # reserved by this daemon
    assert best[0].id not in [c.id for c in directory.candidates(needs, best_first=True)]
    directory.freed(best[0].id)
    assert directory.candidates(needs, best_first=True)[0].id == best[0].id
    owner = directory.candidates(Needs(skills=(("billing", 1),)), owner="a03")
    assert [c.id for c in owner] == ["a03"]
