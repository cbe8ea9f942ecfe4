"""Tier 2: recorded calls, with the fake ARI and real PostgreSQL. A flow that records
has its bridge recorded once the call is connected; when the call ends the WAV is
downloaded (retried while Asterisk or PostgreSQL is away), kept under the
configured directory as YYYY/MM/<name>.wav, Asterisk's copy deleted after ours is
noted, and the call's row names the recording whose row says where the file is."""

from __future__ import annotations

import asyncio
import contextlib
import time
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from switchboard.ari.client import AriClient
from switchboard.config import (
    AriConfig,
    Config,
    DaemonConfig,
    DatabaseConfig,
    FlowsConfig,
    RecordingConfig,
)
from switchboard.db import Database, create_pool, upgrade
from switchboard.engine.commands import KeepCallRecording
from switchboard.recording import RecordingKeeper
from tests.adapter.test_call_log import SwitchableDatabase
from tests.daemonkit import running_daemon
from tests.fake_ari import PASSWORD, USER, FakeAri, silent_wav
from tests.pgkit import DATABASE_URL, fresh_schema

REPO = Path(__file__).resolve().parents[2]
RECORDED = """\
languages: [en]
entry: {"74951234567": agent}
nodes:
  agent: {kind: route, endpoint: PJSIP/agent100, record: true, on_fail: bye}
  bye: {kind: hangup}
"""
STARTED = "2026-11-28T12:00:00+03:00"


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with fresh_schema("rec") as name:
        yield name


@contextlib.asynccontextmanager
async def daemon(fake: FakeAri, tmp_path: Path, schema: str) -> AsyncIterator[None]:
    (tmp_path / "flow.yaml").write_text(RECORDED)
    config = Config(
        ari=AriConfig(url=fake.url, username=USER, password=PASSWORD),
        flows=FlowsConfig(files=(tmp_path / "flow.yaml",), prompts=REPO / "prompts",
                          watch_interval=0),
        daemon=DaemonConfig(drain_timeout=1, state_directory=tmp_path / "state"),
        database=DatabaseConfig(DATABASE_URL, schema),
        recording=RecordingConfig(tmp_path / "recordings", retry_seconds=0.2),
    )  # fmt: skip
    async with running_daemon(fake, config):
        yield


async def fetch(schema: str, query: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": schema})
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.05)


async def linked_row(schema: str, call_id: str) -> asyncpg.Record | None:
    rows = await fetch(
        schema,
        "SELECT c.recording, r.* FROM calls c JOIN recordings r ON r.id = c.recording"
        " WHERE c.id = $1",
        call_id,
    )
    return rows[0] if rows else None


async def test_a_recorded_call_is_stored_retried_once_and_linked_from_the_call_row(
    fake: FakeAri, tmp_path: Path, schema: str
) -> None:
    fake.fail("GET", r"/recordings/stored/.*/file", 503, "busy", times=1)
    async with daemon(fake, tmp_path, schema):
        caller = fake.new_channel()
        await fake.stasis_start(caller)
        record = await fake.wait_request("POST", rf"/bridges/{caller}-bridge/record")
        name = record.query["name"]
        assert name.startswith(f"{caller}-rec")
        assert (record.query["format"], record.query["beep"]) == ("wav", "false")
        spooled = list((tmp_path / "recordings" / "spool").glob("*.json"))
        assert [p.stem for p in spooled] == [name]  # noted before Asterisk was asked
        await asyncio.sleep(0.6)  # they talk
        await fake.caller_hangs_up(caller)

        row = None

        async def linked() -> bool:
            nonlocal row
            row = await linked_row(schema, caller)
            return row is not None

        await eventually(linked)
    assert row is not None
    assert row["recording"] == name
    assert row["call_id"] == caller
    path = Path(row["file"])
    assert path.parent.parent.parent == tmp_path / "recordings"  # YYYY/MM/<name>.wav
    assert path.name == f"{name}.wav"
    assert path.parent.name.isdigit()
    with wave.open(str(path)) as wav:
        seconds = wav.getnframes() / wav.getframerate()
    assert 0.5 <= seconds < 5
    assert abs(row["duration_s"] - seconds) < 0.05
    assert row["size_bytes"] == path.stat().st_size  # noqa: ASYNC240 - a test's check
    downloads = fake.requested("GET", rf"/recordings/stored/{name}/file")
    deletes = fake.requested("DELETE", rf"/recordings/stored/{name}")
    assert len(downloads) == 2  # refused once, then fetched
    assert len(deletes) == 1
    assert deletes[0].at > downloads[-1].at
    assert name not in fake.stored_recordings  # Asterisk's copy is gone ...
    assert not list((tmp_path / "recordings" / "spool").glob("*"))  # ... and the job done


async def test_a_refused_recording_leaves_the_call_connected_and_unrecorded(
    fake: FakeAri, tmp_path: Path, schema: str
) -> None:
    fake.fail("POST", r"/bridges/.*/record", 500, "Internal Server Error")
    async with daemon(fake, tmp_path, schema):
        caller = fake.new_channel()
        await fake.stasis_start(caller)
        await fake.wait_request("POST", rf"/bridges/{caller}-bridge/record")
        await asyncio.sleep(0.3)
        # Nobody was hung up: the caller and agent100 are still talking.
        assert not fake.requested("DELETE", r"/channels/[^/]*")
        assert fake.bridges[f"{caller}-bridge"]["channels"] == [caller, f"{caller}-leg1"]
        assert not list((tmp_path / "recordings" / "spool").glob("*.json"))
        await fake.caller_hangs_up(caller)

        async def logged() -> bool:
            return bool(await fetch(schema, "SELECT 1 FROM calls WHERE id = $1", caller))

        await eventually(logged)
    (call,) = await fetch(schema, "SELECT outcome, recording FROM calls WHERE id = $1", caller)
    assert (call["outcome"], call["recording"]) == ("answered", None)
    assert await fetch(schema, "SELECT * FROM recordings") == []


# -- the keeper alone: Asterisk and PostgreSQL away for a while ---------------------------
@dataclass
class Clock:
    now: float = 1_000.0

    def __call__(self) -> float:
        return self.now


@contextlib.asynccontextmanager
async def keeper_on(
    fake: FakeAri, tmp_path: Path, database: Database | None, clock: Clock
) -> AsyncIterator[RecordingKeeper]:
    async with aiohttp.ClientSession() as session:
        client = AriClient(session, fake.url, USER, PASSWORD)
        yield RecordingKeeper(
            RecordingConfig(tmp_path / "recordings", retry_seconds=5),
            client.live_recording_state,
            client.stored_recording_file,
            client.delete_stored_recording,
            database,
            clock,
        )


async def migrated(schema: str) -> SwitchableDatabase:
    pool = await create_pool(DATABASE_URL, schema)
    try:
        await upgrade(pool)
    finally:
        await pool.close()
    return SwitchableDatabase(DATABASE_URL, schema)


async def test_nothing_is_lost_while_asterisk_and_postgresql_are_away(
    fake: FakeAri, tmp_path: Path, schema: str
) -> None:
    clock = Clock()
    database = await migrated(schema)
    fake.live_recordings["r1"] = {"name": "r1", "state": "recording", "target_uri": "bridge:b"}
    try:
        async with keeper_on(fake, tmp_path, database, clock) as keeper:
            await keeper.keep(KeepCallRecording("r1", "c1", STARTED, "recording"))
            assert await keeper.flush() == clock.now + 60  # not due: looked at in a minute
            await keeper.keep(KeepCallRecording("r1", "c1", STARTED, "ended"))
            assert await keeper.flush() == clock.now + 1  # the call ended; still being written
            del fake.live_recordings["r1"]
            fake.stored_recordings["r1"] = silent_wav(2.0)
            fake.fail("GET", r"/recordings/stored/r1/file", 502, "bad gateway", times=2)
            clock.now += 1
            assert await keeper.flush() == clock.now + 5  # Asterisk refused: retry in 5 s
            clock.now += 5
            assert await keeper.flush() == clock.now + 10  # again: the wait doubles
            database.down = True
            clock.now += 10
            await keeper.flush()  # stored and released; the row waits for PostgreSQL
            (job,) = keeper.pending()
            assert (job.stage, job.attempts) == ("index", 1)
            assert job.error.startswith("saving the row")
            assert "r1" not in fake.stored_recordings  # ours is safe: theirs is gone
            database.down = False
            clock.now = job.next_at
            assert await keeper.flush() is None
            assert keeper.pending() == []
        (row,) = await fetch(schema, "SELECT * FROM recordings WHERE id = 'r1'")
        assert row["call_id"] == "c1"
        assert row["duration_s"] == 2.0
        assert Path(row["file"]) == tmp_path / "recordings" / "2026" / "11" / "r1.wav"
        assert Path(row["file"]).read_bytes() == silent_wav(2.0)  # noqa: ASYNC240 - a test's check
    finally:
        await database.close()


async def test_a_restarted_daemon_finishes_a_recording_the_last_one_noted(
    fake: FakeAri, tmp_path: Path
) -> None:
    clock = Clock()
    async with keeper_on(fake, tmp_path, None, clock) as first:
        await first.keep(KeepCallRecording("r2", "c2", STARTED, "recording"))
    # The daemon stopped mid-call; the call ended meanwhile and Asterisk has the file.
    fake.stored_recordings["r2"] = silent_wav(1.0)
    clock.now += 60
    async with keeper_on(fake, tmp_path, None, clock) as second:
        assert await second.flush() is None
        assert second.pending() == []
    assert (tmp_path / "recordings" / "2026" / "11" / "r2.wav").read_bytes() == silent_wav(1.0)
    assert fake.requested("DELETE", "/recordings/stored/r2")


async def test_a_cancelled_recording_is_forgotten(fake: FakeAri, tmp_path: Path) -> None:
    async with keeper_on(fake, tmp_path, None, Clock()) as keeper:
        await keeper.keep(KeepCallRecording("r3", "c3", "", "recording"))
        await keeper.keep(KeepCallRecording("r3", "c3", "", "cancel"))
        assert keeper.pending() == []
        assert await keeper.flush() is None
    assert not fake.requested("GET", r"/recordings/.*")
