"""Tier 2: queues in the daemon against the fake ARI (and real PostgreSQL for the
callback): arrival order, phones busy on a call, and a callback that survives a
restart of the daemon."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from switchboard.config import AriConfig, Config, DaemonConfig, DatabaseConfig, FlowsConfig
from tests.daemonkit import running_daemon
from tests.fake_ari import PASSWORD, USER, FakeAri, lab_endpoints
from tests.pgkit import DATABASE_URL, fresh_schema

REPO = Path(__file__).resolve().parents[2]
QUEUE = """\
languages: [en]
entry: {"74951234567": wait}
nodes:
  wait:
    kind: queue
    name: sales
    endpoints: [PJSIP/agent100]
    ring_seconds: 15
    max_wait: 60
    callback_key: "5"
    callback_prompt: goodbye
    callback_trunk: carrier
    on_timeout: bye
  bye: {kind: hangup}
"""


@contextlib.asynccontextmanager
async def daemon(fake: FakeAri, tmp_path: Path, schema: str | None = None) -> AsyncIterator[None]:
    (tmp_path / "flow.yaml").write_text(QUEUE)
    config = Config(
        ari=AriConfig(url=fake.url, username=USER, password=PASSWORD),
        flows=FlowsConfig(files=(tmp_path / "flow.yaml",), prompts=REPO / "prompts",
                          watch_interval=0),
        daemon=DaemonConfig(drain_timeout=1, state_directory=tmp_path / "state"),
        database=DatabaseConfig(DATABASE_URL, schema) if schema else None,
    )  # fmt: skip
    async with running_daemon(fake, config):
        yield


async def test_callers_get_the_agent_in_arrival_order_once_the_agent_is_free(
    fake: FakeAri, tmp_path: Path
) -> None:
    async with daemon(fake, tmp_path):
        calls = [fake.new_channel() for _ in range(3)]
        for call in calls:
            await fake.stasis_start(call)
            await fake.wait_request("POST", rf"/channels/{call}/moh")
        first = await fake.wait_request("POST", rf"/bridges/{calls[0]}-bridge/addChannel")
        assert first.query["channel"].startswith(calls[0])
        # agent100 talks to the first caller: the others wait with music, nobody rings
        assert not fake.requested("POST", rf"/channels/({calls[1]}|{calls[2]})-leg")
        await fake.caller_hangs_up(calls[0])
        await fake.wait_request("POST", rf"/bridges/{calls[1]}-bridge/addChannel")
        assert not fake.requested("POST", rf"/channels/{calls[2]}-leg")  # the third waits on
        await fake.caller_hangs_up(calls[1])
        await fake.wait_request("POST", rf"/bridges/{calls[2]}-bridge/addChannel")
        await fake.caller_hangs_up(calls[2])


async def callbacks_in(schema: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": schema})
    try:
        return list(await conn.fetch("SELECT * FROM callbacks ORDER BY requested_at"))
    finally:
        await conn.close()


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with fresh_schema("cb") as name:
        yield name


async def test_a_callback_request_survives_a_restart_and_is_placed_when_the_agent_is_back(
    fake: FakeAri, tmp_path: Path, schema: str
) -> None:
    fake.endpoints = lab_endpoints(offline=("agent100",))
    async with daemon(fake, tmp_path, schema):
        caller = fake.new_channel(caller="+79161234567")
        await fake.stasis_start(caller)
        await fake.wait_request("POST", rf"/channels/{caller}/moh")
        await fake.push(
            {"type": "ChannelDtmfReceived", "digit": "5", "channel": fake.channels[caller]}
        )
        await fake.wait_request("DELETE", rf"/channels/{caller}")  # told, then hung up
        async with asyncio.timeout(5):
            while not await callbacks_in(schema):  # noqa: ASYNC110 - the store's worker
                await asyncio.sleep(0.05)
    (row,) = await callbacks_in(schema)
    assert (row["status"], row["number"], row["queue"], row["attempts"]) == (
        "pending",
        "+79161234567",
        "sales",
        0,
    )

    # A new daemon: the request is read back; agent100 comes back online.
    async with daemon(fake, tmp_path, schema):
        assert not fake.requested("POST", r"/channels/cb-")
        fake.endpoints = lab_endpoints()  # agent100 registers again
        agent = await fake.wait_request("POST", r"/channels/cb-[^/]+$")
        assert agent.query["endpoint"] == "PJSIP/agent100"
        assert agent.query["appArgs"] == f"callback,{row['id']}"
        customer = await fake.wait_request("POST", r"/channels/cb-[^/]+-leg\d+$")
        assert customer.query["endpoint"] == "PJSIP/+79161234567@carrier"
        bridged = await fake.wait_request("POST", r"/bridges/cb-[^/]+-bridge/addChannel")
        agent_leg = agent.path.rsplit("/", 1)[-1]
        await fake.caller_hangs_up(agent_leg)
        async with asyncio.timeout(5):
            while (await callbacks_in(schema))[0]["status"] == "pending":  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    (row,) = await callbacks_in(schema)
    assert (row["status"], row["attempts"], row["last_result"], row["agent"]) == (
        "done",
        1,
        "answered",
        "PJSIP/agent100",
    )
    assert bridged.query["channel"].split(",")[0] == agent_leg
