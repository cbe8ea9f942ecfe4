"""Tier 2, real PostgreSQL: a recorded call's row links to its audio, served only
from under recording.directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from switchboard.api import ApiContext, make_app
from switchboard.app import route_groups
from switchboard.calllog import CallLog
from switchboard.db import Database
from tests.adapter.test_stats import logged
from tests.apikit import AUTH, Client, api_client, api_config
from tests.apispec import check_response
from tests.pgkit import DATABASE_URL, fresh_schema

STARTED = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
DAY = {"from": "2026-11-25", "to": "2026-11-26"}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    recordings = tmp_path / "recordings"
    (recordings / "2026" / "11").mkdir(parents=True)
    stored = recordings / "2026" / "11" / "c1-rec2.wav"
    stored.write_bytes(b"RIFF....WAVEfmt the conversation")
    outside = tmp_path / "elsewhere.wav"
    outside.write_bytes(b"not to be served")
    async with fresh_schema("rec") as schema:
        database = Database(DATABASE_URL, schema)
        try:
            log = CallLog(tmp_path / "calls", database)
            call = logged("c1", STARTED, outcome="answered", queue="sales", answered=5)
            await log.record(replace(call, recording="c1-rec2"))
            await log.record(replace(logged("c2", STARTED, outcome="answered", queue="sales",
                                            answered=5), recording="c2-rec2"))  # fmt: skip
            await log.record(logged("c3", STARTED, outcome="abandoned"))
            assert await log.flush() == 3
            pool = await database.pool()
            for name, file in (("c1-rec2", stored), ("c2-rec2", outside)):
                await pool.execute(
                    "INSERT INTO recordings (id, call_id, duration_s, file, size_bytes)"
                    " VALUES ($1, $2, 1.0, $3, 10)",
                    name, name.split("-")[0], str(file),
                )  # fmt: skip
            context = ApiContext(api_config(), database=database, recording_directory=recordings)
            async with api_client(make_app(context, route_groups())) as client:
                yield client
        finally:
            await database.close()


async def test_the_call_log_links_a_recorded_call_to_its_audio(client: Client) -> None:
    response = await client.get("/calls", params=DAY, headers=AUTH)
    page = await response.json()
    check_response("GET", "/calls", 200, page)
    links = {c["id"]: (c["recording"], c["recording_audio"]) for c in page["calls"]}
    assert links["c1"] == ("c1-rec2", "/recordings/c1-rec2/audio")
    assert links["c3"] == (None, None)
    audio = await client.get(links["c1"][1], headers=AUTH)
    assert audio.status == 200
    assert audio.content_type == "audio/wav"
    assert await audio.read() == b"RIFF....WAVEfmt the conversation"


@pytest.mark.parametrize(
    ("path", "error_id"),
    [
        ("/recordings/c2-rec2/audio", "audio_not_found"),  # its row names a file elsewhere
        ("/recordings/no-such/audio", "recording_not_found"),
        ("/recordings/%00/audio", "recording_not_found"),
    ],
)
async def test_only_stored_recordings_under_the_directory_are_served(
    client: Client, path: str, error_id: str
) -> None:
    response = await client.get(path, headers=AUTH)
    body = await response.json()
    assert (response.status, body["error"]["id"]) == (404, error_id)
    check_response("GET", "/recordings/{recording_id}/audio", 404, body)


async def test_recordings_need_a_token(client: Client) -> None:
    response = await client.get("/recordings/c1-rec2/audio")
    assert response.status == 401
