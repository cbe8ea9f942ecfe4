"""Tier 2: the daemon (fake ARI, real PostgreSQL) runs the retention sweeper soon after
it starts and serves POST /privacy/erase (app.py wires both)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from switchboard.config import CallsConfig, DatabaseConfig
from switchboard.db import Database
from switchboard.retention import sweeper
from tests.adapter.test_daemon_fake_ari import lab_config
from tests.adapter.test_web_callbacks import free_port
from tests.apikit import AUTH, api_config
from tests.daemonkit import running_daemon
from tests.fake_ari import FakeAri
from tests.flowkit import SPINE
from tests.pgkit import DATABASE_URL, fresh_schema


async def logged_call(pool: asyncpg.Pool, call_id: str, caller: str, started: datetime) -> None:
    await pool.execute(
        "INSERT INTO calls (id, dialed, caller, flow, flow_version, started_at, ended_at,"
        " outcome, path) VALUES ($1, '+74951234567', $2, 'main', 'v1', $3, $3, 'answered',"
        " '[]')",
        call_id, caller, started,
    )  # fmt: skip


async def ids(pool: asyncpg.Pool) -> list[str]:
    return [r["id"] for r in await pool.fetch("SELECT id FROM calls ORDER BY id")]


async def test_the_daemon_sweeps_after_start_and_erases_on_request(
    fake: FakeAri, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweeper, "FIRST_SWEEP_S", 0.0)
    now = datetime.now(UTC)
    (tmp_path / "flow.yaml").write_text(SPINE)
    async with fresh_schema("retd") as schema:
        database = Database(DATABASE_URL, schema)
        try:
            pool = await database.pool()
            await logged_call(pool, "old", "+79161234567", now - timedelta(days=400))
            await logged_call(pool, "young", "+79161234567", now - timedelta(days=1))
            await logged_call(pool, "other", "+79169876543", now - timedelta(days=1))
            base = lab_config(fake, tmp_path)
            config = replace(
                base,
                api=replace(api_config(), port=free_port()),
                daemon=replace(base.daemon, state_directory=tmp_path / "state"),
                database=DatabaseConfig(DATABASE_URL, schema),
                calls=CallsConfig(keep_days=365),
            )
            assert config.api is not None
            async with running_daemon(fake, config), aiohttp.ClientSession() as session:
                async with asyncio.timeout(20):
                    while "old" in await ids(pool):  # noqa: ASYNC110 - the daemon sweeps
                        await asyncio.sleep(0.05)
                assert await ids(pool) == ["other", "young"]
                url = f"http://127.0.0.1:{config.api.port}/privacy/erase"
                body = {"number": "8 916 123 45 67"}
                async with session.post(url, json=body, headers=AUTH) as response:
                    assert response.status == 200
                    erased = await response.json()
            assert erased["erased"]["calls"] == 1
            assert await ids(pool) == ["other"]
        finally:
            await database.close()
