"""Tier 2: the FastAGI server over TCP, with the daemon's agent router on real
PostgreSQL. A client plays Asterisk's side (tests/agikit.py).

route hands out agents that nobody else gets until released (done, a second
route, a hang-up, a vanished channel, the hold limit); no agent free gives the
fallback; hours reads the flows' calendars; bad input of every kind ends in
SWITCHBOARD_ERROR or a closed connection, never a stuck session; 200 sessions at
once are served."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import aiohttp
import pytest

from switchboard.agi import AgiHandlers, AgiServer
from switchboard.agi import server as server_module
from switchboard.agi.handlers import LiveChannels
from switchboard.agi.holds import FORGET_AFTER_S, SWEEP_GRACE_S
from switchboard.agi.protocol import MAX_ENV_LINES, MAX_LINE
from switchboard.agi.server import AgiSession
from switchboard.ari import events as ari
from switchboard.ari.client import AriClient
from switchboard.config import AgiConfig, RoutingConfig
from switchboard.daemon.targets import TargetBook
from switchboard.db import Database
from switchboard.engine.events import EngineEvent
from switchboard.hours import Calendar, Hours
from switchboard.routing.service import AgentRouter
from tests.agikit import agi_call
from tests.fake_ari import PASSWORD, USER, FakeAri
from tests.pgkit import DATABASE_URL, fresh_schema

AGENTS = [  # id, phones, {skill: proficiency}
    ("a100", ["PJSIP/100"], {"sales": 3}),
    ("a101", ["PJSIP/101"], {"sales": 2}),
    ("a102", ["PJSIP/102", "PJSIP/112"], {"sales": 5}),
]
VIP = "+79161234567"  # owner a101
CONFIG = AgiConfig(host="127.0.0.1", port=0, session_timeout=1.0, trunk="PJSIP/carrier")
MAIN = Calendar(name="main", zone="Europe/Moscow", weekly=((Hours.parse("09:00-18:00"),),) * 7)
NOON_IN_MOSCOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def nowhere(call_id: str, event: EngineEvent) -> bool:
    return False  # no call waits in line here


@dataclass
class Office:
    port: int
    handlers: AgiHandlers
    server: AgiServer
    router: AgentRouter
    database: Database

    async def agent(self, agent: str) -> dict[str, object]:
        await self.settled()
        pool = await self.database.pool()
        row = await pool.fetchrow("SELECT * FROM agents WHERE id = $1", agent)
        assert row is not None
        return dict(row)

    async def reserved(self) -> list[str]:
        """The agents reserved now (the database's ``active``)."""
        return [a for a, _, _ in AGENTS if (await self.agent(a))["active"] == 1]

    async def settled(self) -> None:
        async with asyncio.timeout(5):
            await self.router.written()


async def _fill(database: Database) -> None:
    pool = await database.pool()
    for agent, endpoints, skills in AGENTS:
        await pool.execute(
            "INSERT INTO agents (id, name, endpoints, languages, state, wrap_up_s)"
            " VALUES ($1, $1, $2, '{en,ru}', 'available', 0)",
            agent,
            endpoints,
        )
        for skill, level in skills.items():
            await pool.execute("INSERT INTO agent_skills VALUES ($1, $2, $3)", agent, skill, level)
    customer = await pool.fetchval(
        "INSERT INTO customers (name, segment, language, owner_agent)"
        " VALUES ('Petrov', 'vip', 'ru', 'a101') RETURNING id"
    )
    await pool.execute("INSERT INTO customer_phones VALUES ($1, $2)", VIP, customer)


OfficeMaker = Callable[..., Awaitable[Office]]


@pytest.fixture
async def make_office() -> AsyncIterator[OfficeMaker]:
    tasks: list[asyncio.Task[None]] = []
    databases: list[Database] = []
    async with fresh_schema("agi") as schema:

        async def make(
            config: AgiConfig = CONFIG,
            url: str = DATABASE_URL,
            decision_s: float = 0.8,
            live_channels: LiveChannels | None = None,
        ) -> Office:
            database = Database(url, schema)
            databases.append(database)
            if url == DATABASE_URL:
                await _fill(database)
            book = TargetBook()
            phones = ("100", "101", "102", "112")
            book.load(ari.Endpoint("PJSIP", n, "online") for n in phones)
            routing = RoutingConfig(
                missed_penalty=30, auto_pause_after=0, decision_timeout=decision_s
            )
            router = AgentRouter(database, book, nowhere, routing, "agi-test")
            handlers = AgiHandlers(
                config, router, lambda: {"main": MAIN}, lambda: NOON_IN_MOSCOW, live_channels
            )
            server = AgiServer(config, handlers)
            tasks.extend(asyncio.create_task(c) for c in (router.run(), server.run()))
            if live_channels is not None:  # the safety net runs too
                tasks.append(asyncio.create_task(handlers.run()))
            async with asyncio.timeout(5):
                await server.listening.wait()
            return Office(server.port, handlers, server, router, database)

        try:
            yield make
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for database in databases:
                await database.close()


@pytest.fixture
async def office(make_office: OfficeMaker) -> Office:
    return await make_office()


async def test_route_hands_a_vip_their_owner_and_nobody_else_gets_them_until_done(
    office: Office,
) -> None:
    first = await agi_call(office.port, "route?skill=sales", uniqueid="1.1", caller=VIP)
    customer = first.variables["SWITCHBOARD_CUSTOMER"]
    assert customer.isdigit()
    assert first.variables == {
        "SWITCHBOARD_TARGET": "PJSIP/101",
        "SWITCHBOARD_AGENT": "a101",
        "SWITCHBOARD_CUSTOMER": customer,
        "SWITCHBOARD_SEGMENT": "vip",
        "SWITCHBOARD_RESULT": "agent",
        "SWITCHBOARD_ERROR": "",
    }
    second = await agi_call(office.port, "route?skill=sales", uniqueid="1.2", caller=VIP)
    assert second.variables["SWITCHBOARD_TARGET"] == "PJSIP/102&PJSIP/112"  # both phones ring
    assert (await office.agent("a101"))["active"] == 1
    done = await agi_call(office.port, "done?status=ANSWER", uniqueid="1.1")
    assert done.variables == {"SWITCHBOARD_ERROR": ""}
    a101 = await office.agent("a101")
    assert (a101["active"], a101["calls_today"], a101["state"]) == (0, 1, "wrap_up")
    # No status given: the channel's DIALSTATUS is read.
    asked = await agi_call(office.port, "done", uniqueid="1.2", channel={"DIALSTATUS": "NOANSWER"})
    assert "GET VARIABLE DIALSTATUS" in asked.commands
    a102 = await office.agent("a102")
    assert (a102["active"], a102["missed_in_row"], a102["calls_today"]) == (0, 1, 0)
    again = await agi_call(office.port, "done?status=ANSWER", uniqueid="1.2")  # idempotent
    assert again.variables == {"SWITCHBOARD_ERROR": ""}
    assert (await office.agent("a102"))["calls_today"] == 0


async def test_a_second_route_releases_the_last_agent_by_dialstatus_and_offers_another(
    office: Office,
) -> None:
    first = await agi_call(office.port, "route?skill=sales", uniqueid="2.1", caller=VIP)
    assert first.variables["SWITCHBOARD_AGENT"] == "a101"
    second = await agi_call(
        office.port, "route?skill=sales", uniqueid="2.1", caller=VIP,
        channel={"DIALSTATUS": "NOANSWER"},
    )  # fmt: skip
    assert second.variables["SWITCHBOARD_AGENT"] == "a102"
    a101 = await office.agent("a101")
    assert (a101["active"], a101["missed_in_row"]) == (0, 1)
    # a101 is in its missed-call penalty (30 s), a102 was handed to this channel already
    third = await agi_call(office.port, "route?skill=sales", uniqueid="2.1", caller=VIP)
    assert third.variables["SWITCHBOARD_AGENT"] == "a100"  # neither a101 nor a102 again


async def test_with_nobody_free_the_fallback_number_is_dialled_through_the_trunk(
    office: Office,
) -> None:
    for n in range(3):
        taken = await agi_call(office.port, "route?skill=sales", uniqueid=f"3.{n}")
        assert taken.variables["SWITCHBOARD_RESULT"] == "agent"
    fallback = await agi_call(
        office.port, "route?skill=sales&fallback=8%20916%20000-00-01", uniqueid="3.9"
    )
    assert fallback.variables["SWITCHBOARD_TARGET"] == "PJSIP/+79160000001@carrier"
    assert fallback.variables["SWITCHBOARD_RESULT"] == "fallback"
    assert fallback.variables["SWITCHBOARD_SEGMENT"] == "new"  # an unknown caller
    nobody = await agi_call(office.port, "route?skill=sales", uniqueid="3.10")
    assert (nobody.variables["SWITCHBOARD_TARGET"], nobody.variables["SWITCHBOARD_RESULT"]) == (
        "",
        "none",
    )
    assert nobody.variables["SWITCHBOARD_ERROR"] == ""


async def test_200_sessions_at_once_never_hand_one_agent_to_two_channels(
    make_office: OfficeMaker,
) -> None:
    # What is checked is the hand-out, not speed: the suite's 1 s session limit and
    # 0.8 s decision limit (for the timeout tests) would cut some of 200 sessions short
    # on a loaded 2-core machine, which is a timing failure, not a double hand-out.
    office = await make_office(replace(CONFIG, session_timeout=30.0), decision_s=10.0)
    started = time.monotonic()
    calls = await asyncio.gather(
        *(
            agi_call(office.port, "route?skill=sales&fallback=PJSIP/100", uniqueid=f"4.{n}")
            for n in range(200)
        )
    )
    took = time.monotonic() - started
    agents = [c.variables["SWITCHBOARD_AGENT"] for c in calls if c.variables["SWITCHBOARD_AGENT"]]
    assert sorted(agents) == ["a100", "a101", "a102"]
    results = [c.variables["SWITCHBOARD_RESULT"] for c in calls]
    assert results.count("fallback") == 197
    assert all(c.variables["SWITCHBOARD_ERROR"] == "" for c in calls)
    print(f"200 concurrent route sessions in {took:.2f} s")
    await asyncio.gather(
        *(agi_call(office.port, "done?status=CANCEL", uniqueid=f"4.{n}") for n in range(200))
    )
    for agent, _, _ in AGENTS:
        assert (await office.agent(agent))["active"] == 0


@pytest.mark.parametrize("dead_511", [False, True])
async def test_a_caller_who_hangs_up_mid_session_frees_the_agent_at_once(
    office: Office, dead_511: bool
) -> None:
    gone = await agi_call(
        office.port, "route?skill=sales", uniqueid="5.1", hang_up_after=0, dead_511=dead_511
    )
    assert gone.commands[0].startswith("SET VARIABLE SWITCHBOARD_TARGET")
    assert len(gone.commands) == 1  # after HANGUP the server stops talking
    assert office.handlers.holds.held("5.1") == ""
    a100 = await office.agent("a100")  # the longest idle: handed out, then freed
    assert (a100["active"], a100["missed_in_row"]) == (0, 0)
    # Hung up later (after the variables): held until done, as any call.
    late = await agi_call(office.port, "route?skill=sales", uniqueid="5.2", hang_up_after=6)
    assert late.variables["SWITCHBOARD_RESULT"] == "agent"
    assert office.handlers.holds.held("5.2") != ""


async def test_holds_of_vanished_channels_and_past_the_limit_are_released(
    make_office: OfficeMaker,
) -> None:
    office = await make_office(replace(CONFIG, hold_limit=60.0))
    holds = office.handlers.holds
    for uniqueid in ("6.1", "6.2"):
        assert (await agi_call(office.port, "route?skill=sales", uniqueid=uniqueid)).variables[
            "SWITCHBOARD_AGENT"
        ]
    later = time.monotonic() + SWEEP_GRACE_S + 1
    holds.clock = lambda: later
    assert holds.old()
    assert holds.sweep({"6.2"}) == 1  # 6.1 is gone from Asterisk, 6.2 still talks
    assert (holds.held("6.1"), "6.1" in holds.channels) == ("", False)
    assert holds.held("6.2")
    assert holds.sweep(None) == 0  # Asterisk could not be asked: only the limit counts
    much_later = time.monotonic() + 61
    holds.clock = lambda: much_later
    assert holds.sweep(None) == 1
    await office.settled()
    for agent, _, _ in AGENTS:
        assert (await office.agent(agent))["active"] == 0


@dataclass
class Clock:
    now: float

    def __call__(self) -> float:
        return self.now


async def until(condition: Callable[[], bool], within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - the sweep works in the background
            await asyncio.sleep(0.02)


async def test_channels_without_an_agent_are_forgotten_within_a_minute_while_ari_is_down(
    make_office: OfficeMaker,
) -> None:
    asterisk = FakeAri()
    await asterisk.start()
    await asterisk.stop()  # Asterisk's HTTP port answers no more
    asked: list[str] = []
    async with aiohttp.ClientSession() as http:
        client = AriClient(http, asterisk.url, USER, PASSWORD, request_timeout=1.0)

        async def live_channels() -> set[str]:  # (what start_agi gives the handlers)
            asked.append("GET /channels")
            return {channel.id for channel in await client.list_channels()}

        config = replace(CONFIG, check_interval=0.05)
        office = await make_office(config, live_channels=live_channels)
        holds = office.handlers.holds
        clock = holds.clock = Clock(time.monotonic())
        for n in range(3):
            call = await agi_call(office.port, "route?skill=sales", uniqueid=f"10.{n}")
            assert call.variables["SWITCHBOARD_RESULT"] == "agent"
        nobody = await agi_call(office.port, "route?skill=sales", uniqueid="10.3")
        assert nobody.variables["SWITCHBOARD_RESULT"] == "none"
        await agi_call(office.port, "done?status=ANSWER", uniqueid="10.0")
        assert set(holds.channels) == {"10.0", "10.1", "10.2", "10.3"}
        clock.now += FORGET_AFTER_S + 1  # (the sweep runs at least every 15 s: < 1 min)
        await until(lambda: set(holds.channels) == {"10.1", "10.2"})
        assert asked  # ARI was asked, and could not answer
        assert holds.held("10.1")  # holding an agent: today's rules
        assert holds.held("10.2")
        assert len(await office.reserved()) == 2


async def test_a_flood_of_made_up_channels_keeps_the_table_bounded_and_the_agents_held(
    make_office: OfficeMaker,
) -> None:
    office = await make_office(replace(CONFIG, max_holds=20))
    holds = office.handlers.holds
    for n in range(3):
        call = await agi_call(office.port, "route?skill=sales", uniqueid=f"11.{n}")
        assert call.variables["SWITCHBOARD_RESULT"] == "agent"
    flood = await asyncio.gather(
        *(
            agi_call(office.port, "route?skill=sales&fallback=PJSIP/100", uniqueid=f"flood.{n}")
            for n in range(200)
        )
    )
    assert {
        (c.variables["SWITCHBOARD_RESULT"], c.variables["SWITCHBOARD_ERROR"]) for c in flood
    } == {("fallback", "")}
    assert len(holds.channels) <= 20
    assert holds.pushed_out >= 200 - 17
    assert all(holds.held(f"11.{n}") for n in range(3))
    assert len(await office.reserved()) == 3
    await agi_call(office.port, "done?status=CANCEL", uniqueid="11.0")  # still released
    assert len(await office.reserved()) == 2


async def test_with_every_remembered_channel_holding_an_agent_a_new_one_gets_the_fallback(
    make_office: OfficeMaker, caplog: pytest.LogCaptureFixture
) -> None:
    office = await make_office(replace(CONFIG, max_holds=2))
    for n in range(2):
        call = await agi_call(office.port, "route?skill=sales", uniqueid=f"12.{n}")
        assert call.variables["SWITCHBOARD_RESULT"] == "agent"
    refused = await agi_call(office.port, "route?skill=sales&fallback=PJSIP/100", uniqueid="12.2")
    assert refused.variables == {
        "SWITCHBOARD_TARGET": "PJSIP/100",
        "SWITCHBOARD_AGENT": "",
        "SWITCHBOARD_CUSTOMER": "",
        "SWITCHBOARD_SEGMENT": "",
        "SWITCHBOARD_RESULT": "fallback",
        "SWITCHBOARD_ERROR": "routing unavailable: agi.max_holds (2) channels hold agents already",
    }
    assert office.handlers.holds.refused == 1
    assert "agi.holds_full" in [r.msg for r in caplog.records]
    await agi_call(office.port, "done?status=ANSWER", uniqueid="12.0")  # one holds nobody now
    again = await agi_call(office.port, "route?skill=sales", uniqueid="12.2")
    assert again.variables["SWITCHBOARD_RESULT"] == "agent"


async def test_hours_say_whether_a_calendar_is_open(office: Office) -> None:
    hours = await agi_call(office.port, "hours?calendar=main")
    assert hours.variables == {
        "SWITCHBOARD_OPEN": "1",
        "SWITCHBOARD_HOURS": "open",
        "SWITCHBOARD_NEXT_CHANGE": "2026-11-30T18:00:00+03:00",
        "SWITCHBOARD_ERROR": "",
    }


@pytest.mark.parametrize(
    ("script", "error"),
    [
        ("routes?skill=sales", "unknown script 'routes' (known: done, hours, route)"),
        ("route?skill=Sales", "skill='Sales': a skill is a lower-case name, e.g. sales:3"),
        ("route", "route needs skill=NAME (e.g. route?skill=sales)"),
        ("hours?calendar=night", "unknown calendar 'night' (the flows have: main)"),
        (
            "done?status=AN;SWER",
            "status='AN;SWER': expected a DIALSTATUS such as ANSWER or NOANSWER",
        ),
    ],
)
async def test_bad_requests_set_an_error_and_the_dialplan_goes_on(
    office: Office, script: str, error: str
) -> None:
    call = await agi_call(office.port, script, within=3.0)  # returns: the server closed
    assert call.variables["SWITCHBOARD_ERROR"].startswith(error)
    assert all(v == "" for k, v in call.variables.items() if k != "SWITCHBOARD_ERROR")


async def closed_within(port: int, send: bytes, within: float) -> float:
    """Send ``send``; how long until the server closes the connection."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(send)
        async with asyncio.timeout(within):
            while await reader.read(65536):
                pass
    finally:
        writer.close()
    return time.monotonic() - started


async def test_reads_are_bounded_and_a_silent_or_garbled_peer_is_cut_off(office: Office) -> None:
    long_line = b"agi_request: agi://h/route?skill=" + b"s" * MAX_LINE + b"\n"
    assert await closed_within(office.port, long_line, 2.0) < 0.5
    many = b"".join(b"agi_arg_%d: x\n" % n for n in range(MAX_ENV_LINES + 1))
    assert await closed_within(office.port, many, 2.0) < 0.5
    assert await closed_within(office.port, b"GET / HTTP/1.1\r\n\r\n", 2.0) < 0.5
    silent = await closed_within(office.port, b"agi_network: yes\n", 3.0)
    assert 0.9 <= silent <= 1.5  # session_timeout: 1 s
    # An answer that never comes: the session ends at its timeout too.
    reader, writer = await asyncio.open_connection("127.0.0.1", office.port)
    writer.write(b"agi_network_script: hours?calendar=main\nagi_uniqueid: 7.1\n\n")
    started = time.monotonic()
    async with asyncio.timeout(3):
        assert (await reader.readline()).startswith(b"SET VARIABLE SWITCHBOARD_OPEN")
        assert await reader.read() == b""
    assert 0.8 <= time.monotonic() - started <= 1.5
    writer.close()
    ok = await agi_call(office.port, "hours?calendar=main")  # still serving
    assert ok.variables["SWITCHBOARD_OPEN"] == "1"


async def test_sessions_beyond_the_limit_are_closed_at_once(make_office: OfficeMaker) -> None:
    office = await make_office(replace(CONFIG, max_sessions=3, session_timeout=2.0))
    idle = [await asyncio.open_connection("127.0.0.1", office.port) for _ in range(3)]
    await asyncio.sleep(0.1)
    assert await closed_within(office.port, b"", 1.0) < 0.2
    assert office.server.refused == 1
    for _, writer in idle:
        writer.close()
    await asyncio.sleep(0.1)
    ok = await agi_call(office.port, "hours?calendar=main")
    assert ok.variables["SWITCHBOARD_OPEN"] == "1"


async def test_with_the_database_down_route_answers_within_the_decision_timeout(
    make_office: OfficeMaker,
) -> None:
    office = await make_office(url="postgresql://postgres@127.0.0.1:1/test", decision_s=0.5)
    started = time.monotonic()
    call = await agi_call(office.port, "route?skill=sales&fallback=PJSIP/100", uniqueid="8.1")
    assert time.monotonic() - started < 1.0
    assert call.variables["SWITCHBOARD_ERROR"].startswith("routing unavailable: ")
    assert call.variables["SWITCHBOARD_TARGET"] == "PJSIP/100"  # the fallback still rings


async def test_a_handler_that_crashes_leaves_an_error_and_the_server_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def crash(session: AgiSession) -> None:
        raise RuntimeError("a bug")

    server = AgiServer(CONFIG, crash)
    task = asyncio.create_task(server.run())
    try:
        await server.listening.wait()
        for n in range(2):
            call = await agi_call(server.port, "route?skill=sales", uniqueid=f"9.{n}")
            assert call.variables == {"SWITCHBOARD_ERROR": "internal error: RuntimeError"}
        assert [r.msg for r in caplog.records].count("agi.session_crashed") == 2
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_port_in_use_is_tried_again_and_stopping_cuts_open_sessions(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(server_module, "BIND_RETRY_S", 0.1)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]

    async def slow(session: AgiSession) -> None:
        await asyncio.sleep(30)

    server = AgiServer(replace(CONFIG, port=port, session_timeout=60), slow)
    task = asyncio.create_task(server.run())
    await asyncio.sleep(0.3)
    assert "agi.listen_failed" in [r.msg for r in caplog.records]
    assert not server.listening.is_set()
    taken.close()
    async with asyncio.timeout(2):
        await server.listening.wait()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"agi_network_script: hours?calendar=main\nagi_uniqueid: 9.9\n\n")
    await asyncio.sleep(0.1)
    started = time.monotonic()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert time.monotonic() - started < 0.5
    async with asyncio.timeout(1):
        assert await reader.read() == b""  # the session was closed: the dialplan goes on
    writer.close()
