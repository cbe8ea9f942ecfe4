"""What the API reads and changes in PostgreSQL: agents (``routing.agents_store``), voicemails.

Rows become frozen dataclasses here; every value is a bound parameter. Lists
are keyset-paged: ``limit + 1`` rows after the previous page's last sort key, so
a page costs the same wherever it is and rows added meanwhile do not shift it.
``run()`` bounds each use of the database and turns an outage into a 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import asyncpg
from aiohttp import web

from switchboard.db import DB_ERRORS
from switchboard.routing import agents_store

from .context import CONTEXT
from .errors import ApiError
from .query import Page, timestamp

log = logging.getLogger("switchboard.api")
DB_TIMEOUT_S = 5.0
T = TypeVar("T")


NO_DATABASE = "no database is configured (add a database: section)"


async def run(request: web.Request, work: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    """``work`` on the daemon's pool, within DB_TIMEOUT_S; an outage is a 503."""
    context = request.app[CONTEXT]
    if context.database is None:
        raise ApiError(503, "database_unavailable", NO_DATABASE)
    with outage_is_503(request):
        async with asyncio.timeout(DB_TIMEOUT_S):
            return await work(await context.database.pool())


@contextlib.contextmanager
def outage_is_503(request: web.Request) -> Iterator[None]:
    """A database error in the block: counted, logged, and the client's 503."""
    try:
        yield
    except DB_ERRORS as exc:
        context = request.app[CONTEXT]
        if context.metrics is not None:
            context.metrics.db_error("api")
        log.warning("api.database_unavailable", extra={"path": request.path, "error": repr(exc)})
        raise ApiError(
            503, "database_unavailable", "the database cannot be reached now; try again later"
        ) from None


# -- agents -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AgentRow:
    id: str
    name: str
    site: str
    state: str
    pause_reason: str
    state_since: datetime
    endpoints: tuple[str, ...]
    languages: tuple[str, ...]
    level: str
    max_calls: int
    active: int  # calls offered or in progress
    calls_today: int
    skills: tuple[tuple[str, int], ...]


def _agent(row: asyncpg.Record) -> AgentRow:
    return AgentRow(
        id=row["id"],
        name=row["name"],
        site=row["site"],
        state=row["state"],
        pause_reason=row["pause_reason"],
        state_since=row["state_since"],
        endpoints=tuple(row["endpoints"]),
        languages=tuple(row["languages"]),
        level=row["level"],
        max_calls=row["max_calls"],
        active=row["active"],
        calls_today=row["calls_today"],
        skills=tuple(zip(row["skill_names"], row["levels"], strict=True)),
    )


async def agents(pool: asyncpg.Pool, page: Page, state: str | None) -> list[AgentRow]:
    after = page.after[0] if page.after else None
    rows = await agents_store.listing(pool, after, state, page.limit + 1)
    return [_agent(r) for r in rows]


# -- voicemails ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class VoicemailRow:
    id: str
    call_id: str
    mailbox: str
    caller: str
    dialed: str
    started_at: datetime | None
    recorded_at: datetime
    duration_s: float
    size_bytes: int
    emailed_at: datetime | None
    heard_at: datetime | None
    file: str  # (never shown to clients)


_VOICEMAIL_COLUMNS = """id, call_id, mailbox, caller, dialed, started_at, recorded_at,
       duration_s, size_bytes, emailed_at, heard_at, file"""
# Newest first; ties (same instant) by id, descending, so the key is unique.
_VOICEMAILS = f"""
SELECT {_VOICEMAIL_COLUMNS} FROM voicemails
WHERE ($1::text IS NULL OR mailbox = $1)
  AND ($2::boolean IS NULL OR (heard_at IS NOT NULL) = $2)
  AND ($3::timestamptz IS NULL OR (recorded_at, id) < ($3, $4::text))
ORDER BY recorded_at DESC, id DESC
LIMIT $5
"""
_VOICEMAIL = f"SELECT {_VOICEMAIL_COLUMNS} FROM voicemails WHERE id = $1"
_HEARD = f"""
UPDATE voicemails SET heard_at = coalesce(heard_at, now()) WHERE id = $1
RETURNING {_VOICEMAIL_COLUMNS}
"""


def _voicemail(row: asyncpg.Record) -> VoicemailRow:
    return VoicemailRow(**dict(row))


def voicemail_key(row: VoicemailRow) -> tuple[str, str]:
    return (row.recorded_at.isoformat(), row.id)


async def voicemails(
    pool: asyncpg.Pool, page: Page, mailbox: str | None, heard: bool | None
) -> list[VoicemailRow]:
    at, after_id = (timestamp(page.after[0]), page.after[1]) if page.after else (None, None)
    rows = await pool.fetch(_VOICEMAILS, mailbox, heard, at, after_id, page.limit + 1)
    return [_voicemail(r) for r in rows]


async def voicemail(pool: asyncpg.Pool, voicemail_id: str) -> VoicemailRow | None:
    row = await pool.fetchrow(_VOICEMAIL, voicemail_id)
    return _voicemail(row) if row is not None else None


async def mark_heard(pool: asyncpg.Pool, voicemail_id: str) -> VoicemailRow | None:
    """Heard now (or when first heard: marking twice keeps the first time)."""
    row = await pool.fetchrow(_HEARD, voicemail_id)
    return _voicemail(row) if row is not None else None


async def recording_file(pool: asyncpg.Pool, recording_id: str) -> str | None:
    """Where a call's recording is stored (None: no such recording, or not stored yet)."""
    file: str | None = await pool.fetchval(
        "SELECT file FROM recordings WHERE id = $1", recording_id
    )
    return file
