"""Tier 1: the shipped OpenAPI description is valid and matches the app's routes."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
from aiohttp import web
from openapi_spec_validator import validate

from switchboard.api import ApiContext, make_app
from switchboard.api.context import PUBLIC, SCOPES
from switchboard.api.ops import spec_text
from switchboard.api.server import unguarded_routes
from switchboard.app import route_groups
from switchboard.config import ApiScope
from switchboard.dialpolicy import CallbackGate
from switchboard.webcallback import WebCallbacks, WebCallbackStore
from switchboard.webcallback.routes import CallbackApi
from tests.apikit import api_config
from tests.apispec import check_response, spec, spec_routes, spec_security
from tests.unit.test_webcallback import CONFIG, NOW, POLICY


def test_the_spec_is_valid_openapi_3_1() -> None:
    assert spec()["openapi"].startswith("3.1")
    validate(spec())  # raises with the path of the first problem


def test_the_spec_ships_in_the_package() -> None:
    assert spec_text().startswith("openapi: 3.1")


def full_app() -> web.Application:
    """The app a daemon serves, with every route (web callbacks too)."""
    service = WebCallbacks(CONFIG, WebCallbackStore(Path("/nonexistent"), None), lambda: NOW)
    # (served with a callbacks: section)
    callbacks = CallbackApi.build(service, CallbackGate(POLICY))
    return make_app(ApiContext(api_config()), route_groups(callbacks))


def named_routes(app: web.Application) -> dict[tuple[str, str], str]:
    """(method, path template) -> the route's name."""
    return {
        (route.method, route.resource.canonical): route.name or ""
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None  # (HEAD comes with GET)
    }


def app_routes() -> set[tuple[str, str]]:
    return set(named_routes(full_app()))


def test_every_route_is_in_the_spec_and_every_spec_path_is_routed() -> None:
    routed, described = app_routes(), spec_routes()
    not_described = sorted(routed - described)
    not_routed = sorted(described - routed)
    assert (not_described, not_routed) == ([], []), (
        f"routes missing from openapi.yaml: {not_described}; spec paths with no route: {not_routed}"
    )


def test_every_operation_says_what_a_wrong_token_gets() -> None:
    pages = {"/pages/screen/{agent}", "/pages/wallboard"}  # (login_first: to /login)
    for path, item in spec()["paths"].items():
        for method, operation in item.items():
            if operation.get("security") == []:
                continue
            refusal = "303" if path in pages else "401"
            assert refusal in operation["responses"], f"{method.upper()} {path}: no {refusal}"
            assert "403" in operation["responses"], f"{method.upper()} {path}: no 403"


def test_every_route_of_the_daemons_app_is_public_or_needs_a_scope() -> None:
    app = full_app()
    assert unguarded_routes(app) == []
    assert not app[PUBLIC] & app[SCOPES].keys()
    assert set(named_routes(app).values()) == app[PUBLIC] | app[SCOPES].keys()


def check_scopes_against(app: web.Application) -> None:
    """Each route's scope (or public status) is its operation's ``security``, and the
    other way round; the cookie is offered for GET only."""
    security = spec_security()
    for (method, path), name in sorted(named_routes(app).items()):
        where = f"{method} {path} ({name})"
        assert (method, path) in security, f"{where}: no security in openapi.yaml"
        if name in app[PUBLIC]:
            assert security[method, path] == [], f"{where} is public: security must be []"
            continue
        scope = str(app[SCOPES][name])
        spec_says = [scheme_scopes for need in security[method, path] for scheme_scopes in
                     need.values()]  # fmt: skip
        assert spec_says, f"{where} needs {scope}, the spec says no token is needed"
        assert all(scopes == [scope] for scopes in spec_says), (
            f"{where}: the route needs {scope!r}, openapi.yaml says {security[method, path]}"
        )
        schemes = {scheme for need in security[method, path] for scheme in need}
        expected = {"bearer", "cookie"} if method == "GET" else {"bearer"}
        assert schemes == expected, f"{where}: schemes {schemes} (the cookie is for GET only)"
    assert set(security) == set(named_routes(app)), "spec operations with no route"


def test_the_spec_and_the_routes_agree_on_each_operations_scope() -> None:
    check_scopes_against(full_app())


def test_the_agreement_check_notices_a_wrong_scope() -> None:
    app = full_app()
    app[SCOPES]["stats"] = ApiScope.ADMIN  # as if the route said admin, the spec read
    with pytest.raises(AssertionError, match=r"GET /stats \(stats\): the route needs 'admin'"):
        check_scopes_against(app)


def test_the_error_schema_is_the_skeletons_shape() -> None:
    error = {"error": {"id": "invalid_query", "message": "limit: ...", "param": "limit"}}
    check_response("GET", "/agents", 400, error)
    with pytest.raises(jsonschema.ValidationError):
        check_response("GET", "/agents", 400, {"error": {"message": "no id"}})
    with pytest.raises(AssertionError, match="status 418"):
        check_response("GET", "/agents", 418, error)


def test_every_operation_that_reads_a_token_says_what_a_limited_address_gets() -> None:
    for path, item in spec()["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            if "401" in responses or path.startswith("/pages/screen") or path == "/pages/wallboard":
                assert "429" in responses, f"{method.upper()} {path}: no 429 (api.auth_failures)"
