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
the row is updated. The caller ID is made safe for one line where it enters (ARI
event parsing) and again here, so a job spooled before that (a caller with a line
break that no mail header can hold) is mailed too, not retried for ever.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

import aiosmtplib

from switchboard.config import SmtpConfig, VoicemailConfig
from switchboard.db import DB_ERRORS, Database
from switchboard.durable import nothing
from switchboard.engine.commands import KeepVoicemail
from switchboard.jobspool import (
    MISSING_ATTEMPTS,
    SpoolKeeper,
    StepFailed,
    audio_path,
    release_recording,
    store_recording,
    wav_seconds,
)
from switchboard.text import one_line

log = logging.getLogger("switchboard.voicemail")
__all__ = ["MISSING_ATTEMPTS", "Job", "VoicemailKeeper", "wav_seconds"]


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


class VoicemailKeeper(SpoolKeeper[Job]):
    def __init__(
        self,
        config: VoicemailConfig,
        smtp: SmtpConfig,
        fetch: Callable[[str], Awaitable[bytes]],
        delete: Callable[[str], Awaitable[None]],
        database: Database | None = None,
        clock: Callable[[], float] = time.time,
        *,
        on_db_error: Callable[[], None] = nothing,  # metrics (given by the composition root)
    ) -> None:
        super().__init__(config, Job, log, "voicemail", clock, on_db_error)
        self.config = config
        self.smtp = smtp
        self._fetch = fetch
        self._delete = delete
        self.database = database

    # -- the call side -----------------------------------------------------------------
    async def keep(self, cmd: KeepVoicemail) -> None:
        """Note a recording: on disk before this returns, then worked on in the background.

        ``recording``: it has started; kept so a daemon that stops before it ends does
        not lose it (fetched after ``wait_s``). ``fetch``: complete, fetch it now.
        ``cancel``: the recorder failed, there is nothing to fetch."""
        if cmd.stage == "cancel":
            await self._jobs.drop(cmd.recording)
            return
        job = Job(cmd.recording, cmd.mailbox, cmd.call_id, cmd.caller, cmd.dialed, cmd.started_at)
        if cmd.stage == "recording":
            job = replace(job, stage="recording", next_at=self._clock() + cmd.wait_s)
        await self._jobs.put(job)
        log.info(
            "voicemail.queued",
            extra={"call_id": cmd.call_id, "voicemail": cmd.recording, "stage": job.stage},
        )

    async def unfinished(self, call_ids: Collection[str]) -> list[Job]:
        """The messages these calls were leaving when a daemon died (SIGKILL): spooled
        at stage ``recording``, due at the end of their wait (``max_seconds`` and a
        margin). Each job's id is its recording's name."""
        return [
            job
            for job in await self._jobs.pending_off_loop()
            if job.call_id in call_ids and job.stage == "recording"
        ]

    async def calls_left(self, call_ids: Collection[str]) -> None:
        """These calls' recordings have ended (their channels are gone, or the
        recording was stopped): fetch them now, not at the end of their wait. A
        recording not yet finished answers 404 and is asked again
        (``MISSING_ATTEMPTS``)."""
        for job in await self.unfinished(call_ids):
            log.info("voicemail.nudged", extra={"voicemail": job.id, "call_id": job.call_id})
            self._jobs.nudge(job.id)

    # -- the worker ---------------------------------------------------------------------
    async def _step(self, job: Job) -> Job:
        stage = job.stage
        if stage == "recording":  # the daemon stopped before it ended: fetch what is there
            log.warning("voicemail.unfinished", extra={"voicemail": job.id})
            return replace(job, stage="fetch", next_at=self._clock())  # (now: due, or nudged)
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
        path = audio_path(self.config.directory, job.id, datetime.now(UTC))
        audio = await store_recording(self._fetch, job.id, path, job.attempts)
        if audio is None:
            log.error(
                "voicemail.missing",
                extra={"voicemail": job.id, "call_id": job.call_id},
            )
            return replace(job, stage="done", error="recording not found in Asterisk")
        stage = "index" if self.database is not None else "mail"
        stored = replace(
            job,
            stage=stage,
            file=audio.file,
            size=audio.size,
            duration=audio.duration,
            attempts=0,
            error="",
        )
        try:
            await asyncio.to_thread(self._jobs.save, stored)  # ours is safe: noted before ...
        except OSError as exc:
            raise StepFailed(f"noting {path}: {exc}") from exc
        await release_recording(self._delete, job.id, log, "voicemail")  # ... Asterisk's goes
        log.info(
            "voicemail.stored",
            extra={
                "call_id": job.call_id,
                "voicemail": job.id,
                "file": audio.file,
                "bytes": audio.size,
                "s": audio.duration,
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
                one_line(job.caller),  # (a job spooled before callers were cleaned at the edge)
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
        caller = one_line(job.caller) or "an unknown number"  # a header: one line, always
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
