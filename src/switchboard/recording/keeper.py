"""Recorded calls: from a bridge recording in Asterisk to a WAV of ours and a row.

Nothing is lost. The recording is noted in a spool file on local disk (fsync'd)
before Asterisk is asked to make it; the job leaves the spool only when every
stage is done (``switchboard.jobspool``):

1. ``recording``: Asterisk is still recording (``/recordings/live/{name}``): wait;
   once the call has ended the keeper looks every second or so, else every minute
   (a daemon restarted in the middle of a call finds it this way);
2. ``fetch``: download the WAV (``/recordings/stored/{name}/file``) to
   ``recording.directory/YYYY/MM/<name>.wav`` (the month the call started);
3. ``release``: delete Asterisk's copy, now that ours is stored and noted;
4. ``index``: insert the ``recordings`` row in PostgreSQL (skipped without one).

The call's row names its recording (``calls.recording``, written by the call log);
the ``recordings`` row, keyed by that name, holds the file, its size and length.
A stage that fails (Asterisk or PostgreSQL away) is retried with backoff:
``retry_seconds``, doubling up to 10 minutes. A restart rescans the spool.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from switchboard.ari.client import AriError
from switchboard.config import RecordingConfig
from switchboard.db import DB_ERRORS, Database
from switchboard.durable import nothing
from switchboard.engine.commands import KeepCallRecording
from switchboard.jobspool import (
    SpoolKeeper,
    StepFailed,
    audio_path,
    release_recording,
    store_recording,
)

log = logging.getLogger("switchboard.recording")
LIVE_POLL_S = 60.0  # a call still in progress: how often to look whether it has ended
ENDED_POLL_MAX_S = 30.0  # the call has ended: look after 1 s, 2 s, 4 s ... up to this


@dataclass(frozen=True, slots=True)
class Job:
    id: str  # the recording's name: unique per call, so storing twice is harmless
    call_id: str
    started_at: str  # when the call started (ISO 8601, "" if unknown)
    stage: str = "recording"
    file: str = ""
    size: int = 0
    duration: float = 0.0
    attempts: int = 0  # failures of the current stage (or looks at a live recording)
    next_at: float = 0.0  # epoch seconds: not before
    error: str = ""


_INSERT = """
INSERT INTO recordings (id, call_id, started_at, duration_s, file, size_bytes)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (id) DO NOTHING
"""


class RecordingKeeper(SpoolKeeper[Job]):
    def __init__(
        self,
        config: RecordingConfig,
        is_live: Callable[[str], Awaitable[str]],
        fetch: Callable[[str], Awaitable[bytes]],
        delete: Callable[[str], Awaitable[None]],
        database: Database | None = None,
        clock: Callable[[], float] = time.time,
        *,
        on_db_error: Callable[[], None] = nothing,  # metrics (given by the composition root)
    ) -> None:
        super().__init__(config, Job, log, "recording", clock, on_db_error)
        self.config = config
        self._is_live = is_live  # the live recording's state; AriError 404 once finished
        self._fetch = fetch
        self._delete = delete
        self.database = database
        self._ended: set[str] = set()  # recordings whose call has ended (this run)

    # -- the call side -----------------------------------------------------------------
    async def keep(self, cmd: KeepCallRecording) -> None:
        """``recording``: noted on disk before this returns (before Asterisk is asked);
        ``ended``: look for the finished file now; ``cancel``: there is none."""
        extra = {"call_id": cmd.call_id, "recording": cmd.name, "stage": cmd.stage}
        if cmd.stage == "cancel":
            log.warning("recording.cancelled", extra=extra)
            await self._jobs.drop(cmd.name)
        elif cmd.stage == "ended":
            self._ended.add(cmd.name)
            self._jobs.nudge(cmd.name)
        else:
            job = Job(cmd.name, cmd.call_id, cmd.started_at, next_at=self._clock() + LIVE_POLL_S)
            await self._jobs.put(job)
            log.info("recording.noted", extra=extra)

    # -- the worker ---------------------------------------------------------------------
    async def _step(self, job: Job) -> Job:
        match job.stage:
            case "recording":
                return await self._look_live(job)
            case "fetch":
                return await self._fetch_audio(job)
            case "release":
                await release_recording(self._delete, job.id, log, "recording")
                stage = "index" if self.database is not None else "done"
                return replace(job, stage=stage, attempts=0, error="")
            case "index":
                await self._index(job)
                return replace(job, stage="done")
        raise StepFailed(f"unknown stage {job.stage!r}")

    async def _look_live(self, job: Job) -> Job:
        """Still being recorded? Then look again later; finished: fetch it."""
        try:
            await self._is_live(job.id)
        except AriError as exc:
            if exc.status == 404:
                self._ended.discard(job.id)
                return replace(job, stage="fetch", attempts=0, error="", next_at=0.0)
            raise StepFailed(f"asking whether it is still recording: {exc}") from exc
        if job.id in self._ended:
            wait = min(ENDED_POLL_MAX_S, 2.0**job.attempts)
            return replace(job, attempts=job.attempts + 1, next_at=self._clock() + wait)
        return replace(job, next_at=self._clock() + LIVE_POLL_S)

    async def _fetch_audio(self, job: Job) -> Job:
        month = datetime.fromisoformat(job.started_at) if job.started_at else datetime.now(UTC)
        path = audio_path(self.config.directory, job.id, month)
        audio = await store_recording(self._fetch, job.id, path, job.attempts)
        if audio is None:
            log.error("recording.missing", extra={"recording": job.id, "call_id": job.call_id})
            return replace(job, stage="done", error="recording not found in Asterisk")
        log.info(
            "recording.stored",
            extra={
                "call_id": job.call_id,
                "recording": job.id,
                "file": audio.file,
                "bytes": audio.size,
                "s": audio.duration,
            },
        )
        return replace(
            job,
            stage="release",  # saved before the next stage: ours is noted before theirs goes
            file=audio.file,
            size=audio.size,
            duration=audio.duration,
            attempts=0,
            error="",
        )

    async def _index(self, job: Job) -> None:
        if self.database is None:
            return
        started = datetime.fromisoformat(job.started_at) if job.started_at else None
        try:
            pool = await self.database.pool()
            await pool.execute(
                _INSERT, job.id, job.call_id, started, job.duration, job.file, job.size
            )
        except DB_ERRORS as exc:
            self.on_db_error()
            raise StepFailed(f"saving the row: {exc}") from exc
