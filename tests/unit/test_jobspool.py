"""Tier 1: where a recording is filed, what is refused as a file name, and a job the
full disk refused."""

from __future__ import annotations

import errno
import logging
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from switchboard.jobspool import JobSpool, audio_path, wav_seconds
from tests.fake_ari import silent_wav

NOV = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_a_recording_is_filed_by_year_and_month() -> None:
    path = audio_path(Path("/rec"), "1764064800.7-rec3", NOV)
    assert path == Path("/rec/2026/11/1764064800.7-rec3.wav")


@pytest.mark.parametrize("name", ["", "../etc/passwd", "a/b", ".hidden", "/abs"])
def test_a_name_that_is_not_a_plain_file_name_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="not a plain file name"):
        audio_path(Path("/rec"), name, NOV)


def test_wav_seconds_reads_the_length_and_says_zero_for_anything_else() -> None:
    assert wav_seconds(silent_wav(2.5)) == 2.5
    assert wav_seconds(b"not a wav") == 0.0


@dataclass(frozen=True, slots=True)
class Note:
    id: str
    stage: str = "work"
    attempts: int = 0
    next_at: float = 0.0
    error: str = ""


class FullDisk:
    """The spool's writes fail with ENOSPC while `full`."""

    def __init__(self, spool: JobSpool[Note]) -> None:
        self.full = True
        self._write = spool._spool.write
        spool._spool.write = self.write  # type: ignore[method-assign]

    def write(self, name: str, data: bytes) -> Path:
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self._write(name, data)


async def test_a_job_the_full_disk_refused_is_held_and_spooled_once_there_is_room(
    tmp_path: Path,
) -> None:
    done: list[str] = []

    async def step(job: Note) -> Note:
        done.append(job.id)
        return replace(job, stage="done")

    spool = JobSpool(
        tmp_path,
        Note,
        step,
        retry_seconds=1.0,
        clock=time.monotonic,
        log=logging.getLogger("test"),
        what="note",
    )
    disk = FullDisk(spool)
    with pytest.raises(OSError, match="No space"):
        await spool.put(Note("vm1"))  # the caller logs that it could not be spooled
    assert [job.id for job in spool.pending()] == ["vm1"]  # held, not lost
    assert await spool.flush() is not None  # still full: tried again soon
    assert done == []
    disk.full = False
    assert await spool.flush() is None
    assert done == ["vm1"]
    assert spool.pending() == []
    assert not spool.path("vm1").exists()  # written, worked on, removed
