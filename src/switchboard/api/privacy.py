"""Erasing one caller's data on request (privacy law): ``POST /privacy/erase``.

The same erasure as ``switchboard erase`` (``switchboard.retention.erase``); the
token's name is the audit line's ``by``. Route name: ``privacy_erase``.
"""

from __future__ import annotations

import logging

from aiohttp import web

from switchboard.config import ApiScope
from switchboard.numbers import BadNumber

from .context import CLIENT, CONTEXT, scoped
from .errors import ApiError, json_object
from .store import NO_DATABASE, outage_is_503

log = logging.getLogger("switchboard.api")
FIELDS = ("number", "dry_run")


def _field_error(field: str, message: str) -> ApiError:
    return ApiError(400, "invalid_field", f"{field}: {message}", detail={"field": field})


async def _request(request: web.Request) -> tuple[str, bool]:
    """``{"number": "+7...", "dry_run": false}`` -> (number, dry_run)."""
    body = await json_object(request)
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise _field_error(unknown[0], f"unknown field (expected: {', '.join(FIELDS)})")
    number, dry_run = body.get("number"), body.get("dry_run", False)
    if not isinstance(number, str) or not number.strip():
        raise _field_error("number", "expected the caller's phone number as a string")
    if not isinstance(dry_run, bool):
        raise _field_error("dry_run", "expected true or false")
    return number, dry_run


async def erase(request: web.Request) -> web.Response:
    """POST /privacy/erase: the counts of what was erased for the number."""
    number, dry_run = await _request(request)
    eraser = request.app[CONTEXT].eraser
    if eraser is None:
        raise ApiError(503, "database_unavailable", NO_DATABASE)
    try:
        with outage_is_503(request):
            erasure = await eraser.erase(number, by=request[CLIENT], via="api", dry_run=dry_run)
    except BadNumber as exc:
        raise _field_error("number", str(exc)) from None
    return web.json_response(erasure.as_json())


def mount(app: web.Application) -> None:
    app.router.add_post("/privacy/erase", erase, name="privacy_erase")
    scoped(app, ApiScope.ADMIN, "privacy_erase")
