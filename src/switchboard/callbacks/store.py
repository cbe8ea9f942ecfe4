"""Callback requests: durable before the caller is told, kept until done.

``add()`` writes the request to a spool file on local disk (fsync'd) and returns;
a worker (``switchboard.durable.Outbox``) moves it into PostgreSQL (``callbacks``),
retrying while the database is away. ``pending()`` (at start-up) reads
PostgreSQL's pending rows and the spool, so a restart, even with the database
down, loses no request.
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

from .model import Callback

log = logging.getLogger("switchboard.callbacks")
_INSERT = (
    "INSERT INTO callbacks (id, queue, number, dialed, call_id, requested_at,"
    " endpoints, strategy, ring_seconds, trunk, attempts)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    " ON CONFLICT (id) DO NOTHING"
)


class CallbackStore:
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
        unreadable = (OSError, ValueError, TypeError, KeyError)
        self._outbox = Outbox(
            Spool(spool, log, "callback", unreadable=unreadable, strict=True),
            _parse,
            self._store,
            backoff=Backoff.steady(retry_s),
            on_error=lambda: self.on_db_error(),
            after=_stored,
            active=database is not None,
        )

    async def add(self, callback: Callback) -> None:
        """Durable on local disk when this returns; in PostgreSQL soon after."""
        data = json.dumps(asdict(callback), sort_keys=True).encode()
        await self._outbox.add(callback.id, data)
        log.info(
            "callback.requested",
            extra={"call_id": callback.call_id, "callback": callback.id, "queue": callback.queue},
        )

    async def pending(self) -> list[Callback]:
        """Every request not yet done: the spool's and PostgreSQL's, in line order."""
        found = {c.id: c for c in await asyncio.to_thread(self._outbox.spool.read_all, _parse)}
        if self.database is not None:
            try:
                pool = await self.database.pool()
                rows = await pool.fetch(
                    "SELECT * FROM callbacks WHERE status = 'pending' ORDER BY requested_at"
                )
            except DB_ERRORS as exc:
                self.on_db_error()
                log.error("callback.load_failed", extra={"error": str(exc)})
                rows = []
            for row in rows:
                found.setdefault(row["id"], _from_row(row))
        return sorted(found.values(), key=lambda c: (c.requested_at, c.id))

    async def finish(self, callback: Callback, status: str, result: str, agent: str) -> None:
        """Record an attempt: ``done``, ``failed`` or (still) ``pending``."""
        if self.database is None:
            if status != "pending":
                await asyncio.to_thread(self._outbox.spool.remove, self._path(callback.id))
            return
        try:
            await self._outbox.flush()
            pool = await self.database.pool()
            await pool.execute(
                "UPDATE callbacks SET status = $2, attempts = $3, last_result = $4,"
                " agent = $5, updated_at = now() WHERE id = $1",
                callback.id,
                status,
                callback.attempts,
                result,
                agent,
            )
        except DB_ERRORS as exc:  # the attempt is not noted; the request stays pending
            self.on_db_error()
            log.error("callback.update_failed", extra={"callback": callback.id, "error": str(exc)})
        log.info(
            "callback.attempt",
            extra={"callback": callback.id, "status": status, "result": result, "agent": agent},
        )

    async def run(self) -> None:
        """Move spooled requests into PostgreSQL, retrying while it is away."""
        await self._outbox.run()

    async def _store(self, callback: Callback) -> None:
        assert self.database is not None  # (the outbox is active only with one)
        pool = await self.database.pool()
        await pool.execute(
            _INSERT,
            callback.id,
            callback.queue,
            callback.number,
            callback.dialed,
            callback.call_id,
            datetime.fromisoformat(callback.requested_at),
            list(callback.endpoints),
            callback.strategy,
            callback.ring_seconds,
            callback.trunk,
            callback.attempts,
        )

    def _path(self, callback_id: str) -> Path:
        return self._outbox.spool.path(callback_id)


def _parse(data: bytes) -> Callback:
    raw: dict[str, Any] = json.loads(data)
    raw["endpoints"] = tuple(raw["endpoints"])
    return Callback(**raw)


def _stored(callback: Callback | None) -> None:
    if callback is not None:
        log.info("callback.stored", extra={"callback": callback.id})


def _from_row(row: asyncpg.Record) -> Callback:
    return Callback(
        id=row["id"],
        queue=row["queue"],
        number=row["number"],
        dialed=row["dialed"],
        call_id=row["call_id"],
        requested_at=row["requested_at"].isoformat(),
        endpoints=tuple(row["endpoints"]),
        strategy=row["strategy"],
        ring_seconds=row["ring_seconds"],
        trunk=row["trunk"],
        attempts=row["attempts"],
    )
