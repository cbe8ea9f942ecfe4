"""Tier 2: routing.agents_store, the agents as the import, the CLI, the API, the
pages and the statistics read and write them (real PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import asyncpg
import pytest

from switchboard import db
from switchboard.crm import Agent, Site
from switchboard.routing import agents_store
from tests.pgkit import DATABASE_URL, fresh_schema

MSK = Site("msk", "Moscow", "Europe/Moscow", "office", 1)
ANNA = Agent("a101", "Anna", "msk", ("PJSIP/101",), ("ru", "en"), "senior", 2, 15,
             (("sales", 4), ("support", 2)), 3)  # fmt: skip
BORIS = Agent("a102", "Boris", None, ("PJSIP/102",), ("ro",), "regular", 1, 10,
              (("support", 5),), 4)  # fmt: skip


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with fresh_schema("agents_store") as name:
        yield name


@pytest.fixture
async def pool(schema: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await db.create_pool(DATABASE_URL, schema, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def conn(schema: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection of its own, as the import's and the CLI's."""
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": schema})
    try:
        yield conn
    finally:
        await conn.close()


async def test_before_the_schema_nobody_has_anything(conn: asyncpg.Connection) -> None:
    assert await agents_store.vocabulary(conn) == (set(), set(), set())


async def test_saved_agents_are_read_back(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    await db.upgrade(pool)
    async with conn.transaction():
        assert await agents_store.lock_agents(conn, ["a101", "a102"]) == {}
        assert await agents_store.known_sites(conn, ["msk"]) == set()
        await agents_store.save_agents(conn, [MSK], [ANNA, BORIS])
    async with conn.transaction():
        assert await agents_store.known_agents(conn, ["a101", "zz"]) == {"a101"}
        assert await agents_store.known_sites(conn, ["msk", "spb"]) == {"msk"}
        assert await agents_store.lock_agents(conn, ["a101", "a102"]) == {"a101": 0, "a102": 0}
        assert await agents_store.vocabulary(conn) == (
            {"sales", "support"},
            {"ru", "en", "ro"},
            {"msk"},
        )
        # Saved again with fewer skills: the file's skills replace the old ones.
        await agents_store.save_agents(conn, [], [replace(ANNA, skills=(("sales", 5),))])
    rows = await agents_store.listing(pool, None, None, 10)
    assert [(r["id"], r["site"], list(r["skill_names"]), list(r["levels"])) for r in rows] == [
        ("a101", "msk", ["sales"], [5]),
        ("a102", "", ["support"], [5]),
    ]
    assert [r["id"] for r in await agents_store.listing(pool, "a101", None, 10)] == ["a102"]
    assert await agents_store.listing(pool, None, "available", 10) == []
    assert [r["calls_today"] for r in rows] == [0, 0]

    profile = await agents_store.profile(pool, "a102")
    assert profile is not None
    assert (profile["id"], profile["name"], list(profile["endpoints"])) == (
        "a102",
        "Boris",
        ["PJSIP/102"],
    )
    assert await agents_store.profile(pool, "nobody") is None
    states = [(r["id"], r["name"], r["state"]) for r in await agents_store.states(pool)]
    assert states == [("a101", "Anna", "logged_out"), ("a102", "Boris", "logged_out")]
    assert await agents_store.names(pool, ["a102", "gone", "a102"]) == {"a102": "Boris"}
    assert await agents_store.names(pool, []) == {}
