"""Every error the API returns is JSON with a stable id and a human message:

    {"error": {"id": "invalid_field", "message": "number: expected a string"}}

``ApiError`` is raised by handlers (the client's fault: 4xx); the middleware turns
aiohttp's own refusals (404, 405, 413) into the same shape, and anything else
into a 500 whose body says nothing of the cause (the log has it, with the
request id the body gives).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from itertools import accumulate

from aiohttp import web

log = logging.getLogger("switchboard.api")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MAX_JSON_DEPTH = 32  # arrays and objects in one another; every body here is near flat
JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')  # (brackets inside strings do not nest)
NOT_BRACKETS = re.compile(rb"[^\[\]{}]")

# aiohttp's refusals, by status, as stable ids.
HTTP_IDS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


class ApiError(Exception):
    """A request the API refuses: status, stable id, one-line message for a person."""

    def __init__(
        self,
        status: int,
        error_id: str,
        message: str,
        headers: Mapping[str, str] | None = None,
        detail: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_id = error_id
        self.message = message
        self.headers = dict(headers or {})
        self.detail = dict(detail or {})  # more fields of the error object (e.g. "param")


def error_response(
    status: int,
    error_id: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    detail: Mapping[str, object] | None = None,
) -> web.Response:
    body = {"error": {**(detail or {}), "id": error_id, "message": message}}
    return web.json_response(body, status=status, headers=headers)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.error_id, exc.message, exc.headers, exc.detail)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # redirects stay redirects
        error_id = HTTP_IDS.get(exc.status, f"http_{exc.status}")
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return error_response(exc.status, error_id, exc.reason, headers)
    except Exception:
        request_id = uuid.uuid4().hex[:12]
        log.exception(
            "api.internal_error",
            extra={"request_id": request_id, "method": request.method, "path": request.path},
        )
        return error_response(
            500, "internal_error", f"internal error (request {request_id}; see the daemon log)"
        )


async def json_object(request: web.Request) -> dict[str, object]:
    """The body as a JSON object, or a 400/413/415 ApiError that says what is wrong."""
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    raw = await request.read()  # over client_max_size: HTTPRequestEntityTooLarge (413)
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise ApiError(400, "invalid_json", f"the body nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "the body is not valid JSON") from None
    except RecursionError:  # (nested past Python's recursion limit: never a 500)
        raise ApiError(400, "invalid_json", "the body nests too deeply") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return body


def json_depth(raw: bytes) -> int:
    """How deep arrays and objects nest in ``raw`` (JSON or not), found before parsing:
    the parser recurses once per level. Few brackets (every sane body): no scan."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:
        return 0
    brackets = NOT_BRACKETS.sub(b"", JSON_STRING.sub(b"", raw))
    return max(accumulate(1 if c in b"[{" else -1 for c in brackets), default=0)
