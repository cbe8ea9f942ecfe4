"""The shipped OpenAPI description, for tests: responses are checked against it."""

from __future__ import annotations

from functools import cache
from typing import Any

import jsonschema
import yaml

from switchboard.api.ops import spec_text

METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")


@cache
def spec() -> dict[str, Any]:
    loaded = yaml.safe_load(spec_text())
    assert isinstance(loaded, dict)
    return loaded


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node and len(node) == 1:
        found: Any = spec()
        for part in node["$ref"].removeprefix("#/").split("/"):
            found = found[part]
        node = found
    return node


def spec_routes() -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in spec()["paths"].items()
        for method in item
        if method in METHODS
    }


def spec_security() -> dict[tuple[str, str], list[dict[str, list[str]]]]:
    """Each operation's own ``security`` (the spec has no document-wide default)."""
    return {
        (method.upper(), path): operation["security"]
        for path, item in spec()["paths"].items()
        for method, operation in item.items()
        if method in METHODS and "security" in operation
    }


def check_response(
    method: str, path: str, status: int, body: object = None, content_type: str = ""
) -> None:
    """The response is one the spec describes: its status, its media type, and (JSON)
    a body that its schema accepts. ``path`` is the spec's template."""
    operation = spec()["paths"][path][method.lower()]
    described = operation["responses"].get(str(status))
    assert described is not None, f"{method} {path}: status {status} is not in the spec"
    content = _resolve(described).get("content", {})
    if content_type:
        assert content_type in content, f"{method} {path} {status}: {content_type} not in spec"
    if "application/json" in content and (not content_type or "json" in content_type):
        schema = {**content["application/json"]["schema"], "components": spec()["components"]}
        jsonschema.Draft202012Validator(schema).validate(body)
