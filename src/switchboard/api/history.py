"""The call log and statistics over HTTP: ``GET /calls`` (paged) and ``GET /stats``.

Both read the ``calls`` tables through ``switchboard.stats.repository`` (the same
SQL as ``switchboard stats``); query parameters are checked here, where they
enter: a bad one is a 400 ``invalid_query`` naming it.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from switchboard.config import ApiScope
from switchboard.stats import BadCursor, CallRow, Cursor, Period, repository
from switchboard.stats.command import StatsUsageError, parse_period
from switchboard.stats.format import report_json

from . import store
from .context import CONTEXT, scoped
from .query import invalid, limit, params

PERIOD_PARAMS = ("from", "to", "tz", "service_level")
_OPTION = re.compile(r"--([a-z-]+)")


def period_of(query: dict[str, str], now: datetime) -> Period:
    """``from``/``to`` (YYYY-MM-DD, ``to`` not counted; default: ``now``'s day in ``tz``),
    ``tz`` (default UTC), ``service_level`` (seconds)."""
    first = query.get("from") or _day_of(now, query.get("tz", "UTC"))
    after_last = query.get("to") or _next_day(first)
    try:
        return parse_period(
            first, after_last, query.get("tz", "UTC"), query.get("service_level", "20")
        )
    except StatsUsageError as exc:
        # The stats parser speaks of command-line options; here they are query parameters.
        message = _OPTION.sub(lambda m: m[1].replace("-", "_"), str(exc))
        param = next((p for p in PERIOD_PARAMS if message.startswith(f"{p} ")), "from")
        raise invalid(param, message.removeprefix(f"{param} ")) from None


def _day_of(now: datetime, zone: str) -> str:
    try:
        return now.astimezone(ZoneInfo(zone)).date().isoformat()
    except (ValueError, ZoneInfoNotFoundError):
        return now.date().isoformat()  # (the bad ``tz`` is what gets reported)


def _next_day(text: str) -> str:
    try:
        return (date.fromisoformat(text) + timedelta(days=1)).isoformat()
    except (ValueError, OverflowError):
        return ""  # (the bad ``from`` is what gets reported, or ``to`` past year 9999)


async def calls(request: web.Request) -> web.Response:
    query = params(request.query, (*PERIOD_PARAMS, "limit", "cursor"))
    period, size = period_of(query, request.app[CONTEXT].clock()), limit(query)
    try:
        cursor = Cursor.decode(query["cursor"]) if "cursor" in query else None
    except BadCursor:
        why = "not a cursor this list gave (pass next_cursor back unchanged)"
        raise invalid("cursor", why) from None

    page = await store.run(
        request, lambda pool: repository.call_page(pool, period.start, period.end, size, cursor)
    )
    return web.json_response(
        {
            "calls": [call_json(c) for c in page.calls],
            "next_cursor": page.next_cursor.encode() if page.next_cursor else None,
        }
    )


def call_json(call: CallRow) -> dict[str, Any]:
    data = asdict(call)
    for key, value in list(data.items()):
        data[key] = value.isoformat() if hasattr(value, "isoformat") else value
    data["path"] = list(call.path)
    data["recording_audio"] = f"/recordings/{call.recording}/audio" if call.recording else None
    data["legs"] = [
        {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in asdict(leg).items()}
        for leg in call.legs
    ]
    return data


async def stats(request: web.Request) -> web.Response:
    period = period_of(params(request.query, PERIOD_PARAMS), request.app[CONTEXT].clock())
    found = await store.run(request, lambda pool: repository.report(pool, period))
    return web.json_response(report_json(found))


def mount(app: web.Application) -> None:
    app.router.add_get("/calls", calls, name="calls")
    app.router.add_get("/stats", stats, name="stats")
    scoped(app, ApiScope.READ, "calls", "stats")
