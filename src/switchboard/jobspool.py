"""Work that must not be lost: jobs kept as JSON files on local disk, moved on
stage by stage until done, each failed stage retried with backoff.

A job is a frozen dataclass with ``id``, ``stage``, ``attempts``, ``next_at`` and
``error`` (and whatever its keeper needs). The keeper's ``step(job)`` does one
stage and returns the job at its next stage (``"done"`` ends it), or the same
stage with a later ``next_at`` (not yet: e.g. still being recorded); it raises
:class:`StepFailed` when the stage cannot be done now. The job is saved (fsync'd)
after every stage, so a restart goes on where the last run stopped.

Used by the voicemail keeper and the call recording keeper; also the download of a
finished ARI recording to ``directory/YYYY/MM/<name>.wav`` that both do.

Built on ``switchboard.durable`` (its spool, backoff policy and wake loop), but not
an outbox: a job is not delivered in one go and removed, it stays spooled stage by
stage, each job with its own due time and retry count.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import wave
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from switchboard.ari.client import AriError
from switchboard.durable import MAX_BACKOFF_S, Backoff, Spool, nothing, wake_loop, write_atomically

MISSING_ATTEMPTS = 5  # Asterisk says "no such recording" this often: give up on it


class StepFailed(Exception):
    """A stage could not be done now; retry later."""


class SpooledJob(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def stage(self) -> str: ...
    @property
    def attempts(self) -> int: ...
    @property
    def next_at(self) -> float: ...
    @property
    def error(self) -> str: ...


J = TypeVar("J", bound=SpooledJob)


class JobSpool(Generic[J]):
    """The spool folder and the worker that advances its jobs."""

    def __init__(
        self,
        directory: Path,
        job_type: Callable[..., J],
        step: Callable[[J], Awaitable[J]],
        *,
        retry_seconds: float,
        clock: Callable[[], float],
        log: logging.Logger,
        what: str,  # "voicemail": the prefix of log events and the job's key in them
    ) -> None:
        self.directory = directory
        self._job_type = job_type
        self._step = step
        self.retry_seconds = retry_seconds
        self._backoff = Backoff(retry_seconds, MAX_BACKOFF_S, crashed=MAX_BACKOFF_S)
        self._clock = clock
        self._log = log
        self._what = what
        self._spool = Spool(directory, log, what)
        self._wake = asyncio.Event()
        self._flushing = asyncio.Lock()
        self._nudged: set[str] = set()  # due now, whatever their next_at says
        # Jobs the spool could not take (disk full): held here, written at each pass until
        # the disk has room again. Lost only if the daemon stops before that.
        self._unsaved: dict[str, J] = {}

    # -- what keepers use ----------------------------------------------------------------
    async def put(self, job: J) -> None:
        """On disk (fsync'd) when this returns; the worker is woken. If the spool cannot
        be written (a full disk), the job is held in memory and written at the next
        passes, and this raises the OSError so the caller says so."""
        try:
            await asyncio.to_thread(self.save, job)
        except OSError:
            self._unsaved[job.id] = job
            self._wake.set()
            raise
        self._unsaved.pop(job.id, None)  # (a later stage written: the held one is stale)
        self._wake.set()

    def nudge(self, job_id: str) -> None:
        """Work on this job at the next pass, even if it is not due yet."""
        self._nudged.add(job_id)
        self._wake.set()

    async def drop(self, job_id: str) -> None:
        await asyncio.to_thread(self._spool.remove, self.path(job_id))

    def pending(self) -> list[J]:
        return self._with_unsaved(self._load_all())

    async def pending_off_loop(self) -> list[J]:
        """``pending()``, the folder read in a thread (the event loop goes on)."""
        return self._with_unsaved(await asyncio.to_thread(self._load_all))

    def _with_unsaved(self, on_disk: list[J]) -> list[J]:
        written = {job.id for job in on_disk}
        return on_disk + [job for job in self._unsaved.values() if job.id not in written]

    def path(self, job_id: str) -> Path:
        return self._spool.path(job_id)

    def save(self, job: J) -> None:
        data = json.dumps(asdict(job), sort_keys=True).encode()  # type: ignore[call-overload]
        self._spool.write(job.id, data)

    # -- the worker ---------------------------------------------------------------------
    async def run(self) -> None:
        await wake_loop(self._wake, self._pass)

    async def _pass(self) -> float | None:
        """One flush; how long until the next job is due (None: none is)."""
        try:
            due = await self.flush()
        except Exception:  # e.g. the spool folder unreadable: try again later
            self._log.exception(f"{self._what}.flush_failed")
            due = self._clock() + self._backoff.crashed
        return None if due is None else max(0.05, due - self._clock())

    async def flush(self) -> float | None:
        """Work on every job that is due; returns when the next one is due (or None).
        One flush at a time (the worker's and the last one at shutdown)."""
        async with self._flushing:
            await asyncio.to_thread(self._write_unsaved)
            jobs = await asyncio.to_thread(self._load_all)
            earliest: float | None = None
            if self._unsaved:  # try the disk again soon
                earliest = self._clock() + self.retry_seconds
            for job in jobs:
                if job.next_at <= self._clock() or job.id in self._nudged:
                    self._nudged.discard(job.id)
                    job = await self._advance_safely(job)
                if job.stage != "done":
                    earliest = job.next_at if earliest is None else min(earliest, job.next_at)
            return earliest

    async def _advance_safely(self, job: J) -> J:
        """A bug or a full disk on one job must not stop the others (nor the worker)."""
        try:
            return await self._advance(job)
        except Exception as exc:
            self._log.exception(f"{self._what}.job_failed", extra={self._what: job.id})
            retry = replace(  # type: ignore[type-var]
                job,
                attempts=job.attempts + 1,
                next_at=self._clock() + self._backoff.crashed,
                error=f"{type(exc).__name__}: {exc}"[:500],
            )
            with contextlib.suppress(OSError):
                await asyncio.to_thread(self.save, retry)
            return retry

    async def _advance(self, job: J) -> J:
        while job.stage != "done":
            try:
                job = await self._step(job)
            except StepFailed as exc:
                return await asyncio.to_thread(self._failed, job, str(exc))
            await asyncio.to_thread(self._save_or_drop, job)
            if job.next_at > self._clock():
                break  # not yet (e.g. still being recorded)
        return job

    # -- the spool (blocking file work: called in a thread) ------------------------------
    def _write_unsaved(self) -> None:
        for job in list(self._unsaved.values()):
            try:
                self.save(job)
            except OSError as exc:
                extra = {self._what: job.id, "held": len(self._unsaved), "error": str(exc)}
                self._log.warning(f"{self._what}.spool_still_full", extra=extra)
                return
            del self._unsaved[job.id]
            extra = {self._what: job.id, "call_id": getattr(job, "call_id", "")}
            self._log.info(f"{self._what}.spooled_late", extra=extra)

    def _save_or_drop(self, job: J) -> None:
        if job.stage == "done":
            self._spool.remove(self.path(job.id))
            extra = {self._what: job.id, "call_id": getattr(job, "call_id", "")}
            self._log.info(f"{self._what}.done", extra=extra)
        else:
            self.save(job)

    def _failed(self, job: J, error: str) -> J:
        attempts = job.attempts + 1
        backoff = self._backoff.delay(attempts)
        job = replace(  # type: ignore[type-var]
            job, attempts=attempts, next_at=self._clock() + backoff, error=error[:500]
        )
        self._log.warning(
            f"{self._what}.retry",
            extra={
                "call_id": getattr(job, "call_id", ""),
                self._what: job.id,
                "stage": job.stage,
                "attempt": attempts,
                "retry_in_s": backoff,
                "error": error[:300],
            },
        )
        self.save(job)
        return job

    def _load_all(self) -> list[J]:
        # Never delete what we cannot read: set it aside for a human.
        return self._spool.read_all(self._parse)

    def _parse(self, data: bytes) -> J:
        raw: dict[str, Any] = json.loads(data)
        return self._job_type(**raw)


class KeeperConfig(Protocol):
    @property
    def directory(self) -> Path: ...
    @property
    def retry_seconds(self) -> float: ...


class SpoolKeeper(Generic[J]):
    """A keeper of spooled jobs under ``config.directory/spool``: ``run`` is its
    worker, ``flush`` one pass; a subclass does the stages in ``_step``."""

    def __init__(
        self,
        config: KeeperConfig,
        job_type: Callable[..., J],
        log: logging.Logger,
        what: str,  # "voicemail": the prefix of log events and the job's key in them
        clock: Callable[[], float],
        on_db_error: Callable[[], None] = nothing,  # metrics (given by the composition root)
    ) -> None:
        self._clock = clock
        self.spool = config.directory / "spool"
        self.on_db_error = on_db_error
        self._jobs = JobSpool(
            self.spool,
            job_type,
            self._step,
            retry_seconds=config.retry_seconds,
            clock=clock,
            log=log,
            what=what,
        )

    async def _step(self, job: J) -> J:
        raise NotImplementedError

    async def run(self) -> None:
        await self._jobs.run()

    async def flush(self) -> float | None:
        """Work on every job that is due; returns when the next one is due (or None)."""
        return await self._jobs.flush()

    def pending(self) -> list[J]:
        return self._jobs.pending()


# -- finished ARI recordings -----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StoredAudio:
    file: str
    size: int
    duration: float


async def store_recording(
    fetch: Callable[[str], Awaitable[bytes]], name: str, path: Path, attempts: int
) -> StoredAudio | None:
    """Download Asterisk's recording ``name`` and write it at ``path`` (atomically).
    None: Asterisk has said it has no such recording ``MISSING_ATTEMPTS`` times."""
    try:
        audio = await fetch(name)
    except AriError as exc:
        if exc.status == 404 and attempts + 1 >= MISSING_ATTEMPTS:
            return None
        raise StepFailed(f"fetching the recording: {exc}") from exc
    try:
        await asyncio.to_thread(write_atomically, path, audio)
    except OSError as exc:
        raise StepFailed(f"writing {path}: {exc}") from exc
    return StoredAudio(str(path), len(audio), wav_seconds(audio))


async def release_recording(
    delete: Callable[[str], Awaitable[None]], name: str, log: logging.Logger, what: str
) -> None:
    """Delete Asterisk's copy: call this only once ours is stored and noted."""
    try:
        await delete(name)
    except AriError as exc:  # a copy left in Asterisk's spool is harmless
        log.info(f"{what}.asterisk_copy_kept", extra={what: name, "error": str(exc)})


def audio_path(directory: Path, name: str, now: datetime) -> Path:
    """``directory/YYYY/MM/<name>.wav``; a name that is not a plain file name is a bug."""
    if not name or Path(name).name != name or name.startswith("."):
        raise ValueError(f"recording name {name!r} is not a plain file name")
    return directory / f"{now:%Y}" / f"{now:%m}" / f"{name}.wav"


def wav_seconds(audio: bytes) -> float:
    """Length of a WAV file in seconds; 0.0 if it is not one we can read."""
    try:
        with wave.open(io.BytesIO(audio)) as wav:
            rate = wav.getframerate()
            return round(wav.getnframes() / rate, 2) if rate else 0.0
    except (wave.Error, EOFError):
        return 0.0
