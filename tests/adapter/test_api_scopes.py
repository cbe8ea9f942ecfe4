"""Tier 2: token scopes over real HTTP. Each private route needs exactly one scope: a
right token without it gets 403 insufficient_scope (as the spec says), a token with
only it gets through; a route that declares none is refused to everyone; the pages'
login takes only tokens with the pages scope."""

from __future__ import annotations

import logging
import re

import pytest
from aiohttp import web

from switchboard.api import ApiContext, make_app
from switchboard.api.auth import COOKIE
from switchboard.api.context import PUBLIC, SCOPES, scoped
from switchboard.api.server import refuse_unguarded
from switchboard.app import route_groups
from switchboard.config import ApiScope, ApiToken
from switchboard.pages.views import NOT_FOR_PAGES
from tests.apikit import ALL_SCOPES, AUTH, api_client, api_config, bearer, scoped_token
from tests.apispec import check_response

WALLBOARD = scoped_token("wallboard", ApiScope.PAGES)
READER = scoped_token("reader", ApiScope.READ)
ONLY = {scope: scoped_token(f"only-{scope}", scope) for scope in ApiScope}
ALL_BUT = {scope: scoped_token(f"all-but-{scope}", *(ALL_SCOPES - {scope})) for scope in ApiScope}


def app_with_tokens() -> web.Application:
    tokens = (WALLBOARD, READER, *ONLY.values(), *ALL_BUT.values())
    return make_app(ApiContext(api_config(*tokens)), route_groups())


def scoped_routes() -> list[tuple[str, str, ApiScope]]:
    """(method, path template, scope) of every scoped route of the app."""
    app = app_with_tokens()
    return sorted(
        (route.method, route.resource.canonical, app[SCOPES][route.name])
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD" and route.name in app[SCOPES]
    )


ROUTES = scoped_routes()
IDS = [f"{method} {path}" for method, path, _ in ROUTES]


def concrete(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", template)


async def ask(token: ApiToken, method: str, path: str) -> tuple[int, dict[str, str], object]:
    async with api_client(app_with_tokens()) as client:
        response = await client.request(method, path, headers=bearer(token),
                                        allow_redirects=False)  # fmt: skip
        body = await response.json() if response.content_type == "application/json" else None
        return response.status, dict(response.headers), body


def assert_insufficient(status: int, headers: dict[str, str], body: object, scope: str) -> None:
    assert status == 403
    assert headers["WWW-Authenticate"] == f'Bearer error="insufficient_scope", scope="{scope}"'
    needs = f"this token lacks the {scope} scope this route needs (api.tokens[].scopes)"
    assert body == {"error": {"id": "insufficient_scope", "message": needs, "scope": scope}}


def test_every_scope_guards_some_route() -> None:
    assert {scope for _, _, scope in ROUTES} == set(ApiScope)


@pytest.mark.parametrize(("method", "template", "scope"), ROUTES, ids=IDS)
async def test_a_token_with_every_other_scope_gets_403_insufficient_scope(
    method: str, template: str, scope: ApiScope
) -> None:
    status, headers, body = await ask(ALL_BUT[scope], method, concrete(template))
    assert_insufficient(status, headers, body, scope)
    check_response(method, template, 403, body)


@pytest.mark.parametrize(("method", "template", "scope"), ROUTES, ids=IDS)
async def test_a_token_with_only_the_routes_scope_gets_through(
    method: str, template: str, scope: ApiScope
) -> None:
    status, _, body = await ask(ONLY[scope], method, concrete(template))
    assert status != 401
    if isinstance(body, dict):  # (404, 503, ... from the handler: past the door)
        assert body["error"]["id"] != "insufficient_scope", body


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/recordings/r1/audio", "audio"),
        ("GET", "/voicemails/v1/audio", "audio"),
        ("POST", "/agents/a100/pause", "agents"),
        ("POST", "/flows/reload", "admin"),
        ("GET", "/calls", "read"),
        ("GET", "/metrics", "read"),
    ],
)
async def test_a_wallboards_token_reaches_nothing_but_the_pages(
    method: str, path: str, scope: str
) -> None:
    assert_insufficient(*await ask(WALLBOARD, method, path), scope)
    status, _, _ = await ask(WALLBOARD, "GET", "/pages/wallboard")
    assert status == 200


async def test_a_read_token_reads_but_cannot_pause_agents_or_reload_flows() -> None:
    assert_insufficient(*await ask(READER, "POST", "/agents/a100/pause"), "agents")
    assert_insufficient(*await ask(READER, "POST", "/flows/reload"), "admin")
    status, _, body = await ask(READER, "GET", "/agents")
    assert (status, body["error"]["id"]) == (503, "database_unavailable")  # type: ignore[index]


async def test_a_wrong_token_is_still_the_one_401_on_a_scoped_route() -> None:
    wrong = ApiToken("nobody", "nobody-token-0123456789", ALL_SCOPES)  # (not configured)
    status, headers, body = await ask(wrong, "POST", "/flows/reload")
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Bearer realm="switchboard"'
    assert body == {"error": {"id": "unauthorized", "message": "a valid API token is required"}}


# -- fail closed --------------------------------------------------------------------------
async def forgotten(request: web.Request) -> web.Response:
    return web.json_response({"secret": "everything"})


async def test_an_app_with_a_route_that_declares_no_scope_does_not_start() -> None:
    app = make_app(ApiContext(api_config()), route_groups())
    app.router.add_get("/forgotten", forgotten, name="forgotten")
    app.router.add_get("/nameless", forgotten)
    runner = web.AppRunner(app)
    try:
        with pytest.raises(RuntimeError, match=r"neither public nor scoped: /nameless, forgotten$"):
            await runner.setup()  # (what ApiServer.start does first)
    finally:
        await runner.cleanup()


async def test_without_the_start_check_a_route_without_a_scope_is_refused_to_all(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app(ApiContext(api_config()), route_groups())
    app.on_startup.remove(refuse_unguarded)
    app.router.add_get("/forgotten", forgotten, name="forgotten")
    async with api_client(app) as client:
        response = await client.get("/forgotten", headers=AUTH)  # (a token with every scope)
        assert response.status == 500
        assert (await response.json())["error"]["id"] == "internal_error"
    failed = [r for r in caplog.records if r.getMessage() == "api.internal_error"]
    assert failed
    assert "'forgotten' has no scope" in str(failed[0].exc_info[1])  # type: ignore[index]


def test_a_route_is_declared_once_either_public_or_scoped() -> None:
    app = make_app(ApiContext(api_config()), route_groups())
    with pytest.raises(ValueError, match="'stats' is declared twice"):
        scoped(app, ApiScope.ADMIN, "stats")
    with pytest.raises(ValueError, match="'health' is declared twice"):
        scoped(app, ApiScope.READ, "health")
    assert "health" in app[PUBLIC]
    assert app[SCOPES]["stats"] is ApiScope.READ


# -- the pages' login ---------------------------------------------------------------------
async def test_login_refuses_a_token_without_the_pages_scope_and_sets_no_cookie() -> None:
    async with api_client(app_with_tokens()) as client:
        form = {"token": READER.token, "next": "/pages/wallboard"}
        refused = await client.post("/login", data=form, allow_redirects=False)
        assert refused.status == 403
        assert "Set-Cookie" not in refused.headers
        assert NOT_FOR_PAGES in (await refused.text()).replace("&#39;", "'")
        form["token"] = WALLBOARD.token
        taken = await client.post("/login", data=form, allow_redirects=False)
        assert taken.status == 303
        assert taken.headers["Set-Cookie"].startswith(f"{COOKIE}={WALLBOARD.token};")


async def test_a_cookie_of_a_token_without_the_pages_scope_opens_no_page(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """(Its scopes changed after the login, say.) Refused, not sent to log in again."""
    caplog.set_level(logging.INFO, "switchboard.api")
    async with api_client(app_with_tokens()) as client:
        client.session.cookie_jar.update_cookies({COOKIE: READER.token})
        for path in ("/pages/wallboard", "/pages/screen/a100", "/live?wallboard=1"):
            response = await client.get(path, allow_redirects=False)
            assert response.status == 403, path
            assert (await response.json())["error"]["scope"] == "pages"
    refusals = [r for r in caplog.records if r.getMessage() == "api.insufficient_scope"]
    assert [(r.client, r.scope) for r in refusals] == [("reader", "pages")] * 3  # type: ignore[attr-defined]
