"""The HTTP API and pages (aiohttp): one application, built by ``server.make_app``.

Feature modules add their routes with ``add_routes(app)``-style functions; the
shared pieces live here: bearer-token auth (``auth``), JSON errors with stable
ids (``errors``) and what the handlers may use (``server.ApiContext``).
"""

from .errors import ApiError
from .server import CONTEXT, ApiContext, ApiServer, make_app, public, scoped

__all__ = [
    "CONTEXT", "ApiContext", "ApiError", "ApiServer", "make_app", "public", "scoped",
]  # fmt: skip
