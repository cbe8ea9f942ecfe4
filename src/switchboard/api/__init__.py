"""The HTTP API and pages (aiohttp): one application, built by ``server.make_app``
from the route groups the composition root lists (``switchboard.app.route_groups``).

Each route group is a ``context.Mount``: it adds its routes and says who may use
them (``public``/``scoped``); the shared pieces live here: what the handlers may
use and the app's keys (``context``, which imports nothing of the API), bearer-token
auth (``auth``) and JSON errors with stable ids (``errors``).
"""

from .context import CONTEXT, ApiContext, CallsView, Mount, public, scoped
from .errors import ApiError
from .server import ApiServer, make_app

__all__ = [
    "CONTEXT", "ApiContext", "ApiError", "ApiServer", "CallsView", "Mount", "make_app",
    "public", "scoped",
]  # fmt: skip
