"""Operating the daemon: readiness, Prometheus metrics, flow reload, the spec.

``/ready`` is for load balancers and orchestrators, so it needs no token and
says only ok or failing per check (no addresses, no error texts).
"""

from __future__ import annotations

import asyncio
import logging
from importlib import resources
from typing import Any

import asyncpg
from aiohttp import web

from switchboard.config import ApiScope
from switchboard.db import DB_ERRORS, Database
from switchboard.metrics import CONTENT_TYPE

from .context import CLIENT, CONTEXT, public, scoped
from .errors import ApiError
from .query import params

log = logging.getLogger("switchboard.api")
READY_DB_TIMEOUT_S = 1.0
SPEC = "openapi.yaml"


class DatabaseProbe:
    """``/ready``'s database check: ``SELECT 1`` within ``within`` seconds. Making the pool
    (the first time) is shielded and shared: a slow start goes on in the background, one
    attempt at a time however many probes arrive, and a later probe finds it made."""

    def __init__(self, within: float = READY_DB_TIMEOUT_S) -> None:
        self.within = within
        self._making: asyncio.Future[asyncpg.Pool] | None = None

    async def reachable(self, database: Database) -> bool:
        if self._making is None or self._making.done():
            self._making = asyncio.ensure_future(database.pool())
            self._making.add_done_callback(_retrieve)
        try:
            async with asyncio.timeout(self.within):
                pool = await asyncio.shield(self._making)
                await pool.fetchval("SELECT 1")
        except DB_ERRORS:
            return False
        return True


PROBE = web.AppKey("database_probe", DatabaseProbe)


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # (seen: not "never retrieved"; the probe said failing)


async def ready(request: web.Request) -> web.Response:
    """GET /ready: 200 when every check passes, else 503; the same keys either way."""
    params(request.query, ())
    context = request.app[CONTEXT]
    checks = {
        "ari": context.ari_connected(),
        "flows": context.flows is not None and bool(context.flows.current.flows),
    }
    if context.database is not None:
        checks["database"] = await request.app[PROBE].reachable(context.database)
    is_ready = all(checks.values())
    body = {
        "status": "ready" if is_ready else "not_ready",
        "checks": {name: "ok" if ok else "failing" for name, ok in checks.items()},
    }
    return web.json_response(body, status=200 if is_ready else 503)


async def metrics(request: web.Request) -> web.Response:
    """GET /metrics: Prometheus text format."""
    params(request.query, ())
    registry = request.app[CONTEXT].metrics
    if registry is None:
        raise ApiError(503, "not_running", "no metrics in this process")
    return web.Response(body=registry.exposition(), headers={"Content-Type": CONTENT_TYPE})


async def reload_flows(request: web.Request) -> web.Response:
    """POST /flows/reload: compile the files now; the new version, or 422 with the
    checker's problems (the version being served stays)."""
    params(request.query, ())
    flows = request.app[CONTEXT].flows
    if flows is None:
        raise ApiError(503, "not_running", "no flows in this process")
    result = await flows.reload_now()
    log.info("api.flows_reload", extra={"client": request[CLIENT], "version": result.version,
                                        "problems": len(result.problems)})  # fmt: skip
    if result.problems:
        message = (
            f"the flows have {len(result.problems)} problem(s); "
            f"version {result.version} is still served"
        )
        detail = {"problems": list(result.problems), "version": result.version}
        raise ApiError(422, "flows_invalid", message, detail=detail)
    if result.failed:
        raise ApiError(500, "reload_failed", "the flow checker failed; see the daemon log",
                       detail={"version": result.version})  # fmt: skip
    body = {
        "version": result.version,
        "previous": result.previous,
        "changed": result.version != result.previous,
    }
    return web.json_response(body)


def spec_text() -> str:
    return resources.files("switchboard.api").joinpath(SPEC).read_text(encoding="utf-8")


async def openapi(request: web.Request) -> web.Response:
    """GET /openapi.yaml: this API's OpenAPI 3.1 description (shipped in the package)."""
    return web.Response(text=spec_text(), content_type="application/yaml")


def mount(app: web.Application) -> None:
    app[PROBE] = DatabaseProbe()
    app.router.add_get("/ready", ready, name="ready")
    app.router.add_get("/metrics", metrics, name="metrics")
    app.router.add_post("/flows/reload", reload_flows, name="flows_reload")
    app.router.add_get("/openapi.yaml", openapi, name="openapi")
    public(app, "ready", "openapi")
    scoped(app, ApiScope.READ, "metrics")
    scoped(app, ApiScope.ADMIN, "flows_reload")
