"""Tier 2: `switchboard db status|upgrade` against real PostgreSQL: idempotent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from switchboard.cli import main
from switchboard.db import migrations
from tests.pgkit import DATABASE_URL, fresh_schema


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with fresh_schema("cli") as name:
        yield name


async def test_status_upgrade_and_upgrade_again(
    tmp_path: Path, schema: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "switchboard.yaml"
    config.write_text(
        "ari: {url: http://127.0.0.1:8088, username: u, password: p}\n"
        "flows: {files: [flow.yaml]}\n"
        f'database: {{url: "{DATABASE_URL}", schema: {schema}}}\n'
    )
    names = [m.name for m in migrations()]
    assert names[:2] == ["001_voicemail", "002_callbacks"]

    async def run(*args: str) -> tuple[int, str]:
        code = await asyncio.to_thread(main, ["db", *args, "--config", str(config)])
        return code, capsys.readouterr().out.strip()

    assert await run("status") == (1, f"pending: {', '.join(names)}")
    assert await run("upgrade") == (0, f"applied: {', '.join(names)}")
    assert await run("status") == (0, "schema is current")
    assert await run("upgrade") == (0, "schema is current")


async def test_a_database_that_does_not_answer_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "switchboard.yaml"
    config.write_text(
        "ari: {url: http://127.0.0.1:8088, username: u, password: p}\n"
        "flows: {files: [flow.yaml]}\n"
        'database: {url: "postgresql://postgres@127.0.0.1:1/test"}\n'
    )
    code = await asyncio.to_thread(main, ["db", "upgrade", "--config", str(config)])
    assert code == 1
    assert capsys.readouterr().err.startswith("switchboard: database: ")
