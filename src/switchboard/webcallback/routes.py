"""The public web-callback routes: ``POST /callbacks``, ``GET /callbacks/{id}`` and
the embeddable form ``GET /callbacks/form``.

A request is checked in order of cost: the client address's rate limit (before
the body is read), the body (the number against the dial policy), the number's
rate limit (shared with queue callbacks: ``dialpolicy.CallbackGate``), then the
spool write. A
refused request costs a dictionary lookup and, at most, a JSON parse of a body
no larger than ``api.max_body_bytes``.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import jinja2
from aiohttp import web

from switchboard.api import ApiError, Mount, public
from switchboard.api.clients import address_key, client_of
from switchboard.api.errors import json_object
from switchboard.config import CallbacksConfig
from switchboard.db import DB_ERRORS
from switchboard.dialpolicy import REASONS, CallbackGate, NumberRefused, masked
from switchboard.metrics import Metrics
from switchboard.ratelimit import RateLimiter, retry_after

from .request import Refused, parse_request
from .service import Full, WebCallbacks

log = logging.getLogger("switchboard.webcallback")
CALLBACK_ID = re.compile(r"[A-Za-z0-9_-]{22}")
BUSY_RETRY_S = 60
# Status reads per client address: the form polls every 5 s (12 a minute); this
# lets a few tabs poll and keeps id guessers from keeping the database busy.
STATUS_READS = 120
STATUS_WINDOW_S = 60.0


@dataclass(frozen=True, slots=True)
class CallbackApi:
    """What the routes need: the service, the number gate (policy and per-number limit,
    shared with queue callbacks), the rate limiters, the form's template."""

    service: WebCallbacks
    gate: CallbackGate
    per_ip: RateLimiter
    status_reads: RateLimiter
    templates: jinja2.Environment
    metrics: Metrics | None = None

    @classmethod
    def build(
        cls,
        service: WebCallbacks,
        gate: CallbackGate,
        clock: Callable[[], float] = time.monotonic,
        metrics: Metrics | None = None,
    ) -> CallbackApi:
        limits = service.config.rate_limits
        window, tracked = limits.window_seconds, limits.tracked
        return cls(
            service,
            gate,
            RateLimiter(limits.per_ip, window, tracked, clock),
            RateLimiter(STATUS_READS, STATUS_WINDOW_S, tracked, clock),
            jinja2.Environment(
                loader=jinja2.PackageLoader("switchboard.webcallback", "templates"),
                autoescape=True,
                undefined=jinja2.StrictUndefined,
            ),
            metrics,
        )

    @property
    def config(self) -> CallbacksConfig:
        return self.service.config


CALLBACK_API = web.AppKey("web_callbacks", CallbackApi)


def callback_routes(api: CallbackApi) -> Mount:
    """The route group (served with a ``callbacks:`` section), its handlers using ``api``."""

    def mount(app: web.Application) -> None:
        app[CALLBACK_API] = api
        app.router.add_post("/callbacks", create_callback, name="callbacks.create")
        app.router.add_get("/callbacks/form", callback_form, name="callbacks.form")
        app.router.add_get("/callbacks/{callback_id}", callback_status, name="callbacks.status")
        public(app, "callbacks.create", "callbacks.form", "callbacks.status")

    return mount


def _limited(seconds: float, what: str) -> ApiError:
    return ApiError(
        429,
        "rate_limited",
        f"too many {what}; try again in {retry_after(seconds)} s",
        headers={"Retry-After": retry_after(seconds)},
    )


async def create_callback(request: web.Request) -> web.Response:
    api = request.app[CALLBACK_API]
    client = client_of(request)  # behind a proxy: api.trusted_proxies
    wait = api.per_ip.take(address_key(client))
    if wait:
        raise _limited(wait, "callback requests from this address")
    body = await json_object(request)
    try:
        parsed = parse_request(body, api.config, api.gate.policy, api.service.clock())
    except Refused as refused:
        if refused.field == "number" and refused.error_id in REASONS:
            _refused(api, refused.error_id, body.get("number"))
        raise ApiError(400, refused.error_id, refused.message) from None
    try:
        api.gate.count(parsed.number)
    except NumberRefused as refused:
        _refused(api, refused.reason, parsed.number)
        raise _limited(refused.retry_after, "callback requests for this number") from None
    try:
        callback = await api.service.submit(parsed, client)
    except Full:
        api.gate.refund(parsed.number)  # (not taken: it does not count against the number)
        raise ApiError(
            503, "busy", "too many callback requests are waiting; try again later",
            headers={"Retry-After": str(BUSY_RETRY_S)},
        ) from None  # fmt: skip
    except OSError as exc:  # the spool cannot be written: nothing was promised
        api.gate.refund(parsed.number)
        log.error("webcallback.spool_failed", extra={"error": str(exc)})
        raise ApiError(503, "unavailable", "the request could not be stored; try again") from None
    status_url = request.app.router["callbacks.status"].url_for(callback_id=callback.id)
    return web.json_response(
        {**callback.public(), "status_url": str(status_url)},
        status=202,
        headers={"Location": str(status_url), "Cache-Control": "no-store"},
    )


def _refused(api: CallbackApi, reason: str, number: object) -> None:
    """A number we will not call: counted and logged, the number masked."""
    if api.metrics is not None:
        api.metrics.callback_refused("web", reason)
    shown = masked(number) if isinstance(number, str) else ""
    log.warning("webcallback.refused", extra={"reason": reason, "number": shown})


async def callback_status(request: web.Request) -> web.Response:
    api = request.app[CALLBACK_API]
    callback_id = request.match_info["callback_id"]
    wait = api.status_reads.take(address_key(client_of(request)))
    if wait:
        raise _limited(wait, "status reads from this address")
    not_found = ApiError(404, "not_found", "no callback request with this id")
    if not CALLBACK_ID.fullmatch(callback_id):
        raise not_found
    try:
        callback = await api.service.status(callback_id)
    except DB_ERRORS as exc:
        log.warning("webcallback.status_unavailable", extra={"error": str(exc)})
        raise ApiError(503, "unavailable", "the status cannot be read now; try again") from None
    if callback is None:
        raise not_found
    return web.json_response(callback.public(), headers={"Cache-Control": "no-store"})


async def callback_form(request: web.Request) -> web.Response:
    """The form a company embeds in its site (an iframe); no external assets."""
    api = request.app[CALLBACK_API]
    nonce = secrets.token_urlsafe(16)
    html = api.templates.get_template("form.html").render(
        nonce=nonce,
        skills=api.config.skills,
        default_skill=api.config.default_skill,
        lang=request.query.get("lang", "en")[:8],
    )
    ancestors = " ".join(api.config.frame_ancestors)
    policy = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        f"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors {ancestors}"
    )
    return web.Response(
        text=html,
        content_type="text/html",
        headers={
            "Content-Security-Policy": policy,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        },
    )
