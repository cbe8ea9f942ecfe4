"""Tier 2, real PostgreSQL: candidates, atomic reservations from two daemons'
pools, leases that free a crashed daemon's agents, agent states (on call, wrap-up,
missed-call penalty and auto-pause, login, logout, pause) and the CRM lookup."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from switchboard import db
from switchboard.routing.directory import AgentDirectory
from switchboard.routing.rank import UNKNOWN, Candidate, Customer, Needs, Segment, rank
from switchboard.routing.repository import AgentRepository
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


async def test_a_daemon_renews_only_its_live_calls_and_frees_a_calls_leftovers(
    pool: asyncpg.Pool,
) -> None:
    repo = AgentRepository(pool, "d", lease_s=0.4)
    other = AgentRepository(pool, "other", lease_s=0.4)
    assert await repo.reserve(["a01"], "live") == "a01"
    assert await repo.reserve(["a02"], "orphan") == "a02"  # its answer was lost
    assert await other.reserve(["a03"], "live") == "a03"  # same call id, another daemon
    await asyncio.sleep(0.25)
    assert await repo.renew_daemon(["live"]) == 1
    await asyncio.sleep(0.25)
    assert await repo.sweep() == 2  # the orphan and the other daemon's: not renewed
    assert await repo.reserve(["a01"], "x") is None  # still held
    assert await repo.release_call("live") == 1
    assert await repo.release_call("live") == 0
    rows = await pool.fetch("SELECT id, active FROM agents WHERE id IN ('a01', 'a02', 'a03')")
    assert {r["id"]: r["active"] for r in rows} == {"a01": 0, "a02": 0, "a03": 0}


async def test_calls_today_start_again_on_the_agents_next_local_day(pool: asyncpg.Pool) -> None:
    repo = AgentRepository(pool, "d")
    for n in range(2):
        assert await repo.reserve(["a05"], f"c{n}") == "a05"
        await repo.release("a05", f"c{n}", talked=True)
        await wrap_up_over(pool, "a05")
    row = await agent(pool, "a05")  # a05 is at the Moscow site
    today = await pool.fetchval("SELECT (now() AT TIME ZONE 'Europe/Moscow')::date")
    assert (row["calls_today"], row["calls_day"]) == (2, today)
    await pool.execute("UPDATE agents SET calls_day = calls_day - 1 WHERE id = 'a05'")
    assert await repo.reserve(["a05"], "c9") == "a05"
    await repo.release("a05", "c9", talked=True)
    row = await agent(pool, "a05")
    assert (row["calls_today"], row["calls_day"]) == (1, today)


async def test_release_after_a_conversation_or_a_missed_offer(pool: asyncpg.Pool) -> None:
    repo = AgentRepository(pool, "d")
    assert await repo.reserve(["a02"], "c1") == "a02"
    assert await repo.release("a02", "c1", missed=True) == "available"
    assert await repo.reserve(["a02"], "c2") == "a02"  # no penalty configured
    assert await repo.release("a02", "c2", talked=True) == "available"  # never answered
    row = await agent(pool, "a02")
    assert (row["active"], row["calls_today"], row["missed_in_row"]) == (0, 1, 0)
    assert row["last_call_ended_at"] is not None
    assert await repo.release("a02", "c2") is None  # twice: nothing more to free
    with pytest.raises(ValueError, match="not both"):
        await repo.release("a02", "c2", talked=True, missed=True)


async def test_an_answered_offer_puts_the_agent_on_call_and_renews_the_lease(
    pool: asyncpg.Pool,
) -> None:
    repo = AgentRepository(pool, "d")
    assert await repo.reserve(["a01"], "c1") == "a01"
    before = await agent(pool, "a01")
    lease = "SELECT expires_at FROM reservations WHERE call_id = 'c1'"
    reserved_until = await pool.fetchval(lease)
    assert await repo.answered("a01", "c1")
    row = await agent(pool, "a01")
    assert row["state"] == "on_call"
    assert row["state_since"] > before["state_since"]
    assert await pool.fetchval(lease) > reserved_until
    assert not await repo.answered("a01", "elsewhere")  # not its reservation


async def test_an_agent_on_call_with_a_free_line_is_offered_another_call(
    pool: asyncpg.Pool,
) -> None:
    repo = AgentRepository(pool, "d")
    assert await repo.reserve(["a09"], "c1") == "a09"  # a09 has two lines
    assert await repo.answered("a09", "c1")
    assert "a09" in await candidate_ids(repo, Needs(skills=(("sales", 1),)))
    assert await repo.reserve(["a09"], "c2") == "a09"
    assert await repo.reserve(["a09"], "c3") is None  # both lines taken
    assert await repo.answered("a09", "c2")
    assert await repo.release("a09", "c1", talked=True) == "on_call"  # still on c2
    assert await repo.release("a09", "c2", talked=True) == "wrap_up"


async def test_after_a_conversation_the_agent_wraps_up_then_is_available(
    pool: asyncpg.Pool,
) -> None:
    repo = AgentRepository(pool, "d")
    await pool.execute("UPDATE agents SET wrap_up_s = 30 WHERE id = 'a03'")
    assert await repo.reserve(["a03"], "c1") == "a03"
    assert await repo.answered("a03", "c1")
    assert await repo.release("a03", "c1", talked=True) == "wrap_up"
    row = await agent(pool, "a03")
    assert (row["not_before"] - row["last_call_ended_at"]).total_seconds() == 30
    assert row["state_since"] == row["last_call_ended_at"]
    assert await repo.reserve(["a03"], "c2") is None  # wrapping up
    assert "a03" not in await candidate_ids(repo, Needs(skills=(("sales", 1),)))
    assert "a03" not in await candidate_ids(repo, Needs(), owner="a03")
    assert await repo.finish_wrap_up() == []  # not over yet
    await wrap_up_over(pool, "a03")
    assert await repo.finish_wrap_up() == ["a03"]
    assert (await agent(pool, "a03"))["state"] == "available"
    assert await repo.finish_wrap_up() == []
    assert await repo.reserve(["a03"], "c2") == "a03"


async def test_an_agent_is_offered_once_wrap_up_is_over_before_the_state_is_flipped(
    pool: asyncpg.Pool,
) -> None:
    repo = AgentRepository(pool, "d")
    assert await repo.reserve(["a04"], "c1") == "a04"
    assert await repo.answered("a04", "c1")
    assert await repo.release("a04", "c1", talked=True) == "wrap_up"
    await wrap_up_over(pool, "a04")
    assert "a04" in await candidate_ids(repo, Needs(skills=(("sales", 1),)))
    assert await repo.reserve(["a04"], "c2") == "a04"  # still wrap_up in the table
    assert await repo.finish_wrap_up() == []  # an offer is ringing: left as it is
    assert await repo.answered("a04", "c2")
    assert (await agent(pool, "a04"))["state"] == "on_call"


async def test_a_wrap_up_is_a_single_second_with_wrap_up_s_one(pool: asyncpg.Pool) -> None:
    repo = AgentRepository(pool, "d")
    await pool.execute("UPDATE agents SET wrap_up_s = 1 WHERE id = 'a05'")
    assert await repo.reserve(["a05"], "c1") == "a05"
    assert await repo.answered("a05", "c1")
    assert await repo.release("a05", "c1", talked=True) == "wrap_up"
    assert await repo.reserve(["a05"], "c2") is None
    await asyncio.sleep(1.1)
    assert await repo.finish_wrap_up() == ["a05"]
    assert await repo.reserve(["a05"], "c2") == "a05"


async def test_missed_offers_cost_a_penalty_and_pause_the_agent_at_the_limit(
    pool: asyncpg.Pool,
) -> None:
    repo = AgentRepository(pool, "d")
    for n in (1, 2):
        assert await repo.reserve(["a06"], f"c{n}") == "a06"
        state = await repo.release("a06", f"c{n}", missed=True, penalty_s=20, auto_pause_after=3)
        assert state == "available"
        row = await agent(pool, "a06")
        assert row["missed_in_row"] == n
        assert 19 < (row["not_before"] - await pool.fetchval("SELECT now()")).total_seconds() <= 20
        assert await repo.reserve(["a06"], "other") is None  # penalty
        await wrap_up_over(pool, "a06")
    assert await repo.reserve(["a06"], "c3") == "a06"
    state = await repo.release("a06", "c3", missed=True, penalty_s=20, auto_pause_after=3)
    assert state == "paused"
    row = await agent(pool, "a06")
    assert (row["state"], row["pause_reason"], row["missed_in_row"]) == (
        "paused",
        "missed 3 calls in a row",
        3,
    )
    await wrap_up_over(pool, "a06")
    assert await repo.reserve(["a06"], "c4") is None  # paused, penalty or not
    assert await repo.set_state("a06", "available") == "paused"  # unpause
    row = await agent(pool, "a06")
    assert (row["missed_in_row"], row["pause_reason"], row["not_before"]) == (0, "", None)
    assert await repo.reserve(["a06"], "c4") == "a06"


async def test_a_conversation_resets_the_missed_count_and_zero_never_pauses(
    pool: asyncpg.Pool,
) -> None:
    repo = AgentRepository(pool, "d")
    for n in range(5):
        assert await repo.reserve(["a07"], f"m{n}") == "a07"
        assert await repo.release("a07", f"m{n}", missed=True) == "available"
    assert (await agent(pool, "a07"))["missed_in_row"] == 5
    assert await repo.reserve(["a07"], "t") == "a07"
    assert await repo.answered("a07", "t")
    assert await repo.release("a07", "t", talked=True) == "wrap_up"
    assert (await agent(pool, "a07"))["missed_in_row"] == 0


async def test_a_miss_does_not_cut_a_wrap_up_short(pool: asyncpg.Pool) -> None:
    repo = AgentRepository(pool, "d")
    await pool.execute("UPDATE agents SET wrap_up_s = 60 WHERE id = 'a09'")
    assert await repo.reserve(["a09"], "c1") == "a09"
    assert await repo.reserve(["a09"], "c2") == "a09"  # a second line rings
    assert await repo.answered("a09", "c1")
    assert await repo.release("a09", "c1", talked=True) == "on_call"  # c2 still rings
    assert await repo.release("a09", "c2", missed=True, penalty_s=5) == "wrap_up"
    row = await agent(pool, "a09")
    assert (row["not_before"] - row["last_call_ended_at"]).total_seconds() == 60


async def test_two_lines_released_at_once_leave_the_agent_in_wrap_up(
    pool: asyncpg.Pool,
) -> None:
    repo = AgentRepository(pool, "d")
    for round_ in range(5):
        calls = [f"r{round_}-1", f"r{round_}-2"]
        for call in calls:
            assert await repo.reserve(["a09"], call) == "a09"
            assert await repo.answered("a09", call)
        states = await asyncio.gather(*(repo.release("a09", c, talked=True) for c in calls))
        assert sorted(states, key=str) == ["on_call", "wrap_up"]
        row = await agent(pool, "a09")
        assert (row["state"], row["active"]) == ("wrap_up", 0)
        await wrap_up_over(pool, "a09")
        assert await repo.finish_wrap_up() == ["a09"]


async def test_login_logout_pause_and_unpause(pool: asyncpg.Pool) -> None:
    repo = AgentRepository(pool, "d")
    assert await repo.set_state("a08", "logged_out") == "available"
    assert await repo.set_state("a08", "available") == "logged_out"  # login
    assert await repo.set_state("a08", "paused", "lunch") == "available"
    row = await agent(pool, "a08")
    assert (row["state"], row["pause_reason"]) == ("paused", "lunch")
    assert await repo.set_state("a08", "available") == "paused"
    assert (await agent(pool, "a08"))["pause_reason"] == ""
    assert await repo.set_state("nobody", "available") is None
    for state in ("on_call", "wrap_up", "busy"):
        with pytest.raises(ValueError, match="not set by hand"):
            await repo.set_state("a08", state)
    assert (await agent(pool, "a08"))["state"] == "available"


async def test_an_agent_paused_during_a_call_stays_paused_after_it(pool: asyncpg.Pool) -> None:
    repo = AgentRepository(pool, "d")
    assert await repo.reserve(["a00"], "c1") == "a00"
    assert await repo.set_state("a00", "paused", "after this call") == "available"
    assert await repo.answered("a00", "c1")
    assert (await agent(pool, "a00"))["state"] == "paused"
    assert await repo.release("a00", "c1", talked=True) == "paused"
    row = await agent(pool, "a00")
    assert (row["pause_reason"], row["calls_today"]) == ("after this call", 1)


@pytest.mark.parametrize("state", ["logged_out", "paused"])
async def test_logged_out_or_paused_agents_are_never_offered(
    pool: asyncpg.Pool, state: str
) -> None:
    repo = AgentRepository(pool, "d")
    off = ["a00", "a01", "a02"]
    for agent_id in off:
        assert await repo.set_state(agent_id, state) == "available"
    assert not set(off) & await candidate_ids(repo, Needs(skills=(("sales", 1),)))
    assert not set(off) & await candidate_ids(repo, Needs())
    assert await candidate_ids(repo, Needs(), owner="a01") == set(AGENTS) - set(off)
    assert await repo.reserve(off, "c1") is None
    directory = AgentDirectory()
    await directory.refresh(pool)
    for needs in (Needs(skills=(("sales", 1),)), Needs()):
        offered = directory.candidates(needs, owner="a01", now=datetime.now(UTC))
        assert not set(off) & {c.id for c in offered if c.available}
    now = datetime.now(UTC)
    owner = rank(
        Needs(), Customer(id=1, owner_agent="a01"), directory.candidates(Needs(), "a01"), now
    )
    assert "a01" not in [c.id for c in owner]


async def test_a_crashed_daemons_answered_call_leaves_the_agent_available(
    pool: asyncpg.Pool,
) -> None:
    crashed = AgentRepository(pool, "crashed", lease_s=0.2)
    assert await crashed.reserve(["a05"], "c1") == "a05"
    assert await crashed.answered("a05", "c1")
    await asyncio.sleep(0.4)
    assert await AgentRepository(pool, "alive").sweep() == 1
    row = await agent(pool, "a05")
    assert (row["state"], row["active"]) == ("available", 0)


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


async def test_the_directory_leaves_out_agents_in_wrap_up_or_a_penalty(
    pool: asyncpg.Pool,
) -> None:
    repo = AgentRepository(pool, "d")
    await pool.execute("UPDATE agents SET wrap_up_s = 30")
    assert await repo.reserve(["a04"], "c1") == "a04"
    assert await repo.answered("a04", "c1")
    assert await repo.release("a04", "c1", talked=True) == "wrap_up"
    directory = AgentDirectory()
    await directory.refresh(pool)
    needs = Needs(skills=(("sales", 5),))  # a04 and a09
    now = datetime.now(UTC)
    assert ids(directory.candidates(needs, now=now)) == {"a09"}
    assert ids(directory.candidates(needs, now=now + timedelta(seconds=31))) == {"a04", "a09"}
    assert ids(directory.candidates(needs)) == {"a04", "a09"}  # no clock: as read
    assert "a04" not in ids(directory.candidates(needs, owner="a04", now=now))
    # this daemon's own releases, before the next refresh
    directory.taken("a09")
    directory.wrapped("a09", now)  # talked: 30 s of wrap-up as read
    assert ids(directory.candidates(needs, now=now + timedelta(seconds=29))) == set()
    assert ids(directory.candidates(needs, now=now + timedelta(seconds=30))) == {"a04", "a09"}
    directory.missed("a09", now + timedelta(seconds=5))
    assert ids(directory.candidates(needs, now=now + timedelta(seconds=31))) == {"a04", "a09"}
    directory.missed("a04", now, paused=True)
    assert ids(directory.candidates(needs, now=now + timedelta(seconds=31))) == {"a09"}


async def test_the_directory_rereads_only_what_changed_and_everything_after_an_import(
    pool: asyncpg.Pool,
) -> None:
    directory = AgentDirectory()
    await directory.refresh(pool)
    assert directory.reads == {"full": 1, "changes": 0, "whole": 0}
    needs = Needs(skills=(("sales", 5),))  # a04 and a09
    # Another daemon reserves a04 and the call ends: read as changes, in place.
    other = AgentRepository(pool, "other")
    assert await other.reserve(["a04"], "c1") == "a04"
    await directory.refresh(pool)
    assert ids(directory.candidates(needs)) == {"a09"}
    assert await other.release("a04", "c1", talked=True) == "available"
    await directory.refresh(pool)
    assert ids(directory.candidates(needs)) == {"a04", "a09"}
    # ... and a04, who just talked, is now the one idle the shortest.
    assert directory.candidates(Needs(skills=(("sales", 1),)))[-1].id == "a04"
    assert directory.reads == {"full": 1, "changes": 2, "whole": 0}
    # A logout: no longer offered (without a full read).
    await AgentRepository(pool, "cli").set_state("a09", "logged_out")
    await directory.refresh(pool)
    assert ids(directory.candidates(needs)) == {"a04"}
    assert directory.reads["full"] == 1
    # Back in: in place too (still in memory); an agent never read: read whole.
    await AgentRepository(pool, "cli").set_state("a09", "available")
    await directory.refresh(pool)
    assert ids(directory.candidates(needs)) == {"a04", "a09"}
    assert directory.reads["full"] == 1
    await pool.execute("INSERT INTO agents (id, name, endpoints, state) VALUES"
                       " ('new1', 'New', '{PJSIP/new1}', 'logged_out')")  # fmt: skip
    await pool.execute("INSERT INTO agent_skills VALUES ('new1', 'sales', 5)")
    await directory.refresh(pool)
    assert directory.reads["full"] == 1  # logged out: nothing to read
    await AgentRepository(pool, "cli").set_state("new1", "available")
    await directory.refresh(pool)
    assert (directory.reads["full"], directory.reads["whole"]) == (1, 1)
    assert ids(directory.candidates(needs)) == {"a04", "a09", "new1"}
    assert "new1" in ids(directory.candidates(Needs(skills=(("sales", 1),))))
    # An import changes a skill (profile_at): that agent is read whole again.
    await pool.execute("UPDATE agent_skills SET proficiency = 5 WHERE agent = 'a00'")
    await pool.execute("UPDATE agents SET profile_at = clock_timestamp() WHERE id = 'a00'")
    await directory.refresh(pool)
    assert (directory.reads["full"], directory.reads["whole"]) == (1, 2)
    assert ids(directory.candidates(needs)) == {"a00", "a04", "a09", "new1"}
    assert ids(directory.candidates(needs, best_first=True)) == {"a00", "a04", "a09", "new1"}
    assert len(directory.idle_any) == len(directory.agents) == 11  # each once
    # A big import: everything again.
    await pool.execute("UPDATE agents SET profile_at = clock_timestamp()")
    await directory.refresh(pool)
    assert directory.reads["full"] == 1  # 11 agents: under REREAD_AT_MOST
    assert len(directory.idle_any) == 11


async def agent(pool: asyncpg.Pool, agent_id: str) -> asyncpg.Record:
    row = await pool.fetchrow("SELECT *, now() AS read_at FROM agents WHERE id = $1", agent_id)
    assert row is not None
    return row


async def wrap_up_over(pool: asyncpg.Pool, agent_id: str) -> None:
    """As if the agent's wrap-up or penalty had run out (instead of sleeping)."""
    await pool.execute(
        "UPDATE agents SET not_before = now() - interval '1 second' WHERE id = $1", agent_id
    )


async def candidate_ids(repo: AgentRepository, needs: Needs, owner: str = "") -> set[str]:
    return ids(await repo.candidates(needs, owner))


def ids(candidates: list[Candidate]) -> set[str]:
    return {c.id for c in candidates}
