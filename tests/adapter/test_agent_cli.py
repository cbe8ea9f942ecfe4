"""Tier 2: `switchboard agent login|logout|pause|unpause` against real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from switchboard import db
from switchboard.cli import main
from tests.pgkit import DATABASE_URL, fresh_schema

Run = tuple[int, str, str]  # exit code, stdout, stderr


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with fresh_schema("agentcli") as name:
        yield name


@pytest.fixture
def config(tmp_path: Path, schema: str) -> Path:
    return write_config(tmp_path, f'{{url: "{DATABASE_URL}", schema: {schema}}}')


@pytest.fixture
async def pool(schema: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await db.create_pool(DATABASE_URL, schema, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


async def test_login_pause_unpause_logout(
    pool: asyncpg.Pool, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await db.upgrade(pool)
    await pool.execute(
        "INSERT INTO agents (id, name, endpoints, missed_in_row) VALUES ('a101', 'Anna', '{x}', 2)"
    )
    assert await run(capsys, "login", "a101", config) == (0, "a101: available (was logged_out)", "")
    assert await run(capsys, "pause", "a101", config, "--reason", "lunch") == (
        0,
        "a101: paused: lunch (was available)",
        "",
    )
    row = await pool.fetchrow("SELECT state, pause_reason FROM agents WHERE id = 'a101'")
    assert row is not None
    assert tuple(row) == ("paused", "lunch")
    await pool.execute("UPDATE agents SET missed_in_row = 3")
    assert await run(capsys, "unpause", "a101", config) == (0, "a101: available (was paused)", "")
    row = await pool.fetchrow("SELECT state, pause_reason, missed_in_row FROM agents")
    assert row is not None
    assert tuple(row) == ("available", "", 0)
    assert await run(capsys, "logout", "a101", config) == (
        0,
        "a101: logged_out (was available)",
        "",
    )


async def test_an_unknown_agent_is_one_line_and_exit_2_after_the_schema_is_upgraded(
    pool: asyncpg.Pool, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = await run(capsys, "login", "a999", config)
    assert (code, out) == (2, "")
    assert err == "switchboard: agent: no agent 'a999' in the database"
    assert await db.pending(pool) == []  # upgraded first, as import does


async def test_a_reason_goes_with_pause_only(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = await run(capsys, "login", "a101", config, "--reason", "why")
    assert (code, out) == (2, "")
    assert err == "switchboard: agent: --reason goes with pause only"


async def test_a_database_that_does_not_answer_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, '{url: "postgresql://postgres@127.0.0.1:1/test"}')
    code, out, err = await run(capsys, "pause", "a101", config)
    assert (code, out) == (1, "")
    assert err.startswith("switchboard: database: ")
    assert "\n" not in err


async def run(
    capsys: pytest.CaptureFixture[str], action: str, agent: str, config: Path, *more: str
) -> Run:
    argv = ["agent", action, agent, *more, "--config", str(config)]
    code = await asyncio.to_thread(main, argv)
    captured = capsys.readouterr()
    return code, captured.out.strip(), captured.err.strip()


def write_config(tmp_path: Path, database: str) -> Path:
    path = tmp_path / "switchboard.yaml"
    path.write_text(
        "ari: {url: http://127.0.0.1:8088, username: u, password: p}\n"
        "flows: {files: [flow.yaml]}\n"
        f"database: {database}\n"
    )
    return path
