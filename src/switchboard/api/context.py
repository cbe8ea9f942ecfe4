"""What every route group shares: the handlers' context and the application's keys.

The composition root makes one ``ApiContext`` and hands it, with the route groups,
to ``server.make_app``; a group reads it back as ``app[CONTEXT]`` (or
``request.app[CONTEXT]``) and says who may use each of its routes with ``public``,
``scoped`` or ``login_first``. This module imports nothing of ``switchboard.api``
or ``switchboard.pages`` (the other types are for annotations only), so route
groups and the app that serves them depend on it, never on each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from aiohttp import web

from switchboard.config import ApiConfig, ApiScope

if TYPE_CHECKING:
    from switchboard.blocklist import LiveBlocklist
    from switchboard.daemon.snapshot import LiveCall, WaitingCaller
    from switchboard.daemon.targets import TargetBook
    from switchboard.db import Database
    from switchboard.flows.registry import FlowRegistry
    from switchboard.live import LiveHub
    from switchboard.metrics import Metrics
    from switchboard.retention import CallerEraser


class CallsView(Protocol):
    """What the API reads of the call supervisor (``daemon.Supervisor``): copies of the
    calls in progress, the lines, and the target book (the agents' phones)."""

    @property
    def book(self) -> TargetBook: ...

    def live_calls(self) -> list[LiveCall]: ...

    def waiting_callers(self) -> list[WaitingCaller]: ...


@dataclass(frozen=True, slots=True)
class ApiContext:
    """What the handlers may use, handed in by the composition root."""

    config: ApiConfig
    ari_connected: Callable[[], bool] = lambda: False
    supervisor: CallsView | None = None  # calls, queues, the agent router
    flows: FlowRegistry | None = None
    database: Database | None = None
    metrics: Metrics | None = None
    voicemail_directory: Path | None = None  # audio is served only from under it
    recording_directory: Path | None = None  # (call recordings: the same)
    live: LiveHub | None = None  # call events as they happen (the pages)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # the daemon's ("today")
    eraser: CallerEraser | None = None  # POST /privacy/erase (needs a database)
    blocklist: LiveBlocklist | None = None  # the daemon's list in force, read again on changes


# A route group: adds its routes to the app and declares who may use each.
Mount = Callable[[web.Application], None]

CONTEXT = web.AppKey("context", ApiContext)
PUBLIC = web.AppKey("public_routes", set[str])
SCOPES = web.AppKey("route_scopes", dict[str, ApiScope])
LOGIN_FIRST = web.AppKey("login_first_routes", set[str])
CLIENT = web.RequestKey("api_client", str)  # the name of the token used ("" for public routes)


def public(app: web.Application, *route_names: str) -> None:
    """Mark routes (by name) as open without a token."""
    _undeclared(app, route_names)
    app[PUBLIC].update(route_names)


def scoped(app: web.Application, scope: ApiScope, *route_names: str) -> None:
    """Mark routes (by name) as needing a token with ``scope``."""
    _undeclared(app, route_names)
    app[SCOPES].update(dict.fromkeys(route_names, scope))


def login_first(app: web.Application, *route_names: str) -> None:
    """Browser pages among the scoped routes: without a (right) token, to the login page."""
    app[LOGIN_FIRST].update(route_names)


def _undeclared(app: web.Application, route_names: tuple[str, ...]) -> None:
    for name in route_names:
        if name in app[PUBLIC] or name in app[SCOPES]:
            raise ValueError(f"route {name!r} is declared twice (public or scoped)")
