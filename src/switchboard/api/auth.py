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
"""

from __future__ import annotations

import hmac
import logging

from aiohttp import web

from switchboard.config import ApiScope, ApiToken

from .errors import ApiError

log = logging.getLogger("switchboard.api")
COOKIE = "switchboard_token"
READ_METHODS = frozenset({"GET", "HEAD"})


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


def offered_token(request: web.Request) -> str:
    """The token a request carries: the bearer header; for reading, the cookie too."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if request.method in READ_METHODS:
        return request.cookies.get(COOKIE, "")
    return ""


def authenticate(request: web.Request, tokens: tuple[ApiToken, ...]) -> ApiToken:
    """The caller's token; raises the one 401 otherwise."""
    offered = offered_token(request)
    token = matching_token(tokens, offered) if offered else None
    if token is None:
        log.info("api.unauthorized", extra={"method": request.method, "path": request.path})
        raise unauthorized()
    return token


def authorize(request: web.Request, token: ApiToken, scope: ApiScope) -> None:
    """Nothing if the token has ``scope``; raises the 403 otherwise."""
    if scope not in token.scopes:
        log.info("api.insufficient_scope", extra={"client": token.name, "scope": str(scope),
                 "method": request.method, "path": request.path})  # fmt: skip
        raise insufficient_scope(scope)
