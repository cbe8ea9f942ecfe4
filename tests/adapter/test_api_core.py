"""Tier 2: the API's shared behaviour over real HTTP: tokens, JSON errors, limits."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from switchboard.api import ApiContext, ApiError, errors
from switchboard.api.auth import COOKIE
from switchboard.api.context import CLIENT, scoped
from switchboard.api.errors import json_object
from switchboard.app import run_daemon
from switchboard.config import ApiScope
from switchboard.flows.registry import FlowRegistry
from tests.adapter.test_daemon_fake_ari import lab_config
from tests.apikit import AUTH, TOKEN, api_client, api_config, bare_app
from tests.fake_ari import FakeAri
from tests.flowkit import SPINE


async def echo(request: web.Request) -> web.Response:
    return web.json_response({"got": await json_object(request)})


async def whoami(request: web.Request) -> web.Response:
    return web.json_response({"client": request[CLIENT]})


async def broken(request: web.Request) -> web.Response:
    raise RuntimeError("secret database password in a traceback")


async def refuses(request: web.Request) -> web.Response:
    raise ApiError(409, "already_done", "it was done already")


def app_under_test() -> web.Application:
    app = bare_app(ApiContext(api_config(max_body_bytes=1024)))
    app.router.add_post("/echo", echo, name="echo")
    app.router.add_get("/whoami", whoami, name="whoami")
    app.router.add_get("/broken", broken, name="broken")
    app.router.add_post("/refuses", refuses, name="refuses")
    scoped(app, ApiScope.READ, "echo", "whoami", "broken", "refuses")
    return app


async def test_health_needs_no_token() -> None:
    async with api_client(app_under_test()) as client:
        response = await client.get("/health")
        assert response.status == 200
        assert await response.json() == {"status": "ok"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-0123456789"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": "Bearer"},
    ],
)
async def test_a_wrong_or_missing_token_is_one_401_that_says_nothing_more(
    headers: dict[str, str],
) -> None:
    async with api_client(app_under_test()) as client:
        response = await client.get("/whoami", headers=headers)
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert await response.json() == {
            "error": {"id": "unauthorized", "message": "a valid API token is required"}
        }


async def test_the_right_token_names_its_client() -> None:
    async with api_client(app_under_test()) as client:
        response = await client.get("/whoami", headers=AUTH)
        assert await response.json() == {"client": "ops"}


async def test_the_cookie_is_for_reading_only() -> None:
    async with api_client(app_under_test()) as client:
        client.session.cookie_jar.update_cookies({COOKIE: TOKEN})
        assert (await client.get("/whoami")).status == 200
        refused = await client.post("/echo", json={"a": 1})  # a forged form post from elsewhere
        assert refused.status == 401


@pytest.mark.parametrize(
    ("body", "content_type", "status", "error_id"),
    [
        (b"{not json", "application/json", 400, "invalid_json"),
        (b"[1, 2]", "application/json", 400, "invalid_json"),
        (b"\xff\xfe", "application/json", 400, "invalid_json"),
        (b"[" * 1000, "application/json", 400, "invalid_json"),  # past the recursion limit
        (b'{"a":' * 100 + b"1" + b"}" * 100, "application/json", 400, "invalid_json"),
        (b"a=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b'{"a": "' + b"x" * 2000 + b'"}', "application/json", 413, "body_too_large"),
    ],
)
async def test_bad_bodies_get_a_json_error_never_a_500(
    body: bytes, content_type: str, status: int, error_id: str
) -> None:
    async with api_client(app_under_test()) as client:
        headers = {**AUTH, "Content-Type": content_type}
        response = await client.post("/echo", data=body, headers=headers)
        assert response.status == status
        assert (await response.json())["error"]["id"] == error_id


async def test_json_nested_past_pythons_recursion_limit_is_400_even_unbounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(errors, "MAX_JSON_DEPTH", 10**6)  # (only the parser's own limit)
    async with api_client(app_under_test()) as client:
        headers = {**AUTH, "Content-Type": "application/json"}
        response = await client.post("/echo", data=b"[" * 1000, headers=headers)
        assert response.status == 400
        assert await response.json() == {
            "error": {"id": "invalid_json", "message": "the body nests too deeply"}
        }


async def test_a_good_body_comes_through() -> None:
    async with api_client(app_under_test()) as client:
        response = await client.post("/echo", json={"a": [1, "b"]}, headers=AUTH)
        assert await response.json() == {"got": {"a": [1, "b"]}}


async def test_handlers_refuse_with_their_own_id() -> None:
    async with api_client(app_under_test()) as client:
        response = await client.post("/refuses", headers=AUTH)
        assert response.status == 409
        assert await response.json() == {
            "error": {"id": "already_done", "message": "it was done already"}
        }


async def test_a_bug_is_a_500_whose_body_hides_the_cause(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with api_client(app_under_test()) as client:
        with caplog.at_level(logging.ERROR, "switchboard.api"):
            response = await client.get("/broken", headers=AUTH)
        body = await response.json()
    assert response.status == 500
    assert body["error"]["id"] == "internal_error"
    assert "password" not in body["error"]["message"]
    logged = [r for r in caplog.records if r.getMessage() == "api.internal_error"]
    assert len(logged) == 1
    assert logged[0].__dict__["request_id"] in body["error"]["message"]  # the log has the cause


async def test_unknown_routes_and_methods_are_json_too() -> None:
    async with api_client(app_under_test()) as client:
        missing = await client.get("/no/such/thing")
        assert missing.status == 404
        assert (await missing.json())["error"]["id"] == "not_found"
        wrong = await client.delete("/echo", headers=AUTH)
        assert wrong.status == 405
        assert (await wrong.json())["error"]["id"] == "method_not_allowed"
        assert "POST" in wrong.headers["Allow"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_daemon_serves_the_api_while_it_runs(fake: FakeAri, tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "flow.yaml").write_text(SPINE)
    config = replace(lab_config(fake, tmp_path), api=replace(api_config(), port=port))
    registry = FlowRegistry(list(config.flows.files), config.flows.prompts)
    stop = asyncio.Event()
    task = asyncio.create_task(run_daemon(config, registry, stop))
    await fake.wait_connected()
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/health") as response:
            assert response.status == 200
        stop.set()
        assert await asyncio.wait_for(task, 10) == 0
        with pytest.raises(aiohttp.ClientConnectionError):  # stopped with the daemon
            await session.get(f"http://127.0.0.1:{port}/health")


async def test_a_port_in_use_stops_the_start_with_a_clear_log(
    fake: FakeAri, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "flow.yaml").write_text(SPINE)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        config = replace(lab_config(fake, tmp_path), api=replace(api_config(), port=port))
        registry = FlowRegistry(list(config.flows.files), config.flows.prompts)
        code = await asyncio.wait_for(run_daemon(config, registry, asyncio.Event()), 10)
    assert code == 2
    assert [r for r in caplog.records if r.getMessage() == "api.listen_failed"]
    assert fake.connections == 0  # never listened for calls


async def test_refused_requests_leave_nothing_behind_in_memory() -> None:
    """Each 401 is its own error: one raised again and again would keep every refused
    request alive through its growing traceback (anyone could grow the daemon)."""
    async with api_client(app_under_test()) as client:
        for _ in range(200):
            response = await client.get("/whoami")
            assert response.status == 401
        gc.collect()
        alive = [o for o in gc.get_objects() if isinstance(o, web.BaseRequest)]
    assert len(alive) < 5


@pytest.mark.parametrize(
    "header",
    [b"Authorization: Bearer \xff\xfe\xfd", b"Cookie: switchboard_token=\xff\xfe"],
)
async def test_a_token_that_is_not_utf8_is_a_401_not_a_500(header: bytes) -> None:
    async with api_client(app_under_test()) as client:
        reader, writer = await asyncio.open_connection(client.host, client.port)
        writer.write(
            b"GET /whoami HTTP/1.1\r\nHost: x\r\n" + header + b"\r\nConnection: close\r\n\r\n"
        )
        await writer.drain()
        status_line = await reader.readline()
        writer.close()
        await writer.wait_closed()
    assert status_line.startswith(b"HTTP/1.1 401"), status_line
