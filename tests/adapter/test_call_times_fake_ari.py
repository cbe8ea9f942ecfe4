"""Tier 2: the daemon (fake ARI) logs when a caller started waiting for a person and
when each phone rang and stopped, into real PostgreSQL; the statistics read it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from switchboard.stats import Period
from switchboard.stats import repository as stats
from tests.adapter.test_queue_fake_ari import daemon
from tests.fake_ari import FakeAri
from tests.pgkit import DATABASE_URL, fresh_schema


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with fresh_schema("times") as name:
        yield name


async def logged(schema: str) -> tuple[dict[str, asyncpg.Record], list[asyncpg.Record]]:
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": schema})
    try:
        calls = {r["id"]: r for r in await conn.fetch("SELECT * FROM calls")}
        legs = list(await conn.fetch("SELECT * FROM call_legs ORDER BY call_id, seq"))
        return calls, legs
    finally:
        await conn.close()


async def test_an_answered_call_and_one_abandoned_while_the_phone_rang(
    fake: FakeAri, tmp_path: Path, schema: str
) -> None:
    async with daemon(fake, tmp_path, schema):
        answered = fake.new_channel()
        await fake.stasis_start(answered)
        await fake.wait_request("POST", rf"/bridges/{answered}-bridge/addChannel")
        await asyncio.sleep(0.3)  # they talk
        await fake.caller_hangs_up(answered)
        await fake.wait_request("DELETE", rf"/bridges/{answered}-bridge")
        fake.answer_originates = False  # agent100 lets the next call ring
        gave_up = fake.new_channel()
        await fake.stasis_start(gave_up)
        await fake.wait_request("POST", rf"/channels/{gave_up}-leg\d+$")
        await asyncio.sleep(0.5)  # it rings
        await fake.caller_hangs_up(gave_up)
        await fake.wait_request("DELETE", rf"/channels/{gave_up}-leg\d+$")
    calls, legs = await logged(schema)  # (the daemon flushes its call log as it stops)
    one, two = calls[answered], calls[gave_up]
    assert (one["category"], one["queue"], two["category"], two["queue"]) == (
        "answered", "wait", "abandoned_in_queue", "wait",
    )  # fmt: skip
    assert one["started_at"] <= one["queued_at"] <= one["answered_at"]
    assert 0 <= one["queue_wait_s"] < 1.0
    assert 0.3 <= one["talk_s"] < 2.0
    assert 0.5 <= two["queue_wait_s"] < 2.0  # the wait ended when they hung up
    assert two["answered_at"] is None
    assert [(g["call_id"], g["target"], g["result"]) for g in legs] == sorted([
        (answered, "PJSIP/agent100", "answered"),
        (gave_up, "PJSIP/agent100", "cancelled"),
    ])  # fmt: skip
    rang = {g["call_id"]: g for g in legs}
    assert 0 <= rang[answered]["ring_s"] < 0.5  # the fake answers at once
    assert 0.5 <= rang[gave_up]["ring_s"] < 2.0
    assert rang[gave_up]["ringing_at"] >= two["queued_at"]

    pool = await asyncpg.create_pool(
        DATABASE_URL, min_size=1, max_size=2, server_settings={"search_path": schema}
    )
    try:
        day = Period(one["started_at"] - timedelta(hours=1), two["ended_at"] + timedelta(1), "UTC")
        (queue,) = await stats.queue_figures(pool, day)
    finally:
        await pool.close()
    assert (queue.queue, queue.offered, queue.answered, queue.abandoned) == ("wait", 2, 1, 1)
    assert queue.service_level == 0.5
