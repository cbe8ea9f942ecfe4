"""The call log: a row for every call, durable before PostgreSQL has it.

``record()`` writes the call's summary to a spool file on local disk (fsync'd);
a worker moves spooled calls into PostgreSQL (``calls``, ``call_legs``), retrying
while the database is away, oldest first. The spool is bounded (``MAX_SPOOLED``
files): past it, a call is logged as lost rather than filling the disk. A daemon
that stops flushes what it can; what is left stays spooled for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from switchboard.db import DB_ERRORS, Database
from switchboard.files import write_atomically

log = logging.getLogger("switchboard.calllog")
MAX_SPOOLED = 100_000  # calls kept on disk while PostgreSQL is away (~1 KB each)


@dataclass(frozen=True, slots=True)
class CallRecord:
    id: str
    dialed: str
    caller: str
    customer: int | None
    flow: str
    flow_version: str
    started_at: str  # ISO 8601
    answered_at: str  # "" if never answered
    ended_at: str
    answered_by: str
    agent: str
    outcome: str
    route_result: str
    path: tuple[str, ...]
    legs: tuple[tuple[str, str], ...]  # (target, result), in the order they ended
    recording: str = ""  # the conversation's recording (recordings.id), "" if not recorded

    @property
    def wait_s(self) -> float | None:
        return _seconds(self.started_at, self.answered_at)

    @property
    def talk_s(self) -> float | None:
        return _seconds(self.answered_at, self.ended_at) if self.answered_at else None


def _seconds(start: str, end: str) -> float | None:
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


_INSERT_CALL = """
INSERT INTO calls (id, dialed, caller, customer, flow, flow_version, started_at, answered_at,
                   ended_at, wait_s, talk_s, answered_by, agent, outcome, route_result, path,
                   recording)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16::jsonb, $17)
ON CONFLICT (id) DO NOTHING
"""


class CallLog:
    def __init__(self, spool: Path, database: Database | None, retry_s: float = 5.0) -> None:
        self.spool = spool
        self.database = database
        self.retry_s = retry_s
        self._wake = asyncio.Event()
        self._spooled_count: int | None = None  # counted once, then kept (no listing per call)

    async def record(self, call: CallRecord) -> None:
        """Durable on local disk when this returns (unless the spool is full)."""
        if self.database is None:
            return  # nowhere to keep it: the call.end log line is the record
        if self._spooled_count is None:
            self._spooled_count = len(await asyncio.to_thread(self._spooled))
        if self._spooled_count >= MAX_SPOOLED:
            log.error("calllog.spool_full", extra={"call_id": call.id, "limit": MAX_SPOOLED})
            return
        data = json.dumps(asdict(call), sort_keys=True).encode()
        name = f"{call.ended_at.replace(':', '')}-{call.id}.json"  # oldest first
        try:
            await asyncio.to_thread(write_atomically, self.spool / name, data)
        except OSError as exc:
            log.error("calllog.spool_failed", extra={"call_id": call.id, "error": str(exc)})
            return
        self._spooled_count += 1
        self._wake.set()

    async def run(self) -> None:
        """Move spooled calls into PostgreSQL, retrying while it is away."""
        failing = False
        while True:
            self._wake.clear()
            timeout: float | None = None
            try:
                await self.flush()
                if failing:
                    log.info("calllog.database_back")
                failing = False
            except DB_ERRORS as exc:
                if not failing:
                    log.warning("calllog.store_retry", extra={"error": str(exc)})
                failing, timeout = True, self.retry_s
            except Exception:  # keep the worker alive: the calls stay in the spool
                log.exception("calllog.store_failed")
                timeout = self.retry_s * 10
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    async def flush(self) -> int:
        """Write every spooled call; returns how many. Raises on a database error
        (what is not written stays spooled)."""
        if self.database is None:
            return 0
        paths = await asyncio.to_thread(self._spooled)
        if not paths:
            return 0
        pool = await self.database.pool()
        written = 0
        for path in paths:
            call = await asyncio.to_thread(_read, path)
            if call is not None:
                async with pool.acquire() as conn, conn.transaction():
                    await conn.execute(_INSERT_CALL, *_call_row(call))
                    await conn.executemany(
                        "INSERT INTO call_legs (call_id, seq, target, result)"
                        " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                        [
                            (call.id, n, target, result)
                            for n, (target, result) in enumerate(call.legs)
                        ],
                    )
                written += 1
            await asyncio.to_thread(path.unlink, missing_ok=True)
            if self._spooled_count:
                self._spooled_count -= 1
        return written

    def _spooled(self) -> list[Path]:
        return sorted(self.spool.glob("*.json")) if self.spool.is_dir() else []


def _read(path: Path) -> CallRecord | None:
    try:
        raw = json.loads(path.read_bytes())
        raw["path"] = tuple(raw["path"])
        raw["legs"] = tuple(tuple(leg) for leg in raw["legs"])
        return CallRecord(**raw)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        log.error("calllog.bad_spool_file", extra={"file": str(path), "error": str(exc)})
        with contextlib.suppress(OSError):
            path.rename(path.with_suffix(".bad"))
        return None


def _call_row(call: CallRecord) -> tuple[object, ...]:
    return (
        call.id,
        call.dialed,
        call.caller,
        call.customer,
        call.flow,
        call.flow_version,
        datetime.fromisoformat(call.started_at),
        datetime.fromisoformat(call.answered_at) if call.answered_at else None,
        datetime.fromisoformat(call.ended_at),
        call.wait_s if call.answered_at else None,
        call.talk_s,
        call.answered_by,
        call.agent,
        call.outcome,
        call.route_result,
        json.dumps(list(call.path)),
        call.recording or None,
    )
