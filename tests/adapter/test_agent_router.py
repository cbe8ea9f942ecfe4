"""Tier 2, real PostgreSQL: the daemon's agent router answering FindAgent.

The owner first, the best agent for a VIP, phones that cannot ring skipped,
callers waiting in line (VIPs first) and served when an agent frees up,
escalation while waiting, offers reported back (on call, wrap-up, missed), and
an unreachable database answered with an error within the decision timeout."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import datetime

import pytest

from switchboard.ari import events as ari
from switchboard.config import RoutingConfig
from switchboard.daemon.targets import TargetBook
from switchboard.db import Database
from switchboard.engine.commands import FindAgent, ReportAgent, StopAgentSearch
from switchboard.engine.events import AgentFound, EngineEvent
from switchboard.hours import Calendar, Hours
from switchboard.routing.rank import Segment
from switchboard.routing.repository import AgentRepository
from switchboard.routing.service import AgentRouter
from tests.pgkit import DATABASE_URL, fresh_schema

# id, endpoints, languages, level, {skill: proficiency}
AGENTS = [
    ("a100", ["PJSIP/100"], ["en", "ru"], "regular", {"sales": 3, "support": 5}),
    ("a101", ["PJSIP/101"], ["ru", "en"], "regular", {"sales": 2}),
    ("a102", ["PJSIP/102", "PJSIP/112"], ["ro", "ru"], "senior", {"sales": 5, "support": 2}),
]
VIP_PHONE = "+79161234567"
REGULAR_PHONE = "+79160000001"


@dataclass
class Calls:
    """Plays the supervisor: what the router delivers to each call."""

    delivered: dict[str, list[EngineEvent]] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def deliver(self, call_id: str, event: EngineEvent) -> bool:
        self.delivered.setdefault(call_id, []).append(event)
        self.arrived.set()
        return True

    async def wait_for(self, call_id: str, within: float = 5.0) -> AgentFound:
        async with asyncio.timeout(within):
            while not self.delivered.get(call_id):
                self.arrived.clear()
                await self.arrived.wait()
        found = self.delivered[call_id].pop(0)
        assert isinstance(found, AgentFound)
        return found


def phones(*offline: str) -> TargetBook:
    book = TargetBook()
    names = ["100", "101", "102", "112"]
    book.load(
        ari.Endpoint("PJSIP", n, "offline" if f"PJSIP/{n}" in offline else "online") for n in names
    )
    return book


@pytest.fixture
async def database() -> AsyncIterator[Database]:
    async with fresh_schema("router") as schema:
        database = Database(DATABASE_URL, schema)
        pool = await database.pool()
        for agent, endpoints, languages, level, skills in AGENTS:
            await pool.execute(
                "INSERT INTO agents (id, name, endpoints, languages, level, state, wrap_up_s)"
                " VALUES ($1, $1, $2, $3, $4, 'available', 0)",
                agent,
                endpoints,
                languages,
                level,
            )
            for skill, level_ in skills.items():
                await pool.execute(
                    "INSERT INTO agent_skills VALUES ($1, $2, $3)", agent, skill, level_
                )
        for phone, segment, owner in ((VIP_PHONE, "vip", "a101"), (REGULAR_PHONE, "regular", None)):
            customer = await pool.fetchval(
                "INSERT INTO customers (name, segment, language, owner_agent)"
                " VALUES ('x', $1, 'ru', $2) RETURNING id",
                segment,
                owner,
            )
            await pool.execute("INSERT INTO customer_phones VALUES ($1, $2)", phone, customer)
        try:
            yield database
        finally:
            await database.close()


@pytest.fixture
async def router(database: Database) -> AsyncIterator[tuple[AgentRouter, Calls]]:
    calls = Calls()
    config = RoutingConfig(missed_penalty=30, auto_pause_after=2, refresh_interval=0.2)
    router = AgentRouter(database, phones(), calls.deliver, config, "test-daemon")
    task = asyncio.create_task(router.run())
    try:
        yield router, calls
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def ask(
    call: str,
    *,
    caller: str = VIP_PHONE,
    skills: tuple[tuple[str, int], ...] = (("sales", 2),),
    language: str = "",
    wait: bool = False,
    exclude: tuple[str, ...] = (),
    widen_after: int = 30,
    any_after: int = 60,
    owner_first: bool = True,
    site: str = "",
) -> FindAgent:
    return FindAgent(
        request_id=f"{call}-ask",
        search_id=f"{call}-agents",
        call_id=call,
        skills=skills,
        language=language,
        call_language="en",
        site=site,
        caller=caller,
        owner_first=owner_first,
        exclude=exclude,
        wait=wait,
        widen_after=widen_after,
        any_after=any_after,
    )


async def agent_row(database: Database, agent: str) -> dict[str, object]:
    pool = await database.pool()
    row = await pool.fetchrow("SELECT * FROM agents WHERE id = $1", agent)
    assert row is not None
    return dict(row)


async def settled(router: AgentRouter) -> None:
    """Until the background writer has written every report."""
    async with asyncio.timeout(5):
        await router.written()


async def test_a_vip_gets_their_owner_first_then_the_most_proficient_agent(
    router: tuple[AgentRouter, Calls],
) -> None:
    routing, _ = router
    owner = await routing.find(ask("c1"))
    assert (owner.agent, owner.endpoints, owner.owner) == ("a101", ("PJSIP/101",), True)
    assert owner.customer is not None
    assert (owner.customer.segment, owner.customer.owner_agent) == (Segment.VIP, "a101")
    routing.report(ReportAgent("c1", "a101", "cancelled"))
    best = await routing.find(ask("c1", exclude=("a101",)))
    assert (best.agent, best.endpoints, best.owner) == ("a102", ("PJSIP/102", "PJSIP/112"), False)


async def test_the_language_chosen_then_the_crms_then_the_calls_is_what_the_agent_speaks(
    router: tuple[AgentRouter, Calls],
) -> None:
    routing, _ = router
    support = (("support", 1),)
    chosen = await routing.find(ask("c1", caller="", skills=support, language="ro"))
    assert chosen.agent == "a102"  # the only Romanian speaker
    routing.report(ReportAgent("c1", "a102", "cancelled"))
    unknown = await routing.find(ask("c2", caller="", skills=support))
    assert unknown.agent == "a100"  # the call's language, en: a102 does not speak it
    routing.report(ReportAgent("c2", "a100", "cancelled"))
    await settled(routing)
    # The regular customer speaks Russian (CRM): a102 does, although the call is in en.
    crm = await routing.find(ask("c3", caller=REGULAR_PHONE, skills=support, exclude=("a100",)))
    assert crm.agent == "a102"


async def test_phones_that_cannot_ring_are_not_offered(database: Database) -> None:
    calls = Calls()
    book = phones("PJSIP/101", "PJSIP/102")  # 112, a102's second phone, still rings
    routing = AgentRouter(database, book, calls.deliver, RoutingConfig(), "d")
    found = await routing.find(ask("c1"))
    assert (found.agent, found.endpoints, found.owner) == ("a102", ("PJSIP/112",), False)
    book.in_use.add("PJSIP/112")  # a call Switchboard does not know about
    assert (await routing.find(ask("c2"))).agent == "a100"


async def test_a_caller_in_line_gets_the_agent_freed_by_another_call_vip_first(
    router: tuple[AgentRouter, Calls],
) -> None:
    routing, calls = router
    taken = [await routing.find(ask(f"busy{n}", caller="", language="ru")) for n in range(3)]
    assert sorted(f.agent for f in taken) == ["a100", "a101", "a102"]
    regular = await routing.find(ask("regular", caller=REGULAR_PHONE, wait=True))
    vip = await routing.find(ask("vip", wait=True, owner_first=False))
    assert (regular.agent, vip.agent) == ("", "")  # both wait, the regular caller first
    freed = next(f for f in taken if f.agent == "a102")
    routing.report(ReportAgent(freed.request_id.removesuffix("-ask"), "a102", "cancelled"))
    got = await calls.wait_for("vip")
    assert (got.request_id, got.agent) == ("vip-ask", "a102")
    assert "regular" not in calls.delivered


async def test_a_waiting_call_escalates_to_any_proficiency_after_widen_after(
    router: tuple[AgentRouter, Calls],
) -> None:
    routing, calls = router
    started = time.monotonic()
    found = await routing.find(ask("c1", caller="", skills=(("sales", 5),), wait=True,
                                   exclude=("a102",), widen_after=1))  # fmt: skip
    assert found.agent == ""  # nobody has sales 5 but a102, whom this call excludes
    got = await calls.wait_for("c1", within=5)
    assert got.agent in ("a100", "a101")
    assert time.monotonic() - started >= 1.0


async def test_a_call_that_leaves_the_line_is_not_offered_an_agent(
    router: tuple[AgentRouter, Calls],
) -> None:
    routing, calls = router
    for n in range(3):
        await routing.find(ask(f"busy{n}", caller="", language="ru"))
    await routing.find(ask("gone", wait=True))
    routing.stop(StopAgentSearch("gone", "gone-agents"))
    routing.report(ReportAgent("busy0", (await agent_holder(routing, "busy0")), "cancelled"))
    await asyncio.sleep(1.5)
    assert "gone" not in calls.delivered


async def agent_holder(routing: AgentRouter, call: str) -> str:
    (agent,) = routing._held[call]
    return agent


async def test_offers_are_written_on_call_wrap_up_and_missed_with_auto_pause(
    router: tuple[AgentRouter, Calls], database: Database
) -> None:
    routing, _ = router
    found = await routing.find(ask("c1", caller=""))
    routing.report(ReportAgent("c1", found.agent, "answered"))
    await settled(routing)
    assert (await agent_row(database, found.agent))["state"] == "on_call"
    routing.report(ReportAgent("c1", found.agent, "talked"))
    await settled(routing)
    row = await agent_row(database, found.agent)
    assert (row["state"], row["active"], row["calls_today"]) == ("wrap_up", 0, 1)
    # a101 misses twice (auto_pause_after: 2) and is paused.
    for n in range(2):
        pool = await database.pool()
        # (the missed-call penalty would keep them from the second offer)
        await pool.execute("UPDATE agents SET not_before = NULL WHERE id = 'a101'")
        await routing.directory.refresh(pool)
        offer = await routing.find(ask(f"m{n}"))
        assert offer.agent == "a101"
        routing.report(ReportAgent(f"m{n}", "a101", "missed"))
        await settled(routing)
    row = await agent_row(database, "a101")
    assert (row["state"], row["missed_in_row"], row["active"]) == ("paused", 2, 0)


async def test_a_call_that_ends_releases_what_it_still_holds(
    router: tuple[AgentRouter, Calls], database: Database
) -> None:
    routing, _ = router
    found = await routing.find(ask("c1", caller=""))
    routing.call_ended("c1")  # e.g. the call's task crashed
    await settled(routing)
    assert (await agent_row(database, found.agent))["active"] == 0


async def test_an_unreachable_database_is_an_error_within_the_decision_timeout() -> None:
    calls = Calls()
    down = Database("postgresql://postgres@127.0.0.1:1/test", "nowhere")
    routing = AgentRouter(down, phones(), calls.deliver, RoutingConfig(), "d")
    started = time.monotonic()
    found = await routing.find(ask("c1", wait=True))
    assert time.monotonic() - started <= 1.0
    assert found.error
    assert found.agent == ""
    assert routing.stats["errors"] == 1


async def test_without_a_database_the_answer_says_so() -> None:
    routing = AgentRouter(None, phones(), Calls().deliver, RoutingConfig(), "d")
    found = await routing.find(ask("c1"))
    assert "no database configured" in found.error
    routing.call_ended("c1")  # nothing to write, nothing to fail at stop
    await routing.flush()


async def test_a_reservation_made_by_a_decision_that_timed_out_is_freed_with_its_call(
    router: tuple[AgentRouter, Calls], database: Database
) -> None:
    routing, _ = router
    # The reservation committed, but the decision had given up before it heard which
    # agent: the router does not know of it.
    assert (await routing.find(ask("c9", skills=(("juggling", 1),)))).agent == ""  # it asked
    repo = AgentRepository(await database.pool(), "test-daemon")
    assert await repo.reserve(["a100"], "c9") == "a100"
    assert "c9" not in routing._held  # (so its lease is not renewed either)
    routing.call_ended("c9")
    await settled(routing)
    assert (await agent_row(database, "a100"))["active"] == 0


async def test_a_call_asking_again_keeps_its_place_in_line(
    router: tuple[AgentRouter, Calls],
) -> None:
    routing, calls = router
    for n in range(3):
        await routing.find(ask(f"busy{n}", caller="", language="ru"))
    freed_first = await agent_holder(routing, "busy0")
    first = ask("first", caller=REGULAR_PHONE, wait=True)
    await routing.find(first)
    # (the second caller already tried that agent: only a later one will do for them)
    await routing.find(ask("second", caller=REGULAR_PHONE, wait=True, exclude=(freed_first,)))
    routing.report(ReportAgent("busy0", freed_first, "cancelled"))
    offered = await calls.wait_for("first")
    assert offered.agent == freed_first
    # It rings out; the call asks again (the same visit) and keeps its place: ahead
    # of the second caller, who came later.
    routing.report(ReportAgent("first", offered.agent, "cancelled"))
    await routing.find(replace(first, request_id="first-ask2", exclude=(offered.agent,)))
    routing.report(ReportAgent("busy1", await agent_holder(routing, "busy1"), "cancelled"))
    got = await calls.wait_for("first")
    assert got.request_id == "first-ask2"
    assert "second" not in calls.delivered


async def test_the_database_failing_while_calls_wait_sends_them_all_on_at_once(
    router: tuple[AgentRouter, Calls], database: Database
) -> None:
    routing, calls = router
    for n in range(3):
        await routing.find(ask(f"busy{n}", caller="", language="ru"))
    for n in range(3):
        await routing.find(ask(f"w{n}", caller=REGULAR_PHONE, wait=True))
    await database.close()  # the database is gone
    routing.directory.freed("a100")  # (as if it were free again)
    started = time.monotonic()
    routing.wake()
    errors = [await calls.wait_for(f"w{n}", within=3) for n in range(3)]
    assert all(e.error for e in errors)
    assert time.monotonic() - started < 1.5  # not one decision timeout after another


CHISINAU_9_TO_18 = Calendar(
    name="kis_hours",
    zone="Europe/Chisinau",
    weekly=tuple((Hours.parse("09:00-18:00"),) for _ in range(7)),
)


@pytest.mark.parametrize(
    ("chisinau_time", "offered"),
    [
        ("2026-11-25T12:00:00+02:00", "a102"),  # the Chisinau site is open
        ("2026-11-25T20:00:00+02:00", ""),  # closed: nobody
    ],
)
async def test_other_sites_only_when_nobody_at_home_can_and_only_if_open(
    database: Database, chisinau_time: str, offered: str
) -> None:
    pool = await database.pool()
    await pool.execute(
        "INSERT INTO sites (id, name, zone, calendar) VALUES"
        " ('msk', 'Moscow', 'Europe/Moscow', ''),"
        " ('kis', 'Chisinau', 'Europe/Chisinau', 'kis_hours')"
    )
    await pool.execute("UPDATE agents SET site = 'msk' WHERE id IN ('a100', 'a101')")
    await pool.execute("UPDATE agents SET site = 'kis' WHERE id = 'a102'")
    at = datetime.fromisoformat(chisinau_time)
    calls = Calls()
    routing = AgentRouter(
        database, phones(), calls.deliver, RoutingConfig(), "d",
        calendars=lambda: {"kis_hours": CHISINAU_9_TO_18}, clock=lambda: at,
    )  # fmt: skip
    sales = (("sales", 2),)
    home = await routing.find(ask("c1", caller="", language="ru", skills=sales, site="msk"))
    assert home.agent in ("a100", "a101")  # a102 (sales 5) is better, but at the other site
    second = await routing.find(ask("c2", caller="", language="ru", skills=sales, site="msk"))
    assert {home.agent, second.agent} == {"a100", "a101"}
    third = await routing.find(ask("c3", caller="", language="ru", skills=sales, site="msk"))
    assert third.agent == offered
