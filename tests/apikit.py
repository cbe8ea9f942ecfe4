"""An API app in the test's loop, with aiohttp's test client (tiers 2 and 3)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from switchboard.api import ApiContext, make_app
from switchboard.config import ApiConfig, ApiToken

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def api_config(max_body_bytes: int = 64 * 1024) -> ApiConfig:
    return ApiConfig(tokens=(ApiToken("ops", TOKEN),), max_body_bytes=max_body_bytes)


Client = TestClient[web.Request, web.Application]


@asynccontextmanager
async def api_client(app: web.Application) -> AsyncIterator[Client]:
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


def bare_app(context: ApiContext | None = None) -> web.Application:
    return make_app(context or ApiContext(api_config()))
