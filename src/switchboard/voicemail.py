"""Voicemail: from a finished ARI recording to a stored file, a row and an email.

Nothing is lost. ``keep()`` first writes the job to a spool file on local disk
(fsync'd); the job leaves the spool only when every step is done:

1. ``fetch``: download the audio from Asterisk (``/recordings/stored/{name}/file``),
   write it under ``voicemail.directory/YYYY/MM/`` and delete Asterisk's copy;
2. ``index``: insert the row in PostgreSQL (skipped without a database);
3. ``mail``: email the WAV to the mailbox's addresses (skipped if it has none);
4. ``note``: record on the row that it was emailed.

A step that fails (Asterisk, PostgreSQL or the SMTP server away) is retried with
backoff: ``retry_seconds``, doubling up to 10 minutes. A restart rescans the spool.
An email is sent at most once per success: the spool moves past ``mail`` before
the row is updated.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import time
import wave
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

import aiosmtplib

from switchboard.ari import AriError
from switchboard.config import SmtpConfig, VoicemailConfig
from switchboard.db import DB_ERRORS, Database
from switchboard.engine.commands import KeepVoicemail
from switchboard.files import write_atomically

log = logging.getLogger("switchboard.voicemail")
MAX_BACKOFF_S = 600.0
MISSING_ATTEMPTS = 5  # Asterisk says "no such recording" this often: give up on it


@dataclass(frozen=True, slots=True)
class Job:
    id: str  # the recording's name: unique per call, so storing twice is harmless
    mailbox: str
    call_id: str
    caller: str
    dialed: str
    started_at: str
    stage: str = "fetch"
    file: str = ""
    size: int = 0
    duration: float = 0.0
    emailed_to: str = ""
    attempts: int = 0  # failures of the current stage
    next_at: float = 0.0  # epoch seconds: not before
    error: str = ""


def _nothing() -> None:
    pass


class StepFailed(Exception):
    """A step could not be done now; retry later."""


class VoicemailKeeper:
    def __init__(
        self,
        config: VoicemailConfig,
        smtp: SmtpConfig,
        fetch: Callable[[str], Awaitable[bytes]],
        delete: Callable[[str], Awaitable[None]],
        database: Database | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.smtp = smtp
        self._fetch = fetch
        self._delete = delete
        self.database = database
        self._clock = clock
        self._wake = asyncio.Event()
        self._flushing = asyncio.Lock()
        self.spool = config.directory / "spool"
        self.on_db_error: Callable[[], None] = _nothing  # metrics (set by the composition root)

    # -- the call side -----------------------------------------------------------------
    async def keep(self, cmd: KeepVoicemail) -> None:
        """Note a recording: on disk before this returns, then worked on in the background.

        ``recording``: it has started; kept so a daemon that stops before it ends does
        not lose it (fetched after ``wait_s``). ``fetch``: complete, fetch it now.
        ``cancel``: the recorder failed, there is nothing to fetch."""
        if cmd.stage == "cancel":
            await asyncio.to_thread(self._spool_path(cmd.recording).unlink, missing_ok=True)
            return
        job = Job(cmd.recording, cmd.mailbox, cmd.call_id, cmd.caller, cmd.dialed, cmd.started_at)
        if cmd.stage == "recording":
            job = replace(job, stage="recording", next_at=self._clock() + cmd.wait_s)
        await asyncio.to_thread(self._save, job)
        log.info(
            "voicemail.queued",
            extra={"call_id": cmd.call_id, "voicemail": cmd.recording, "stage": job.stage},
        )
        self._wake.set()

    # -- the worker ---------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                due = await self.flush()
            except Exception:  # e.g. the spool folder unreadable: try again later
                log.exception("voicemail.flush_failed")
                due = self._clock() + MAX_BACKOFF_S
            timeout = None if due is None else max(0.05, due - self._clock())
            with contextlib.suppress(TimeoutError):  # (asyncio.timeout: see QueueManager.run)
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    async def flush(self) -> float | None:
        """Work on every job that is due; returns when the next retry is due (or None).
        One flush at a time (the worker's and the last one at shutdown)."""
        async with self._flushing:
            jobs = await asyncio.to_thread(self._load_all)
            earliest: float | None = None
            for job in jobs:
                if job.next_at <= self._clock():
                    job = await self._advance_safely(job)
                if job.stage != "done":
                    earliest = job.next_at if earliest is None else min(earliest, job.next_at)
            return earliest

    async def _advance_safely(self, job: Job) -> Job:
        """A bug or a full disk on one job must not stop the others (nor the worker)."""
        try:
            return await self._advance(job)
        except Exception as exc:
            log.exception("voicemail.job_failed", extra={"voicemail": job.id})
            retry = replace(
                job,
                attempts=job.attempts + 1,
                next_at=self._clock() + MAX_BACKOFF_S,
                error=f"{type(exc).__name__}: {exc}"[:500],
            )
            with contextlib.suppress(OSError):
                await asyncio.to_thread(self._save, retry)
            return retry

    def pending(self) -> list[Job]:
        return self._load_all()

    async def _advance(self, job: Job) -> Job:
        while job.stage != "done":
            try:
                job = await self._step(job)
            except StepFailed as exc:
                return await asyncio.to_thread(self._failed, job, str(exc))
            await asyncio.to_thread(self._save_or_drop, job)
        return job

    async def _step(self, job: Job) -> Job:
        stage = job.stage
        if stage == "recording":  # the daemon stopped before it ended: fetch what is there
            log.warning("voicemail.unfinished", extra={"voicemail": job.id})
            return replace(job, stage="fetch")
        if stage == "fetch":
            return await self._fetch_audio(job)
        if stage == "index":
            await self._index(job)
            return replace(job, stage="mail", attempts=0, error="")
        if stage == "mail":
            return await self._mail(job)
        if stage == "note":
            await self._note_emailed(job)
            return replace(job, stage="done")
        raise StepFailed(f"unknown stage {stage!r}")

    async def _fetch_audio(self, job: Job) -> Job:
        try:
            audio = await self._fetch(job.id)
        except AriError as exc:
            if exc.status == 404 and job.attempts + 1 >= MISSING_ATTEMPTS:
                log.error(
                    "voicemail.missing",
                    extra={"voicemail": job.id, "call_id": job.call_id, "error": str(exc)},
                )
                return replace(job, stage="done", error="recording not found in Asterisk")
            raise StepFailed(f"fetching the recording: {exc}") from exc
        path = self._audio_path(job)
        duration = wav_seconds(audio)
        stage = "index" if self.database is not None else "mail"
        stored = replace(
            job,
            stage=stage,
            file=str(path),
            size=len(audio),
            duration=duration,
            attempts=0,
            error="",
        )
        try:
            await asyncio.to_thread(write_atomically, path, audio)
            await asyncio.to_thread(self._save, stored)  # ours is safe: noted before ...
        except OSError as exc:
            raise StepFailed(f"writing {path}: {exc}") from exc
        try:
            await self._delete(job.id)  # ... Asterisk's copy goes
        except AriError as exc:  # a copy left in Asterisk's spool is harmless
            log.info("voicemail.asterisk_copy_kept", extra={"voicemail": job.id, "error": str(exc)})
        log.info(
            "voicemail.stored",
            extra={
                "call_id": job.call_id,
                "voicemail": job.id,
                "file": str(path),
                "bytes": len(audio),
                "s": duration,
            },
        )
        return stored

    async def _execute(self, query: str, *args: object) -> None:
        if self.database is None:
            return
        pool = await self.database.pool()
        await pool.execute(query, *args)

    async def _index(self, job: Job) -> None:
        started = datetime.fromisoformat(job.started_at) if job.started_at else None
        try:
            await self._execute(
                "INSERT INTO voicemails (id, call_id, mailbox, caller, dialed, started_at,"
                " duration_s, file, size_bytes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                " ON CONFLICT (id) DO NOTHING",
                job.id,
                job.call_id,
                job.mailbox,
                job.caller,
                job.dialed,
                started,
                job.duration,
                job.file,
                job.size,
            )
        except DB_ERRORS as exc:
            self.on_db_error()
            raise StepFailed(f"saving the row: {exc}") from exc

    async def _mail(self, job: Job) -> Job:
        box = self.config.mailboxes.get(job.mailbox)
        if box is None or not box.email:
            log.warning(
                "voicemail.no_email",
                extra={"voicemail": job.id, "mailbox": job.mailbox, "detail": "stored only"},
            )
            return replace(job, stage="done")
        message = self._message(job, box.email, box.name)
        smtp = self.smtp
        try:
            await aiosmtplib.send(
                message,
                hostname=smtp.host,
                port=smtp.port,
                start_tls=smtp.starttls,
                username=smtp.username or None,
                password=smtp.password or None,
                timeout=smtp.timeout,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await self._note_attempt(job, str(exc))
            raise StepFailed(f"emailing {', '.join(box.email)}: {exc}") from exc
        to = ", ".join(box.email)
        log.info("voicemail.emailed", extra={"call_id": job.call_id, "voicemail": job.id, "to": to})
        stage = "note" if self.database is not None else "done"
        return replace(job, stage=stage, emailed_to=to, attempts=0, error="")

    async def _note_attempt(self, job: Job, error: str) -> None:
        # The count is a courtesy for the API; the spool keeps the truth.
        try:
            await self._execute(
                "UPDATE voicemails SET email_attempts = email_attempts + 1, email_error = $2"
                " WHERE id = $1",
                job.id,
                error[:500],
            )
        except DB_ERRORS:
            self.on_db_error()

    async def _note_emailed(self, job: Job) -> None:
        try:
            await self._execute(
                "UPDATE voicemails SET emailed_at = now(), emailed_to = $2, email_error = ''"
                " WHERE id = $1",
                job.id,
                job.emailed_to,
            )
        except DB_ERRORS as exc:
            self.on_db_error()
            raise StepFailed(f"noting the email on the row: {exc}") from exc

    def _message(self, job: Job, to: tuple[str, ...], name: str) -> EmailMessage:
        minutes, seconds = divmod(round(job.duration), 60)
        length = f"{minutes}:{seconds:02d}"
        caller = job.caller or "an unknown number"
        message = EmailMessage()
        message["From"] = self.config.sender
        message["To"] = ", ".join(to)
        message["Subject"] = f"Voicemail from {caller} ({length}) for {name or job.mailbox}"
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain="switchboard.local")
        message.set_content(
            "\n".join(
                [
                    f"A caller left a message in mailbox {job.mailbox}.",
                    "",
                    f"From:     {caller}",
                    f"Dialed:   {job.dialed or '-'}",
                    f"Called:   {job.started_at or '-'}",
                    f"Length:   {length}",
                    f"Call ID:  {job.call_id}",
                    "",
                    "The recording is attached (WAV).",
                ]
            )
        )
        audio = Path(job.file).read_bytes()
        message.add_attachment(
            audio, maintype="audio", subtype="wav", filename=f"voicemail-{job.id}.wav"
        )
        return message

    # -- the spool (blocking file work: called in a thread) ------------------------------
    def _spool_path(self, job_id: str) -> Path:
        return self.spool / f"{job_id}.json"

    def _audio_path(self, job: Job) -> Path:
        now = datetime.now(UTC)
        return self.config.directory / f"{now:%Y}" / f"{now:%m}" / f"{job.id}.wav"

    def _save(self, job: Job) -> None:
        data = json.dumps(asdict(job), sort_keys=True).encode()
        write_atomically(self._spool_path(job.id), data)

    def _save_or_drop(self, job: Job) -> None:
        if job.stage == "done":
            self._spool_path(job.id).unlink(missing_ok=True)
            log.info("voicemail.done", extra={"voicemail": job.id, "call_id": job.call_id})
        else:
            self._save(job)

    def _failed(self, job: Job, error: str) -> Job:
        attempts = job.attempts + 1
        backoff = min(MAX_BACKOFF_S, self.config.retry_seconds * 2 ** (attempts - 1))
        job = replace(job, attempts=attempts, next_at=self._clock() + backoff, error=error[:500])
        log.warning(
            "voicemail.retry",
            extra={
                "call_id": job.call_id,
                "voicemail": job.id,
                "stage": job.stage,
                "attempt": attempts,
                "retry_in_s": backoff,
                "error": error[:300],
            },
        )
        self._save(job)
        return job

    def _load_all(self) -> list[Job]:
        if not self.spool.is_dir():
            return []
        jobs = []
        for path in sorted(self.spool.glob("*.json")):
            try:
                raw = json.loads(path.read_bytes())
                jobs.append(Job(**raw))
            except (OSError, ValueError, TypeError) as exc:
                # Never delete what we cannot read: set it aside for a human.
                log.error("voicemail.bad_spool_file", extra={"file": str(path), "error": str(exc)})
                path.rename(path.with_suffix(".bad"))
        return jobs


def wav_seconds(audio: bytes) -> float:
    """Length of a WAV file in seconds; 0.0 if it is not one we can read."""
    try:
        with wave.open(io.BytesIO(audio)) as wav:
            rate = wav.getframerate()
            return round(wav.getnframes() / rate, 2) if rate else 0.0
    except (wave.Error, EOFError):
        return 0.0
