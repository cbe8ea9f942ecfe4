"""Tier 2: the API's edge over real HTTP and real sockets.

- Who the client is: X-Forwarded-For as nginx and HAProxy send it, through the
  aiohttp test client with real header lines (and the web callbacks' per-address
  limit and stored ``client_ip`` with it).
- Wrong tokens: limited per address (bearer, cookie, the login form), then 429
  before any token is compared; the refusals logged once per address, then summed.
- Slow clients, against the ApiServer on 127.0.0.1:0 with raw sockets: a trickled
  head, a stalled body, an idle keep-alive connection are closed; connections over
  the per-address and total limits are closed at once.
- The whole daemon with a constrained open-files limit: a flood of idle and slow
  sockets leaves /health answering and a call going through.

Timeouts here are failure bounds only (a test that waits out one fails): what is
asserted is that the server closed the connection, and how.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import resource
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from switchboard import app as daemon_app
from switchboard.api import ApiContext, ApiServer, make_app, public
from switchboard.api.auth import AUTH_FAILURES, COOKIE
from switchboard.api.clients import client_of
from switchboard.api.connections import FD_RESERVE
from switchboard.api.context import CLIENT, scoped
from switchboard.api.refusals import log_summary
from switchboard.app import route_groups
from switchboard.config import ApiConfig, ApiScope, AuthFailureLimits, DatabaseConfig
from switchboard.dialpolicy import CallbackGate
from switchboard.webcallback import WebCallbacks, WebCallbackStore
from switchboard.webcallback.routes import CallbackApi
from tests.adapter.test_daemon_fake_ari import connected_call, lab_config, leg
from tests.adapter.test_web_callbacks import CALLBACKS, POLICY, free_port
from tests.apikit import AUTH, TOKEN, api_client, api_config
from tests.daemonkit import running_daemon
from tests.fake_ari import FakeAri
from tests.flowkit import SPINE
from tests.pgkit import DATABASE_URL, fresh_schema

PROXY = (ipaddress.ip_network("127.0.0.1/32"),)
BOUND_S = 10.0  # failure bound: far above every timeout configured below
HEALTH = b"GET /health HTTP/1.1\r\nHost: switchboard\r\n\r\n"
HEALTH_ONCE = b"GET /health HTTP/1.1\r\nHost: switchboard\r\nConnection: close\r\n\r\n"


async def where_from(request: web.Request) -> web.Response:
    return web.json_response({"client": client_of(request)})


async def whoami(request: web.Request) -> web.Response:
    return web.json_response({"token": request[CLIENT]})


def edge_app(config: ApiConfig) -> web.Application:
    app = make_app(ApiContext(config), route_groups())
    app.router.add_get("/client", where_from, name="client")
    app.router.add_get("/whoami", whoami, name="whoami")
    public(app, "client")
    scoped(app, ApiScope.READ, "whoami")
    return app


def messages(caplog: pytest.LogCaptureFixture, msg: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == msg]


# -- who the client is ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("lines", "trusted", "client"),
    [
        ([("X-Forwarded-For", "9.9.9.9, 1.2.3.4")], PROXY, "1.2.3.4"),  # nginx
        ([("X-Forwarded-For", "9.9.9.9"), ("X-Forwarded-For", "1.2.3.4")], PROXY, "1.2.3.4"),
        (
            [("X-Forwarded-For", "2001:db8::bad"), ("X-Forwarded-For", "2001:db8::5")],
            PROXY,
            "2001:db8::5",
        ),
        ([("X-Forwarded-For", "<script>, 1.2.3.4")], PROXY, "1.2.3.4"),
        ([("X-Forwarded-For", "1.2.3.4"), ("X-Forwarded-For", "garbage")], PROXY, "127.0.0.1"),
        ([("X-Forwarded-For", "9.9.9.9"), ("X-Forwarded-For", "1.2.3.4")], (), "127.0.0.1"),
    ],
)
async def test_the_client_behind_a_proxy_is_what_the_proxy_saw(
    lines: list[tuple[str, str]], trusted: tuple[Any, ...], client: str
) -> None:
    config = replace(api_config(), trusted_proxies=trusted)
    async with api_client(edge_app(config)) as http:
        response = await http.get("/client", headers=lines)
        assert (await response.json())["client"] == client


async def test_a_forged_first_header_line_neither_escapes_the_limit_nor_is_stored(
    tmp_path: Path,
) -> None:
    service = WebCallbacks(
        CALLBACKS, WebCallbackStore(tmp_path / "spool", None), lambda: datetime.now(UTC)
    )
    callbacks = CallbackApi.build(service, CallbackGate(POLICY))
    app = make_app(
        ApiContext(replace(api_config(), trusted_proxies=PROXY)), route_groups(callbacks)
    )
    statuses = []
    async with api_client(app) as http:
        for i in range(12):  # HAProxy's shape: the client's forged line, then the proxy's
            headers = [("X-Forwarded-For", f"198.51.100.{i}"), ("X-Forwarded-For", "203.0.113.9")]
            number = f"+791612345{i:02d}"
            response = await http.post("/callbacks", json={"number": number}, headers=headers)
            statuses.append(response.status)
    assert statuses.count(202) == 10  # per_ip, for the one real address
    assert {c.client_ip for c in service.requests.values()} == {"203.0.113.9"}


# -- wrong tokens -----------------------------------------------------------------------------
def limited_config(per_address: int = 3) -> ApiConfig:
    limits = AuthFailureLimits(per_address=per_address, window_seconds=3600)
    return replace(api_config(), auth_failures=limits, trusted_proxies=PROXY)


def wrong(address: str = "203.0.113.5") -> dict[str, str]:
    return {"Authorization": "Bearer wrong-token-0123456789", "X-Forwarded-For": address}


async def test_wrong_tokens_from_an_address_get_429_before_any_token_is_compared(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = edge_app(limited_config())
    async with api_client(app) as http:
        first = [(await http.get("/whoami", headers=wrong())).status for _ in range(3)]
        assert first == [401, 401, 401]
        limited = await http.get("/whoami", headers=wrong())
        assert limited.status == 429
        assert (await limited.json())["error"]["id"] == "rate_limited"
        assert int(limited.headers["Retry-After"]) >= 1
        right = {**AUTH, "X-Forwarded-For": "203.0.113.5"}
        assert (await http.get("/whoami", headers=right)).status == 429  # not even compared
        other = {**AUTH, "X-Forwarded-For": "203.0.113.6"}
        assert (await http.get("/whoami", headers=other)).status == 200
        for _ in range(10):  # no token at all guesses nothing: never limited
            bare = await http.get("/whoami", headers={"X-Forwarded-For": "203.0.113.7"})
            assert bare.status == 401
        assert (
            await http.get("/whoami", headers={**AUTH, "X-Forwarded-For": "203.0.113.7"})
        ).status == 200
    # One line per address (its first refusal), not one per refused request ...
    unauthorized = messages(caplog, "api.unauthorized")
    assert [r.__dict__["client"] for r in unauthorized] == ["203.0.113.5", "203.0.113.7"]
    assert not messages(caplog, "api.rate_limited")
    # ... then the interval's summary counts them all.
    log_summary(app[AUTH_FAILURES].refusals, "requests")
    (summary,) = messages(caplog, "api.refusals")
    assert summary.__dict__["refused"] == 15
    assert summary.__dict__["top"] == {"203.0.113.7": 10, "203.0.113.5": 5}


async def test_a_wrong_cookie_counts_and_is_deleted_so_an_old_one_fails_once() -> None:
    def cookie(token: str) -> dict[str, str]:
        return {"Cookie": f"{COOKIE}={token}"}

    async with api_client(edge_app(limited_config())) as http:
        response = await http.get("/whoami", headers=cookie("an-old-token-0123456789"))
        assert response.status == 401
        assert f'{COOKIE}=""' in response.headers["Set-Cookie"]
        assert "Max-Age=0" in response.headers["Set-Cookie"]
        for _ in range(5):
            page = await http.get("/pages/wallboard", allow_redirects=False)
            assert page.status == 303  # no cookie: to the login page, nothing counted
            assert "Set-Cookie" not in page.headers
        for _ in range(2):
            page = await http.get(
                "/pages/wallboard", headers=cookie("a-guess-0123456789"), allow_redirects=False
            )
            assert page.status == 303  # to the login page, the cookie deleted
            assert "Max-Age=0" in page.headers["Set-Cookie"]
        page = await http.get("/pages/wallboard", headers=cookie(TOKEN), allow_redirects=False)
        assert page.status == 429  # three wrong ones: even the right one waits
        assert (await page.json())["error"]["id"] == "rate_limited"


async def test_the_login_form_shares_the_limit_and_says_when_to_try_again() -> None:
    async with api_client(edge_app(limited_config())) as http:
        assert (await http.get("/whoami", headers=wrong("127.0.0.1"))).status == 401
        for _ in range(2):
            form = await http.post("/login", data={"token": "not-it-0123456789abc"})
            assert form.status == 401
        limited = await http.post("/login", data={"token": TOKEN})
        assert limited.status == 429
        assert int(limited.headers["Retry-After"]) >= 1
        assert "Too many wrong tokens" in await limited.text()
        assert "text/html" in limited.headers["Content-Type"]


# -- slow clients, real sockets ---------------------------------------------------------------
class Served:
    """An ApiServer on 127.0.0.1:0, and the client connections a test opens to it
    (closed when the test ends, however it ends)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.writers: list[asyncio.StreamWriter] = []

    async def connect(
        self, source: str = "127.0.0.1"
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        opening = asyncio.open_connection("127.0.0.1", self.port, local_addr=(source, 0))
        reader, writer = await opening
        self.writers.append(writer)
        return reader, writer


@contextlib.asynccontextmanager
async def serving(max_connections: int | None = None, **settings: Any) -> AsyncIterator[Served]:
    """The ApiServer with these api: settings."""
    config = replace(api_config(), **settings)
    server = ApiServer(edge_app(config), "127.0.0.1", 0, max_connections)
    await server.start()
    served = Served(server.port)
    try:
        yield served
    finally:
        for writer in served.writers:
            writer.close()
        await server.stop()


async def until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection (within BOUND_S)."""
    async with asyncio.timeout(BOUND_S):
        return await reader.read(-1)


async def answered(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    """Ask /health on a kept-alive connection; the whole answer."""
    writer.write(HEALTH)
    async with asyncio.timeout(BOUND_S):
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )  # fmt: skip
        return head + await reader.readexactly(length)


async def test_a_head_trickled_in_is_closed_after_header_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with serving(header_timeout=0.3, keepalive_timeout=60) as served:
        reader, writer = await served.connect()

        async def trickle() -> None:
            writer.write(b"GET /health HTTP/1.1\r\nHost: switchboard\r\nX-Slow: ")
            with contextlib.suppress(ConnectionError):
                while True:
                    writer.write(b"a")
                    await writer.drain()
                    await asyncio.sleep(0.02)

        trickling = asyncio.create_task(trickle())
        try:
            assert await until_closed(reader) == b""  # no request yet: nothing to answer
        finally:
            trickling.cancel()
            writer.close()
    assert [r.__dict__["reason"] for r in messages(caplog, "api.connection_refused")] == [
        "header_timeout"
    ]


async def test_the_header_timeout_starts_at_the_first_byte_not_at_connect() -> None:
    async with serving(header_timeout=0.2, keepalive_timeout=60) as served:
        reader, writer = await served.connect()
        await asyncio.sleep(0.5)  # idle (keepalive_timeout's business), no head begun
        assert b"200 OK" in await answered(reader, writer)
        writer.close()


async def test_a_stalled_body_gets_408_and_the_connection_is_closed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with serving(body_timeout=0.3, keepalive_timeout=60, header_timeout=60) as served:
        reader, writer = await served.connect()
        writer.write(
            b"POST /login HTTP/1.1\r\nHost: switchboard\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
            b"token=abc"
        )
        answer = await until_closed(reader)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b'"id": "body_timeout"' in answer
    assert [r.__dict__["reason"] for r in messages(caplog, "api.connection_refused")] == [
        "body_timeout"
    ]
    assert not messages(caplog, "api.internal_error")


async def test_a_body_that_arrives_in_time_is_served() -> None:
    async with serving(body_timeout=5, keepalive_timeout=60) as served:
        reader, writer = await served.connect()
        body = b"token=not-the-token-0123"
        writer.write(
            b"POST /login HTTP/1.1\r\nHost: switchboard\r\nConnection: close\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[:5]
        )
        await asyncio.sleep(0.1)
        writer.write(body[5:])
        assert (await until_closed(reader)).startswith(b"HTTP/1.1 401 ")
        writer.close()


async def test_an_idle_connection_is_closed_after_keepalive_timeout() -> None:
    async with serving(keepalive_timeout=0.3, header_timeout=60) as served:
        reader, writer = await served.connect()
        assert b"200 OK" in await answered(reader, writer)
        assert await until_closed(reader) == b""  # idle after its answer
        writer.close()
        reader, writer = await served.connect()
        assert await until_closed(reader) == b""  # never asked anything
        writer.close()


async def test_connections_over_the_per_address_limit_are_closed_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with serving(max_connections_per_address=3) as served:
        held = [await served.connect() for _ in range(3)]
        for reader, writer in held:
            assert b"200 OK" in await answered(reader, writer)
        reader, writer = await served.connect()
        writer.write(HEALTH)
        assert await until_closed(reader) == b""
        writer.close()
        other = await served.connect(source="127.0.0.2")  # another address is let in
        assert b"200 OK" in await answered(*other)
        held[0][1].close()  # one of the three leaves: room again

        async def let_in() -> bool:
            reader, writer = await served.connect()
            try:
                writer.write(HEALTH_ONCE)
                return (await until_closed(reader)).startswith(b"HTTP/1.1 200")
            finally:
                writer.close()

        async with asyncio.timeout(BOUND_S):
            while not await let_in():  # noqa: ASYNC110 - the server sees the close later
                await asyncio.sleep(0.02)
        for _, writer in [*held[1:], other]:
            writer.close()
    refused = messages(caplog, "api.connection_refused")
    assert refused[0].__dict__ == refused[0].__dict__ | {
        "peer": "127.0.0.1",
        "reason": "max_connections_per_address",
    }


async def test_a_limited_address_is_refused_the_login_form_before_its_body_is_read() -> None:
    limits = AuthFailureLimits(per_address=2, window_seconds=3600)
    async with serving(auth_failures=limits, body_timeout=60) as served:
        async with aiohttp.ClientSession() as session:
            for _ in range(2):
                url = f"http://127.0.0.1:{served.port}/whoami"
                async with session.get(url, headers=wrong("")) as response:
                    assert response.status == 401
        reader, writer = await served.connect()
        writer.write(
            b"POST /login HTTP/1.1\r\nHost: switchboard\r\nConnection: close\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
        )  # and no body: the answer must not wait for it
        async with asyncio.timeout(BOUND_S):
            head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 429 ")
        assert b"Retry-After: " in head
        writer.write(b"x" * 100)  # (aiohttp reads an unread body before it closes)
        await until_closed(reader)


async def test_a_trusted_proxy_is_limited_in_the_total_only() -> None:
    async with serving(
        max_connections=3, max_connections_per_address=1, trusted_proxies=PROXY
    ) as served:
        held = [await served.connect() for _ in range(3)]
        for reader, writer in held:
            assert b"200 OK" in await answered(reader, writer)
        reader, writer = await served.connect(source="127.0.0.2")
        writer.write(HEALTH)
        assert await until_closed(reader) == b""  # over max_connections
        for _, held_writer in held:
            held_writer.close()
        writer.close()


# -- a flood against the whole daemon -------------------------------------------------------------
FLOOD = r"""
import asyncio, resource, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
port, count = int(sys.argv[1]), int(sys.argv[2])
sources = sys.argv[3:]

async def main():
    held = []
    async def one(i):
        try:
            connecting = asyncio.open_connection(
                "127.0.0.1", port, local_addr=(sources[i % len(sources)], 0))
            reader, writer = await asyncio.wait_for(connecting, 20)
        except (OSError, asyncio.TimeoutError):
            return
        if i % 2:  # half of them slow: a head begun, never ended
            writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        held.append(writer)
    for batch in range(0, count, 50):
        await asyncio.gather(*(one(i) for i in range(batch, min(count, batch + 50))))
    print(len(held), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""


@contextlib.asynccontextmanager
async def flood(port: int, count: int, *sources: str) -> AsyncIterator[int]:
    """Another process holds ``count`` idle or slow connections (from ``sources``)
    until the block ends; yields how many it opened."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", FLOOD, str(port), str(count), *sources,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        async with asyncio.timeout(120):
            yield int(await process.stdout.readline())
    finally:
        process.stdin.close()
        async with asyncio.timeout(BOUND_S):
            await process.wait()


async def health(port: int) -> int:
    async with (
        asyncio.timeout(BOUND_S),
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/health") as response,
    ):
        return response.status


async def a_call_goes_through(fake: FakeAri, logged: asyncpg.Connection) -> None:
    """A caller is greeted, bridged to the agent and hangs up; the call is spooled
    (a file opened) and reaches PostgreSQL (``logged`` was opened before the flood)."""
    async with asyncio.timeout(BOUND_S):
        caller = await connected_call(fake)
        await fake.caller_hangs_up(caller)
        await fake.wait_request("DELETE", rf"/channels/{leg(caller)}")
        await fake.wait_request("DELETE", rf"/bridges/{caller}-bridge")
        query = "SELECT count(*) FROM calls WHERE id = $1"
        while not await logged.fetchval(query, caller):  # noqa: ASYNC110 - the call log's worker
            await asyncio.sleep(0.05)


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with fresh_schema("edge") as name:
        yield name


@pytest.fixture
def few_open_files(monkeypatch: pytest.MonkeyPatch) -> Any:
    """This process may open only its reserve and 150 more files, and may not raise
    that (like a unit whose seccomp filter refuses setrlimit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = len(os.listdir("/proc/self/fd")) + FD_RESERVE + 150
    monkeypatch.setattr(daemon_app, "raise_open_files_limit", lambda: limit)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    try:
        yield limit
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def test_a_flood_of_idle_and_slow_sockets_leaves_health_and_calls_unaffected(
    fake: FakeAri,
    tmp_path: Path,
    schema: str,
    few_open_files: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    (tmp_path / "flow.yaml").write_text(SPINE)
    port = free_port()
    lab = lab_config(fake, tmp_path)
    config = replace(
        lab,
        daemon=replace(lab.daemon, state_directory=tmp_path / "state"),
        database=DatabaseConfig(DATABASE_URL, schema),
        api=replace(api_config(), port=port, header_timeout=60, keepalive_timeout=60),
    )
    async with running_daemon(fake, config):
        logged = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": schema})
        try:
            await a_call_goes_through(fake, logged)  # (the schema is made)
            # One address opens more sockets than the process may have files.
            async with flood(port, few_open_files + 100, "127.0.0.2") as opened:
                assert opened > few_open_files - FD_RESERVE  # the flood did connect
                assert await health(port) == 200
                await a_call_goes_through(fake, logged)
                # Many addresses fill max_connections: the reserve still carries calls.
                many = [f"127.0.1.{i}" for i in range(1, 201)]
                async with flood(port, 400, *many):
                    await a_call_goes_through(fake, logged)
                assert await health(port) == 200
        finally:
            await logged.close()
    (lowered,) = messages(caplog, "api.max_connections_lowered")
    assert lowered.__dict__["max_connections"] == few_open_files - FD_RESERVE
    reasons = {r.__dict__["reason"] for r in messages(caplog, "api.connection_refused")}
    assert reasons == {"max_connections_per_address", "max_connections"}
