"""Tier 2, real PostgreSQL and real files: erasing one caller's data, through
`switchboard erase` and POST /privacy/erase; exactly theirs, and an audit line
without their number."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from switchboard.api import ApiContext, make_app
from switchboard.app import route_groups
from switchboard.calllog import CallLog
from switchboard.cli import main
from switchboard.db import Database
from switchboard.logs import JsonFormatter
from switchboard.retention import CallerEraser
from switchboard.retention.command import operator
from switchboard.retention.spools import Spools
from tests.adapter.test_stats import logged
from tests.apikit import AUTH, api_client, api_config
from tests.apispec import check_response
from tests.pgkit import DATABASE_URL, fresh_schema

THEIRS = "+79161234567"  # the caller who asks to be forgotten
OTHERS = "+79169876543"
COMPANY = "+74951234567"
AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
# Every table erasure touches, and the rows of each that belong to the other caller.
OTHERS_ROWS = {
    "calls": ["b1", "b2"],
    "recordings": ["b1-rec1"],
    "voicemails": ["vm-b"],
    "callbacks": ["cbq-a-pending", "cbq-b"],  # (theirs, not finished: kept)
    "web_callbacks": ["web-b"],
}


@dataclass
class Site:
    pool: asyncpg.Pool
    database: Database
    state: Path  # daemon.state_directory
    voicemail: Path
    recording: Path
    config: Path
    customer: int

    def eraser(self) -> CallerEraser:
        spools = Spools(
            calls=self.state / "calls",
            callbacks=self.state / "callbacks",
            web_callbacks=self.state / "web-callbacks",
            voicemails=self.voicemail / "spool",
            recordings=self.recording / "spool",
        )
        return CallerEraser(self.database, spools, self.voicemail, self.recording)

    async def ids(self, table: str) -> list[str]:
        return [r[0] for r in await self.pool.fetch(f"SELECT id FROM {table} ORDER BY id")]

    async def everything(self) -> dict[str, list[str]]:
        return {table: await self.ids(table) for table in OTHERS_ROWS}

    def files(self) -> list[str]:
        found = [*self.voicemail.rglob("*.wav"), *self.recording.rglob("*.wav")]
        return sorted(p.name for p in found)


async def call(
    pool: asyncpg.Pool, call_id: str, caller: str, targets: tuple[str, ...],
    *, version: str = "v1", recording: str | None = None,
) -> None:  # fmt: skip
    await pool.execute(
        "INSERT INTO calls (id, dialed, caller, flow, flow_version, started_at, ended_at,"
        " outcome, path, recording) VALUES ($1, $2, $3, 'main', $4, $5, $5, 'answered', '[]',"
        " $6)",
        call_id, COMPANY, caller, version, AT, recording,
    )  # fmt: skip
    for seq, target in enumerate(targets):
        await pool.execute(
            "INSERT INTO call_legs (call_id, seq, target, result) VALUES ($1, $2, $3, 'x')",
            call_id, seq, target,
        )  # fmt: skip


def wav(directory: Path, name: str) -> Path:
    path = directory / "2026" / "11" / f"{name}.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF....WAVE " + name.encode())
    return path


async def populate(pool: asyncpg.Pool, voicemail: Path, recording: Path) -> int:
    """Their calls in every form a caller ID arrives in, a callback call to them, and the
    other caller's, whose overflow once rang a mobile with their number."""
    phones = ("PJSIP/100", "PJSIP/101")
    await call(pool, "a1", "89161234567", phones)
    await call(pool, "a2", THEIRS, phones, recording="a2-rec1")
    await call(pool, "a3", "9161234567", phones)
    await call(pool, "cb-a", COMPANY, (THEIRS,), version="callback")
    await call(pool, "b1", OTHERS, phones, recording="b1-rec1")
    await call(pool, "b2", OTHERS, ("PJSIP/100", THEIRS))  # their number as someone's mobile
    for name in ("a2-rec1", "b1-rec1"):
        await pool.execute(
            "INSERT INTO recordings (id, call_id, duration_s, file, size_bytes)"
            " VALUES ($1, $2, 1.0, $3, 10)",
            name, name.split("-")[0], str(wav(recording, name)),
        )  # fmt: skip
    for name, caller in (("vm-a", "89161234567"), ("vm-b", OTHERS)):
        await pool.execute(
            "INSERT INTO voicemails (id, call_id, mailbox, caller, duration_s, file,"
            " size_bytes, emailed_at) VALUES ($1, $1, '100', $2, 1.0, $3, 10, now())",
            name, caller, str(wav(voicemail, name)),
        )  # fmt: skip
    for name, number, status in (
        ("cbq-a-done", THEIRS, "done"), ("cbq-a-pending", THEIRS, "pending"),
        ("cbq-b", OTHERS, "done"),
    ):  # fmt: skip
        await pool.execute(
            "INSERT INTO callbacks (id, queue, number, requested_at, endpoints, strategy,"
            " ring_seconds, trunk, status) VALUES ($1, 'sales', $2, $3, '{PJSIP/100}',"
            " 'ring_all', 20, 'PJSIP/carrier', $4)",
            name, number, AT, status,
        )  # fmt: skip
    for name, number in (("web-a", THEIRS), ("web-b", OTHERS)):
        await pool.execute(
            "INSERT INTO web_callbacks (id, number, skill, requested_at, status)"
            " VALUES ($1, $2, 'sales', $3, 'done')",
            name, number, AT,
        )  # fmt: skip
    customer: int = await pool.fetchval("INSERT INTO customers (name) VALUES ('A') RETURNING id")
    await pool.execute("INSERT INTO customer_phones VALUES ($1, $2)", THEIRS, customer)
    return customer


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with fresh_schema("erase") as schema:
        database = Database(DATABASE_URL, schema)
        try:
            pool = await database.pool()
            voicemail, recording = tmp_path / "voicemail", tmp_path / "recordings"
            customer = await populate(pool, voicemail, recording)
            config = tmp_path / "switchboard.yaml"
            config.write_text(
                "ari: {url: http://127.0.0.1:8088, username: u, password: p}\n"
                "flows: {files: [flow.yaml]}\n"
                f'database: {{url: "{DATABASE_URL}", schema: {schema}}}\n'
                f"daemon: {{state_directory: {tmp_path / 'state'}}}\n"
                f"voicemail: {{directory: {voicemail}}}\n"
                f"recording: {{directory: {recording}}}\n"
            )
            yield Site(pool, database, tmp_path / "state", voicemail, recording, config, customer)
        finally:
            await database.close()


def erase_line(caplog: pytest.LogCaptureFixture, event: str = "privacy.erased") -> dict[str, Any]:
    """The audit line's fields."""
    [line] = [r for r in caplog.records if r.msg == event]
    return {"level": line.levelname, **line.__dict__}


def nothing_names_the_number(caplog: pytest.LogCaptureFixture, *texts: str) -> None:
    logged = [JsonFormatter().format(r) for r in caplog.records]
    for text in [*logged, *texts]:
        assert "9161234567" not in text, text


async def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, ["erase", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- the command ----------------------------------------------------------------------------
async def test_the_command_erases_exactly_that_callers_data(
    site: Site, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    code, out, err = await run_cli(capsys, "--number", "8 916 123-45-67", "--config",
                                   str(site.config))  # fmt: skip
    assert (code, err) == (1, "")  # 1: their callback request still open is left
    assert out.splitlines() == [
        "+7********67: erased 4 calls (7 legs), 1 recording, 1 voicemail, 1 queue callback,"
        " 1 web callback; 2 files deleted",
        "kept: 1 callback request not finished (the daemon is calling)",
        "erase again once the daemon has finished with them",
        f"not erased: the CRM's customer {site.customer} with this number (the company's"
        " record: docs/deploy.md)",
    ]
    assert await site.everything() == OTHERS_ROWS
    assert await site.pool.fetchval("SELECT count(*) FROM call_legs") == 4  # b1's, b2's
    assert site.files() == ["b1-rec1.wav", "vm-b.wav"]
    assert await site.pool.fetchval("SELECT count(*) FROM customers") == 1  # the CRM's
    line = erase_line(caplog)
    assert (line["level"], line["via"], line["by"]) == ("WARNING", "cli", operator())
    assert (line["number"], line["calls"], line["call_legs"], line["files"]) == (
        "+7********67", 4, 7, 2,
    )  # fmt: skip
    nothing_names_the_number(caplog, out)


async def test_a_dry_run_counts_the_same_and_erases_nothing(
    site: Site, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    before, files = await site.everything(), site.files()
    code, out, _ = await run_cli(capsys, "--number", THEIRS, "--config", str(site.config),
                                 "--dry-run")  # fmt: skip
    assert code == 1
    assert out.splitlines()[0] == (
        "+7********67: would erase 4 calls (7 legs), 1 recording, 1 voicemail, 1 queue"
        " callback, 1 web callback; 2 files to delete"
    )
    assert await site.everything() == before
    assert site.files() == files
    assert erase_line(caplog, "privacy.erase_dry_run")["calls"] == 4
    assert "privacy.erased" not in [r.msg for r in caplog.records]


async def test_the_command_refuses_a_number_it_cannot_read(
    site: Site, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    code, out, err = await run_cli(capsys, "--number", "916-12", "--config", str(site.config))
    assert (code, out) == (2, "")
    assert err.startswith("switchboard: erase: --number: '916-12' has 5 digits")
    assert not [r for r in caplog.records if r.msg.startswith("privacy.")]


# -- the API ----------------------------------------------------------------------------------
async def test_the_api_erases_that_callers_data_and_names_the_token(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    context = ApiContext(api_config(), database=site.database, eraser=site.eraser())
    async with api_client(make_app(context, route_groups())) as client:
        response = await client.post("/privacy/erase", json={"number": THEIRS}, headers=AUTH)
        body = await response.json()
    assert response.status == 200
    check_response("POST", "/privacy/erase", 200, body)
    assert body == {
        "number": "+7********67",
        "dry_run": False,
        "erased": {"calls": 4, "call_legs": 7, "recordings": 1, "voicemails": 1,
                   "callbacks": 1, "web_callbacks": 1, "files": 2},
        "kept": {"files": 0, "open_callbacks": 1,
                 "spooled": {"calls": 0, "voicemails": 0, "recordings": 0, "callbacks": 0,
                             "web_callbacks": 0}},
        "crm_customer": site.customer,
        "complete": False,
    }  # fmt: skip
    assert await site.everything() == OTHERS_ROWS
    assert site.files() == ["b1-rec1.wav", "vm-b.wav"]
    line = erase_line(caplog)
    assert (line["via"], line["by"], line["number"]) == ("api", "ops", "+7********67")
    nothing_names_the_number(caplog, json.dumps(body))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"number": "abc"}, "number"),
        ({"number": 79161234567}, "number"),
        ({}, "number"),
        ({"number": THEIRS, "dry_run": "yes"}, "dry_run"),
        ({"number": THEIRS, "customer": True}, "customer"),
    ],
)
async def test_the_api_refuses_a_wrong_body_and_erases_nothing(
    site: Site, body: dict[str, object], field: str
) -> None:
    before = await site.everything()
    context = ApiContext(api_config(), database=site.database, eraser=site.eraser())
    async with api_client(make_app(context, route_groups())) as client:
        response = await client.post("/privacy/erase", json=body, headers=AUTH)
        error = await response.json()
    assert (response.status, error["error"]["id"], error["error"]["field"]) == (
        400, "invalid_field", field,
    )  # fmt: skip
    check_response("POST", "/privacy/erase", 400, error)
    assert await site.everything() == before


async def test_the_api_needs_a_token_and_a_database(site: Site) -> None:
    context = ApiContext(api_config(), database=site.database, eraser=site.eraser())
    async with api_client(make_app(context, route_groups())) as client:
        response = await client.post("/privacy/erase", json={"number": THEIRS})
        assert response.status == 401
        check_response("POST", "/privacy/erase", 401, await response.json())
    async with api_client(make_app(ApiContext(api_config()), route_groups())) as client:
        response = await client.post("/privacy/erase", json={"number": THEIRS}, headers=AUTH)
        body = await response.json()
        assert (response.status, body["error"]["id"]) == (503, "database_unavailable")
        check_response("POST", "/privacy/erase", 503, body)
    assert await site.ids("calls") == ["a1", "a2", "a3", "b1", "b2", "cb-a"]


# -- what is not in PostgreSQL yet, and files that stay -----------------------------------
async def test_what_the_daemon_still_holds_is_left_and_counted_until_erased_again(
    site: Site,
) -> None:
    await CallLog(site.state / "calls", site.database).record(logged("a9", AT, outcome="x"))
    voicemail_job = site.voicemail / "spool" / "vm-a.json"  # being emailed: its file in use
    voicemail_job.parent.mkdir(parents=True)
    voicemail_job.write_text(json.dumps({"id": "vm-a", "caller": "89161234567"}))
    recording_job = site.recording / "spool" / "a2-rec1.json"  # a2's recording, not stored
    recording_job.parent.mkdir(parents=True)
    recording_job.write_text(json.dumps({"id": "a2-rec1", "call_id": "a2"}))
    unstored_job = site.recording / "spool" / "a3-rec1.json"  # a3's, being downloaded: no row
    unstored_job.write_text(json.dumps({"id": "a3-rec1", "call_id": "a3"}))

    first = await site.eraser().erase(THEIRS, by="test", via="test")

    assert first.spooled.counts() == {"calls": 1, "voicemails": 1, "recordings": 2,
                                      "callbacks": 0, "web_callbacks": 0}  # fmt: skip
    assert not first.complete
    assert (first.deleted.calls, first.deleted.recordings, first.deleted.voicemails) == (2, 0, 0)
    assert {"a2", "a3"} <= set(await site.ids("calls"))  # found again once recordings are in
    assert {"vm-a.wav", "a2-rec1.wav"} <= set(site.files())
    for job in (voicemail_job, recording_job, unstored_job, *(site.state / "calls").glob("*")):
        job.unlink()  # the daemon has finished with them
    again = await site.eraser().erase(THEIRS, by="test", via="test")
    assert (again.deleted.calls, again.deleted.recordings, again.deleted.voicemails) == (2, 1, 1)
    assert again.complete is False  # (their open queue callback)
    assert again.spooled.total == 0
    assert site.files() == ["b1-rec1.wav", "vm-b.wav"]


async def test_a_file_that_cannot_be_deleted_keeps_its_row(site: Site, tmp_path: Path) -> None:
    stuck = site.recording / "2026" / "11" / "a2-rec1.wav"
    stuck.unlink()
    stuck.mkdir()  # a folder where the WAV should be: the system refuses to unlink it
    outside = tmp_path / "elsewhere.wav"
    outside.write_bytes(b"not ours to delete")
    await site.pool.execute("UPDATE voicemails SET file = $1 WHERE id = 'vm-a'", str(outside))

    erasure = await site.eraser().erase(THEIRS, by="test", via="test")

    assert (erasure.files, erasure.files_kept, erasure.complete) == (0, 2, False)
    assert await site.ids("recordings") == ["a2-rec1", "b1-rec1"]
    assert await site.ids("voicemails") == ["vm-a", "vm-b"]
    assert stuck.is_dir()
    assert outside.exists()
