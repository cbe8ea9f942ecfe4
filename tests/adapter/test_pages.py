"""Tier 2: the pages over real HTTP and websockets, real PostgreSQL; events are
published by the test into the hub (and, last, by a daemon's calls on the fake ARI).

Login and its cookie, the Origin check of the live feed, the screen pop (server
rendered and live) with a hostile customer name, the wallboard's figures, a
database that does not answer, and a stop that does not wait for open pages.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from switchboard.api import ApiContext, make_app
from switchboard.api.auth import COOKIE
from switchboard.app import route_groups, run_daemon
from switchboard.db import Database
from switchboard.engine import Phase
from switchboard.flows.registry import FlowRegistry
from switchboard.live import CallEvent, IvrStep, Kind, LiveHub
from switchboard.routing.rank import Customer, Segment
from tests.adapter.test_api_core import free_port
from tests.adapter.test_daemon_fake_ari import connected_call, lab_config
from tests.apikit import AUTH, TOKEN, api_client, api_config
from tests.fake_ari import FakeAri
from tests.flowkit import SPINE
from tests.pgkit import DATABASE_URL, fresh_schema

HOSTILE = "<script>alert(1)</script>"
NOW = datetime.now(UTC)
Client = TestClient[web.Request, web.Application]


@dataclass
class Site:
    client: Client
    hub: LiveHub
    customer: int  # the hostile customer's id

    @property
    def origin(self) -> str:
        return f"http://{self.client.host}:{self.client.port}"

    def live(self, query: str, **headers: str) -> Any:
        return self.client.ws_connect(f"/live?{query}", headers={"Origin": self.origin, **headers})

    def publish(self, kind: Kind, phase: Phase, endpoint: str = "", call: str = "c1") -> None:
        customer = Customer(self.customer, HOSTILE, Segment.VIP, "ro", ("mortgage",), "a101")
        path = (IvrStep("welcome"), IvrStep("main", "1"), IvrStep("sales"))
        agent = "a102" if endpoint == "PJSIP/102" else ""
        event = CallEvent(kind, call, phase, NOW, "+79161234567", "74951234573", "sales.yaml",
                          agent, endpoint, path, customer)  # fmt: skip
        self.hub.publish(event)


SEED = """
INSERT INTO agents (id, name, endpoints, state) VALUES
  ('a101', 'Boris <b>Orlov</b>', '{PJSIP/101}', 'available'),
  ('a102', 'Ion Rusu', '{PJSIP/102}', 'on_call'),
  ('a103', 'Out', '{PJSIP/103}', 'logged_out');
INSERT INTO customers (name, segment, language, products, owner_agent, churn_score, notes)
VALUES ($1, 'vip', 'ro', '{mortgage}', 'a101', 0.42, 'calls back <img src=x onerror=alert(2)>')
"""


async def seed(url: str, schema: str) -> int:
    conn = await asyncpg.connect(url, server_settings={"search_path": schema})
    try:
        await conn.execute(SEED.replace("$1", "'" + HOSTILE + "'"))
        customer: int = await conn.fetchval("SELECT id FROM customers")
        calls = [  # two answered (one within 20 s of being offered), one abandoned, one
            # that never waited for a person (hung up in the menu), one from yesterday
            ("k1", 5.0, "answered", "sales"),
            ("k2", 45.0, "answered", "sales"),
            ("k3", None, "abandoned_in_queue", "sales"),
            ("k4", None, "abandoned_in_ivr", ""),
        ]
        started = NOW - timedelta(minutes=5)
        offered = started + timedelta(seconds=30)  # (after the greeting and the menu)
        for call_id, wait, category, queue in calls:
            answered = offered + timedelta(seconds=wait) if wait is not None else None
            await conn.execute(
                "INSERT INTO calls (id, dialed, caller, customer, flow, flow_version, started_at,"
                " ended_at, answered_at, wait_s, outcome, category, queue, queued_at, agent, path)"
                " VALUES ($1, '1', '2', $2, 'f', 'v', $3, $3, $4, $5, $6, $6, $7, $8, 'a102',"
                " '[]')",
                call_id, customer if queue else None, started, answered, wait and wait + 30,
                category, queue,
                offered if queue else None,
            )  # fmt: skip
        await conn.execute(
            "INSERT INTO calls (id, dialed, caller, flow, flow_version, started_at, ended_at,"
            " outcome, path) VALUES ('old', '1', '2', 'f', 'v', $1, $1, 'answered', '[]')",
            NOW - timedelta(days=2),
        )
        return customer
    finally:
        await conn.close()


@asynccontextmanager
async def site(database_url: str = DATABASE_URL) -> AsyncIterator[Site]:
    async with fresh_schema("pages") as schema:
        database = Database(database_url, schema)
        customer = 0
        if database_url == DATABASE_URL:
            await database.pool()  # (the schema)
            customer = await seed(database_url, schema)
        hub = LiveHub()
        context = ApiContext(api_config(), database=database, live=hub, clock=lambda: NOW)
        try:
            async with api_client(make_app(context, route_groups())) as client:
                yield Site(client, hub, customer)
        finally:
            await database.close()


def login(client: Client) -> None:
    client.session.cookie_jar.update_cookies({COOKIE: TOKEN})


async def next_json(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    """The next message of this type (the feed may send others first)."""
    async with asyncio.timeout(5):
        while True:
            message: dict[str, Any] = await ws.receive_json()
            if message["type"] == kind:
                return message


# -- login -----------------------------------------------------------------------------
async def test_a_page_without_a_token_sends_the_browser_to_log_in() -> None:
    async with site() as s:
        response = await s.client.get("/pages/screen/a102", allow_redirects=False)
        assert response.status == 303
        assert response.headers["Location"] == "/login?next=/pages/screen/a102"
        form = await s.client.get("/login?next=%2Fpages%2Fscreen%2Fa102")
        assert form.status == 200
        assert 'value="/pages/screen/a102"' in await form.text()


async def test_login_sets_an_httponly_strict_cookie_and_goes_back_to_the_page() -> None:
    async with site() as s:
        form = {"token": TOKEN, "next": "/pages/screen/a102"}
        response = await s.client.post("/login", data=form, allow_redirects=False)
        assert response.status == 303
        assert response.headers["Location"] == "/pages/screen/a102"
        cookie = response.headers["Set-Cookie"]
        assert cookie.startswith(f"{COOKIE}={TOKEN};")
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        assert "Path=/" in cookie
        page = await s.client.get("/pages/screen/a102", allow_redirects=False)  # the cookie
        assert page.status == 200
        assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
        out = await s.client.post("/logout", allow_redirects=False)
        assert out.status == 303
        again = await s.client.get("/pages/wallboard", allow_redirects=False)
        assert again.status == 303


@pytest.mark.parametrize("token", ["", "wrong-token-0123456789", TOKEN + "x"])
async def test_a_wrong_token_gets_the_form_again_and_no_cookie(token: str) -> None:
    async with site() as s:
        response = await s.client.post("/login", data={"token": token}, allow_redirects=False)
        assert response.status == 401
        assert "Set-Cookie" not in response.headers
        assert "That token is not valid." in await response.text()


async def test_login_refuses_a_form_posted_from_another_site_and_foreign_next_pages() -> None:
    async with site() as s:
        forged = await s.client.post(
            "/login", data={"token": TOKEN}, headers={"Origin": "https://evil.example"},
            allow_redirects=False,
        )  # fmt: skip
        assert forged.status == 403
        assert "Set-Cookie" not in forged.headers
        away = {"token": TOKEN, "next": "https://evil.example/"}
        response = await s.client.post("/login", data=away, allow_redirects=False)
        assert response.headers["Location"] == "/pages/wallboard"


async def test_logout_refuses_a_form_posted_from_another_site_and_the_cookie_stays() -> None:
    async with site() as s:
        logged_in = await s.client.post("/login", data={"token": TOKEN}, allow_redirects=False)
        assert logged_in.status == 303
        for origin in ("https://evil.example", "null", f"http://evil.example:{s.client.port}"):
            forged = await s.client.post("/logout", headers={"Origin": origin},
                                         allow_redirects=False)  # fmt: skip
            assert forged.status == 403, origin
            assert "Set-Cookie" not in forged.headers
            page = await s.client.get("/pages/wallboard", allow_redirects=False)
            assert page.status == 200  # still logged in
        ours = await s.client.post("/logout", headers={"Origin": s.origin}, allow_redirects=False)
        assert ours.status == 303
        assert ours.headers["Set-Cookie"].startswith(f'{COOKIE}="";')  # forgotten
        again = await s.client.get("/pages/wallboard", allow_redirects=False)
        assert again.status == 303


# -- the live feed's door ---------------------------------------------------------------
async def test_the_live_feed_opens_only_from_this_servers_own_pages() -> None:
    async with site() as s:
        login(s.client)
        for origin in ("https://evil.example", "null", f"http://evil.example:{s.client.port}"):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await s.client.ws_connect("/live?wallboard=1", headers={"Origin": origin})
            assert refused.value.status == 403
        with pytest.raises(aiohttp.WSServerHandshakeError) as no_origin:
            await s.client.ws_connect("/live?wallboard=1")  # a cookie, but no Origin
        assert no_origin.value.status == 403
        async with s.live("wallboard=1") as ws:
            assert (await next_json(ws, "wallboard"))["type"] == "wallboard"
        async with s.client.ws_connect("/live?wallboard=1", headers=AUTH) as ws:  # a script
            assert (await next_json(ws, "wallboard"))["type"] == "wallboard"


async def test_the_live_feed_needs_a_token_and_a_question() -> None:
    async with site() as s:
        with pytest.raises(aiohttp.WSServerHandshakeError) as anonymous:
            await s.live("wallboard=1")
        assert anonymous.value.status == 401
        login(s.client)
        with pytest.raises(aiohttp.WSServerHandshakeError) as vague:
            await s.live("")
        assert vague.value.status == 400


# -- the screen pop --------------------------------------------------------------------
async def test_the_screen_pop_shows_the_offered_call_live_with_hostile_text_kept_as_text() -> None:
    async with site() as s:
        login(s.client)
        async with s.live("agent=a102") as ws:
            assert await next_json(ws, "idle") == {"type": "idle"}
            s.publish(Kind.PHASE, Phase.DIALING)
            s.publish(Kind.OFFERED, Phase.DIALING, "PJSIP/102")
            call = await next_json(ws, "call")
            assert (call["state"], call["call_id"], call["caller"]) == (
                "ringing",
                "c1",
                "+79161234567",
            )
            assert call["customer"]["name"] == HOSTILE  # data; the page sets it as text
            assert call["path"] == [
                {"node": "welcome", "key": ""},
                {"node": "main", "key": "1"},
                {"node": "sales", "key": ""},
            ]
            card = (await next_json(ws, "customer"))["customer"]
            assert (card["name"], card["churn"], card["owner"]) == (
                HOSTILE,
                "42%",
                "Boris <b>Orlov</b>",
            )
            assert card["notes"] == "calls back <img src=x onerror=alert(2)>"
            assert [c["outcome"] for c in card["last_contacts"]] == [
                "abandoned_in_queue", "answered", "answered",  # (k3, k2, k1: same start)
            ]  # fmt: skip
            s.publish(Kind.CONNECTED, Phase.CONNECTED, "PJSIP/102")
            assert (await next_json(ws, "call"))["state"] == "talking"
            s.publish(Kind.ENDED, Phase.ENDED)
            assert await next_json(ws, "idle") == {"type": "idle"}


async def test_the_server_rendered_screen_pop_escapes_what_the_crm_holds() -> None:
    async with site() as s:
        login(s.client)
        idle = await (await s.client.get("/pages/screen/a102")).text()
        assert "Waiting for a call." in idle
        s.publish(Kind.OFFERED, Phase.DIALING, "PJSIP/102")
        page = await (await s.client.get("/pages/screen/a102")).text()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "<script>alert" not in page
        assert "&lt;img src=x onerror=alert(2)&gt;" in page
        assert "<img" not in page
        assert "Boris &lt;b&gt;Orlov&lt;/b&gt;" in page
        assert "<li>main <kbd>1</kbd></li>" in page
        assert "42%" in page
        # Every script is a file of ours: nothing inline for injected text to join.
        assert page.count("<script") == 2
        assert 'src="/pages/static/live.js"' in page


async def test_an_agent_unknown_to_the_database_follows_the_phones_named_in_the_address() -> None:
    async with site() as s:
        login(s.client)
        async with s.live("agent=desk7&endpoint=PJSIP/107") as ws:
            await next_json(ws, "idle")
            s.publish(Kind.OFFERED, Phase.DIALING, "PJSIP/107")
            assert (await next_json(ws, "call"))["endpoint"] == "PJSIP/107"


async def test_the_pages_scripts_are_served_from_the_package_without_a_token() -> None:
    async with site() as s:
        for name in ("live.js", "screen.js", "wallboard.js", "pages.css"):
            response = await s.client.get(f"/pages/static/{name}")
            assert response.status == 200, name
        script = await (await s.client.get("/pages/static/screen.js")).text()
        assert "innerHTML" not in script
        assert "textContent" in script


# -- the wallboard ---------------------------------------------------------------------
async def test_the_wallboard_counts_today_and_follows_waiting_calls_live() -> None:
    async with site() as s:
        login(s.client)
        page = await (await s.client.get("/pages/wallboard")).text()
        assert 'id="answered">2<' in page
        assert "Boris &lt;b&gt;Orlov&lt;/b&gt;" in page
        async with s.live("wallboard=1") as ws:
            board = await next_json(ws, "wallboard")
            assert (board["waiting"], board["talking"]) == (0, 0)
            assert board["today"] == {
                "offered": 3,
                "answered": 2,
                "abandoned": 1,
                "answered_in_time": 1,
                "service_level": "33%",
            }
            assert board["agent_states"] == {"available": 1, "on_call": 1, "logged_out": 1}
            started = time.monotonic()
            s.publish(Kind.PHASE, Phase.DIALING, call="w1")
            board = await next_json(ws, "wallboard")
            assert time.monotonic() - started < 1.0  # at once, not at the next refresh
            assert board["waiting"] == 1
            s.publish(Kind.CONNECTED, Phase.CONNECTED, "PJSIP/102", call="w1")
            board = await next_json(ws, "wallboard")
            assert (board["waiting"], board["talking"]) == (0, 1)


async def test_with_the_database_away_the_pages_still_answer_within_a_second() -> None:
    async with site("postgresql://postgres@127.0.0.1:1/test") as s:
        login(s.client)
        started = time.monotonic()
        screen = await s.client.get("/pages/screen/a102")
        board = await (await s.client.get("/pages/wallboard")).text()
        assert screen.status == 200
        assert time.monotonic() - started < 3.0
        assert 'id="db-note" class="error">' in board  # shown, not hidden
        async with s.live("wallboard=1") as ws:
            message = await next_json(ws, "wallboard")
            assert (message["today"], message["agents"]) == (None, None)


async def test_stopping_the_server_closes_open_pages_at_once() -> None:
    hub = LiveHub()
    context = ApiContext(api_config(), live=hub)
    client = TestClient(aiohttp.test_utils.TestServer(make_app(context, route_groups())))
    await client.start_server()
    origin = f"http://{client.host}:{client.port}"
    ws = await client.ws_connect("/live?wallboard=1", headers={"Origin": origin, **AUTH})
    await next_json(ws, "wallboard")
    started = time.monotonic()
    await client.close()
    assert time.monotonic() - started < 3.0
    assert ws.closed
    assert hub.subscribers == 0


# -- a daemon's calls ------------------------------------------------------------------
async def test_a_daemons_call_reaches_the_screen_of_the_phone_it_rings(
    fake: FakeAri, tmp_path: Path
) -> None:
    port = free_port()
    (tmp_path / "flow.yaml").write_text(SPINE)
    config = replace(lab_config(fake, tmp_path), api=replace(api_config(), port=port))
    registry = FlowRegistry(list(config.flows.files), config.flows.prompts)
    stop = asyncio.Event()
    task = asyncio.create_task(run_daemon(config, registry, stop))
    await fake.wait_connected()
    url = f"http://127.0.0.1:{port}/live?agent=desk&endpoint=PJSIP/agent100"
    async with aiohttp.ClientSession() as session, session.ws_connect(url, headers=AUTH) as ws:
        await next_json(ws, "idle")
        caller = await connected_call(fake)
        talking = await next_json(ws, "call")
        while talking["state"] != "talking":
            talking = await next_json(ws, "call")
        assert (talking["call_id"], talking["endpoint"]) == (caller, "PJSIP/agent100")
        assert [s["node"] for s in talking["path"]] == ["welcome", "agent"]
        await fake.caller_hangs_up(caller)
        await next_json(ws, "idle")
        stop.set()  # with the page still open: the daemon stops all the same
        assert await asyncio.wait_for(task, 10) == 0


@asynccontextmanager
async def silent_database() -> AsyncIterator[str]:
    """A PostgreSQL address that accepts connections and never says a word."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/test"
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_page_that_falls_behind_is_disconnected_and_calls_never_wait_for_it() -> None:
    async with silent_database() as url, fresh_schema("pages") as schema:
        database = Database(url, schema)
        hub = LiveHub(queue_size=3)
        context = ApiContext(api_config(), database=database, live=hub)
        async with api_client(make_app(context, route_groups())) as client:
            origin = f"http://{client.host}:{client.port}"
            headers = {"Origin": origin, **AUTH}
            async with client.ws_connect("/live?wallboard=1", headers=headers) as ws:
                while hub.subscribers == 0:  # noqa: ASYNC110 - (the handler subscribes)
                    await asyncio.sleep(0.01)
                started = time.monotonic()
                for n in range(10):  # while the page waits (a second) for the database
                    hub.publish(CallEvent(Kind.PHASE, f"c{n}", Phase.IVR, NOW))
                assert time.monotonic() - started < 0.05  # publishing never waited
                first = await next_json(ws, "wallboard")  # its picture, then the door
                assert first["today"] is None
                closing = await ws.receive(timeout=5)
                assert closing.type is aiohttp.WSMsgType.CLOSE
                assert ws.close_code == aiohttp.WSCloseCode.TRY_AGAIN_LATER
            assert hub.subscribers == 0
        await database.close()


async def test_an_unknown_caller_and_a_hostile_address_render_as_text() -> None:
    async with site() as s:
        login(s.client)
        s.hub.publish(
            CallEvent(Kind.OFFERED, "r1", Phase.DIALING, NOW, '"><b>x', endpoint="PJSIP/9")
        )
        page = await s.client.get("/pages/screen/%3Cscript%3Ex?endpoint=PJSIP/9")
        text = await page.text()
        assert page.status == 200
        assert "Unknown caller" in text
        assert "&#34;&gt;&lt;b&gt;x" in text  # the caller ID, in an element and escaped
        assert 'data-agent="&lt;script&gt;x"' in text
        assert "<script>x" not in text
