"""Tier 1: the shipped OpenAPI description is valid and matches the app's routes."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
from openapi_spec_validator import validate

from switchboard.api.ops import spec_text
from switchboard.webcallback import WebCallbacks, WebCallbackStore, add_callback_routes
from switchboard.webcallback.routes import CallbackApi
from tests.apikit import bare_app
from tests.apispec import check_response, spec, spec_routes
from tests.unit.test_webcallback import CONFIG, NOW


def test_the_spec_is_valid_openapi_3_1() -> None:
    assert spec()["openapi"].startswith("3.1")
    validate(spec())  # raises with the path of the first problem


def test_the_spec_ships_in_the_package() -> None:
    assert spec_text().startswith("openapi: 3.1")


def app_routes() -> set[tuple[str, str]]:
    app = bare_app()
    service = WebCallbacks(CONFIG, WebCallbackStore(Path("/nonexistent"), None), lambda: NOW)
    add_callback_routes(app, CallbackApi.build(service))  # (served with a callbacks: section)
    return {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None  # (HEAD comes with GET)
    }


def test_every_route_is_in_the_spec_and_every_spec_path_is_routed() -> None:
    routed, described = app_routes(), spec_routes()
    not_described = sorted(routed - described)
    not_routed = sorted(described - routed)
    assert (not_described, not_routed) == ([], []), (
        f"routes missing from openapi.yaml: {not_described}; spec paths with no route: {not_routed}"
    )


def test_every_operation_says_what_a_wrong_token_gets() -> None:
    for path, item in spec()["paths"].items():
        for method, operation in item.items():
            if operation.get("security") == []:
                continue
            assert "401" in operation["responses"], f"{method.upper()} {path}: no 401"


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
