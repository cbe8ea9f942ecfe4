"""Tier 2, real PostgreSQL and the fake ARI: the blocklist managed by `switchboard
block` and the API, read again live by a running daemon, whose blocked callers go
to their flow's blocklist node (the first node of their call row's path)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from switchboard.api import ApiContext, make_app
from switchboard.app import route_groups
from switchboard.blocklist import LiveBlocklist
from switchboard.cli import main
from switchboard.config import load_config
from switchboard.db import Database
from tests.apikit import AUTH, api_client, api_config
from tests.apispec import check_response
from tests.daemonkit import running_daemon
from tests.fake_ari import PASSWORD, USER, FakeAri
from tests.pgkit import DATABASE_URL, fresh_schema

REPO = Path(__file__).resolve().parents[2]
FLOW = """\
languages: [en]
blocklist: {node: blocked, anonymous: true}
entry: {"74951234567": welcome}
nodes:
  welcome: {kind: play, prompt: greeting, next: bye}
  blocked: {kind: play, prompt: goodbye, next: bye}
  bye: {kind: hangup}
"""


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with fresh_schema("blk") as name:
        yield name


def write_config(tmp_path: Path, schema: str, ari_url: str = "http://127.0.0.1:8088") -> Path:
    (tmp_path / "flow.yaml").write_text(FLOW)
    config = tmp_path / "switchboard.yaml"
    config.write_text(
        f"ari: {{url: {ari_url}, username: {USER}, password: {PASSWORD}}}\n"
        f"flows: {{files: [flow.yaml], prompts: {REPO / 'prompts'}, watch_interval: 0}}\n"
        f'database: {{url: "{DATABASE_URL}", schema: {schema}}}\n'
        f"daemon: {{state_directory: {tmp_path / 'state'}, drain_timeout: 1}}\n"
    )
    return config


async def first_prompt(fake: FakeAri, caller: str) -> str:
    """The media of the first prompt played to ``caller``."""
    played = await fake.wait_request("POST", rf"/channels/{re.escape(caller)}/play/.*")
    return str(played.query["media"])


async def call_from(fake: FakeAri, caller: str, prompt: str) -> str:
    """A call from ``caller``; its first prompt must be ``prompt``."""
    channel = fake.new_channel(caller=caller)
    await fake.stasis_start(channel)
    assert (await first_prompt(fake, channel)).endswith(prompt)
    return channel


async def test_a_number_blocked_by_the_cli_while_the_daemon_runs_goes_to_the_blocklist_node(
    fake: FakeAri, tmp_path: Path, schema: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, schema, fake.url)
    assert (
        await asyncio.to_thread(
            main, ["block", "add", "8 916 123-45-67", "--reason", "abuse", "--config", str(path)]
        )
        == 0
    )
    assert await asyncio.to_thread(main, ["block", "add", "+7812*", "--config", str(path)]) == 0
    async with running_daemon(fake, load_config(str(path))):
        blocked = await call_from(fake, "+79161234567", "goodbye")
        prefixed = await call_from(fake, "88121112233", "goodbye")
        anonymous = await call_from(fake, "anonymous", "goodbye")
        other = await call_from(fake, "+79169876543", "greeting")
        # Removed while it runs: the next call from that number is served (read again live).
        assert (
            await asyncio.to_thread(
                main, ["block", "remove", "+79161234567", "--config", str(path)]
            )
            == 0
        )
        deadline = time.monotonic() + 10
        while True:
            again = fake.new_channel(caller="+79161234567")
            await fake.stasis_start(again)
            if (await first_prompt(fake, again)).endswith("greeting"):
                break
            assert time.monotonic() < deadline, "the removal was not read within 10 s"
            await asyncio.sleep(0.5)
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": schema})
    try:
        rows = {
            r["id"]: json.loads(r["path"]) for r in await conn.fetch("SELECT id, path FROM calls")
        }
    finally:
        await conn.close()
    for caller in (blocked, prefixed, anonymous):
        assert rows[caller][:1] == ["blocked"], rows[caller]
    assert rows[other][:1] == ["welcome"]
    assert rows[again][:1] == ["welcome"]
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["block", "list", "--config", str(path)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in listed] == ["+7812*"]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["block", "add", "8495*"], "not a prefix: write + then"),
        (["block", "add"], "block add needs a PATTERN"),
        (["block", "list", "+7495*"], "block list takes no PATTERN"),
        (["block", "remove", "+74951234567", "--reason", "x"], "--reason goes with add only"),
        (["block", "remove", "+74951234567"], "+74951234567 is not on the blocklist"),
    ],
)
def test_the_cli_says_what_is_wrong_and_exits_2(
    tmp_path: Path, schema: str, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    path = write_config(tmp_path, schema)
    assert main([*argv, "--config", str(path)]) == 2
    assert says in capsys.readouterr().err


async def test_the_api_adds_lists_and_removes_entries_in_force_at_once(schema: str) -> None:
    database = Database(DATABASE_URL, schema)
    live = LiveBlocklist(database, interval=3600)  # (only the API's own refresh)
    app = make_app(ApiContext(api_config(), database=database, blocklist=live), route_groups())
    try:
        async with api_client(app) as client:
            added = await client.post("/blocklist", json={"pattern": "+7 495*", "reason": "spam"},
                                      headers=AUTH)  # fmt: skip
            assert added.status == 201
            assert await added.json() == {"pattern": "+7495*", "reason": "spam", "new": True}
            check_response("POST", "/blocklist", added.status, await added.json())
            assert live.current.match("+74951112233", anonymous=False) == "+7495*"
            again = await client.post("/blocklist", json={"pattern": "+7495*"}, headers=AUTH)
            assert (again.status, (await again.json())["new"]) == (200, False)
            await client.post("/blocklist", json={"pattern": "89161234567"}, headers=AUTH)
            listed = await client.get("/blocklist?limit=1", headers=AUTH)
            body = await listed.json()
            check_response("GET", "/blocklist", listed.status, body)
            assert [e["pattern"] for e in body["entries"]] == ["+7495*"]
            assert body["entries"][0]["added_by"] == "ops"
            rest = await client.get(f"/blocklist?cursor={body['next_cursor']}", headers=AUTH)
            assert [e["pattern"] for e in (await rest.json())["entries"]] == ["+79161234567"]
            gone = await client.delete("/blocklist/%2B7495*", headers=AUTH)
            assert (gone.status, await gone.json()) == (200, {"pattern": "+7495*", "removed": True})
            assert live.current.match("+74951112233", anonymous=False) == ""
            missing = await client.delete("/blocklist/%2B7495*", headers=AUTH)
            assert missing.status == 404
            for body_sent, field in (
                ({"pattern": "8495*"}, "pattern"),
                ({"pattern": 7}, "pattern"),
                ({"pattern": "+79161234567" + " " * 60 + "x"}, "pattern"),  # (not cut to fit)
                ({"pattern": "+7495*", "reason": "x" * 201}, "reason"),
                ({"pattern": "+7495*", "by": "me"}, "by"),
            ):
                refused = await client.post("/blocklist", json=body_sent, headers=AUTH)
                assert refused.status == 400
                assert (await refused.json())["error"]["field"] == field
    finally:
        await database.close()


async def test_while_the_database_is_away_the_list_in_force_is_kept(schema: str) -> None:
    database = Database(DATABASE_URL, schema)
    live = LiveBlocklist(database)
    try:
        pool = await database.pool()
        await pool.execute("INSERT INTO blocklist (pattern) VALUES ('+79161234567')")
        assert await live.refresh()
        assert live.current.match("+79161234567", anonymous=False)
        await database.close()
        live.database = Database("postgresql://postgres@127.0.0.1:1/none", schema)
        assert not await live.refresh()
        assert live.current.match("+79161234567", anonymous=False) == "+79161234567"
    finally:
        await database.close()
