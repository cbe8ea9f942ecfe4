"""Bearer tokens from the config, compared in constant time.

Scripts and tools send ``Authorization: Bearer <token>``. Browsers (the screen
pop and wallboard pages) get the token once through ``/login``, which keeps it
in an HttpOnly, SameSite=Strict cookie; the cookie is accepted for reading only
(GET, HEAD and the live websocket), never for a request that changes something,
so another site cannot make a logged-in browser act (CSRF).

A refused request gets 401 with the same body whatever was wrong (no token, a
wrong one, a malformed header): nothing tells a guesser how close they were.
A right token without the scope the route needs (``api.tokens[].scopes``) gets
403 ``insufficient_scope`` naming the scope (RFC 6750).

Wrong tokens are limited per client address (``api.auth_failures``, a token
bucket shared by the bearer header, the cookie and ``POST /login``): past the
limit every request of that address that needs a token gets 429 ``rate_limited``
with ``Retry-After``, before any token it carries is compared, so a right guess
cannot be told from a wrong one while the address is limited. A request with no
token at all guesses nothing and is not counted. Refusals are logged through a
``RefusalLog``: the first of an address in full, then a summary a minute.
A wrong cookie is deleted in the answer, so a browser holding an old token fails
once, not at every reconnect of its page.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable

from aiohttp import web

from switchboard.config import ApiScope, ApiToken, AuthFailureLimits
from switchboard.ratelimit import RateLimiter, retry_after

from .clients import address_key, client_of
from .errors import ApiError
from .refusals import RefusalLog

log = logging.getLogger("switchboard.api")
COOKIE = "switchboard_token"
READ_METHODS = frozenset({"GET", "HEAD"})
# Deletes the cookie (what aiohttp's del_cookie sends), for answers built as errors.
DELETE_COOKIE = f'{COOKIE}=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/'


class AuthFailures:
    """Wrong tokens per client address, and the log of refused requests (one per app)."""

    def __init__(
        self, limits: AuthFailureLimits, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limiter = RateLimiter(limits.per_address, limits.window_seconds, limits.tracked, clock)
        self.refusals = RefusalLog()

    def wait(self, client: str) -> float:
        """Seconds until ``client`` may offer a token again (0.0: now)."""
        return self.limiter.check(address_key(client))

    def failed(self, client: str) -> None:
        self.limiter.take(address_key(client))


AUTH_FAILURES = web.AppKey("auth_failures", AuthFailures)


class TooManyFailures(Exception):
    """The client's address offered too many wrong tokens; ``wait`` seconds to go."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"try again in {retry_after(wait)} s")
        self.wait = wait


def rate_limited(wait: float) -> ApiError:
    return ApiError(
        429,
        "rate_limited",
        f"too many wrong tokens from this address; try again in {retry_after(wait)} s",
        headers={"Retry-After": retry_after(wait)},
    )


def refused(request: web.Request, reason: str) -> None:
    """Log a refused request: in full if it is its address's first this interval."""
    client = client_of(request)
    if request.app[AUTH_FAILURES].refusals.note(client):
        extra = {"client": client, "method": request.method, "path": request.path}
        log.info(f"api.{reason}", extra=extra)


def checked_token(
    request: web.Request, tokens: tuple[ApiToken, ...], offered: str
) -> ApiToken | None:
    """The token ``offered``; None if there is none such (a wrong one is counted
    against the client's address). Raises TooManyFailures, before comparing
    anything, while the address is over ``api.auth_failures``."""
    failures = request.app[AUTH_FAILURES]
    client = client_of(request)
    wait = failures.wait(client)
    if wait:
        refused(request, "rate_limited")
        raise TooManyFailures(wait)
    token = matching_token(tokens, offered) if offered else None
    if token is None and offered:
        failures.failed(client)
    return token


def unauthorized() -> ApiError:
    """The one 401, new each time (an exception raised again and again would keep every
    request it was raised for alive through its growing traceback)."""
    return ApiError(
        401,
        "unauthorized",
        "a valid API token is required",
        headers={"WWW-Authenticate": 'Bearer realm="switchboard"'},
    )


def insufficient_scope(scope: ApiScope) -> ApiError:
    """The 403 of a right token that may not do this (new each time, like the 401)."""
    return ApiError(
        403,
        "insufficient_scope",
        f"this token lacks the {scope} scope this route needs (api.tokens[].scopes)",
        headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
        detail={"scope": str(scope)},
    )


def matching_token(tokens: tuple[ApiToken, ...], offered: str) -> ApiToken | None:
    """The configured token equal to ``offered``, else None. Every token is compared,
    each in constant time, so the time taken says nothing of a near miss."""
    # (aiohttp keeps undecodable header bytes as lone surrogates: they compare as bytes)
    given = offered.encode("utf-8", "surrogatepass")
    found = None
    for token in tokens:
        if hmac.compare_digest(given, token.token.encode()):
            found = token
    return found


def bearer_token(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def offered_token(request: web.Request) -> str:
    """The token a request carries: the bearer header; for reading, the cookie too."""
    bearer = bearer_token(request)
    if bearer:
        return bearer
    if request.method in READ_METHODS:
        return request.cookies.get(COOKIE, "")
    return ""


def authenticate(request: web.Request, tokens: tuple[ApiToken, ...]) -> ApiToken:
    """The caller's token; raises the one 401 otherwise (429 while its address is over
    ``api.auth_failures``)."""
    offered = offered_token(request)
    try:
        token = checked_token(request, tokens, offered)
    except TooManyFailures as limited:
        raise rate_limited(limited.wait) from None
    if token is None:
        refused(request, "unauthorized")
        error = unauthorized()
        if offered and not bearer_token(request):  # the cookie's: an old token
            error.headers["Set-Cookie"] = DELETE_COOKIE
        raise error
    return token


def authorize(request: web.Request, token: ApiToken, scope: ApiScope) -> None:
    """Nothing if the token has ``scope``; raises the 403 otherwise."""
    if scope not in token.scopes:
        log.info("api.insufficient_scope", extra={"client": token.name, "scope": str(scope),
                 "method": request.method, "path": request.path})  # fmt: skip
        raise insufficient_scope(scope)
