"""Tier 2: a finished recording becomes a stored file, a row in real PostgreSQL and
an email with the WAV attached (a local SMTP sink). Asterisk's recordings are a
dict here; what matters is that nothing is lost when a step fails."""

from __future__ import annotations

import io
import logging
import math
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

import asyncpg
import pytest

from labkit.smtp import SmtpSink, attachments, smtp_sink
from switchboard.ari.client import AriError, AriUnavailable
from switchboard.config import Mailbox, SmtpConfig, VoicemailConfig
from switchboard.db import Database
from switchboard.engine.commands import KeepVoicemail
from switchboard.voicemail import MISSING_ATTEMPTS, VoicemailKeeper, wav_seconds
from tests.pgkit import DATABASE_URL, fresh_schema

DEAD_PORT = 9  # "discard": nothing listens there on loopback


def a_wav(seconds: float = 1.5) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        frames = int(8000 * seconds)
        samples = (int(8000 * math.sin(2 * math.pi * 440 * n / 8000)) for n in range(frames))
        wav.writeframes(b"".join(s.to_bytes(2, "little", signed=True) for s in samples))
    return out.getvalue()


@dataclass
class FakeAsteriskRecordings:
    stored: dict[str, bytes] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    down: bool = False

    async def fetch(self, name: str) -> bytes:
        if self.down:
            raise AriUnavailable("ClientConnectorError: connection refused")
        if name not in self.stored:
            raise AriError(404, '{"message":"Recording not found"}', "GET", f"/recordings/{name}")
        return self.stored[name]

    async def delete(self, name: str) -> None:
        self.stored.pop(name, None)
        self.deleted.append(name)


@dataclass
class Clock:
    now: float = 1_000.0

    def __call__(self) -> float:
        return self.now


KEEP = KeepVoicemail(
    "1764064800.7-vm4", "100", "1764064800.7", "+79161234567", "74951234570",
    "2026-11-28T12:00:00+03:00",
)  # fmt: skip


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with fresh_schema("vm") as name:
        yield name


@pytest.fixture
async def sink() -> AsyncIterator[SmtpSink]:
    async with smtp_sink() as server:
        yield server


def keeper_for(
    tmp_path: Path,
    asterisk: FakeAsteriskRecordings,
    database: Database | None,
    smtp_port: int,
    clock: Clock | None = None,
) -> VoicemailKeeper:
    config = VoicemailConfig(
        directory=tmp_path / "voicemail",
        sender="Switchboard <switchboard@example.com>",
        retry_seconds=5,
        mailboxes=MappingProxyType(
            {"100": Mailbox(("office@example.com",), "Office"), "200": Mailbox()}
        ),
    )
    smtp = SmtpConfig(host="127.0.0.1", port=smtp_port, timeout=5)
    return VoicemailKeeper(
        config, smtp, asterisk.fetch, asterisk.delete, database, clock or Clock()
    )


async def row(schema: str, voicemail_id: str) -> asyncpg.Record | None:
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": schema})
    try:
        return await conn.fetchrow("SELECT * FROM voicemails WHERE id = $1", voicemail_id)
    finally:
        await conn.close()


async def test_a_voicemail_is_stored_indexed_and_emailed_with_the_wav(
    tmp_path: Path, schema: str, sink: SmtpSink
) -> None:
    audio = a_wav(1.5)
    asterisk = FakeAsteriskRecordings({KEEP.recording: audio})
    database = Database(DATABASE_URL, schema)
    keeper = keeper_for(tmp_path, asterisk, database, sink.port)
    await keeper.keep(KEEP)
    assert await keeper.flush() is None  # nothing left to do
    await database.close()

    saved = await row(schema, KEEP.recording)
    assert saved is not None
    assert (saved["mailbox"], saved["caller"], saved["dialed"]) == (
        "100",
        "+79161234567",
        "74951234570",
    )
    assert saved["duration_s"] == pytest.approx(1.5)
    assert saved["emailed_at"] is not None
    assert saved["emailed_to"] == "office@example.com"
    assert Path(saved["file"]).read_bytes() == audio  # noqa: ASYNC240 - a test's check
    assert Path(saved["file"]).is_relative_to(tmp_path / "voicemail")
    assert asterisk.deleted == [KEEP.recording]  # Asterisk's copy is removed once ours is safe
    (mail,) = sink.messages
    assert mail["To"] == "office@example.com"
    assert mail["Subject"] == "Voicemail from +79161234567 (0:02) for Office"
    assert attachments(mail) == [(f"voicemail-{KEEP.recording}.wav", "audio/wav", audio)]
    assert keeper.pending() == []


async def test_when_smtp_is_down_the_voicemail_is_kept_and_sent_when_it_returns(
    tmp_path: Path, schema: str, sink: SmtpSink
) -> None:
    asterisk = FakeAsteriskRecordings({KEEP.recording: a_wav()})
    database, clock = Database(DATABASE_URL, schema), Clock()
    keeper = keeper_for(tmp_path, asterisk, database, DEAD_PORT, clock)
    await keeper.keep(KEEP)
    due = await keeper.flush()
    assert due == clock.now + 5  # retry_seconds
    (job,) = keeper.pending()
    assert (job.stage, job.attempts) == ("mail", 1)
    saved = await row(schema, KEEP.recording)
    assert saved is not None
    assert saved["emailed_at"] is None
    assert saved["email_attempts"] == 1
    assert Path(saved["file"]).exists()  # noqa: ASYNC240 - a test's check

    clock.now += 4  # not due yet: nothing is tried
    assert await keeper.flush() == due
    clock.now += 1
    await keeper.flush()  # still down: the wait doubles
    assert keeper.pending()[0].next_at == clock.now + 10

    keeper.smtp = SmtpConfig(host="127.0.0.1", port=sink.port, timeout=5)  # it is back
    clock.now += 10
    assert await keeper.flush() is None
    assert len(sink.messages) == 1
    saved = await row(schema, KEEP.recording)
    assert saved is not None
    assert saved["emailed_at"] is not None
    await database.close()


async def test_a_mail_server_that_refuses_for_now_is_retried(
    tmp_path: Path, schema: str, sink: SmtpSink
) -> None:
    sink.refuse = True
    asterisk = FakeAsteriskRecordings({KEEP.recording: a_wav()})
    clock = Clock()
    database = Database(DATABASE_URL, schema)
    keeper = keeper_for(tmp_path, asterisk, database, sink.port, clock)
    await keeper.keep(KEEP)
    await keeper.flush()
    assert keeper.pending()[0].error.startswith("emailing office@example.com")
    sink.refuse = False
    clock.now += 5
    await keeper.flush()
    assert len(sink.messages) == 1
    assert keeper.pending() == []
    await database.close()


async def test_when_postgresql_is_down_the_file_is_kept_and_the_row_written_later(
    tmp_path: Path, schema: str, sink: SmtpSink
) -> None:
    asterisk = FakeAsteriskRecordings({KEEP.recording: a_wav()})
    clock = Clock()
    down = Database("postgresql://postgres@127.0.0.1:1/test", schema)
    keeper = keeper_for(tmp_path, asterisk, down, sink.port, clock)
    await keeper.keep(KEEP)
    await keeper.flush()
    (job,) = keeper.pending()
    assert job.stage == "index"
    assert Path(job.file).exists()  # noqa: ASYNC240 - the audio is safe on our disk already
    assert sink.messages == []  # mailed only once the row exists

    keeper.database = Database(DATABASE_URL, schema)  # PostgreSQL is back
    clock.now += 5
    assert await keeper.flush() is None
    saved = await row(schema, KEEP.recording)
    assert saved is not None
    assert saved["emailed_at"] is not None
    assert len(sink.messages) == 1
    await keeper.database.close()


async def test_a_restarted_daemon_finishes_what_the_last_one_left_in_the_spool(
    tmp_path: Path, schema: str, sink: SmtpSink
) -> None:
    asterisk = FakeAsteriskRecordings({KEEP.recording: a_wav()}, down=True)
    first = keeper_for(tmp_path, asterisk, None, sink.port)
    await first.keep(KEEP)
    await first.flush()  # Asterisk is unreachable: the job waits in the spool
    assert first.pending()[0].stage == "fetch"

    asterisk.down = False
    database = Database(DATABASE_URL, schema)
    second = keeper_for(tmp_path, asterisk, database, sink.port, Clock(now=10_000))
    assert await second.flush() is None
    assert await row(schema, KEEP.recording) is not None
    assert len(sink.messages) == 1
    await database.close()


async def test_a_recording_asterisk_never_had_is_given_up_after_some_tries(
    tmp_path: Path, sink: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    keeper = keeper_for(tmp_path, FakeAsteriskRecordings(), None, sink.port, clock)
    await keeper.keep(KEEP)
    for _ in range(MISSING_ATTEMPTS):
        await keeper.flush()
        clock.now += 1_000
    assert keeper.pending() == []
    assert any(r.message == "voicemail.missing" for r in caplog.records)
    assert sink.messages == []


async def test_a_mailbox_without_an_address_keeps_the_message_without_email(
    tmp_path: Path, sink: SmtpSink
) -> None:
    asterisk = FakeAsteriskRecordings({"r-vm1": a_wav()})
    keeper = keeper_for(tmp_path, asterisk, None, sink.port)
    await keeper.keep(KeepVoicemail("r-vm1", "200", "r", "", "", ""))
    assert await keeper.flush() is None
    assert sink.messages == []
    assert list((tmp_path / "voicemail").rglob("r-vm1.wav"))


async def test_an_unreadable_spool_file_is_set_aside_not_deleted(
    tmp_path: Path, sink: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    keeper = keeper_for(tmp_path, FakeAsteriskRecordings(), None, sink.port)
    keeper.spool.mkdir(parents=True)
    (keeper.spool / "broken.json").write_text("{not json")
    assert await keeper.flush() is None
    assert (keeper.spool / "broken.bad").read_text() == "{not json"


def test_wav_length_is_read_from_the_header() -> None:
    assert wav_seconds(a_wav(2.0)) == 2.0
    assert wav_seconds(b"not a wav") == 0.0


async def test_a_message_still_being_recorded_is_kept_if_the_daemon_stops_before_it_ends(
    tmp_path: Path, sink: SmtpSink
) -> None:
    """The engine notes a recording when it starts; if no 'complete' ever comes (the
    daemon stopped), the next daemon fetches it once the recording must be over."""
    asterisk = FakeAsteriskRecordings({KEEP.recording: a_wav()})
    clock = Clock()
    first = keeper_for(tmp_path, asterisk, None, sink.port, clock)
    await first.keep(replace(KEEP, stage="recording", wait_s=240))
    assert await first.flush() == clock.now + 240  # not before it can be over
    assert sink.messages == []
    later = keeper_for(tmp_path, asterisk, None, sink.port, Clock(now=clock.now + 241))
    assert await later.flush() is None
    assert len(sink.messages) == 1


async def test_a_killed_daemons_message_is_fetched_once_its_call_is_settled(
    tmp_path: Path, sink: SmtpSink
) -> None:
    """After a SIGKILL the next daemon finds the caller gone: the recording has
    ended with the call, so it is fetched then, not 240 s later."""
    asterisk = FakeAsteriskRecordings({KEEP.recording: a_wav()})
    clock = Clock()
    first = keeper_for(tmp_path, asterisk, None, sink.port, clock)
    await first.keep(replace(KEEP, stage="recording", wait_s=240))
    later = keeper_for(tmp_path, asterisk, None, sink.port, Clock(now=clock.now + 5))
    await later.calls_left({"some-other-call"})
    assert await later.flush() == clock.now + 240  # (another call's end: still waiting)
    await later.calls_left({"some-other-call", KEEP.call_id})
    assert await later.flush() is None
    assert len(sink.messages) == 1


async def test_a_completed_message_is_worked_on_at_once_and_a_cancelled_one_dropped(
    tmp_path: Path, sink: SmtpSink
) -> None:
    asterisk = FakeAsteriskRecordings({KEEP.recording: a_wav()})
    keeper = keeper_for(tmp_path, asterisk, None, sink.port)
    await keeper.keep(replace(KEEP, stage="recording", wait_s=240))
    await keeper.keep(KEEP)  # RecordingFinished: complete
    assert await keeper.flush() is None
    assert len(sink.messages) == 1
    other = replace(KEEP, recording="r-vm9")
    await keeper.keep(replace(other, stage="recording", wait_s=240))
    await keeper.keep(replace(other, stage="cancel"))  # the recorder failed
    assert keeper.pending() == []


async def test_one_broken_job_does_not_stop_the_others(tmp_path: Path, sink: SmtpSink) -> None:
    asterisk = FakeAsteriskRecordings({"a-vm1": a_wav(), "b-vm1": a_wav()})
    clock = Clock()
    keeper = keeper_for(tmp_path, asterisk, None, sink.port, clock)
    sink.refuse = True
    for name in ("a-vm1", "b-vm1"):
        await keeper.keep(replace(KEEP, recording=name))
    await keeper.flush()  # both stored, mail refused: waiting at "mail"
    stored = {job.id: Path(job.file) for job in keeper.pending()}
    stored["a-vm1"].unlink()  # someone deleted a's audio: attaching it fails
    sink.refuse = False
    clock.now += 100
    await keeper.flush()
    assert [m["Subject"] for m in sink.messages] == [
        "Voicemail from +79161234567 (0:02) for Office"
    ]  # b went out; a waits, with what went wrong
    (left,) = keeper.pending()
    assert left.id == "a-vm1"
    assert "FileNotFoundError" in left.error


async def test_a_caller_id_with_a_line_break_is_mailed_with_a_clean_one_line_subject(
    tmp_path: Path, schema: str, sink: SmtpSink
) -> None:
    """A job spooled with the caller ID as the calling side sent it (before the ARI
    parser cleaned it): no header is injected, and the mail goes out, not retried
    for ever (the email library refuses a header with a line break); PostgreSQL,
    which refuses a NUL in text, gets the row too."""
    hostile = replace(KEEP, caller="+79161234567\x00\r\nBcc: x@evil")
    asterisk = FakeAsteriskRecordings({KEEP.recording: a_wav()})
    database = Database(DATABASE_URL, schema)
    keeper = keeper_for(tmp_path, asterisk, database, sink.port)
    await keeper.keep(hostile)
    try:
        assert await keeper.flush() is None
    finally:
        await database.close()
    (mail,) = sink.messages
    assert mail["Subject"] == "Voicemail from +79161234567\ufffdBcc: x@evil (0:02) for Office"
    assert mail["Bcc"] is None
    assert sorted(mail.keys()) == ["Content-Type", "Date", "From", "MIME-Version",
                                   "Message-ID", "Subject", "To"]  # fmt: skip
    saved = await row(schema, KEEP.recording)
    assert saved is not None
    assert (saved["caller"], saved["emailed_to"]) == (
        "+79161234567\ufffdBcc: x@evil",
        "office@example.com",
    )
