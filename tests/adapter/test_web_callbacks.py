"""Tier 2: web callbacks over real HTTP, with real PostgreSQL and the fake ARI.

- Bad requests get 400 with a stable id naming the field; the status of a request.
- A flood: 1,000 requests from one address are refused with 429 and Retry-After
  while other requests are still answered; a flood of addresses keeps the
  limiter's memory bounded.
- PostgreSQL down: the request is spooled (nothing lost), its status is served
  from memory, and it is stored once PostgreSQL is back.
- The whole daemon: an agent with the skill is reserved and rung first; when
  they answer, the customer is called through the trunk; the row ends ``done``
  and the agent is released. An agent who does not answer is counted as a miss
  and the request waits for the next agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from switchboard.api import ApiContext, make_app
from switchboard.app import route_groups, run_daemon
from switchboard.config import (
    AriConfig,
    CallbacksConfig,
    Config,
    DaemonConfig,
    DatabaseConfig,
    DialPolicy,
    FlowsConfig,
    Network,
    RateLimits,
    RoutingConfig,
)
from switchboard.db import Database
from switchboard.dialpolicy import CallbackGate
from switchboard.flows.registry import FlowRegistry
from switchboard.metrics import Metrics
from switchboard.webcallback import WebCallbacks, WebCallbackStore
from switchboard.webcallback.model import Status, WebCallback
from switchboard.webcallback.request import CallbackRequest
from switchboard.webcallback.routes import CALLBACK_API, CallbackApi
from tests.apikit import api_client, api_config
from tests.fake_ari import PASSWORD, USER, FakeAri
from tests.flowkit import SPINE
from tests.pgkit import DATABASE_URL, fresh_schema

REPO = Path(__file__).resolve().parents[2]
CUSTOMER = "+79161234567"
CALLBACKS = CallbacksConfig(
    trunk="PJSIP/carrier",
    company_number="+74951234567",
    default_skill="sales",
    skills=("sales", "support"),
    agent_ring_seconds=15,
    customer_ring_seconds=20,
    retry_seconds=1,
    rate_limits=RateLimits(per_ip=10, window_seconds=3600, tracked=1000),
)
POLICY = DialPolicy(countries=("RU",), default_country="RU", per_number=3, tracked=1000)
PROXY = (ipaddress.ip_network("127.0.0.1/32"),)  # api.trusted_proxies: the test client
DEAD_DATABASE = "postgresql://postgres@127.0.0.1:9/test"  # nothing listens on port 9


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with fresh_schema("webcb") as name:
        yield name


@contextlib.asynccontextmanager
async def callback_api(
    tmp_path: Path,
    database: Database | None,
    config: CallbacksConfig = CALLBACKS,
    gate: CallbackGate | None = None,
    metrics: Metrics | None = None,
    trusted: tuple[Network, ...] = PROXY,
) -> AsyncIterator[tuple[TestClient[Any, Any], WebCallbacks]]:
    """The API with the web-callback routes, no daemon (nothing is dispatched)."""
    store = WebCallbackStore(tmp_path / "spool", database)
    service = WebCallbacks(config, store, lambda: datetime.now(UTC))
    api = CallbackApi.build(service, gate or CallbackGate(POLICY), metrics=metrics)
    context = ApiContext(replace(api_config(), trusted_proxies=trusted))
    app = make_app(context, route_groups(api))
    async with api_client(app) as client:
        yield client, service


async def rows(schema: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": schema})
    try:
        return list(await conn.fetch("SELECT * FROM web_callbacks ORDER BY requested_at"))
    finally:
        await conn.close()


# -- the API ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "status", "error_id", "named"),
    [
        ({"number": "+78091234567"}, 400, "number_type_not_allowed", "number: "),
        ({"number": "+447911123456"}, 400, "country_not_allowed", "number: "),
        ({"number": CUSTOMER, "name": "x" * 500}, 400, "too_long", "name: "),
        ({"number": CUSTOMER, "admin": True}, 400, "unknown_field", "admin: "),
        ({"number": 79161234567}, 400, "invalid_type", "number: "),
        ([CUSTOMER], 400, "invalid_json", "the body must be"),
        ({"number": CUSTOMER, "preferred_time": "soon"}, 400, "invalid_time", "preferred_time"),
    ],
)
async def test_bad_requests_get_400_with_a_stable_id(
    tmp_path: Path, body: object, status: int, error_id: str, named: str
) -> None:
    async with callback_api(tmp_path, None) as (client, service):
        response = await client.post("/callbacks", json=body)
        assert response.status == status
        error = (await response.json())["error"]
        assert error["id"] == error_id
        assert error["message"].startswith(named)
        assert not service.requests  # nothing was taken
        assert not list((tmp_path / "spool").glob("*.json"))


async def test_refused_numbers_are_counted_and_logged_masked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = Metrics()
    async with callback_api(tmp_path, None, metrics=metrics) as (client, _service):
        for number in ("+1 900 555 1234", "+78091234567", "+78091234567"):
            response = await client.post("/callbacks", json={"number": number})
            assert response.status == 400
        for _ in range(4):  # CUSTOMER three times (POLICY.per_number), then refused
            response = await client.post("/callbacks", json={"number": CUSTOMER})
        assert response.status == 429
    refused = metrics.callbacks_refused
    assert refused.labels("web", "country_not_allowed")._value.get() == 1
    assert refused.labels("web", "number_type_not_allowed")._value.get() == 2
    assert refused.labels("web", "rate_limited")._value.get() == 1
    assert refused.labels("queue", "rate_limited")._value.get() == 0
    lines = [r for r in caplog.records if r.getMessage() == "webcallback.refused"]
    assert [r.__dict__["number"] for r in lines] == [
        "+1********34", "+7********67", "+7********67", "+7********67"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[" * 50000, "the body nests deeper than 32 levels"),  # (a 500 once: RecursionError)
        (b'{"number": ' * 40 + b"1" + b"}" * 40, "the body nests deeper than 32 levels"),
    ],
)
async def test_deeply_nested_json_is_400_invalid_json_not_a_500(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, body: bytes, message: str
) -> None:
    async with callback_api(tmp_path, None) as (client, service):
        headers = {"Content-Type": "application/json"}
        response = await client.post("/callbacks", data=body, headers=headers)
        assert response.status == 400
        assert await response.json() == {"error": {"id": "invalid_json", "message": message}}
        assert not service.requests
    assert not [r for r in caplog.records if r.exc_info]  # no traceback in the log


async def test_a_request_is_accepted_stored_and_its_status_served(
    tmp_path: Path, schema: str
) -> None:
    database = Database(DATABASE_URL, schema)
    try:
        async with callback_api(tmp_path, database) as (client, service):
            response = await client.post(
                "/callbacks", json={"number": "8 (916) 123-45-67", "name": "<b>Ivan</b>"}
            )
            assert response.status == 202
            accepted = await response.json()
            assert accepted["status"] == "pending"
            assert len(accepted["id"]) == 22  # 128 random bits, URL-safe
            assert accepted["status_url"] == f"/callbacks/{accepted['id']}"
            await service.store.flush()
            status = await client.get(accepted["status_url"])
            assert status.status == 200
            shown = await status.json()
            assert (shown["status"], shown["attempts"]) == ("pending", 0)
            assert "number" not in shown  # the id is all a guesser could have
            missing = await client.get("/callbacks/" + "A" * 22)
            assert missing.status == 404
            assert (await missing.json())["error"]["id"] == "not_found"
            assert (await client.get("/callbacks/../../etc")).status == 404
    finally:
        await database.close()
    (row,) = await rows(schema)
    assert (row["number"], row["name"], row["skill"], row["source"]) == (
        CUSTOMER,
        "<b>Ivan</b>",  # stored as given (bound, never spliced into SQL); pages escape it
        "sales",
        "web",
    )
    assert row["client_ip"] == "127.0.0.1"


async def test_the_form_page_is_self_contained_and_may_be_framed(tmp_path: Path) -> None:
    async with callback_api(tmp_path, None) as (client, _service):
        response = await client.get("/callbacks/form?lang=<script>")
        assert response.status == 200
        html = await response.text()
        policy = response.headers["Content-Security-Policy"]
        assert "frame-ancestors *" in policy
        assert "default-src 'none'" in policy
        assert "X-Frame-Options" not in response.headers
        assert "<script>" not in html.split("<script nonce=")[0]  # the lang is escaped
        assert "&lt;script&gt;" in html
        assert "http://" not in html  # no external assets
        assert "https://" not in html
        nonce = policy.split("'nonce-")[1].split("'")[0]
        assert f'<script nonce="{nonce}">' in html


# -- floods ----------------------------------------------------------------------------------
async def test_a_flood_from_one_address_gets_429_and_others_are_still_answered(
    tmp_path: Path,
) -> None:
    async with callback_api(tmp_path, None) as (client, service):

        async def one(i: int) -> tuple[int, str | None]:
            number = f"+7916{i:07d}"
            response = await client.post("/callbacks", json={"number": number})
            await response.read()
            return response.status, response.headers.get("Retry-After")

        health_times: list[float] = []

        async def health_meanwhile() -> None:
            for _ in range(20):
                started = time.perf_counter()
                response = await client.get("/health")
                assert response.status == 200
                health_times.append(time.perf_counter() - started)
                await asyncio.sleep(0.01)

        started = time.perf_counter()
        results: list[tuple[int, str | None]] = []
        watcher = asyncio.create_task(health_meanwhile())
        for batch in range(0, 1000, 50):
            results += await asyncio.gather(*(one(i) for i in range(batch, batch + 50)))
        await watcher
        elapsed = time.perf_counter() - started
        statuses = [s for s, _ in results]
        assert statuses.count(202) == 10  # per_ip
        assert statuses.count(429) == 990
        assert all(int(after or 0) >= 1 for s, after in results if s == 429)
        assert len(health_times) == 20  # every other request was answered
        assert len(service.requests) == 10
        print(
            f"\n1,000 requests in {elapsed:.2f} s; /health meanwhile: "
            f"max {max(health_times) * 1000:.1f} ms"
        )


async def test_many_addresses_through_a_trusted_proxy_keep_memory_bounded(
    tmp_path: Path,
) -> None:
    config = replace(CALLBACKS, rate_limits=replace(CALLBACKS.rate_limits, tracked=200))
    async with callback_api(tmp_path, None, config) as (client, service):
        api = client.app[CALLBACK_API] if client.app is not None else None
        assert api is not None
        statuses = []
        for i in range(1000):
            forwarded = {"X-Forwarded-For": f"198.51.{i // 256}.{i % 256}"}
            response = await client.post("/callbacks", json={"number": CUSTOMER}, headers=forwarded)
            statuses.append(response.status)
            await response.read()
        assert statuses.count(202) == 3  # one number: its own limit holds whatever the address
        assert len(api.per_ip) == 200  # at most `tracked` addresses remembered
        assert len(api.gate.per_number) == 1
        assert len(service.requests) == 3


async def test_a_forwarded_address_from_an_untrusted_peer_is_ignored(tmp_path: Path) -> None:
    async with callback_api(tmp_path, None, trusted=()) as (client, _service):
        statuses = []
        for i in range(12):
            headers = {"X-Forwarded-For": f"203.0.113.{i}"}
            response = await client.post(
                "/callbacks", json={"number": f"+791600000{i:02d}"}, headers=headers
            )
            statuses.append(response.status)
        assert statuses.count(202) == 10  # all counted as 127.0.0.1: the header is a lie


# -- PostgreSQL down ------------------------------------------------------------------------
async def test_requests_are_spooled_while_postgresql_is_down_and_stored_when_it_returns(
    tmp_path: Path, schema: str
) -> None:
    dead = Database(DEAD_DATABASE, schema)
    async with callback_api(tmp_path, dead) as (client, service):
        accepted = []
        for i in range(5):
            response = await client.post("/callbacks", json={"number": f"+791612345{i:02d}"})
            assert response.status == 202  # durable on disk: promised
            accepted.append((await response.json())["id"])
        with pytest.raises(OSError, match=r"Connect call failed|Connection refused"):
            await service.store.flush()
        status = await client.get(f"/callbacks/{accepted[0]}")
        assert (await status.json())["status"] == "pending"  # served from memory
    assert len(list((tmp_path / "spool").glob("*.json"))) == 5

    # The daemon restarts and PostgreSQL is back: nothing was lost.
    live = Database(DATABASE_URL, schema)
    try:
        store = WebCallbackStore(tmp_path / "spool", live)
        service = WebCallbacks(CALLBACKS, store, lambda: datetime.now(UTC))
        assert await service.load() == 5
        await store.flush()
    finally:
        await live.close()
    stored = await rows(schema)
    assert sorted(r["id"] for r in stored) == sorted(accepted)
    assert not list((tmp_path / "spool").glob("*.json"))


# -- the whole daemon ------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def add_agents(schema: str, *agents: tuple[str, str, str]) -> None:
    database = Database(DATABASE_URL, schema)
    try:
        pool = await database.pool()
        for agent, endpoint, skill in agents:
            await pool.execute(
                "INSERT INTO agents (id, name, endpoints, languages, state, wrap_up_s)"
                " VALUES ($1, $1, $2, '{en,ru}', 'available', 0)",
                agent,
                [endpoint],
            )
            await pool.execute("INSERT INTO agent_skills VALUES ($1, $2, 3)", agent, skill)
    finally:
        await database.close()


async def agent_rows(schema: str) -> dict[str, asyncpg.Record]:
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": schema})
    try:
        return {r["id"]: r for r in await conn.fetch("SELECT * FROM agents")}
    finally:
        await conn.close()


OFFICE_HOURS = """
calendars:
  office:
    zone: Europe/Moscow
    weekly:
      mon-fri: "09:00-18:00"
"""


@contextlib.asynccontextmanager
async def daemon(
    fake: FakeAri,
    tmp_path: Path,
    schema: str,
    callbacks: CallbacksConfig = CALLBACKS,
    clock_start: datetime | None = None,
) -> AsyncIterator[str]:
    """The daemon with the API and web callbacks; yields the API's base URL."""
    (tmp_path / "flow.yaml").write_text(SPINE + OFFICE_HOURS)
    port = free_port()
    config = Config(
        ari=AriConfig(url=fake.url, username=USER, password=PASSWORD),
        flows=FlowsConfig(files=(tmp_path / "flow.yaml",), prompts=REPO / "prompts",
                          watch_interval=0),
        daemon=DaemonConfig(drain_timeout=1, state_directory=tmp_path / "state",
                            clock_start=clock_start),
        database=DatabaseConfig(DATABASE_URL, schema),
        routing=RoutingConfig(missed_penalty=30, refresh_interval=0.2),
        api=replace(api_config(), port=port),
        callbacks=callbacks,
        dial_policy=POLICY,
    )  # fmt: skip
    registry = FlowRegistry(list(config.flows.files), config.flows.prompts)
    stop = asyncio.Event()
    task = asyncio.create_task(run_daemon(config, registry, stop))
    await fake.wait_connected(count=fake.connections + 1)
    await fake.wait_request("GET", "/bridges")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.shield(task), 10)


async def post_callback(base: str, body: dict[str, Any]) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base}/callbacks", json=body) as response,
    ):
        assert response.status == 202, await response.text()
        answer: dict[str, Any] = await response.json()
        return answer


async def status_of(base: str, callback_id: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{base}/callbacks/{callback_id}") as response,
    ):
        answer: dict[str, Any] = await response.json()
        return answer


async def until(check: Any, within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110 - the daemon works in the background
            await asyncio.sleep(0.05)


async def test_an_agent_is_reserved_and_rung_first_then_the_customer(
    fake: FakeAri, tmp_path: Path, schema: str
) -> None:
    await add_agents(schema, ("a100", "PJSIP/100", "sales"), ("a101", "PJSIP/101", "support"))
    async with daemon(fake, tmp_path, schema) as base:
        accepted = await post_callback(base, {"number": CUSTOMER, "skill": "support"})
        agent = await fake.wait_request("POST", r"/channels/cb-[^/]+$")
        assert agent.query["endpoint"] == "PJSIP/101"  # the one with the skill
        assert agent.query["appArgs"] == f"callback,{accepted['id']}"
        assert agent.query["callerId"].endswith(CUSTOMER)  # the agent sees whom they call
        customer = await fake.wait_request("POST", r"/channels/cb-[^/]+-leg\d+$")
        assert customer.query["endpoint"] == f"PJSIP/{CUSTOMER}@carrier"
        assert customer.query["callerId"].endswith("+74951234567")  # the company's number
        await fake.wait_request("POST", r"/bridges/cb-[^/]+-bridge/addChannel")
        assert (await status_of(base, accepted["id"]))["status"] == "calling"
        assert (await agent_rows(schema))["a101"]["active"] == 1  # reserved
        await fake.caller_hangs_up(agent.path.rsplit("/", 1)[-1])

        async def done() -> bool:
            return bool((await status_of(base, accepted["id"]))["status"] == "done")

        await until(done)

        async def released() -> bool:
            return bool((await agent_rows(schema))["a101"]["active"] == 0)

        await until(released)
    (row,) = await rows(schema)
    assert (row["status"], row["attempts"], row["last_result"], row["agent"]) == (
        "done",
        1,
        "answered",
        "a101",
    )
    assert (await agent_rows(schema))["a101"]["calls_today"] == 1


async def test_an_agent_who_does_not_answer_is_released_and_another_is_rung(
    fake: FakeAri, tmp_path: Path, schema: str
) -> None:
    await add_agents(schema, ("a100", "PJSIP/100", "sales"), ("a101", "PJSIP/101", "sales"))
    fake.answer_originates = False
    async with daemon(fake, tmp_path, schema) as base:
        accepted = await post_callback(base, {"number": CUSTOMER})
        first = await fake.wait_request("POST", r"/channels/cb-[^/]+$")
        await fake.caller_hangs_up(first.path.rsplit("/", 1)[-1])  # rang out: destroyed

        async def rung_again() -> bool:
            return len(fake.requested("POST", r"/channels/cb-[^/]+$")) == 2

        await until(rung_again)
        second = fake.requested("POST", r"/channels/cb-[^/]+$")[1]
        assert second.query["endpoint"] != first.query["endpoint"]  # the other agent
        missed = "a100" if first.query["endpoint"] == "PJSIP/100" else "a101"

        async def counted() -> bool:
            agents = await agent_rows(schema)
            return bool(agents[missed]["active"] == 0 and agents[missed]["missed_in_row"] == 1)

        await until(counted)
        await asyncio.sleep(0.5)  # the first search's release is written by now
        other = "a101" if missed == "a100" else "a100"
        assert (await agent_rows(schema))[other]["active"] == 1  # still reserved for this one
        shown = await status_of(base, accepted["id"])
        assert (shown["status"], shown["attempts"]) == ("calling", 0)  # agents' misses don't count


async def test_a_customer_who_is_not_reached_is_called_again_after_the_retry_time(
    fake: FakeAri, tmp_path: Path, schema: str
) -> None:
    await add_agents(schema, ("a100", "PJSIP/100", "sales"))
    fake.fail("POST", r"/channels/cb-[^/]+-leg\d+$", 503, '{"message": "no circuit"}')
    async with daemon(fake, tmp_path, schema) as base:
        accepted = await post_callback(base, {"number": CUSTOMER})
        first = await fake.wait_request("POST", r"/channels/cb-[^/]+$")
        await fake.wait_request("DELETE", rf"/channels/{first.path.rsplit('/', 1)[-1]}")

        async def scheduled() -> bool:
            shown = await status_of(base, accepted["id"])
            return bool(shown["status"] == "scheduled" and shown["attempts"] == 1)

        await until(scheduled)
        assert (await status_of(base, accepted["id"]))["next_attempt_at"] is not None

        async def rung_again() -> bool:  # after retry_seconds (1 s) and the agent's wrap-up
            return len(fake.requested("POST", r"/channels/cb-[^/]+-leg\d+$")) == 2

        await until(rung_again)
        agent_legs = fake.requested("POST", r"/channels/cb-[^/]+$")
        await fake.wait_request("POST", r"/bridges/cb-[^/]+-bridge/addChannel")
        await fake.caller_hangs_up(agent_legs[-1].path.rsplit("/", 1)[-1])

        async def done() -> bool:
            return bool((await status_of(base, accepted["id"]))["status"] == "done")

        await until(done)
    (row,) = await rows(schema)
    assert (row["status"], row["attempts"]) == ("done", 2)


async def test_a_request_waiting_for_an_agent_survives_a_restart(
    fake: FakeAri, tmp_path: Path, schema: str
) -> None:
    await add_agents(schema, ("a100", "PJSIP/100", "sales"))
    async with daemon(fake, tmp_path, schema) as base:
        accepted = await post_callback(base, {"number": CUSTOMER, "skill": "support"})
        await asyncio.sleep(1.5)  # dispatch passes: nobody has the skill
        assert not fake.requested("POST", r"/channels/cb-")
        assert (await status_of(base, accepted["id"]))["status"] == "pending"
    await add_agents(schema, ("a101", "PJSIP/101", "support"))
    async with daemon(fake, tmp_path, schema):
        agent = await fake.wait_request("POST", r"/channels/cb-[^/]+$")
        assert agent.query["endpoint"] == "PJSIP/101"
        assert agent.query["appArgs"] == f"callback,{accepted['id']}"
        await fake.wait_request("POST", r"/bridges/cb-[^/]+-bridge/addChannel")
        await fake.caller_hangs_up(agent.path.rsplit("/", 1)[-1])

        async def done() -> bool:
            return bool((await rows(schema))[0]["status"] == "done")

        await until(done)


async def test_outside_office_hours_a_request_waits_for_the_next_opening(
    fake: FakeAri, tmp_path: Path, schema: str
) -> None:
    await add_agents(schema, ("a100", "PJSIP/100", "sales"))
    friday_evening = datetime.fromisoformat("2026-11-27T19:00:00+03:00")
    office = replace(CALLBACKS, calendar="office")
    async with daemon(fake, tmp_path, schema, office, friday_evening) as base:
        accepted = await post_callback(base, {"number": CUSTOMER})
        assert accepted["status"] == "scheduled"
        monday = datetime.fromisoformat("2026-11-30T09:00:00+03:00")
        assert datetime.fromisoformat(accepted["next_attempt_at"]) == monday
        await asyncio.sleep(1.5)  # dispatch passes: the agent is free, but it is closed
        assert not fake.requested("POST", r"/channels/cb-")
        shown = await status_of(base, accepted["id"])
        assert shown["status"] == "scheduled"
        assert datetime.fromisoformat(shown["next_attempt_at"]) == monday
    (row,) = await rows(schema)
    assert (row["status"], row["next_attempt_at"]) == ("scheduled", monday)


async def test_a_request_being_called_when_the_daemon_died_is_called_again(
    fake: FakeAri, tmp_path: Path, schema: str
) -> None:
    await add_agents(schema, ("a100", "PJSIP/100", "sales"))
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": schema})
    try:
        await conn.execute(
            "INSERT INTO web_callbacks (id, number, skill, requested_at, status, agent)"
            " VALUES ($1, $2, 'sales', now(), 'calling', 'a100')",
            "K" * 22,
            CUSTOMER,
        )
    finally:
        await conn.close()
    async with daemon(fake, tmp_path, schema):
        agent = await fake.wait_request("POST", r"/channels/cb-[^/]+$")
        assert agent.query["appArgs"] == f"callback,{'K' * 22}"
        await fake.wait_request("POST", r"/bridges/cb-[^/]+-bridge/addChannel")
        await fake.caller_hangs_up(agent.path.rsplit("/", 1)[-1])

        async def done() -> bool:
            return bool((await rows(schema))[0]["status"] == "done")

        await until(done)


async def test_status_reads_from_one_address_are_limited(tmp_path: Path) -> None:
    async with callback_api(tmp_path, None) as (client, _service):
        statuses = [(await client.get(f"/callbacks/{'A' * 21}{i % 10}")).status for i in range(125)]
        assert statuses.count(404) == 120  # unknown ids, answered
        assert statuses[120:] == [429] * 5


async def test_a_daemon_stopping_while_the_agent_rings_releases_the_agent(
    fake: FakeAri, tmp_path: Path, schema: str
) -> None:
    await add_agents(schema, ("a100", "PJSIP/100", "sales"))
    fake.answer_originates = False  # the agent's phone rings on
    async with daemon(fake, tmp_path, schema) as base:
        await post_callback(base, {"number": CUSTOMER})
        await fake.wait_request("POST", r"/channels/cb-[^/]+$")
        assert (await agent_rows(schema))["a100"]["active"] == 1
    assert (await agent_rows(schema))["a100"]["active"] == 0  # released, not left to its lease
    (row,) = await rows(schema)
    assert row["status"] == "pending"  # due again at the next start


async def test_past_max_pending_open_requests_new_ones_get_503(tmp_path: Path) -> None:
    async with callback_api(tmp_path, None, replace(CALLBACKS, max_pending=2)) as (client, _):
        statuses = []
        for i in range(3):
            response = await client.post("/callbacks", json={"number": f"+79161234{i:03d}"})
            statuses.append(response.status)
            if response.status == 503:
                assert (await response.json())["error"]["id"] == "busy"
                assert response.headers["Retry-After"] == "60"
        assert statuses == [202, 202, 503]


# -- after review: no request lost, no agent paused for Asterisk's faults -------------------
def request_for(number: str) -> CallbackRequest:
    return CallbackRequest(number=number, name="", skill="sales", preferred_time=None)


async def test_an_agent_whose_phone_cannot_be_rung_is_freed_without_a_miss(
    fake: FakeAri, tmp_path: Path, schema: str
) -> None:
    await add_agents(schema, ("a100", "PJSIP/100", "sales"))
    fake.fail("POST", r"/channels/cb-[^/]+$", 500, '{"message": "Allocation failed"}', times=1)
    async with daemon(fake, tmp_path, schema) as base:
        accepted = await post_callback(base, {"number": CUSTOMER})
        await fake.wait_request("POST", r"/channels/cb-[^/]+$")

        async def freed() -> bool:
            return bool((await agent_rows(schema))["a100"]["active"] == 0)

        await until(freed)
        agent = (await agent_rows(schema))["a100"]
        assert (agent["missed_in_row"], agent["state"]) == (0, "available")  # not their fault
        shown = await status_of(base, accepted["id"])
        assert shown["status"] == "pending"  # waits again (after a pause: not at once)
        assert len(fake.requested("POST", r"/channels/cb-[^/]+$")) == 1


async def test_requests_in_postgresql_are_loaded_once_it_answers_after_a_start_without_it(
    tmp_path: Path, schema: str
) -> None:
    live = Database(DATABASE_URL, schema)
    try:  # a request another run left open in PostgreSQL, none in this spool
        earlier = WebCallbackStore(tmp_path / "earlier", live)
        service = WebCallbacks(CALLBACKS, earlier, lambda: datetime.now(UTC))
        left = await service.submit(request_for(CUSTOMER), "127.0.0.1")
        await earlier.flush()
        store = WebCallbackStore(tmp_path / "spool", Database(DEAD_DATABASE, schema))
        restarted = WebCallbacks(CALLBACKS, store, lambda: datetime.now(UTC))
        assert await restarted.load() == 0  # PostgreSQL away: nothing known of it yet
        store.database = live  # it answers again
        await restarted._load_from_database()
        assert list(restarted.requests) == [left.id]
    finally:
        await live.close()


async def test_a_stored_request_the_dial_policy_now_refuses_is_failed_not_dialled(
    fake: FakeAri, tmp_path: Path, schema: str
) -> None:
    """A request an older version accepted (a premium-rate number), or one stored before
    the policy was narrowed, is read back at start: it fails, it is never dialled."""
    await add_agents(schema, ("a100", "PJSIP/100", "sales"))
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": schema})
    try:
        await conn.execute(
            "INSERT INTO web_callbacks (id, number, skill, requested_at, status)"
            " VALUES ($1, '+19005551234', 'sales', now(), 'pending'),"
            " ($2, $3, 'sales', now(), 'pending')",
            "P" * 22,
            "G" * 22,
            CUSTOMER,
        )
    finally:
        await conn.close()
    async with daemon(fake, tmp_path, schema):
        agent = await fake.wait_request("POST", r"/channels/cb-[^/]+$")
        assert agent.query["appArgs"] == f"callback,{'G' * 22}"  # the good one is called
        await fake.wait_request("POST", r"/bridges/cb-[^/]+-bridge/addChannel")
        await fake.caller_hangs_up(agent.path.rsplit("/", 1)[-1])

        async def refused() -> bool:
            found = {r["id"]: r for r in await rows(schema)}
            return bool(found["P" * 22]["status"] == "failed")

        await until(refused)
    found = {r["id"]: r for r in await rows(schema)}
    assert found["P" * 22]["last_result"] == "refused_country_not_allowed"
    dialled = fake.requested("POST", r"/channels/cb-[^/]+$")
    assert dialled
    assert all("G" * 22 in r.path for r in dialled)  # never the +1 900 one
    assert not [r for r in dialled if "19005551234" in str(r.query)]


async def test_a_request_refused_as_busy_does_not_count_against_its_number(
    tmp_path: Path,
) -> None:
    config = replace(CALLBACKS, max_pending=1)
    async with callback_api(tmp_path, None, config) as (client, _service):
        first = await client.post("/callbacks", json={"number": "+79161234568"})
        assert first.status == 202
        for _ in range(POLICY.per_number + 1):  # each one 503: nothing was taken
            busy = await client.post("/callbacks", json={"number": CUSTOMER})
            assert busy.status == 503
        api = client.app[CALLBACK_API] if client.app is not None else None
        assert api is not None
        assert api.gate.per_number.check(CUSTOMER) == 0.0  # the number may still ask


@contextlib.asynccontextmanager
async def one_request(
    tmp_path: Path, schema: str
) -> AsyncIterator[tuple[WebCallbackStore, WebCallback]]:
    """A store on the live database holding one request, spooled (not yet in PostgreSQL)."""
    live = Database(DATABASE_URL, schema)
    try:
        store = WebCallbackStore(tmp_path / "spool", live)
        service = WebCallbacks(CALLBACKS, store, lambda: datetime.now(UTC))
        yield store, await service.submit(request_for(CUSTOMER), "127.0.0.1")
    finally:
        await live.close()


async def test_a_claim_writes_the_unwritten_state_first_so_the_request_is_not_dropped(
    tmp_path: Path, schema: str
) -> None:
    async with one_request(tmp_path, schema) as (store, callback):
        await store.flush()
        calling = replace(callback, status=Status.CALLING, agent="a100")
        assert await store.claim(calling)
        store.update(replace(calling, status=Status.PENDING, agent=""))  # the agent missed;
        # the dispatcher claims again before the worker wrote that:
        assert await store.claim(replace(calling, agent="a101"))
        row = (await rows(schema))[0]
        assert (row["status"], row["agent"]) == ("calling", "a101")
        assert store.unwritten(callback.id) is None


async def test_a_status_change_that_reaches_postgresql_before_its_request_is_kept(
    tmp_path: Path, schema: str
) -> None:
    async with one_request(tmp_path, schema) as (store, callback):
        store.update(replace(callback, status=Status.FAILED, last_result="calendar_never_opens"))
        assert store.database is not None
        # The change first, as a flush racing the spool's listing would write it ...
        await store._write_changes(await store.database.pool())
        await store.flush()  # ... then the spool's insert: it must not bring back 'pending'
        assert (await rows(schema))[0]["status"] == "failed"


def test_a_spool_file_that_is_not_a_request_is_set_aside(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "x.json").write_text("[1, 2]")
    assert WebCallbackStore(spool, None)._spooled() == []
    assert (spool / "x.bad").exists()
