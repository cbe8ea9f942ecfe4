"""Agents: who they are and their state (PostgreSQL), whether their phones can
ring (Asterisk's endpoint states, as the daemon's target book holds them); and
login, logout, pause and unpause, as ``switchboard agent`` does."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import asyncpg
from aiohttp import web

from switchboard.config import ApiScope
from switchboard.daemon.snapshot import phone
from switchboard.daemon.targets import TargetBook
from switchboard.routing.repository import AGENT_ACTIONS, AgentRepository, AgentState

from . import store
from .context import CLIENT, CONTEXT, scoped
from .errors import ApiError, json_object
from .query import identifier, invalid, next_cursor, page, params
from .render import jsonable

log = logging.getLogger("switchboard.api")
MAX_REASON_CHARS = 200
MAX_ID_CHARS = 200


def _with_phones(agent: store.AgentRow, book: TargetBook | None) -> dict[str, object]:
    body = {name: jsonable(getattr(agent, name)) for name in agent.__slots__}
    body["skills"] = [{"skill": s, "proficiency": p} for s, p in agent.skills]
    phones = [phone(book if book is not None else TargetBook(), e) for e in agent.endpoints]
    body["phones"] = jsonable(phones)
    return body


async def list_agents(request: web.Request) -> web.Response:
    """GET /agents: by id, paged; ``state`` filters."""
    query = params(request.query, ("limit", "cursor", "state"))
    state = query.get("state")
    if state is not None and state not in set(AgentState):
        allowed = ", ".join(s.value for s in AgentState)
        raise invalid("state", f"expected one of {allowed}, got {state!r}")
    wanted = page(query, 1)
    rows = await store.run(request, lambda pool: store.agents(pool, wanted, state))
    supervisor = request.app[CONTEXT].supervisor
    book = supervisor.book if supervisor is not None else None
    shown = rows[: wanted.limit]
    cursor = next_cursor(rows, wanted, (shown[-1].id,)) if shown else None
    return web.json_response(
        {"agents": [_with_phones(a, book) for a in shown], "next_cursor": cursor}
    )


def _field_error(field: str, message: str) -> ApiError:
    return ApiError(400, "invalid_field", f"{field}: {message}", detail={"field": field})


async def _reason(request: web.Request, action: str) -> str:
    """The optional body: ``{"reason": "..."}``, for pause only."""
    if not request.body_exists:
        return ""
    body = await json_object(request)
    unknown = sorted(set(body) - {"reason"})
    if unknown:
        raise _field_error(unknown[0], "unknown field (expected: reason)")
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS or not reason.isprintable():
        raise _field_error("reason", f"expected at most {MAX_REASON_CHARS} printable characters")
    if reason and action != "pause":
        raise _field_error("reason", "goes with pause only")
    return reason


def action_handler(action: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def set_state(request: web.Request) -> web.Response:
        agent_id = request.match_info["agent_id"]
        reason = await _reason(request, action)
        state = AGENT_ACTIONS[action]

        async def change(pool: asyncpg.Pool) -> str | None:
            return await AgentRepository(pool, "api").set_state(agent_id, state, reason)

        before = await store.run(request, change) if identifier(agent_id, MAX_ID_CHARS) else None
        if before is None:
            raise ApiError(404, "agent_not_found", f"no agent {agent_id[:64]!r}")
        log.info("api.agent_state", extra={"agent": agent_id, "state": state, "was": before,
                                           "client": request[CLIENT]})  # fmt: skip
        # (the router reads the change at its next refresh: routing.refresh_interval)
        return web.json_response({"agent": agent_id, "state": state.value, "was": before,
                                  "pause_reason": reason})  # fmt: skip

    return set_state


def mount(app: web.Application) -> None:
    app.router.add_get("/agents", list_agents, name="agents")
    for action in AGENT_ACTIONS:
        app.router.add_post(f"/agents/{{agent_id}}/{action}", action_handler(action),
                            name=f"agent_{action}")  # fmt: skip
    scoped(app, ApiScope.READ, "agents")
    scoped(app, ApiScope.AGENTS, *(f"agent_{action}" for action in AGENT_ACTIONS))
