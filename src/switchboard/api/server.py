"""The API application: built once by the composition root, served on
``api.listen``; feature modules add routes to it.

Routes are private (a token is required) unless their name is in the app's
public set (``public(app, name)``): health, the web-callback form and its POST.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
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
from switchboard.retention import CallerEraser

from .auth import authenticate
from .errors import Handler, errors_middleware

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
    eraser: CallerEraser | None = None  # POST /privacy/erase (needs a database)


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
    app.router.add_get("/health", health, name="health")
    public(app, "health")
    from switchboard.pages import add_pages  # (they use this module's keys)

    from . import activity, agents, history, ops, privacy, recordings, voicemails

    for feature in (ops, activity, agents, history, recordings, voicemails, privacy):
        feature.add_routes(app)
    add_pages(app)
    return app


class ApiServer:
    """Serves an app on ``api.listen`` between ``start()`` and ``stop()``."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self.app = app
        self.host, self.port = host, port
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        bound = self._runner.addresses
        if bound and self.port == 0:
            self.port = int(bound[0][1])
        log.info("api.listening", extra={"host": self.host, "port": self.port})

    async def stop(self) -> None:
        await self._runner.cleanup()
