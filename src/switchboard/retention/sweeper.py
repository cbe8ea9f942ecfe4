"""The retention sweeper: the daemon deletes what is older than its ``keep_days``.

Once shortly after start, then every hour: call log rows (by when the call
started; their legs with them), voicemails (by when they were stored) and
recordings (by when they were stored), each kind only if its section sets
``keep_days``. For audio, the file goes first, then its row: a file that cannot be
deleted keeps its row (tried again next time), a file already gone lets its row
go. Never touched: what the keepers still hold in their spools (a voicemail not
yet emailed, a recording not yet stored), a voicemail not yet emailed to a
mailbox that emails (even if its spool file was set aside), and calls still in the
call log's spool (they are not in PostgreSQL yet). Rows go in bounded batches,
each a short transaction. A database outage ends the sweep with a log line; the
next one goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import asyncpg

from switchboard.config import Config
from switchboard.db import DB_ERRORS, Database
from switchboard.durable import nothing, periodic

from . import store
from .audio import FileFate, remove_audio
from .policy import cutoff

log = logging.getLogger("switchboard.retention")
FIRST_SWEEP_S = 60.0  # after start: the daemon has settled (and spools are flushed)
SWEEP_EVERY_S = 3600.0
BATCH_ROWS = 500  # rows per transaction


@dataclass(frozen=True, slots=True)
class Archive:
    """Audio files with rows: where they are kept, for how long, and what its keeper
    still works on."""

    directory: Path
    keep_days: int
    spooled: Callable[[], Collection[str]]  # ids still in the keeper's spool (blocking)
    emailing: tuple[str, ...] = ()  # voicemail: the mailboxes that email their messages


@dataclass(slots=True)
class Swept:
    """What one sweep deleted (the ``retention.swept`` line)."""

    calls: int = 0
    call_legs: int = 0
    voicemails: int = 0
    recordings: int = 0
    files_deleted: int = 0
    files_missing: int = 0  # already gone: their rows were deleted
    files_kept: int = 0  # could not be deleted: their rows stay (tried again next sweep)

    def add(self, fates: Collection[FileFate]) -> None:
        self.files_deleted += sum(f is FileFate.DELETED for f in fates)
        self.files_missing += sum(f is FileFate.MISSING for f in fates)
        self.files_kept += sum(f is FileFate.KEPT for f in fates)


@dataclass(slots=True)
class Sweeper:
    database: Database
    clock: Callable[[], datetime]
    calls_days: int | None = None
    voicemails: Archive | None = None
    recordings: Archive | None = None
    batch: int = BATCH_ROWS
    first_after: float = FIRST_SWEEP_S
    every: float = SWEEP_EVERY_S
    on_db_error: Callable[[], None] = field(default=nothing)  # metrics (the composition root)

    async def run(self) -> None:
        """Sweep after ``first_after``, then every ``every`` (a bug in one sweep is
        logged as ``retention.sweep_crashed``: the next sweep tries again)."""
        await periodic(
            "retention",
            self.every,
            self.sweep,
            first_after=self.first_after,
            failed_event="retention.sweep_crashed",
            logger=log,
        )

    async def sweep(self) -> Swept:
        """One pass over every kind; logs ``retention.swept`` (or ``sweep_failed``)."""
        swept = Swept()
        now = self.clock()
        try:
            pool = await self.database.pool()
            if self.recordings is not None:
                swept.recordings += await self._sweep_audio(
                    pool, self.recordings, _RECORDINGS, now, swept
                )
            if self.voicemails is not None:
                swept.voicemails += await self._sweep_audio(
                    pool, self.voicemails, _VOICEMAILS, now, swept
                )
            if self.calls_days is not None:
                await self._sweep_calls(pool, cutoff(now, self.calls_days), swept)
        except DB_ERRORS as exc:
            self.on_db_error()
            log.warning("retention.sweep_failed", extra={"error": repr(exc), **asdict(swept)})
            return swept
        log.info("retention.swept", extra=asdict(swept))
        return swept

    async def _sweep_calls(self, pool: asyncpg.Pool, before: datetime, swept: Swept) -> None:
        while True:
            calls, legs = await store.delete_old_calls(pool, before, self.batch)
            swept.calls += calls
            swept.call_legs += legs
            if calls < self.batch:
                return

    async def _sweep_audio(
        self, pool: asyncpg.Pool, archive: Archive, kind: _AudioKind, now: datetime, swept: Swept
    ) -> int:
        """Old rows of one kind, batch by batch: files first, then rows. How many rows."""
        try:
            spooled = sorted(await asyncio.to_thread(archive.spooled))
        except OSError as exc:  # not knowing what the keeper holds: delete none of its kind
            log.error("retention.spool_unreadable", extra={"kind": kind.name, "error": str(exc)})
            return 0
        before, after, deleted = cutoff(now, archive.keep_days), None, 0
        while rows := await kind.old(pool, before, after, spooled, archive.emailing, self.batch):
            gone = await self._remove(rows, archive.directory, swept)
            async with pool.acquire() as conn, conn.transaction():
                deleted += await kind.delete(conn, gone)
            after = rows[-1].key
            if len(rows) < self.batch:
                break
        return deleted

    @staticmethod
    async def _remove(
        rows: list[store.StoredAudio], directory: Path, swept: Swept
    ) -> list[store.StoredAudio]:
        """Each row's file (in a thread); the rows whose files are gone."""
        fates = await asyncio.to_thread(lambda: [remove_audio(r.file, directory) for r in rows])
        swept.add(fates)
        return [row for row, fate in zip(rows, fates, strict=True) if fate is not FileFate.KEPT]


@dataclass(frozen=True, slots=True)
class _AudioKind:
    """Recordings or voicemails: how the sweeper finds and deletes their old rows."""

    name: str
    old: Callable[..., Awaitable[list[store.StoredAudio]]]
    delete: Callable[[store.Conn, list[store.StoredAudio]], Awaitable[int]]


async def _old_recordings(
    pool: asyncpg.Pool, before: datetime, after: store.Key | None, spooled: list[str],
    _emailing: tuple[str, ...], limit: int,
) -> list[store.StoredAudio]:  # fmt: skip
    return await store.old_recordings(pool, before, after, spooled, limit)


async def _delete_voicemails(conn: store.Conn, gone: list[store.StoredAudio]) -> int:
    return await store.delete_voicemails(conn, [v.id for v in gone])


_RECORDINGS = _AudioKind("recordings", _old_recordings, store.delete_recordings)
_VOICEMAILS = _AudioKind("voicemails", store.old_voicemails, _delete_voicemails)


def build_sweeper(
    config: Config,
    database: Database | None,
    clock: Callable[[], datetime],
    *,
    spooled_voicemails: Callable[[], Collection[str]],
    spooled_recordings: Callable[[], Collection[str]],
    on_db_error: Callable[[], None] = nothing,  # metrics (given by the composition root)
) -> Sweeper | None:
    """The daemon's sweeper, if any section sets ``keep_days`` (the config makes those
    need a database)."""
    voicemail, recording = config.voicemail, config.recording
    voicemails = recordings = None
    if voicemail is not None and voicemail.keep_days is not None:
        emailing = tuple(sorted(n for n, box in voicemail.mailboxes.items() if box.email))
        voicemails = Archive(voicemail.directory, voicemail.keep_days, spooled_voicemails, emailing)
    if recording is not None and recording.keep_days is not None:
        recordings = Archive(recording.directory, recording.keep_days, spooled_recordings)
    calls_days = config.calls.keep_days
    if database is None or (voicemails is None and recordings is None and calls_days is None):
        return None
    return Sweeper(
        database,
        clock,
        calls_days,
        voicemails,
        recordings,
        first_after=FIRST_SWEEP_S,
        on_db_error=on_db_error,
    )
