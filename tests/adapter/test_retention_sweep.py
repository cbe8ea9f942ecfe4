"""Tier 2, real PostgreSQL and real files: the retention sweeper deletes what is older
than keep_days (the file, then its row) and nothing the daemon still works on."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Collection
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from switchboard.calllog import CallLog
from switchboard.db import Database
from switchboard.retention import Sweeper, Swept, store
from switchboard.retention.sweeper import Archive
from tests.adapter.test_stats import logged
from tests.pgkit import DATABASE_URL, fresh_schema

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=400)  # older than every keep_days below
YOUNG = NOW - timedelta(days=10)  # younger than every keep_days below


@dataclass
class World:
    database: Database
    pool: asyncpg.Pool
    voicemail: Path  # voicemail.directory
    recording: Path  # recording.directory
    spooled: set[str]  # ids the keepers still hold (both kinds, for the test)

    def sweeper(self, **changes: Any) -> Sweeper:
        sweeper = Sweeper(
            self.database,
            lambda: NOW,
            calls_days=365,
            voicemails=Archive(self.voicemail, 90, self.held, emailing=("100",)),
            recordings=Archive(self.recording, 30, self.held),
            batch=2,  # several batches, even in a small test
        )
        return replace(sweeper, **changes)

    def held(self) -> Collection[str]:
        return set(self.spooled)

    def audio(self, directory: Path, name: str) -> Path:
        path = directory / "2025" / "10" / f"{name}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"RIFF....WAVE " + name.encode())
        return path

    async def call(self, call_id: str, started: datetime, *, recording: str = "") -> None:
        await self.pool.execute(
            "INSERT INTO calls (id, dialed, caller, flow, flow_version, started_at, ended_at,"
            " outcome, path, recording) VALUES ($1, '+74951234567', '+79161234567', 'main',"
            " 'v1', $2, $2::timestamptz + interval '3 minutes', 'answered', '[]', $3)",
            call_id, started, recording or None,
        )  # fmt: skip
        for seq in range(2):
            await self.pool.execute(
                "INSERT INTO call_legs (call_id, seq, target, result) VALUES ($1, $2, $3, 'x')",
                call_id, seq, f"PJSIP/10{seq}",
            )  # fmt: skip

    async def recorded(self, name: str, call_id: str, stored: datetime, file: Path) -> None:
        await self.pool.execute(
            "INSERT INTO recordings (id, call_id, stored_at, duration_s, file, size_bytes)"
            " VALUES ($1, $2, $3, 1.0, $4, 10)",
            name, call_id, stored, str(file),
        )  # fmt: skip

    async def voicemail_left(
        self, name: str, recorded: datetime, file: Path, *, mailbox: str = "100",
        emailed: bool = True,
    ) -> None:  # fmt: skip
        await self.pool.execute(
            "INSERT INTO voicemails (id, call_id, mailbox, caller, recorded_at, duration_s,"
            " file, size_bytes, emailed_at) VALUES ($1, $1, $2, '+79161234567', $3, 1.0, $4,"
            " 10, $5)",
            name, mailbox, recorded, str(file), recorded if emailed else None,
        )  # fmt: skip

    async def ids(self, table: str) -> list[str]:
        return [r[0] for r in await self.pool.fetch(f"SELECT id FROM {table} ORDER BY id")]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with fresh_schema("retain") as schema:
        database = Database(DATABASE_URL, schema)
        try:
            pool = await database.pool()
            yield World(database, pool, tmp_path / "voicemail", tmp_path / "recordings", set())
        finally:
            await database.close()


async def test_old_rows_and_their_files_go_young_ones_stay(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    for n in range(3):  # more than a batch of each
        await world.call(f"old{n}", OLD)
        file = world.audio(world.recording, f"old{n}-rec1")
        await world.recorded(f"old{n}-rec1", f"old{n}", OLD, file)
        await world.voicemail_left(f"vm-old{n}", OLD, world.audio(world.voicemail, f"vm-old{n}"))
    await world.call("young", YOUNG, recording="young-rec1")
    young_recording = world.audio(world.recording, "young-rec1")
    await world.recorded("young-rec1", "young", YOUNG, young_recording)
    young_voicemail = world.audio(world.voicemail, "vm-young")
    await world.voicemail_left("vm-young", YOUNG, young_voicemail)

    with caplog.at_level(logging.INFO, "switchboard.retention"):
        swept = await world.sweeper().sweep()

    assert swept == Swept(calls=3, call_legs=6, voicemails=3, recordings=3, files_deleted=6)
    assert await world.ids("calls") == ["young"]
    assert await world.pool.fetchval("SELECT count(*) FROM call_legs") == 2
    assert await world.ids("recordings") == ["young-rec1"]
    assert await world.ids("voicemails") == ["vm-young"]
    left = sorted(p.name for p in world.voicemail.rglob("*.wav"))
    left += sorted(p.name for p in world.recording.rglob("*.wav"))
    assert left == ["vm-young.wav", "young-rec1.wav"]
    [line] = [r for r in caplog.records if r.msg == "retention.swept"]
    assert {k: getattr(line, k) for k in asdict(swept)} == asdict(swept)


async def test_each_kind_has_its_own_age_and_a_call_kept_longer_loses_its_recording_link(
    world: World,
) -> None:
    middle = NOW - timedelta(days=60)  # older than recordings' 30 days, younger than the rest
    await world.call("c1", middle, recording="c1-rec1")
    await world.recorded("c1-rec1", "c1", middle, world.audio(world.recording, "c1-rec1"))
    await world.voicemail_left("vm1", middle, world.audio(world.voicemail, "vm1"))

    swept = await world.sweeper().sweep()

    assert (swept.calls, swept.recordings, swept.voicemails) == (0, 1, 0)
    assert await world.pool.fetchval("SELECT recording FROM calls WHERE id = 'c1'") is None
    assert await world.ids("voicemails") == ["vm1"]


async def test_a_kind_without_keep_days_is_kept_for_ever(world: World) -> None:
    await world.call("c1", OLD)
    await world.voicemail_left("vm1", OLD, world.audio(world.voicemail, "vm1"))
    swept = await world.sweeper(calls_days=None, voicemails=None, recordings=None).sweep()
    assert swept == Swept()
    assert await world.ids("calls") == ["c1"]
    assert await world.ids("voicemails") == ["vm1"]


async def test_what_the_keepers_still_hold_is_kept_even_when_old(world: World) -> None:
    """A voicemail not yet emailed (still in the keeper's spool, or not emailed to a
    mailbox that emails) and a recording still spooled stay, files and rows."""
    pending = world.audio(world.voicemail, "vm-pending")
    await world.voicemail_left("vm-pending", OLD, pending, emailed=False)
    unsent = world.audio(world.voicemail, "vm-unsent")  # its spool file was set aside
    await world.voicemail_left("vm-unsent", OLD, unsent, emailed=False)
    no_email = world.audio(world.voicemail, "vm-no-email")  # mailbox 200 emails nobody
    await world.voicemail_left("vm-no-email", OLD, no_email, mailbox="200", emailed=False)
    spooled_recording = world.audio(world.recording, "c1-rec1")
    await world.recorded("c1-rec1", "c1", OLD, spooled_recording)
    world.spooled |= {"vm-pending", "c1-rec1"}

    swept = await world.sweeper().sweep()

    assert (swept.voicemails, swept.recordings) == (1, 0)
    assert await world.ids("voicemails") == ["vm-pending", "vm-unsent"]
    assert await world.ids("recordings") == ["c1-rec1"]
    assert [p.exists() for p in (pending, unsent, spooled_recording)] == [True, True, True]
    assert not no_email.exists()


async def test_a_file_that_cannot_be_deleted_keeps_its_row_and_the_sweep_goes_past_it(
    world: World, tmp_path: Path
) -> None:
    """The file first, then the row: a file the system refuses to delete (here a folder
    where the WAV should be) or one outside recording.directory keeps its row."""
    stuck = world.recording / "2025" / "10" / "a-rec1.wav"
    stuck.mkdir(parents=True)
    await world.recorded("a-rec1", "a", OLD, stuck)
    outside = tmp_path / "elsewhere.wav"
    outside.write_bytes(b"not ours")
    await world.recorded("b-rec1", "b", OLD, outside)
    for name in ("c-rec1", "d-rec1", "e-rec1"):  # after them, in later batches
        await world.recorded(name, name[0], OLD, world.audio(world.recording, name))

    swept = await world.sweeper().sweep()

    assert (swept.recordings, swept.files_deleted, swept.files_kept) == (3, 3, 2)
    assert await world.ids("recordings") == ["a-rec1", "b-rec1"]
    assert stuck.is_dir()
    assert outside.exists()


async def test_a_file_already_gone_lets_its_row_go(world: World) -> None:
    await world.voicemail_left("vm1", OLD, world.voicemail / "2025" / "10" / "vm1.wav")
    swept = await world.sweeper().sweep()
    assert (swept.voicemails, swept.files_missing) == (1, 1)
    assert await world.ids("voicemails") == []


async def test_calls_still_in_the_call_log_spool_are_untouched(
    world: World, tmp_path: Path
) -> None:
    """A call that ended while PostgreSQL was away is not in it: the sweep does not see
    it; once written, the next sweep takes it if it is old."""
    log = CallLog(tmp_path / "calls", world.database)
    await log.record(logged("spooled", OLD, outcome="abandoned"))
    await world.sweeper().sweep()
    [spooled] = list((tmp_path / "calls").glob("*.json"))
    assert json.loads(spooled.read_bytes())["id"] == "spooled"
    assert await log.flush() == 1
    assert (await world.sweeper().sweep()).calls == 1


async def test_a_database_outage_is_logged_and_the_next_sweep_tries_again(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    failures: list[str] = []
    twice = asyncio.Event()

    def count_failure() -> None:
        failures.append("db")
        if len(failures) == 2:  # it went on sweeping after the first failure
            twice.set()

    away = Database("postgresql://postgres@127.0.0.1:1/test", "nowhere")
    sweeper = world.sweeper(database=away, first_after=0.0, every=0.01)
    sweeper.on_db_error = count_failure
    task = asyncio.create_task(sweeper.run())
    try:
        async with asyncio.timeout(30):
            await twice.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    failed = [r for r in caplog.records if r.msg == "retention.sweep_failed"]
    assert len(failed) >= 2
    assert "retention.swept" not in [r.msg for r in caplog.records]


async def test_an_unreadable_spool_deletes_none_of_its_kind(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    def unreadable() -> Collection[str]:
        raise PermissionError("spool: permission denied")

    await world.call("c1", OLD)
    await world.voicemail_left("vm1", OLD, world.audio(world.voicemail, "vm1"))
    archive = Archive(world.voicemail, 90, unreadable, emailing=("100",))
    swept = await world.sweeper(voicemails=archive).sweep()
    assert (swept.voicemails, swept.calls) == (0, 1)  # the other kinds go on
    assert await world.ids("voicemails") == ["vm1"]
    assert "retention.spool_unreadable" in [r.msg for r in caplog.records]


async def test_an_erasure_and_a_sweep_meeting_on_a_call_wait_instead_of_deadlocking(
    world: World,
) -> None:
    """The sweep has locked an old call; an erasure of the same caller comes in between.
    The erasure must wait on the call (locked first), not take its legs and then wait:
    the sweep deleting those legs would then wait on it, and PostgreSQL would abort one."""
    await world.call("c1", OLD)
    async with world.pool.acquire() as erase, world.pool.acquire() as sweep:

        async def erasure() -> tuple[int, int]:
            async with erase.transaction():
                return await store.delete_calls(erase, ["c1"])

        batch = sweep.transaction()
        await batch.start()
        await sweep.execute("SELECT id FROM calls WHERE id = 'c1' FOR UPDATE SKIP LOCKED")
        erasing = asyncio.create_task(erasure())
        async with asyncio.timeout(10):
            while not await world.pool.fetchval(  # noqa: ASYNC110 - PostgreSQL's state
                "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1",
                erase.get_server_pid(),
            ):
                await asyncio.sleep(0.01)
        assert await store.delete_calls(sweep, ["c1"]) == (1, 2)
        await batch.commit()
        assert await erasing == (0, 0)  # it waited, then found nothing left
