"""The pages: login, an agent's screen pop, the wallboard (server-rendered with
jinja2, autoescaped; their scripts then follow the live websocket, ``socket``).

Pages are read with the token cookie set by ``/login`` (or a bearer header), of
a token with the ``pages`` scope; a browser without one is sent to the login page
(by ``auth_middleware``: the pages are ``login_first`` routes). Every page forbids
inline scripts and other sites' content (Content-Security-Policy): data from the
CRM or a caller reaches the page as escaped text only.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
from aiohttp import web

from switchboard.api.auth import (
    AUTH_FAILURES,
    COOKIE,
    TooManyFailures,
    checked_token,
    refused,
)
from switchboard.api.clients import client_of
from switchboard.api.context import ApiContext
from switchboard.config import ApiScope
from switchboard.ratelimit import retry_after

from . import queries
from .board import CallBoard, screen_message, since_text, wait_text
from .queries import AgentProfile, AgentRow, CustomerCard, Today, bounded

STATIC = Path(__file__).parent / "static"
DEFAULT_PAGE = "/pages/wallboard"
FRESH_S = 1.0  # the wallboard's database figures are read again after this long
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
NOT_FOR_PAGES = (
    "That token may not open the pages: it needs the pages scope "
    "(api.tokens[].scopes in the daemon's config)."
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # (no-referrer would make forms send Origin: null)
    "Cache-Control": "no-store",
}


@dataclass(slots=True)
class WallboardFigures:
    """What the wallboard reads from PostgreSQL; None: the database did not answer."""

    agents: list[AgentRow] | None = None
    today: Today | None = None
    read_at: float = -FRESH_S  # monotonic


@dataclass(slots=True)
class Pages:
    """The pages' shared state, one per app."""

    context: ApiContext
    env: jinja2.Environment
    board: CallBoard = field(default_factory=CallBoard)
    figures: WallboardFigures = field(default_factory=WallboardFigures)
    figures_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    sockets: set[web.WebSocketResponse] = field(default_factory=set)

    def render(self, template: str, status: int = 200, **values: object) -> web.Response:
        text = self.env.get_template(template).render(**values)
        return web.Response(
            text=text, status=status, content_type="text/html", headers=PAGE_HEADERS
        )

    def too_many_failures(self, target: str, wait: float) -> web.Response:
        """The login form again, 429: the address offered too many wrong tokens."""
        response = self.render(
            "login.html",
            429,
            next=target,
            error=f"Too many wrong tokens from this address; try again in {retry_after(wait)} s.",
        )
        response.headers["Retry-After"] = retry_after(wait)
        return response

    async def wallboard_figures(self) -> WallboardFigures:
        """The database's figures, read at most once a second for every wallboard."""
        async with self.figures_lock:
            if time.monotonic() - self.figures.read_at >= FRESH_S:
                database, now = self.context.database, self.context.clock()
                agents, today = await asyncio.gather(
                    bounded(database, queries.agents),
                    bounded(database, lambda db: queries.today(db, now)),
                )
                self.figures = WallboardFigures(agents, today, time.monotonic())
            return self.figures

    async def wallboard(self) -> dict[str, object]:
        """Everything the wallboard shows, as the script reads it."""
        figures = await self.wallboard_figures()
        waiting = self.board.waiting(time.monotonic())
        return {
            "type": "wallboard",
            "waiting": waiting.calls,
            "longest_wait_s": round(waiting.longest_s, 1),
            "longest_wait": wait_text(waiting.longest_s),
            "in_progress": len(self.board.calls),
            "talking": self.board.talking,
            **agents_data(figures.agents),
            "today": today_data(figures.today),
            "service_level_s": queries.SERVICE_LEVEL_S,
        }

    async def agent(self, agent: str, extra: list[str]) -> AgentProfile:
        """The agent and the phones their screen follows (``?endpoint=``: more phones,
        for phones of ring groups and queues when the agent is not in the database)."""
        found = await bounded(self.context.database, lambda db: queries.agent_profile(db, agent))
        profile = found or AgentProfile(agent, "", ())
        phones = tuple(dict.fromkeys([*profile.endpoints, *extra]))
        return AgentProfile(profile.id, profile.name, phones)

    async def card(self, customer: int) -> CustomerCard | None:
        return await bounded(self.context.database, lambda db: queries.customer_card(db, customer))


PAGES = web.AppKey("pages", Pages)


def agents_data(agents: list[AgentRow] | None) -> dict[str, object]:
    by_state: dict[str, int] = {}
    for agent in agents or []:
        by_state[agent.state] = by_state.get(agent.state, 0) + 1
    listed = None if agents is None else [asdict(agent) for agent in agents]
    return {"agents": listed, "agent_states": by_state}


def today_data(today: Today | None) -> dict[str, object] | None:
    if today is None:
        return None
    level = today.service_level
    return {
        "offered": today.offered,
        "answered": today.answered,
        "abandoned": today.abandoned,
        "answered_in_time": today.answered_in_time,
        "service_level": "-" if level is None else f"{round(level * 100)}%",
    }


def card_message(call_id: str, card: CustomerCard, now: datetime) -> dict[str, object]:
    """The customer's full card (read after the offer, from the CRM and call log)."""
    return {
        "type": "customer",
        "call_id": call_id,
        "customer": {
            "id": card.id,
            "name": card.name,
            "segment": card.segment,
            "language": card.language,
            "products": list(card.products),
            "owner": card.owner_name or card.owner,
            "notes": card.notes,
            "churn": f"{round(card.churn_score * 100)}%",
            "value": card.lifetime_value,
            "last_contacts": [
                {
                    "at": c.at.isoformat(timespec="minutes"),
                    "ago": since_text(c.at, now),
                    "outcome": c.outcome,
                    "agent": c.agent,
                }
                for c in card.last_contacts
            ],
        },
    }


def safe_next(target: str) -> str:
    """Where to go after logging in: a path of this server, never another site."""
    parts = urlsplit(target)
    if (
        not target.startswith("/")
        or target.startswith(("//", "/\\"))
        or parts.scheme
        or parts.netloc
        or any(ord(c) < 32 for c in target)
    ):
        return DEFAULT_PAGE
    return target


def same_origin(request: web.Request) -> bool:
    """A browser's request sent by one of our own pages (Origin names this host).
    No Origin at all: only a script with a bearer header (browsers always send one
    on websockets and cross-site POSTs)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return "Authorization" in request.headers
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc == request.host


# -- handlers -------------------------------------------------------------------------
async def login_form(request: web.Request) -> web.Response:
    target = safe_next(request.query.get("next", DEFAULT_PAGE))
    return request.app[PAGES].render("login.html", next=target, error="")


async def login(request: web.Request) -> web.Response:
    """The form's POST: a right token becomes the cookie; a wrong one, the form again
    (too many wrong ones from the address: 429, before the form is even read)."""
    pages = request.app[PAGES]
    if "Origin" in request.headers and not same_origin(request):
        return pages.render("login.html", 403, next=DEFAULT_PAGE, error="Log in from this page.")
    wait = request.app[AUTH_FAILURES].wait(client_of(request))
    if wait:
        refused(request, "rate_limited")
        return pages.too_many_failures(DEFAULT_PAGE, wait)
    form = await request.post()
    token, target = form.get("token", ""), form.get("next", DEFAULT_PAGE)
    target = safe_next(target if isinstance(target, str) else DEFAULT_PAGE)
    try:  # (checked again: other attempts may have failed while this form was read)
        offered = token if isinstance(token, str) else ""
        found = checked_token(request, pages.context.config.tokens, offered)
    except TooManyFailures as limited:
        return pages.too_many_failures(target, limited.wait)
    if not token or found is None:
        refused(request, "login_failed")
        return pages.render("login.html", 401, next=target, error="That token is not valid.")
    if ApiScope.PAGES not in found.scopes:
        return pages.render("login.html", 403, next=target, error=NOT_FOR_PAGES)
    response = web.HTTPSeeOther(target)
    response.set_cookie(
        COOKIE, str(token), httponly=True, samesite="Strict", secure=request.secure, path="/"
    )
    raise response


async def logout(request: web.Request) -> web.Response:
    """Forget the cookie; only when asked by our own pages (another site's form posted
    here would log the wallboard out: CSRF), or by a script that sends no Origin."""
    if "Origin" in request.headers and not same_origin(request):
        pages = request.app[PAGES]
        return pages.render("login.html", 403, next=DEFAULT_PAGE, error="Log out from this page.")
    response = web.HTTPSeeOther("/login")
    response.del_cookie(COOKIE, path="/")
    raise response


async def screen_page(request: web.Request) -> web.Response:
    pages = request.app[PAGES]
    agent = await pages.agent(request.match_info["agent"], request.query.getall("endpoint", []))
    call = screen_message(pages.board.screen(agent.id, agent.endpoints))
    customer = call.get("customer")
    card = None
    if isinstance(customer, dict) and customer["known"]:
        found = await pages.card(int(customer["id"]))
        card = card_message(str(call["call_id"]), found, pages.context.clock()) if found else None
    return pages.render(
        "screen.html",
        agent=agent,
        call=call,
        card=card["customer"] if card else None,
        endpoints=list(agent.endpoints),
    )


async def wallboard_page(request: web.Request) -> web.Response:
    pages = request.app[PAGES]
    return pages.render("wallboard.html", board=await pages.wallboard())
