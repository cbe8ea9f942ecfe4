"""Web callback requests: durable before the visitor is answered, kept until done.

``add()`` writes the request to a spool file on local disk (fsync'd) and returns;
the worker (``run``) moves spooled requests into PostgreSQL (``web_callbacks``)
and writes status changes (``update``: the latest state of each request wins),
retrying while the database is away. ``open_requests()`` (at start-up) reads the
spool and PostgreSQL's open rows, so a restart, even with the database down,
loses no request.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from switchboard.db import DB_ERRORS, Database
from switchboard.durable import Backoff, Outbox, Spool, nothing

from .model import Status, WebCallback

log = logging.getLogger("switchboard.webcallback")
TIMES = ("requested_at", "not_before", "retry_at", "next_attempt_at")
COLUMNS = (
    "id", "source", "number", "name", "skill", "client_ip", "requested_at", "not_before",
    "status", "attempts", "retry_at", "next_attempt_at", "last_result", "agent",
)  # fmt: skip
UPDATED = ("status", "attempts", "retry_at", "next_attempt_at", "last_result", "agent")
INSERT = (
    f"INSERT INTO web_callbacks ({', '.join(COLUMNS)})"
    f" VALUES ({', '.join(f'${i}' for i in range(1, len(COLUMNS) + 1))})"
    " ON CONFLICT (id) DO NOTHING"
)
# A status change: the whole row, so a change that reaches PostgreSQL before the
# request itself (still in the spool) is not lost; the spool's insert then adds nothing.
UPSERT = (
    INSERT.removesuffix(" DO NOTHING")
    + " DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in UPDATED)
    + ", updated_at = now()"
)


def to_json(callback: WebCallback) -> bytes:
    data = asdict(callback)
    for key in TIMES:
        data[key] = data[key].isoformat() if data[key] is not None else None
    return json.dumps(data, sort_keys=True).encode()


def from_json(raw: bytes) -> WebCallback:
    data: dict[str, Any] = json.loads(raw)
    for key in TIMES:
        data[key] = datetime.fromisoformat(data[key]) if data.get(key) else None
    data["status"] = Status(data["status"])
    return WebCallback(**data)


def _from_row(row: asyncpg.Record) -> WebCallback:
    values = {c: row[c] for c in COLUMNS}
    values["status"] = Status(values["status"])
    return WebCallback(**values)


class WebCallbackStore:
    def __init__(
        self,
        spool: Path,
        database: Database | None,
        retry_s: float = 5.0,
        *,
        on_db_error: Callable[[], None] = nothing,  # metrics (given by the composition root)
    ) -> None:
        self.spool = spool
        self.database = database
        self.retry_s = retry_s
        self.on_db_error = on_db_error
        self._dirty: dict[str, WebCallback] = {}  # status changes not yet written
        unreadable = (OSError, ValueError, TypeError, KeyError, AttributeError)
        self._outbox = Outbox(
            Spool(spool, log, "webcallback", unreadable=unreadable, strict=True),
            from_json,
            self._store,
            backoff=Backoff.steady(retry_s),
            on_error=lambda: self.on_db_error(),
            after=self._stored,
            then=self._write_dirty,
            active=database is not None,
        )

    async def add(self, callback: WebCallback) -> None:
        """Durable on local disk when this returns; in PostgreSQL soon after."""
        await self._outbox.add(callback.id, to_json(callback))

    def update(self, callback: WebCallback) -> None:
        """Write this state of the request (soon; again and again while the database
        is away; a later state replaces one not yet written)."""
        self._dirty[callback.id] = callback
        self._outbox.wake()

    def unwritten(self, callback_id: str) -> WebCallback | None:
        return self._dirty.get(callback_id)

    async def claim(self, calling: WebCallback) -> bool:
        """Mark the request ``calling`` (for ``calling.agent``), only if it is still
        waiting: not taken by another daemon sharing the database, not finished. A
        request still in the spool is written now (its spool entry then adds nothing).
        Raises DB_ERRORS."""
        if self.database is None:
            return True
        pool = await self.database.pool()
        unwritten = self._dirty.get(calling.id)
        async with pool.acquire() as conn, conn.transaction():
            if unwritten is not None:  # (e.g. back to pending after a miss): first
                await conn.execute(UPSERT, *(getattr(unwritten, c) for c in COLUMNS))
            claimed = await conn.fetchval(
                INSERT.removesuffix(" ON CONFLICT (id) DO NOTHING")
                + " ON CONFLICT (id) DO UPDATE SET status = 'calling', agent = EXCLUDED.agent,"
                " updated_at = now() WHERE web_callbacks.status IN ('pending', 'scheduled')"
                " RETURNING id",
                *(getattr(calling, c) for c in COLUMNS),
            )
        if unwritten is not None and self._dirty.get(calling.id) is unwritten:
            del self._dirty[calling.id]
        return claimed is not None

    async def open_requests(self) -> tuple[list[WebCallback], bool]:
        """Every request not yet finished: the spool's and PostgreSQL's, oldest first;
        and whether PostgreSQL's are among them (False: it did not answer)."""
        found = {c.id: c for c in await asyncio.to_thread(self._spooled)}
        complete = True
        if self.database is not None:
            try:
                pool = await self.database.pool()
                rows = await pool.fetch(
                    "SELECT * FROM web_callbacks"
                    " WHERE status IN ('pending', 'scheduled', 'calling') ORDER BY requested_at"
                )
            except DB_ERRORS as exc:
                self.on_db_error()
                log.error("webcallback.load_failed", extra={"error": str(exc)})
                rows, complete = [], False
            for row in rows:
                found.setdefault(row["id"], _from_row(row))
        return sorted(found.values(), key=lambda c: (c.requested_at, c.id)), complete

    async def lookup(self, callback_id: str) -> WebCallback | None:
        """The request as last written (status pages of finished requests). Raises
        DB_ERRORS."""
        if callback_id in self._dirty:
            return self._dirty[callback_id]
        if self.database is None:
            return None
        pool = await self.database.pool()
        row = await pool.fetchrow("SELECT * FROM web_callbacks WHERE id = $1", callback_id)
        return _from_row(row) if row is not None else None

    async def run(self) -> None:
        """Move spooled requests into PostgreSQL and write status changes, retrying
        while it is away."""
        await self._outbox.run()

    async def flush(self) -> None:
        """Spooled requests first, then status changes. Raises DB_ERRORS."""
        await self._outbox.flush()

    async def _store(self, callback: WebCallback) -> None:
        assert self.database is not None  # (the outbox is active only with one)
        pool = await self.database.pool()
        await pool.execute(INSERT, *(getattr(callback, c) for c in COLUMNS))

    def _stored(self, callback: WebCallback | None) -> None:
        if callback is not None:
            log.info("webcallback.stored", extra={"callback": callback.id})

    async def _write_dirty(self) -> None:
        if self._dirty and self.database is not None:
            await self._write_changes(await self.database.pool())

    async def _write_changes(self, pool: asyncpg.Pool) -> None:
        for callback_id, callback in list(self._dirty.items()):
            await pool.execute(UPSERT, *(getattr(callback, c) for c in COLUMNS))
            if self._dirty.get(callback_id) is callback:  # (not changed meanwhile)
                del self._dirty[callback_id]

    def _spooled(self) -> list[WebCallback]:
        return self._outbox.spool.read_all(from_json)
