"""Erasing one caller's data on request (privacy law): ``switchboard erase`` and
``POST /privacy/erase`` both come here.

For a number (normalized to E.164, then matched in every form the call log keeps
caller IDs in: ``policy.caller_forms``): its calls and their legs, callback calls
to it, the recordings of those calls, the voicemails it left, and its finished
queue and web callback requests. Each file goes first, then its row; a file that
cannot be deleted keeps its row (``files_kept``). Left alone, and counted:
requests not finished yet (the daemon is calling them), and whatever is still in
the daemon's spools (not in PostgreSQL yet: ``spooled``; a call whose recording is
still being stored stays until it is). Erasing again later takes what is left.

The CRM's customer record (``customers``, imported from the company's CRM) is the
company's own record and is not erased; its id is reported (docs/deploy.md).
One audit line, ``privacy.erased``, says who asked and how much went, with the
number masked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from switchboard.config import Config
from switchboard.db import Database
from switchboard.dialpolicy import masked

from . import store
from .audio import FileFate, remove_audio
from .policy import caller_forms, valid_e164
from .spools import Spooled, Spools, spooled_for

log = logging.getLogger("switchboard.privacy")


@dataclass(frozen=True, slots=True)
class Erasure:
    """What was erased for a number (with ``dry_run``: what would be)."""

    number: str  # masked
    dry_run: bool
    deleted: store.Deleted
    files: int  # audio files deleted
    files_kept: int  # could not be deleted (their rows stay too)
    open_callbacks: int  # requests the daemon still works on (kept)
    spooled: Spooled  # not in PostgreSQL yet (kept)
    crm_customer: int | None  # the CRM's record for the number (kept: the company's)

    @property
    def complete(self) -> bool:
        """Nothing of the number is left but the CRM's record."""
        return not (self.files_kept or self.open_callbacks or self.spooled.total)

    def as_json(self) -> dict[str, object]:
        return {
            "number": self.number,
            "dry_run": self.dry_run,
            "erased": {**asdict(self.deleted), "files": self.files},
            "kept": {
                "files": self.files_kept,
                "open_callbacks": self.open_callbacks,
                "spooled": self.spooled.counts(),
            },
            "crm_customer": self.crm_customer,
            "complete": self.complete,
        }


class CallerEraser:
    def __init__(
        self,
        database: Database,
        spools: Spools,
        voicemail_directory: Path | None,
        recording_directory: Path | None,
    ) -> None:
        self.database = database
        self.spools = spools
        self.voicemail_directory = voicemail_directory
        self.recording_directory = recording_directory

    @classmethod
    def of(cls, config: Config, database: Database) -> CallerEraser:
        return cls(
            database,
            Spools.of(config),
            config.voicemail.directory if config.voicemail else None,
            config.recording.directory if config.recording else None,
        )

    async def erase(self, number: str, *, by: str, via: str, dry_run: bool = False) -> Erasure:
        """Raises ``BadNumber`` (say so to whoever asked) or a database error (DB_ERRORS)."""
        e164 = valid_e164(number)
        forms = caller_forms(e164)
        pool = await self.database.pool()
        data = await store.callers_data(pool, forms, e164)
        spooled = await asyncio.to_thread(spooled_for, self.spools, forms, e164, data.calls)
        doomed, fates = await self._files_first(data, spooled, dry_run)
        deleted = (
            _counted(data, doomed) if dry_run else await store.delete_callers_data(pool, doomed)
        )
        erasure = Erasure(
            number=masked(e164),
            dry_run=dry_run,
            deleted=deleted,
            files=sum(f is FileFate.DELETED for f in fates.values()),
            files_kept=sum(f is FileFate.KEPT for f in fates.values()),
            open_callbacks=data.open_callbacks,
            spooled=spooled,
            crm_customer=data.customer,
        )
        _audit(erasure, by, via)
        return erasure

    async def _files_first(
        self, data: store.CallersData, spooled: Spooled, dry_run: bool
    ) -> tuple[store.Doomed, dict[str, FileFate]]:
        """Deletes the files (none the keepers still hold); the rows that may go now:
        those whose files are gone, and the calls with no recording still spooled (a
        recording stored later must find its call, for the next erasure to find it)."""
        recordings = [r for r in data.recordings if r.id not in spooled.busy_recordings]
        voicemails = [v for v in data.voicemails if v.id not in spooled.busy_voicemails]
        fates = await asyncio.to_thread(self._remove_files, recordings, voicemails, dry_run)
        doomed = store.Doomed(
            calls=tuple(c for c in data.calls if c not in spooled.recorded_calls),
            recordings=tuple(r for r in recordings if fates[r.id] is not FileFate.KEPT),
            voicemails=tuple(v for v in voicemails if fates[v.id] is not FileFate.KEPT),
            callbacks=data.callbacks,
            web_callbacks=data.web_callbacks,
        )
        return doomed, fates

    def _remove_files(
        self,
        recordings: Sequence[store.StoredAudio],
        voicemails: Sequence[store.StoredAudio],
        dry_run: bool,
    ) -> dict[str, FileFate]:
        """Blocking: each row's file, by the row's id (recording and voicemail names are
        different Asterisk recordings, so they never share an id)."""
        fates = {}
        for rows, directory in (
            (recordings, self.recording_directory),
            (voicemails, self.voicemail_directory),
        ):
            for row in rows:
                fates[row.id] = _remove(row, directory, dry_run)
        return fates


def _remove(row: store.StoredAudio, directory: Path | None, dry_run: bool) -> FileFate:
    if directory is None:  # no folder configured: nothing is known to be safe to delete
        extra = {"file": row.file, "error": "no folder is configured for it"}
        log.warning("retention.file_kept", extra=extra)
        return FileFate.KEPT
    return remove_audio(row.file, directory, dry_run=dry_run)


def _counted(data: store.CallersData, doomed: store.Doomed) -> store.Deleted:
    """What ``delete_callers_data`` would delete (a dry run)."""
    return store.Deleted(
        calls=len(doomed.calls),
        call_legs=sum(data.calls[c] for c in doomed.calls),
        recordings=len(doomed.recordings),
        voicemails=len(doomed.voicemails),
        callbacks=len(doomed.callbacks),
        web_callbacks=len(doomed.web_callbacks),
    )


def _audit(erasure: Erasure, by: str, via: str) -> None:
    """The audit line: a warning, so no log level drops it."""
    event = "privacy.erase_dry_run" if erasure.dry_run else "privacy.erased"
    extra = {
        "via": via,
        "by": by,
        "number": erasure.number,
        **asdict(erasure.deleted),
        "files": erasure.files,
        "files_kept": erasure.files_kept,
        "open_callbacks": erasure.open_callbacks,
        "spooled": erasure.spooled.total,
        "crm_customer": erasure.crm_customer,
    }
    log.warning(event, extra=extra)
