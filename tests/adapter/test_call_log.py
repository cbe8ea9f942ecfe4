"""Tier 2, real PostgreSQL: the call log keeps every call, through an outage too.

Calls are spooled on local disk first; the worker writes them to ``calls`` and
``call_legs`` and keeps retrying while the database is away, so every call that
ended during the outage arrives afterwards, once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest

from switchboard import calllog, db
from switchboard.calllog import CallLog, CallRecord, LegRecord, category_of
from switchboard.db import Database
from tests.pgkit import DATABASE_URL, fresh_schema


class SwitchableDatabase(Database):
    """A real database that can be made unreachable (connection refused) for a while."""

    down = False

    async def pool(self) -> asyncpg.Pool:
        if self.down:
            raise ConnectionRefusedError("database down (test)")
        return await super().pool()


@pytest.fixture
async def database() -> AsyncIterator[SwitchableDatabase]:
    async with fresh_schema("calllog") as schema:
        database = SwitchableDatabase(DATABASE_URL, schema)
        try:
            yield database
        finally:
            await database.close()


def call(n: int, *, answered: bool = True) -> CallRecord:
    return CallRecord(
        id=f"call-{n}",
        dialed="74951234570",
        caller="79161234567",
        customer=7 if n % 2 else None,
        flow="seed.yaml",
        flow_version="abc123",
        started_at=f"2026-11-25T12:00:{n:02d}+03:00",
        answered_at=f"2026-11-25T12:00:{n + 5:02d}+03:00" if answered else "",
        ended_at=f"2026-11-25T12:01:{n:02d}+03:00",
        answered_by="PJSIP/101" if answered else "",
        agent="a101" if answered else "",
        outcome="answered" if answered else "abandoned",
        route_result="" if answered else "no_answer",
        path=("when", "greet_open", "office"),
        legs=(LegRecord("PJSIP/100", "answered_elsewhere"), LegRecord("PJSIP/101", "answered")),
    )


async def rows(database: Database, query: str) -> list[asyncpg.Record]:
    pool = await database.pool()
    return list(await pool.fetch(query))


async def test_a_call_is_written_with_its_legs_wait_and_talk_time(
    database: SwitchableDatabase, tmp_path: Path
) -> None:
    log = CallLog(tmp_path / "calls", database)
    await log.record(call(1))
    await log.record(call(2, answered=False))
    assert await log.flush() == 2
    assert list((tmp_path / "calls").glob("*.json")) == []
    found = {r["id"]: r for r in await rows(database, "SELECT * FROM calls")}
    one = found["call-1"]
    assert (one["outcome"], one["answered_by"], one["agent"], one["customer"]) == (
        "answered", "PJSIP/101", "a101", 7,
    )  # fmt: skip
    assert (one["wait_s"], one["talk_s"]) == (5.0, 55.0)
    assert one["path"] == '["when", "greet_open", "office"]'
    two = found["call-2"]
    assert (two["outcome"], two["answered_at"], two["wait_s"], two["talk_s"]) == (
        "abandoned", None, None, None,
    )  # fmt: skip
    legs = await rows(database, "SELECT * FROM call_legs WHERE call_id = 'call-1' ORDER BY seq")
    assert [(r["target"], r["result"]) for r in legs] == [
        ("PJSIP/100", "answered_elsewhere"),
        ("PJSIP/101", "answered"),
    ]
    assert await log.flush() == 0  # nothing twice


# What the code before migration 008 wrote to the spool (legs as pairs, no queue).
OLD_SPOOL_FILE = b"""{"agent": "", "answered_at": "2026-11-25T12:00:09+03:00",
 "answered_by": "+79871234567", "caller": "79161234567", "customer": null,
 "dialed": "74951234570", "ended_at": "2026-11-25T12:01:00+03:00", "flow": "seed.yaml",
 "flow_version": "abc123", "id": "old-1",
 "legs": [["PJSIP/100", "no_answer"], ["+79871234567", "answered"]],
 "outcome": "answered", "path": ["when", "office", "mobile"], "route_result": "no_answer",
 "started_at": "2026-11-25T12:00:00+03:00"}"""


async def test_a_spool_file_written_before_the_upgrade_is_written_after_it(
    database: SwitchableDatabase, tmp_path: Path
) -> None:
    (tmp_path / "calls").mkdir()
    (tmp_path / "calls" / "2026-11-25T120100+0300-old-1.json").write_bytes(OLD_SPOOL_FILE)
    assert await CallLog(tmp_path / "calls", database).flush() == 1
    (row,) = await rows(database, "SELECT * FROM calls")
    assert (row["id"], row["outcome"], row["category"], row["wait_s"]) == (
        "old-1", "answered", "overflowed", 9.0,
    )  # fmt: skip
    assert (row["queue"], row["queued_at"], row["queue_wait_s"]) == ("", None, None)
    legs = await rows(database, "SELECT * FROM call_legs ORDER BY seq")
    assert [(r["target"], r["result"], r["ringing_at"], r["agent"]) for r in legs] == [
        ("PJSIP/100", "no_answer", None, ""),
        ("+79871234567", "answered", None, ""),
    ]


async def test_the_wait_for_a_person_and_each_phone_s_ring_are_written(
    database: SwitchableDatabase, tmp_path: Path
) -> None:
    at = "2026-11-25T12:00:{:02d}+03:00".format
    record = replace(
        call(1),
        queue="sales",
        queued_at=at(4),
        waited_until=at(6),
        ended_phase="connected",
        legs=(
            LegRecord("PJSIP/101", "no_answer", at(4), at(5), "a101", owner_ring=True),
            LegRecord("PJSIP/102", "answered", at(5), at(6), "a102"),
        ),
    )
    log = CallLog(tmp_path / "calls", database)
    await log.record(record)
    assert await log.flush() == 1
    (row,) = await rows(database, "SELECT * FROM calls")
    assert (row["queue"], row["queue_wait_s"], row["category"]) == ("sales", 2.0, "answered")
    legs = await rows(database, "SELECT * FROM call_legs ORDER BY seq")
    assert [(r["agent"], r["ring_s"], r["owner_ring"]) for r in legs] == [
        ("a101", 1.0, True),
        ("a102", 1.0, False),
    ]
    assert legs[1]["ringing_at"].isoformat() == "2026-11-25T09:00:05+00:00"


async def test_calls_that_end_while_the_database_is_away_all_arrive_afterwards(
    database: SwitchableDatabase, tmp_path: Path
) -> None:
    log = CallLog(tmp_path / "calls", database, retry_s=0.2)
    worker = asyncio.create_task(log.run())
    try:
        await log.record(call(0))
        database.down = True
        for n in range(1, 31):  # calls go on while nothing can be written
            await log.record(call(n))
            await asyncio.sleep(0.02)
        assert len(list((tmp_path / "calls").glob("*.json"))) >= 30  # kept on disk
        database.down = False
        for _ in range(100):  # the worker retries every 0.2 s
            if len(await rows(database, "SELECT id FROM calls")) == 31:
                break
            await asyncio.sleep(0.1)
        assert len(await rows(database, "SELECT id FROM calls")) == 31
        assert list((tmp_path / "calls").glob("*.json")) == []
        legs = await rows(database, "SELECT count(*) AS n FROM call_legs")
        assert legs[0]["n"] == 62
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)


async def test_a_spool_left_by_a_stopped_daemon_is_written_at_the_next_start(
    database: SwitchableDatabase, tmp_path: Path
) -> None:
    database.down = True
    first = CallLog(tmp_path / "calls", database)
    await first.record(call(1))
    with pytest.raises(ConnectionRefusedError):
        await first.flush()  # the daemon stops: the call stays spooled
    database.down = False
    assert await CallLog(tmp_path / "calls", database).flush() == 1
    assert [r["id"] for r in await rows(database, "SELECT id FROM calls")] == ["call-1"]


async def test_a_damaged_spool_file_is_set_aside_not_retried_forever(
    database: SwitchableDatabase, tmp_path: Path
) -> None:
    (tmp_path / "calls").mkdir()
    (tmp_path / "calls" / "0-broken.json").write_bytes(b"{not json")
    log = CallLog(tmp_path / "calls", database)
    await log.record(call(1))
    assert await log.flush() == 1
    assert [p.name for p in (tmp_path / "calls").iterdir()] == ["0-broken.bad"]


async def test_a_caller_spooled_raw_by_an_older_daemon_is_written_cleaned(
    database: SwitchableDatabase, tmp_path: Path
) -> None:
    """Before callers were made one line where they enter, a NUL could reach the spool;
    PostgreSQL refuses NUL in text, and the call (and every call after it) stayed
    spooled for ever."""
    (tmp_path / "calls").mkdir()
    raw = OLD_SPOOL_FILE.replace(b'"caller": "79161234567"', b'"caller": "7916\\u0000\\r\\n1"')
    (tmp_path / "calls" / "0-old.json").write_bytes(raw)
    assert await CallLog(tmp_path / "calls", database).flush() == 1
    (row,) = await rows(database, "SELECT caller FROM calls")
    assert row["caller"] == "7916\ufffd1"


async def test_a_call_postgresql_refuses_is_set_aside_and_the_others_are_written(
    database: SwitchableDatabase, tmp_path: Path
) -> None:
    log = CallLog(tmp_path / "calls", database)
    await log.record(replace(call(1), flow="seed\x00.yaml"))  # (text PostgreSQL refuses)
    await log.record(call(2))
    assert await log.flush() == 1
    assert [r["id"] for r in await rows(database, "SELECT id FROM calls")] == ["call-2"]
    (kept,) = (tmp_path / "calls").iterdir()
    assert kept.suffix == ".rejected"  # on disk for the operator, not retried for ever
    assert await log.flush() == 0


async def test_the_spool_is_bounded_and_says_when_a_call_cannot_be_kept(
    database: SwitchableDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    monkeypatch.setattr(calllog, "MAX_SPOOLED", 3)
    database.down = True
    log = CallLog(tmp_path / "calls", database)
    for n in range(5):
        await log.record(call(n))
    assert len(list((tmp_path / "calls").glob("*.json"))) == 3
    assert [r.msg for r in caplog.records if r.levelname == "ERROR"] == ["calllog.spool_full"] * 2
    database.down = False
    assert await log.flush() == 3
    await log.record(call(9))  # room again
    assert await log.flush() == 1


async def test_rows_logged_before_migration_008_get_a_category_from_their_outcome(
    tmp_path: Path,
) -> None:
    async with fresh_schema("upgrade") as schema:
        pool = await db.create_pool(DATABASE_URL, schema, max_size=1)
        try:
            async with pool.acquire() as conn:
                await conn.execute(
                    "CREATE TABLE schema_migrations (version integer PRIMARY KEY,"
                    " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
                )
                for migration in db.migrations():
                    if migration.version < 8:  # the schema as the previous version left it
                        await conn.execute(migration.sql)
                        await conn.execute(
                            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                            migration.version,
                            migration.name,
                        )
                before = {
                    "1": ("answered", "PJSIP/101", "v1"),
                    "2": ("answered", "+79871234567", "v1"),
                    "3": ("answered", "+79161234567", "callback"),
                    "4": ("abandoned", "", "v1"),
                    "5": ("voicemail_dialplan", "", "v1"),
                    "6": ("hangup_by_flow", "", "v1"),
                    "7": ("handed_back_on_stop", "", "v1"),
                }
                for call_id, (outcome, answered_by, version) in before.items():
                    await conn.execute(
                        "INSERT INTO calls (id, dialed, caller, flow, flow_version, started_at,"
                        " ended_at, answered_by, outcome, path)"
                        " VALUES ($1, '1', '2', 'f', $2, now(), now(), $3, $4, '[]')",
                        call_id, version, answered_by, outcome,
                    )  # fmt: skip
            applied = await db.upgrade(pool)
            assert applied[0] == "008_call_stats"  # (and the later ones)
            after = await pool.fetch("SELECT id, outcome, category FROM calls ORDER BY id")
        finally:
            await pool.close()
    # The same as category_of gives a record without the newer fields.
    assert [(r["id"], r["category"]) for r in after] == [
        (r["id"], str(category_of(replace(call(1), outcome=r["outcome"], answered_by=by,
                                          flow_version=v, answered_external=by[:1] == "+"))))
        for r, (_, by, v) in zip(after, before.values(), strict=True)
    ]  # fmt: skip
    assert [r["category"] for r in after] == [
        "answered", "overflowed", "answered", "abandoned_in_ivr", "voicemail",
        "ended_by_flow", "failed",
    ]  # fmt: skip
