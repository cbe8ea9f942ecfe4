"""Tier 2: a daemon killed mid-call (no drain, no flush: its tasks cancelled) and a
new one over the same folders, against the fake ARI and real PostgreSQL: every call
of the first gets exactly one row, with what it had done before the kill."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from switchboard.app import build_services
from switchboard.calljournal import CallJournal
from switchboard.calllog import CallRecord
from switchboard.config import (
    AdmissionConfig,
    AriConfig,
    Config,
    DaemonConfig,
    DatabaseConfig,
    FlowsConfig,
)
from switchboard.flows.registry import FlowRegistry
from tests.adapter.test_queue_fake_ari import daemon as queue_daemon
from tests.adapter.test_voicemail_keeper import (
    KEEP,
    Clock,
    FakeAsteriskRecordings,
    keeper_for,
)
from tests.daemonkit import running_daemon
from tests.fake_ari import PASSWORD, USER, FakeAri, lab_endpoints
from tests.pgkit import DATABASE_URL, fresh_schema

REPO = Path(__file__).resolve().parents[2]
MENU_NUMBER = "74951234500"
AGENTS = ("agent100", "agent101", "agent102")  # (one for each call: one call at a time)
ENTRIES = "".join(f'  "749512345{n}": welcome{n}\n' for n, _ in enumerate(AGENTS))
NODES = "".join(
    f"  welcome{n}: {{kind: play, prompt: greeting, next: agent{n}}}\n"
    f"  agent{n}: {{kind: route, endpoint: PJSIP/{agent}, timeout: 25, on_fail: fallback}}\n"
    for n, agent in enumerate(AGENTS)
)
FLOW = f"""
languages: [en]
entry:
{ENTRIES}  "{MENU_NUMBER}": menu
nodes:
{NODES}  menu:
    kind: menu
    prompt: main_menu
    choices: {{"1": agent0}}
    timeout: 30
    on_fail: fallback
  fallback: {{kind: handback}}
"""


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with fresh_schema("journal") as name:
        yield name


def config_for(fake: FakeAri, tmp_path: Path, schema: str) -> Config:
    (tmp_path / "flow.yaml").write_text(FLOW)
    return Config(
        ari=AriConfig(url=fake.url, username=USER, password=PASSWORD),
        flows=FlowsConfig(files=(tmp_path / "flow.yaml",), prompts=REPO / "prompts",
                          watch_interval=0),
        daemon=DaemonConfig(drain_timeout=1, state_directory=tmp_path / "state"),
        database=DatabaseConfig(DATABASE_URL, schema),
    )  # fmt: skip


async def rows(schema: str) -> tuple[dict[str, asyncpg.Record], list[asyncpg.Record]]:
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": schema})
    try:
        calls = {r["id"]: r for r in await conn.fetch("SELECT * FROM calls")}
        legs = list(await conn.fetch("SELECT * FROM call_legs ORDER BY call_id, seq"))
        return calls, legs
    finally:
        await conn.close()


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def journaled(journal: Path, call_id: str) -> dict[str, object]:
    record: dict[str, object] = json.loads((journal / f"{call_id}.json").read_bytes())["record"]
    return record


async def killed_daemon(fake: FakeAri, config: Config, calls: CallsBeforeKill) -> None:
    """The first daemon: only its event stream runs (no call-log worker); it takes
    the calls, then dies: the stream and every call's task cancelled, nothing drained,
    nothing flushed (what a SIGKILL leaves: the files on disk)."""
    registry = FlowRegistry(list(config.flows.files), config.flows.prompts)
    async with aiohttp.ClientSession() as session:
        services = await build_services(config, registry, session)
        stream = asyncio.create_task(services.stream.run())
        await fake.wait_connected()
        await fake.wait_request("GET", "/bridges")
        await calls.take(fake, config.daemon.journal_path)
        tasks = {stream, *services.parts.calls.tasks}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if services.database is not None:  # (a dead process's connections: closed by the kernel)
            await services.database.close()
    await asyncio.sleep(0.05)  # (the fake sees the websocket close)


class CallsBeforeKill:
    def __init__(self, fake: FakeAri) -> None:
        self.in_menu = fake.new_channel(exten=MENU_NUMBER)  # (a) still in the IVR
        self.leaves_menu = fake.new_channel(exten=MENU_NUMBER)  # (a') hangs up in the grace
        self.talking = fake.new_channel(exten="7495123450")  # (b) bridged to agent100
        self.gone = fake.new_channel(exten="7495123451")  # (c) hangs up while no daemon runs
        self.ended = fake.new_channel(exten="7495123452")  # (d) ended before the kill
        self.started: dict[str, str] = {}

    async def take(self, fake: FakeAri, journal: Path) -> None:
        for caller in (self.in_menu, self.leaves_menu):
            await fake.stasis_start(caller)
            await fake.wait_request("POST", rf"/channels/{caller}/play/.*")
        for caller in (self.talking, self.gone, self.ended):
            await fake.stasis_start(caller)
            await fake.wait_request("POST", rf"/bridges/{caller}-bridge/addChannel")
        await asyncio.sleep(0.1)  # (the batches after the bridging are journaled)
        assert files(journal) == sorted(
            f"{c}.json" for c in self.all
        )  # one file per call, none for the agents' legs
        assert journaled(journal, self.in_menu)["path"] == ["menu"]
        assert journaled(journal, self.talking)["path"] == ["welcome0", "agent0"]
        self.started = {c: str(journaled(journal, c)["started_at"]) for c in self.all}
        # (d): killed after its row was spooled and before its journal file went
        kept = journal.parent / "kept.json"
        shutil.copy(journal / f"{self.ended}.json", kept)
        await fake.caller_hangs_up(self.ended)
        await fake.wait_request("DELETE", rf"/bridges/{self.ended}-bridge")
        await asyncio.sleep(0.1)  # (the row is spooled, then the file removed)
        assert not (journal / f"{self.ended}.json").exists()
        kept.rename(journal / f"{self.ended}.json")

    @property
    def all(self) -> tuple[str, ...]:
        return (self.in_menu, self.leaves_menu, self.talking, self.gone, self.ended)


async def test_a_killed_daemons_calls_each_get_one_row_with_their_history(
    fake: FakeAri, tmp_path: Path, schema: str
) -> None:
    config = config_for(fake, tmp_path, schema)
    calls = CallsBeforeKill(fake)
    await killed_daemon(fake, config, calls)
    fake.channels.pop(calls.gone)  # (c) hung up while no daemon listened
    fake.in_stasis.discard(calls.gone)
    bridge = fake.bridges[f"{calls.gone}-bridge"]
    bridge["channels"].remove(calls.gone)

    async with running_daemon(fake, config):
        await fake.wait_request("GET", "/bridges", count=2)  # the new one reconciled
        await fake.caller_hangs_up(calls.leaves_menu)  # before the grace: never handed back
        await fake.wait_request("POST", rf"/channels/{calls.in_menu}/continue", within=5)
        await asyncio.sleep(0.1)
        assert fake.requested("DELETE", rf"/channels/{calls.talking}") == []  # adopted
        await fake.caller_hangs_up(calls.talking)
        await fake.wait_request("DELETE", rf"/bridges/{calls.talking}-bridge")
    found, legs = await rows(schema)  # (the new daemon flushed its call log as it stopped)

    assert sorted(found) == sorted(calls.all)  # one row each, no leg's, no duplicate
    summary = {
        call_id: (r["outcome"], r["category"], json.loads(r["path"]))
        for call_id, r in found.items()
    }
    assert summary == {
        calls.in_menu: ("handed_back", "failed", ["menu"]),
        calls.leaves_menu: ("ended_unobserved", "failed", ["menu"]),
        calls.talking: ("answered", "answered", ["welcome0", "agent0"]),
        calls.gone: ("ended_unobserved", "answered", ["welcome1", "agent1"]),
        calls.ended: ("answered", "answered", ["welcome2", "agent2"]),
    }
    for call_id in calls.all:  # each started when the first daemon saw it start
        assert found[call_id]["started_at"] == datetime.fromisoformat(calls.started[call_id])
    talking, gone = found[calls.talking], found[calls.gone]
    assert talking["answered_at"] is not None
    assert talking["caller"] == "+79161234567"
    assert gone["ended_at"] >= gone["answered_at"]  # (at or before the reconcile)
    by_call = {(g["call_id"], g["target"], g["result"]) for g in legs}
    assert by_call == {
        (calls.talking, "PJSIP/agent100", "answered"),
        (calls.gone, "PJSIP/agent101", "answered"),
        (calls.ended, "PJSIP/agent102", "answered"),
    }
    assert files(config.daemon.journal_path) == []  # every call settled


async def test_callback_calls_and_agents_legs_are_not_journaled(
    fake: FakeAri, tmp_path: Path, schema: str
) -> None:
    """A callback call (the agent first, then the customer) has no journal file: a
    restart after a kill finds nothing of it to write a row for (none of its own)."""
    journal = tmp_path / "state" / "journal"
    fake.endpoints = lab_endpoints(offline=("agent100",))
    async with queue_daemon(fake, tmp_path, schema):
        caller = fake.new_channel(caller="+79161234567")
        await fake.stasis_start(caller)
        await fake.wait_request("POST", rf"/channels/{caller}/moh")
        await asyncio.sleep(0.1)  # (the batch that started the music is journaled)
        assert files(journal) == [f"{caller}.json"]  # waiting in the queue: journaled
        await fake.push(
            {"type": "ChannelDtmfReceived", "digit": "5", "channel": fake.channels[caller]}
        )
        await fake.wait_request("DELETE", rf"/channels/{caller}")  # told, then hung up
        fake.endpoints = lab_endpoints()  # agent100 is back: the callback is placed
        await fake.wait_request("POST", r"/bridges/cb-[^/]+-bridge/addChannel")
        await asyncio.sleep(0.1)
        assert files(journal) == []  # the caller's call is logged; the callback: no file
        agent = fake.requested("POST", r"/channels/cb-[^/]+$")[0].path.rsplit("/", 1)[-1]
        await fake.caller_hangs_up(agent)
        await fake.wait_request("DELETE", r"/bridges/cb-[^/]+-bridge")
    found, _ = await rows(schema)
    assert sorted(r["flow_version"] == "callback" for r in found.values()) == [False, True]


async def test_a_caller_whose_start_was_lost_in_a_cut_gets_a_row_when_handed_back(
    fake: FakeAri, tmp_path: Path, schema: str
) -> None:
    """A caller entered our app while the websocket was down (its StasisStart lost):
    the reconcile finds them in our app, owned by no call, and hands them back to the
    dialplan after the grace; that is their row (no journal knew them)."""
    config = config_for(fake, tmp_path, schema)
    lost = fake.new_channel(exten=MENU_NUMBER, caller="+79161112233")  # no StasisStart
    async with running_daemon(fake, config):
        await fake.wait_request("POST", rf"/channels/{lost}/continue", within=5)
        await asyncio.sleep(0.1)
    found, legs = await rows(schema)
    assert list(found) == [lost]
    row = found[lost]
    assert (row["outcome"], row["caller"], row["dialed"], json.loads(row["path"])) == (
        "handed_back", "+79161112233", MENU_NUMBER, [],
    )  # fmt: skip
    assert row["started_at"] == datetime.fromisoformat("2026-11-25T10:00:00+00:00")
    assert row["ended_at"] > row["started_at"]
    assert legs == []


async def shed_while_one_sets_up(
    fake: FakeAri, tmp_path: Path, schema: str, shed: str, *, gone: bool = False
) -> dict[str, asyncpg.Record]:
    """One caller stays in the greeting (setting up); ``shed`` arrives past the limit
    of one and is shed (``gone``: Asterisk answers its continue 404). The rows."""
    config = replace(
        config_for(fake, tmp_path, schema),
        admission=AdmissionConfig(max_loop_lag=0, max_setting_up=1),
    )
    fake.finish_playbacks = False  # the first caller stays in the greeting: setting up
    if gone:
        fake.fail("POST", rf"/channels/{shed}/continue", 404, '{"message": "Channel not found"}')
    async with running_daemon(fake, config):
        first = fake.new_channel(exten=MENU_NUMBER)
        await fake.stasis_start(first)
        await fake.wait_request("POST", rf"/channels/{first}/play/.*")
        await fake.stasis_start(shed)
        await fake.wait_request("POST", rf"/channels/{shed}/continue")
        await fake.caller_hangs_up(first)
        await asyncio.sleep(0.1)
    found, _ = await rows(schema)
    assert sorted(found) == sorted([first, shed])
    return found


async def test_a_caller_shed_by_an_overloaded_daemon_gets_a_row(
    fake: FakeAri, tmp_path: Path, schema: str
) -> None:
    """Shed to the dialplan (admission): handed back, with who called and what."""
    shed = fake.new_channel(exten=MENU_NUMBER, caller="+79161112244")
    row = (await shed_while_one_sets_up(fake, tmp_path, schema, shed))[shed]
    assert (row["outcome"], row["caller"], row["dialed"], json.loads(row["path"])) == (
        "handed_back", "+79161112244", MENU_NUMBER, [],
    )  # fmt: skip


async def test_a_shed_caller_who_hung_up_first_is_logged_as_never_handed_back(
    fake: FakeAri, tmp_path: Path, schema: str
) -> None:
    """Shed, but Asterisk no longer has the channel when it is continued (404): the
    row says the call ended unobserved, not that the dialplan took it."""
    shed = fake.new_channel(exten=MENU_NUMBER)
    found = await shed_while_one_sets_up(fake, tmp_path, schema, shed, gone=True)
    assert found[shed]["outcome"] == "ended_unobserved"


async def test_an_agent_answering_a_dead_daemons_callback_is_hung_up_without_a_row(
    fake: FakeAri, tmp_path: Path, schema: str
) -> None:
    """The daemon that rang an agent for a callback died; the agent answers now: no
    dialer knows the leg. It is hung up, not run as a caller nor handed back."""
    config = config_for(fake, tmp_path, schema)
    async with running_daemon(fake, config):
        agent = fake.new_channel(exten="s")
        await fake.stasis_start(agent, args=["callback", "cb-gone"])
        await fake.wait_request("DELETE", rf"/channels/{agent}")
        await asyncio.sleep(0.1)
        assert fake.requested("POST", rf"/channels/{agent}/.*") == []
    found, _ = await rows(schema)
    assert found == {}


async def test_a_killed_daemons_message_is_fetched_early_only_if_its_caller_is_gone(
    fake: FakeAri, tmp_path: Path, schema: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Two callers of a killed daemon were leaving messages. One has hung up since:
    their recording has ended, it is fetched now. The other is still in our app and
    is handed back to the dialplan alive: their recording is stopped first (not
    fetched cut short while it runs), then fetched."""
    config = config_for(fake, tmp_path, schema)
    alive = fake.new_channel(exten=MENU_NUMBER)  # in our app, no StasisStart: a suspect
    gone = "1764064800.99"  # not in Asterisk any more
    keeper = keeper_for(tmp_path, FakeAsteriskRecordings(), None, 1, Clock(now=time.time()))
    journal = CallJournal(config.daemon.journal_path)
    for call_id in (alive, gone):
        await keeper.keep(
            replace(KEEP, recording=f"{call_id}-vm1", call_id=call_id, stage="recording",
                    wait_s=240)
        )  # fmt: skip
        record = CallRecord(
            id=call_id, dialed=MENU_NUMBER, caller="+79161234567", customer=None,
            flow="flow", flow_version="v", started_at="2026-11-25T10:00:00+00:00",
            answered_at="", ended_at="", answered_by="", agent="", outcome="",
            route_result="", path=("menu", "vm"), legs=(),
        )  # fmt: skip
        assert journal.write(record, datetime.fromisoformat("2026-11-25T10:00:05+00:00"))
    config = replace(config, voicemail=keeper.config)
    caplog.set_level("INFO", logger="switchboard")
    async with running_daemon(fake, config):
        await fake.wait_request("POST", rf"/channels/{alive}/continue", within=5)
        await asyncio.sleep(0.2)
    stopped = fake.requested("POST", rf"/recordings/live/{alive}-vm1/stop")
    continued = fake.requested("POST", rf"/channels/{alive}/continue")
    assert fake.requests.index(stopped[0]) < fake.requests.index(continued[0])
    nudged = [r.__dict__["call_id"] for r in caplog.records if r.msg == "voicemail.nudged"]
    assert sorted(nudged) == sorted([alive, gone])
    found, _ = await rows(schema)
    assert {k: r["outcome"] for k, r in found.items()} == {
        alive: "handed_back", gone: "ended_unobserved",
    }  # fmt: skip
