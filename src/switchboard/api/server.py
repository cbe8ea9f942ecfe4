"""The API application: built once by the composition root, served on
``api.listen``; feature modules add routes to it.

Routes are private (a token is required) unless their name is in the app's
public set (``public(app, name)``): health, the web-callback form and its POST.
``ApiServer`` serves the app through the guarded edge (``connections``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from switchboard.config import ApiConfig
from switchboard.daemon import Supervisor
from switchboard.db import Database
from switchboard.flows.registry import FlowRegistry
from switchboard.live import LiveHub
from switchboard.metrics import Metrics

from .auth import AUTH_FAILURES, AuthFailures, authenticate
from .clients import TRUSTED_PROXIES
from .connections import Edge
from .errors import Handler, errors_middleware
from .refusals import summarise

log = logging.getLogger("switchboard.api")


@dataclass(frozen=True, slots=True)
class ApiContext:
    """What the handlers may use, handed in by the composition root."""

    config: ApiConfig
    ari_connected: Callable[[], bool] = lambda: False
    supervisor: Supervisor | None = None  # calls, queues, the agent router
    flows: FlowRegistry | None = None
    database: Database | None = None
    metrics: Metrics | None = None
    voicemail_directory: Path | None = None  # audio is served only from under it
    recording_directory: Path | None = None  # (call recordings: the same)
    live: LiveHub | None = None  # call events as they happen (the pages)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # the daemon's ("today")


CONTEXT = web.AppKey("context", ApiContext)
PUBLIC = web.AppKey("public_routes", set[str])
CLIENT = web.RequestKey("api_client", str)  # the name of the token used ("" for public routes)


def public(app: web.Application, *route_names: str) -> None:
    """Mark routes (by name) as open without a token."""
    app[PUBLIC].update(route_names)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = request.match_info.route
    # Public routes, and no route at all (a 404 or 405 without asking for a token).
    if route.resource is None or route.name in request.app[PUBLIC]:
        request[CLIENT] = ""
    else:
        request[CLIENT] = authenticate(request, request.app[CONTEXT].config.tokens)
    return await handler(request)


async def health(request: web.Request) -> web.Response:
    """Liveness: the process answers (no token; nothing about its state)."""
    return web.json_response({"status": "ok"})


def make_app(context: ApiContext) -> web.Application:
    app = web.Application(
        middlewares=[errors_middleware, auth_middleware],
        client_max_size=context.config.max_body_bytes,
    )
    app[CONTEXT] = context
    app[PUBLIC] = set()
    app[TRUSTED_PROXIES] = context.config.trusted_proxies
    app[AUTH_FAILURES] = AuthFailures(context.config.auth_failures)
    app.cleanup_ctx.append(refusal_summaries)
    app.router.add_get("/health", health, name="health")
    public(app, "health")
    from switchboard.pages import add_pages  # (they use this module's keys)

    from . import activity, agents, history, ops, recordings, voicemails

    for feature in (ops, activity, agents, history, recordings, voicemails):
        feature.add_routes(app)
    add_pages(app)
    return app


async def refusal_summaries(app: web.Application) -> AsyncIterator[None]:
    """The refused-requests summary line, once a minute while the app runs."""
    task = asyncio.create_task(summarise(app[AUTH_FAILURES].refusals, "requests"))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class ApiServer:
    """Serves an app on ``api.listen`` between ``start()`` and ``stop()``, every
    connection through the edge's limits (``max_connections``: the configured
    number unless the composition root lowered it to fit the open-files limit)."""

    def __init__(
        self, app: web.Application, host: str, port: int, max_connections: int | None = None
    ) -> None:
        self.app = app
        self.host, self.port = host, port
        config = app[CONTEXT].config
        self.edge = Edge(config, max_connections or config.max_connections)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        self._listener: asyncio.Server | None = None
        self._summaries: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._runner.setup()  # the app's start-up; the runner keeps its connections
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._listener = await loop.create_server(
            lambda: self.edge.handler(server), self.host, self.port, reuse_address=True
        )
        if self.port == 0:
            self.port = int(self._listener.sockets[0].getsockname()[1])
        self._summaries = asyncio.create_task(summarise(self.edge.refusals, "connections"))
        log.info(
            "api.listening",
            extra={"host": self.host, "port": self.port,
                   "max_connections": self.edge.gate.total},
        )  # fmt: skip

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()  # no new connections; open ones are shut down below
        await self._runner.cleanup()
        if self._summaries is not None:
            self._summaries.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._summaries
