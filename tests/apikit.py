"""An API app in the test's loop, with aiohttp's test client (tiers 2 and 3)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from switchboard.api import ApiContext, make_app
from switchboard.app import route_groups
from switchboard.config import ApiConfig, ApiScope, ApiToken

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ALL_SCOPES = frozenset(ApiScope)


def scoped_token(name: str, *scopes: ApiScope) -> ApiToken:
    """A token named ``name`` (its secret: ``name`` padded to 16+ characters) with only
    ``scopes``; send it with ``bearer(token)``."""
    return ApiToken(name, f"{name}-token-0123456789", frozenset(scopes))


def bearer(token: ApiToken) -> dict[str, str]:
    return {"Authorization": f"Bearer {token.token}"}


def api_config(*more: ApiToken, max_body_bytes: int = 64 * 1024) -> ApiConfig:
    """The "ops" token (TOKEN, AUTH) has every scope; ``more`` tokens come after it."""
    tokens = (ApiToken("ops", TOKEN, ALL_SCOPES), *more)
    return ApiConfig(tokens=tokens, max_body_bytes=max_body_bytes)


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
    """The app a daemon without web callbacks serves (every other route group)."""
    return make_app(context or ApiContext(api_config()), route_groups())
