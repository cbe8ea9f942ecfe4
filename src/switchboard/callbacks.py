"""Callback requests: durable before the caller is told, kept until done.

``add()`` writes the request to a spool file on local disk (fsync'd) and returns;
a worker moves it into PostgreSQL (``callbacks``), retrying while the database is
away. ``pending()`` (at start-up) reads PostgreSQL's pending rows and the spool,
so a restart, even with the database down, loses no request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path

import asyncpg

from switchboard.db import DB_ERRORS, Database
from switchboard.files import write_atomically

log = logging.getLogger("switchboard.callbacks")
MAX_ATTEMPTS = 3  # calls to the customer before the request is marked failed
WEB_QUEUE = "@web"  # the queue of web callbacks (no flow's queue can be named so)


def _nothing() -> None:
    pass


@dataclass(frozen=True, slots=True)
class Callback:
    id: str
    queue: str
    number: str
    dialed: str
    call_id: str
    requested_at: str  # ISO 8601: the caller's place in line
    endpoints: tuple[str, ...]
    strategy: str
    ring_seconds: int
    trunk: str
    attempts: int = 0
    customer_ring_seconds: int = 30

    @property
    def from_web(self) -> bool:
        """A web callback (its dispatcher, not a queue, decides what follows)."""
        return self.queue == WEB_QUEUE

    @property
    def target(self) -> str:
        """What Asterisk dials to reach the customer: PJSIP/<number>@<trunk>."""
        technology, _, trunk = self.trunk.partition("/")
        return f"{technology}/{self.number}@{trunk}"


class CallbackStore:
    def __init__(self, spool: Path, database: Database | None, retry_s: float = 5.0) -> None:
        self.spool = spool
        self.database = database
        self.retry_s = retry_s
        self._wake = asyncio.Event()
        self.on_db_error: Callable[[], None] = _nothing  # metrics (set by the composition root)

    async def add(self, callback: Callback) -> None:
        """Durable on local disk when this returns; in PostgreSQL soon after."""
        data = json.dumps(asdict(callback), sort_keys=True).encode()
        await asyncio.to_thread(write_atomically, self.spool / f"{callback.id}.json", data)
        log.info(
            "callback.requested",
            extra={"call_id": callback.call_id, "callback": callback.id, "queue": callback.queue},
        )
        self._wake.set()

    async def pending(self) -> list[Callback]:
        """Every request not yet done: the spool's and PostgreSQL's, in line order."""
        found = {c.id: c for c in await asyncio.to_thread(self._spooled)}
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
                await asyncio.to_thread(self._unspool, callback.id)
            return
        try:
            await self._flush_spool()
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
        while True:
            self._wake.clear()
            try:
                await self._flush_spool()
                timeout: float | None = None
            except DB_ERRORS as exc:
                self.on_db_error()
                log.warning("callback.store_retry", extra={"error": str(exc)})
                timeout = self.retry_s
            except Exception:  # keep the worker alive: the requests stay in the spool
                log.exception("callback.store_failed")
                timeout = self.retry_s * 10
            with contextlib.suppress(TimeoutError):  # (asyncio.timeout: see QueueManager.run)
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    async def _flush_spool(self) -> None:
        if self.database is None:
            return
        spooled = await asyncio.to_thread(self._spooled)
        if not spooled:
            return
        pool = await self.database.pool()
        for callback in spooled:
            await pool.execute(
                "INSERT INTO callbacks (id, queue, number, dialed, call_id, requested_at,"
                " endpoints, strategy, ring_seconds, trunk, attempts)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                " ON CONFLICT (id) DO NOTHING",
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
            await asyncio.to_thread(self._unspool, callback.id)
            log.info("callback.stored", extra={"callback": callback.id})

    def _spooled(self) -> list[Callback]:
        if not self.spool.is_dir():
            return []
        found = []
        for path in sorted(self.spool.glob("*.json")):
            try:
                raw = json.loads(path.read_bytes())
                raw["endpoints"] = tuple(raw["endpoints"])
                found.append(Callback(**raw))
            except (OSError, ValueError, TypeError, KeyError) as exc:
                log.error("callback.bad_spool_file", extra={"file": str(path), "error": str(exc)})
                path.rename(path.with_suffix(".bad"))
        return found

    def _unspool(self, callback_id: str) -> None:
        (self.spool / f"{callback_id}.json").unlink(missing_ok=True)


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


def next_attempt(callback: Callback) -> Callback:
    return replace(callback, attempts=callback.attempts + 1)
