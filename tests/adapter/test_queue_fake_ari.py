"""Tier 2: queues in the daemon against the fake ARI (and real PostgreSQL for the
callback): arrival order, phones busy on a call, and a callback that survives a
restart of the daemon."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from labkit.daemon import free_port
from switchboard.callbacks import Callback, CallbackStore
from switchboard.config import (
    AriConfig,
    CallbacksConfig,
    Config,
    DaemonConfig,
    DatabaseConfig,
    DialPolicy,
    FlowsConfig,
)
from switchboard.dialpolicy import REASONS
from tests.adapter.test_web_callbacks import CALLBACKS as WEB_CALLBACKS
from tests.apikit import AUTH, api_config
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
    callback_refused_prompt: callback_refused
    callback_trunk: carrier
    on_timeout: bye
  bye: {kind: hangup}
"""


POLICY = DialPolicy(countries=("RU",), default_country="RU", per_number=2)


@contextlib.asynccontextmanager
async def daemon(
    fake: FakeAri,
    tmp_path: Path,
    schema: str | None = None,
    api_port: int = 0,
    callbacks: CallbacksConfig | None = None,
) -> AsyncIterator[None]:
    (tmp_path / "flow.yaml").write_text(QUEUE)
    config = Config(
        ari=AriConfig(url=fake.url, username=USER, password=PASSWORD),
        flows=FlowsConfig(files=(tmp_path / "flow.yaml",), prompts=REPO / "prompts",
                          watch_interval=0),
        daemon=DaemonConfig(drain_timeout=1, state_directory=tmp_path / "state"),
        database=DatabaseConfig(DATABASE_URL, schema) if schema else None,
        dial_policy=POLICY,
        api=replace(api_config(), port=api_port) if api_port else None,
        callbacks=callbacks,
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


async def refused_callbacks(port: int) -> dict[str, float]:
    """switchboard_callbacks_refused_total of queue callbacks, by reason (from /metrics)."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics", headers=AUTH) as response,
    ):
        text = await response.text()
    prefix = 'switchboard_callbacks_refused_total{kind="queue",reason="'
    return {
        line[len(prefix) :].split('"')[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(prefix)
    }


async def press(fake: FakeAri, channel_id: str, digit: str) -> None:
    await fake.push(
        {"type": "ChannelDtmfReceived", "digit": digit, "channel": fake.channels[channel_id]}
    )


async def asks_for_a_callback(fake: FakeAri, caller_id: str) -> str:
    """A caller (their channel id) waiting with music who has pressed the callback key."""
    caller = fake.new_channel(caller=caller_id)
    await fake.stasis_start(caller)
    await fake.wait_request("POST", rf"/channels/{caller}/moh")
    await press(fake, caller, "5")
    return caller


async def hears_the_refusal(fake: FakeAri, caller: str) -> None:
    refusal = await fake.wait_request("POST", rf"/channels/{caller}/play/[^/]+")
    assert refusal.query["media"] == "sound:switchboard/callback_refused"


@pytest.mark.parametrize(
    ("caller_id", "reason"),
    [
        ("+19005551234", "country_not_allowed"),  # US premium rate
        ("+78091234567", "number_type_not_allowed"),  # Russian premium rate 8-809
        ("00881612345678", "country_not_allowed"),  # Iridium satellite, 00 prefix
        ("anonymous", "invalid_number"),
    ],
)
async def test_a_caller_whose_number_we_must_not_call_hears_so_and_keeps_their_place(
    fake: FakeAri,
    tmp_path: Path,
    schema: str,
    caller_id: str,
    reason: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake.endpoints = lab_endpoints(offline=("agent100",))  # nobody free: the caller waits
    port = free_port()
    async with daemon(fake, tmp_path, schema, api_port=port):
        caller = await asks_for_a_callback(fake, caller_id)
        await hears_the_refusal(fake, caller)
        await fake.wait_request("POST", rf"/channels/{caller}/moh", count=2)  # music again
        assert await refused_callbacks(port) == {**dict.fromkeys(REASONS, 0.0), reason: 1.0}
        fake.endpoints = lab_endpoints()  # agent100 is back: the caller's place is served
        leg = await fake.wait_request("POST", rf"/channels/{caller}-leg[^/]+$")
        assert leg.query["endpoint"] == "PJSIP/agent100"
        assert not fake.requested("DELETE", rf"/channels/{caller}")  # never hung up on
        await fake.caller_hangs_up(caller)
    assert await callbacks_in(schema) == []  # nothing queued, in PostgreSQL ...
    assert list((tmp_path / "state" / "callbacks").glob("*")) == []  # ... or in the spool
    (refused,) = [r for r in caplog.records if r.getMessage() == "callback.refused"]
    assert refused.__dict__["reason"] == reason
    digits = "".join(c for c in caller_id if c.isdigit())
    about_callbacks = [r for r in caplog.records if r.getMessage().startswith("callback.")]
    assert not [r for r in about_callbacks if digits and digits in str(r.__dict__)]  # masked


async def test_the_per_number_limit_counts_queue_callbacks_of_the_same_caller(
    fake: FakeAri, tmp_path: Path, schema: str
) -> None:
    """Two callbacks per number per hour (POLICY): the third request of the same number,
    however the caller ID is written, is refused and the caller keeps their place."""
    fake.endpoints = lab_endpoints(offline=("agent100",))
    port = free_port()
    async with daemon(fake, tmp_path, schema, api_port=port):
        for caller_id in ("+79161234567", "89161234567"):
            caller = await asks_for_a_callback(fake, caller_id)
            await fake.wait_request("DELETE", rf"/channels/{caller}")  # taken: told, hung up
        third = await asks_for_a_callback(fake, "8 (916) 123-45-67")
        await hears_the_refusal(fake, third)
        assert (await refused_callbacks(port))["rate_limited"] == 1.0
        assert not fake.requested("DELETE", rf"/channels/{third}")
        await fake.caller_hangs_up(third)
        async with asyncio.timeout(5):
            while len(await callbacks_in(schema)) < 2:  # noqa: ASYNC110 - the store's worker
                await asyncio.sleep(0.05)
    assert [row["number"] for row in await callbacks_in(schema)] == ["+79161234567"] * 2


async def test_a_callback_that_cannot_be_stored_is_not_promised(
    fake: FakeAri, tmp_path: Path
) -> None:
    """The spool cannot be written (a full or read-only disk): the caller hears that we
    cannot call back and stays in line, instead of a promise nobody keeps."""
    fake.endpoints = lab_endpoints(offline=("agent100",))
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "callbacks").write_text("not a directory")  # every write fails
    async with daemon(fake, tmp_path):
        caller = await asks_for_a_callback(fake, "+79161234567")
        await hears_the_refusal(fake, caller)
        assert not fake.requested("DELETE", rf"/channels/{caller}")
        await fake.caller_hangs_up(caller)


async def test_web_and_queue_callbacks_of_one_number_share_its_limit(
    fake: FakeAri, tmp_path: Path, schema: str
) -> None:
    """The web form asked twice for +79161234567 (POLICY: two per hour); then the same
    number calls and presses the callback key: refused, the caller keeps their place."""
    fake.endpoints = lab_endpoints(offline=("agent100",))
    port = free_port()
    async with daemon(fake, tmp_path, schema, api_port=port, callbacks=WEB_CALLBACKS):
        async with aiohttp.ClientSession() as session:
            for _ in range(2):
                body = {"number": "8 916 123-45-67"}
                async with session.post(f"http://127.0.0.1:{port}/callbacks", json=body) as r:
                    assert r.status == 202, await r.text()
        caller = await asks_for_a_callback(fake, "+79161234567")
        await hears_the_refusal(fake, caller)
        assert (await refused_callbacks(port))["rate_limited"] == 1.0
        await fake.caller_hangs_up(caller)
    assert await callbacks_in(schema) == []  # no queue callback was queued


async def test_a_stored_callback_the_dial_policy_now_refuses_is_failed_not_dialled(
    fake: FakeAri, tmp_path: Path, schema: str
) -> None:
    """Requests a restart reads back (the spool, PostgreSQL) pass the policy again: one
    an older version took from a premium-rate caller ID is marked failed, never dialled."""
    spool = CallbackStore(tmp_path / "state" / "callbacks", None)
    for key, number in (("premium", "+19005551234"), ("good", "+79161234567")):
        await spool.add(
            Callback(key, "sales", number, "74951234567", f"call-{key}",
                     "2026-11-25T10:00:00+00:00", ("PJSIP/agent100",), "ring_all", 15,
                     "PJSIP/carrier")
        )  # fmt: skip
    port = free_port()
    async with daemon(fake, tmp_path, schema, api_port=port):
        agent = await fake.wait_request("POST", r"/channels/cb-[^/]+$")
        assert agent.query["appArgs"] == "callback,good"
        assert (await refused_callbacks(port))["country_not_allowed"] == 1.0
        await fake.caller_hangs_up(agent.path.rsplit("/", 1)[-1])
        async with asyncio.timeout(5):
            while len(await callbacks_in(schema)) < 2:  # noqa: ASYNC110 - the store's worker
                await asyncio.sleep(0.05)
    found = {row["id"]: row for row in await callbacks_in(schema)}
    assert (found["premium"]["status"], found["premium"]["last_result"]) == (
        "failed",
        "refused_country_not_allowed",
    )
    assert [r.query["endpoint"] for r in fake.requested("POST", r"/channels/cb-[^/]+-leg\d+$")] == [
        "PJSIP/+79161234567@carrier"
    ]
