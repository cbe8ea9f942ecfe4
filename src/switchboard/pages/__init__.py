"""Screen pop and wallboard pages, live over a websocket (issue 7).

``mount(app)`` (a route group, listed by the composition root) adds them to the
API application: ``/login``, ``/pages/screen/{agent}``, ``/pages/wallboard``, the
websocket ``/live`` and the pages' scripts under ``/pages/static/``. What they show
comes from the live hub (calls as they happen, kept in memory by ``board.CallBoard``)
and from PostgreSQL (the customer's card, agents' states, today's figures), read by
the pages themselves, bounded in time, never in a call's path. See docs/pages.md.
"""

from __future__ import annotations

import time

import jinja2
from aiohttp import WSCloseCode, web

from switchboard.api.context import CONTEXT, login_first, public, scoped
from switchboard.api.errors import ApiError
from switchboard.config import ApiScope
from switchboard.live import LiveEvent

from .socket import live_socket
from .views import (
    PAGES,
    STATIC,
    Pages,
    login,
    login_form,
    logout,
    screen_page,
    wallboard_page,
)

__all__ = ["mount"]


# The pages' scripts and style sheets, by name: only these files are ever served.
STATIC_FILES = {path.name: path for path in STATIC.iterdir() if path.is_file()}


async def static_file(request: web.Request) -> web.FileResponse:
    """GET /pages/static/{filename}: one of the package's own files (no path from the
    request ever reaches the file system)."""
    path = STATIC_FILES.get(request.match_info["filename"])
    if path is None:
        raise ApiError(404, "not_found", "no such file")
    return web.FileResponse(path)


def mount(app: web.Application) -> None:
    """The pages, their websocket and scripts, on an app made by ``make_app``."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("switchboard.pages", "templates"),
        autoescape=True,  # every value is HTML-escaped (customer names, notes, ...)
        undefined=jinja2.StrictUndefined,
    )
    pages = Pages(app[CONTEXT], env)
    app[PAGES] = pages
    router = app.router
    router.add_get("/login", login_form, name="login")
    router.add_post("/login", login, name="login_post")
    router.add_post("/logout", logout, name="logout")
    router.add_get("/pages/screen/{agent}", screen_page, name="screen")
    router.add_get("/pages/wallboard", wallboard_page, name="wallboard")
    router.add_get("/live", live_socket, name="live")
    router.add_get("/pages/static/{filename}", static_file, name="pages_static")
    public(app, "login", "login_post", "logout", "pages_static")
    scoped(app, ApiScope.PAGES, "screen", "wallboard", "live")
    login_first(app, "screen", "wallboard")  # (without a token: to /login, then back)

    def on_event(event: LiveEvent) -> None:
        pages.board.apply(event, time.monotonic())

    async def start(app: web.Application) -> None:
        if pages.context.live is not None:
            pages.context.live.listen(on_event)

    async def stop(app: web.Application) -> None:
        """Open websockets are closed, or stopping the server would wait for them."""
        if pages.context.live is not None:
            pages.context.live.unlisten(on_event)
        for ws in list(pages.sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server stopping")

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
