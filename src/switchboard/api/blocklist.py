"""The blocklist (``blocklist``: numbers and prefixes a flow with ``blocklist:``
sends to a node of its own): listed, added to, removed from, with the admin scope.
A change is in force for the next call (the daemon reads the list again at once;
other daemons on the same database within ``blocklist.live.REFRESH_S``)."""

from __future__ import annotations

import logging

import asyncpg
from aiohttp import web

from switchboard.blocklist import BadPattern, BlocklistStore, read_pattern
from switchboard.blocklist.model import read_reason
from switchboard.blocklist.store import StoredEntry
from switchboard.config import ApiScope

from . import store
from .context import CLIENT, CONTEXT, scoped
from .errors import ApiError, json_object
from .query import next_cursor, page, params
from .render import jsonable

log = logging.getLogger("switchboard.api")


MAX_PATTERN_CHARS = 64


def _pattern(text: str, field: str) -> str:
    if len(text) > MAX_PATTERN_CHARS:  # (refused, not cut: a cut text could read as a number)
        raise ApiError(400, "invalid_field", f"{field}: at most {MAX_PATTERN_CHARS} characters",
                       detail={"field": field})  # fmt: skip
    try:
        return read_pattern(text)
    except BadPattern as exc:
        raise ApiError(400, "invalid_field", f"{field}: {exc}", detail={"field": field}) from None


async def _in_force(request: web.Request) -> None:
    live = request.app[CONTEXT].blocklist
    if live is not None:
        await live.refresh()


async def list_entries(request: web.Request) -> web.Response:
    """GET /blocklist: by pattern, paged."""
    query = params(request.query, ("limit", "cursor"))
    wanted = page(query, 1)
    after = wanted.after[0] if wanted.after else ""

    async def read(pool: asyncpg.Pool) -> list[StoredEntry]:
        return await BlocklistStore(pool).listed(after, wanted.limit + 1)

    rows = await store.run(request, read)
    shown = rows[: wanted.limit]
    cursor = next_cursor(rows, wanted, (shown[-1].pattern,)) if shown else None
    entries = [{name: jsonable(getattr(r, name)) for name in r.__slots__} for r in shown]
    return web.json_response({"entries": entries, "next_cursor": cursor})


async def add_entry(request: web.Request) -> web.Response:
    """POST /blocklist ``{"pattern": "+79871234567" | "+7495*", "reason": "..."}``."""
    body = await json_object(request)
    unknown = sorted(set(body) - {"pattern", "reason"})
    if unknown:
        field = unknown[0][:64]
        raise ApiError(400, "invalid_field", f"{field}: unknown field (expected: pattern, "
                       "reason)", detail={"field": field})  # fmt: skip
    raw = body.get("pattern")
    if not isinstance(raw, str):
        raise ApiError(400, "invalid_field", "pattern: expected a number or a prefix such as "
                       "+7495*", detail={"field": "pattern"})  # fmt: skip
    pattern = _pattern(raw, "pattern")
    try:
        reason = read_reason(body.get("reason", ""))
    except BadPattern as exc:
        raise ApiError(400, "invalid_field", f"reason: {exc}", detail={"field": "reason"}) from None
    client = request[CLIENT]
    new = await store.run(request, lambda pool: BlocklistStore(pool).add(pattern, reason, client))
    await _in_force(request)
    log.info("api.blocklist_added", extra={"pattern": pattern, "new": new, "client": client})
    return web.json_response({"pattern": pattern, "reason": reason, "new": new},
                             status=201 if new else 200)  # fmt: skip


async def remove_entry(request: web.Request) -> web.Response:
    """DELETE /blocklist/{pattern} (``+`` written ``%2B``)."""
    pattern = _pattern(request.match_info["pattern"], "pattern")
    removed = await store.run(request, lambda pool: BlocklistStore(pool).remove(pattern))
    if not removed:
        raise ApiError(404, "not_blocked", f"{pattern!r} is not on the blocklist")
    await _in_force(request)
    log.info("api.blocklist_removed", extra={"pattern": pattern, "client": request[CLIENT]})
    return web.json_response({"pattern": pattern, "removed": True})


def mount(app: web.Application) -> None:
    app.router.add_get("/blocklist", list_entries, name="blocklist")
    app.router.add_post("/blocklist", add_entry, name="blocklist_add")
    app.router.add_delete("/blocklist/{pattern}", remove_entry, name="blocklist_remove")
    scoped(app, ApiScope.ADMIN, "blocklist", "blocklist_add", "blocklist_remove")
