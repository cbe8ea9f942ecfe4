"""Tier 2: the operations API of a running daemon (fake ARI, real PostgreSQL).

Every response is checked against the shipped OpenAPI description: its status,
and its body against the response's schema."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from switchboard.api import ApiContext, make_app
from switchboard.app import route_groups, run_daemon
from switchboard.config import DatabaseConfig, RoutingConfig, VoicemailConfig
from switchboard.db import Database
from switchboard.flows.registry import FlowRegistry
from switchboard.metrics import Metrics
from tests.adapter.test_api_core import free_port
from tests.adapter.test_daemon_fake_ari import connected_call, lab_config
from tests.apikit import AUTH, api_client, api_config
from tests.apispec import check_response
from tests.fake_ari import FakeAri
from tests.flowkit import SPINE
from tests.pgkit import DATABASE_URL, fresh_schema

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
    on_timeout: bye
  bye: {kind: hangup}
"""
AGENTS_ROUTE = """\
languages: [en]
skills: [sales]
entry: {"74951234567": sales}
nodes:
  sales:
    kind: route
    agents: {skills: [sales], owner_seconds: 0, max_wait: 120}
    on_fail: bye
  bye: {kind: hangup}
"""
VIP = "+79161234567"
UNREACHABLE = "postgresql://postgres@127.0.0.1:1/test"  # nothing listens there


@dataclass
class Api:
    base: str
    session: aiohttp.ClientSession

    async def call(
        self,
        method: str,
        path: str,
        status: int,
        *,
        template: str = "",
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """The JSON body of an answer with this status, checked against the spec."""
        async with self.session.request(
            method, self.base + path, headers=AUTH if headers is None else headers, **kwargs
        ) as response:
            body = await response.json() if response.content_type == "application/json" else None
            assert response.status == status, (method, path, response.status, body)
            spec_path = template or path.partition("?")[0]
            check_response(method, spec_path, status, body, response.content_type)
            return body


@asynccontextmanager
async def running(
    fake: FakeAri,
    tmp_path: Path,
    *,
    flow: str = SPINE,
    database: str | None = None,
    database_url: str = DATABASE_URL,
) -> AsyncIterator[Api]:
    """The daemon with its API on a free port; ``database``: a URL's schema to use."""
    (tmp_path / "flow.yaml").write_text(flow)
    base = lab_config(fake, tmp_path)
    config = replace(
        base,
        api=replace(api_config(), port=free_port()),
        daemon=replace(base.daemon, state_directory=tmp_path / "state"),
        database=DatabaseConfig(database_url, database) if database else None,
        voicemail=VoicemailConfig(tmp_path / "voicemail"),
        routing=RoutingConfig(refresh_interval=0.2),
    )
    registry = FlowRegistry(list(config.flows.files), config.flows.prompts)
    stop = asyncio.Event()
    task = asyncio.create_task(run_daemon(config, registry, stop))
    await fake.wait_connected()
    await fake.wait_request("GET", "/bridges")
    assert config.api is not None
    try:
        async with aiohttp.ClientSession() as session:
            yield Api(f"http://127.0.0.1:{config.api.port}", session)
    finally:
        stop.set()
        assert await asyncio.wait_for(asyncio.shield(task), 10) == 0


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    """A fresh schema, migrated, with three agents (all logged out) and a VIP customer."""
    async with fresh_schema("api") as name:
        database = Database(DATABASE_URL, name)
        pool = await database.pool()
        for agent, endpoints in (
            ("a100", ["PJSIP/agent100"]),
            ("a101", ["PJSIP/agent101", "PJSIP/desk9"]),
            ("a102", ["PJSIP/agent102"]),
        ):
            await pool.execute(
                "INSERT INTO agents (id, name, endpoints, languages, wrap_up_s)"
                " VALUES ($1, $1 || ' Name', $2, '{en}', 0)",
                agent,
                endpoints,
            )
            await pool.execute("INSERT INTO agent_skills VALUES ($1, 'sales', 3)", agent)
        customer = await pool.fetchval(
            "INSERT INTO customers (name, segment) VALUES ('V', 'vip') RETURNING id"
        )
        await pool.execute("INSERT INTO customer_phones VALUES ($1, $2)", VIP, customer)
        await database.close()
        yield name


async def until(condition: Any, within: float = 5.0) -> None:
    """Poll the API (a client has no event to wait on) until ``condition()``."""
    async with asyncio.timeout(within):
        while not await condition():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


# -- readiness, metrics, calls ------------------------------------------------------------
async def test_ready_is_public_and_says_ok_per_check(
    fake: FakeAri, tmp_path: Path, schema: str
) -> None:
    async with running(fake, tmp_path, database=schema) as api:
        body = await api.call("GET", "/ready", 200, headers={})
        assert body == {"status": "ready", "checks": {"ari": "ok", "flows": "ok", "database": "ok"}}
        assert (await api.call("GET", "/health", 200, headers={})) == {"status": "ok"}


async def test_not_ready_when_the_database_or_ari_is_away(fake: FakeAri, tmp_path: Path) -> None:
    unreachable = replace(lab_config(fake, tmp_path), database=DatabaseConfig(
        UNREACHABLE, "nowhere"))  # fmt: skip
    (tmp_path / "flow.yaml").write_text(SPINE)
    assert unreachable.database is not None
    registry = FlowRegistry(list(unreachable.flows.files), unreachable.flows.prompts)
    context = ApiContext(
        api_config(),
        ari_connected=lambda: False,
        flows=registry,
        database=Database(unreachable.database.url, unreachable.database.schema),
    )
    async with api_client(make_app(context, route_groups())) as client:
        started = asyncio.get_running_loop().time()
        response = await client.get("/ready")
        assert asyncio.get_running_loop().time() - started < 2.5  # bounded, not a hang
        body = await response.json()
    assert response.status == 503
    check_response("GET", "/ready", 503, body)
    assert body == {
        "status": "not_ready",
        "checks": {"ari": "failing", "flows": "ok", "database": "failing"},
    }
    assert "127.0.0.1" not in str(body)  # nothing about where or why


async def test_a_connected_call_is_listed_live_and_counted_once_it_ends(
    fake: FakeAri, tmp_path: Path
) -> None:
    async with running(fake, tmp_path) as api:
        await api.call("GET", "/metrics", 401, headers={})
        caller = await connected_call(fake)
        live = await api.call("GET", "/calls/live", 200)
        assert live["count"] == 1
        call = live["calls"][0]
        assert call["call_id"] == caller
        assert call["status"] == "connected"
        assert call["answered_by"] == "PJSIP/agent100"
        assert (call["caller"], call["dialed"]) == ("+79161234567", "74951234567")
        assert call["started_at"] is not None
        assert call["answered_at"] is not None
        text = await metrics(api)
        assert "switchboard_calls_in_progress 1.0" in text
        await fake.caller_hangs_up(caller)

        async def gone() -> bool:
            live = await api.call("GET", "/calls/live", 200)
            return bool(live["count"] == 0)

        await until(gone)
        text = await metrics(api)
    assert 'switchboard_calls_total{outcome="answered"} 1.0' in text
    assert "switchboard_call_wait_seconds_count 1.0" in text
    assert "switchboard_calls_in_progress 0.0" in text
    assert "switchboard_ari_reconnects_total 0.0" in text


async def test_database_errors_are_counted_where_they_are_caught(
    fake: FakeAri, tmp_path: Path
) -> None:
    async with running(fake, tmp_path, database="nowhere", database_url=UNREACHABLE) as api:
        caller = await connected_call(fake)
        await fake.caller_hangs_up(caller)  # its call log row cannot be written now

        async def counted() -> bool:
            text = await metrics(api)
            return all(
                not re.search(rf'db_errors_total{{component="{c}"}} 0.0', text)
                for c in ("calllog", "callbacks", "routing")
            )

        await until(counted, within=8)
        assert (await api.call("GET", "/ready", 503, headers={}))["checks"]["database"] == "failing"


async def metrics(api: Api) -> str:
    async with api.session.get(f"{api.base}/metrics", headers=AUTH) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return await response.text()


async def test_a_caller_waiting_in_a_queue_is_in_its_line(fake: FakeAri, tmp_path: Path) -> None:
    async with running(fake, tmp_path, flow=QUEUE) as api:
        first, second = fake.new_channel(), fake.new_channel(caller="+79160000002")
        for call in (first, second):
            await fake.stasis_start(call)
            await fake.wait_request("POST", rf"/channels/{call}/moh")
        await fake.wait_request("POST", rf"/bridges/{first}-bridge/addChannel")
        body = await api.call("GET", "/queues", 200)
        assert [q["name"] for q in body["queues"]] == ["sales"]
        waiting = body["queues"][0]["waiting"]
        assert [(w["position"], w["call_id"], w["caller"]) for w in waiting] == [
            (1, second, "+79160000002")
        ]
        assert waiting[0]["vip"] is False
        live = (await api.call("GET", "/calls/live", 200))["calls"]
        statuses = {c["call_id"]: c["status"] for c in live}
        assert statuses == {first: "connected", second: "waiting"}
        for call in (first, second):
            await fake.caller_hangs_up(call)


# -- agents -------------------------------------------------------------------------------
async def test_agents_are_listed_with_their_phones_and_paged(
    fake: FakeAri, tmp_path: Path, schema: str
) -> None:
    async with running(fake, tmp_path, database=schema) as api:
        body = await api.call("GET", "/agents", 200)
        assert [a["id"] for a in body["agents"]] == ["a100", "a101", "a102"]
        assert body["next_cursor"] is None
        a101 = body["agents"][1]
        assert a101["state"] == "logged_out"
        assert a101["skills"] == [{"skill": "sales", "proficiency": 3}]
        assert a101["phones"] == [
            {"endpoint": "PJSIP/agent101", "registered": True, "in_use": False},
            {"endpoint": "PJSIP/desk9", "registered": None, "in_use": False},  # not in Asterisk
        ]
        first = await api.call("GET", "/agents?limit=2", 200, template="/agents")
        second = await api.call("GET", "/agents", 200, params={"cursor": first["next_cursor"]})
        assert [a["id"] for a in first["agents"] + second["agents"]] == ["a100", "a101", "a102"]
        assert second["next_cursor"] is None
        for query, param in (("limit=0", "limit"), ("state=asleep", "state"),
                             ("cursor=zzz", "cursor"), ("sort=id", "sort")):  # fmt: skip
            error = await api.call("GET", f"/agents?{query}", 400, template="/agents")
            assert (error["error"]["id"], error["error"]["param"]) == ("invalid_query", param)


async def test_agent_login_pause_unpause_logout(fake: FakeAri, tmp_path: Path, schema: str) -> None:
    async with running(fake, tmp_path, database=schema) as api:
        login = await act(api, "a100", "login")
        assert login == {"agent": "a100", "state": "available", "was": "logged_out",
                         "pause_reason": ""}  # fmt: skip
        paused = await act(api, "a100", "pause", json={"reason": "lunch"})
        assert (paused["state"], paused["was"]) == ("paused", "available")
        assert paused["pause_reason"] == "lunch"
        listed = await api.call("GET", "/agents?state=paused", 200, template="/agents")
        assert [(a["id"], a["pause_reason"]) for a in listed["agents"]] == [("a100", "lunch")]
        assert (await act(api, "a100", "unpause", json={}))["state"] == "available"
        assert (await act(api, "a100", "logout"))["state"] == "logged_out"


async def act(api: Api, agent: str, action: str, **kwargs: Any) -> Any:
    template = f"/agents/{{agent_id}}/{action}"
    return await api.call("POST", f"/agents/{agent}/{action}", 200, template=template, **kwargs)


@pytest.mark.parametrize(
    ("action", "kwargs", "status", "error_id"),
    [
        ("nobody/login", {}, 404, "agent_not_found"),
        ("a100/login", {"json": {"reason": "x"}}, 400, "invalid_field"),
        ("a100/pause", {"json": {"reason": 5}}, 400, "invalid_field"),
        ("a100/pause", {"json": {"why": "x"}}, 400, "invalid_field"),
        ("a100/pause", {"json": {"reason": "a\u0000b"}}, 400, "invalid_field"),  # (no 503)
        ("a%00/login", {}, 404, "agent_not_found"),
        ("a100/pause", {"json": ["lunch"]}, 400, "invalid_json"),
        ("a100/pause", {"data": b"{oops", "headers": {**AUTH, "Content-Type": "application/json"}},
         400, "invalid_json"),
        ("a100/pause", {"data": b"reason=x", "headers": {**AUTH, "Content-Type": "text/plain"}},
         415, "unsupported_media_type"),
        ("a100/pause", {"json": {"reason": "x" * 70_000}}, 413, "body_too_large"),
        ("a100/pause", {"headers": {"Authorization": "Bearer nope-nope-nope-nope"}}, 401,
         "unauthorized"),
    ],
)  # fmt: skip
async def test_agent_actions_refuse_with_a_json_error(
    fake: FakeAri,
    tmp_path: Path,
    schema: str,
    action: str,
    kwargs: dict[str, Any],
    status: int,
    error_id: str,
) -> None:
    template = "/agents/{agent_id}/" + action.rpartition("/")[2]
    async with running(fake, tmp_path, database=schema) as api:
        body = await api.call("POST", f"/agents/{action}", status, template=template, **kwargs)
    assert body["error"]["id"] == error_id
    if status == 401:
        assert body == {"error": {"id": "unauthorized", "message": "a valid API token is required"}}


async def test_a_caller_waits_in_the_agents_line_until_an_agent_logs_in_through_the_api(
    fake: FakeAri, tmp_path: Path, schema: str
) -> None:
    async with running(fake, tmp_path, flow=AGENTS_ROUTE, database=schema) as api:
        caller = fake.new_channel(caller=VIP)
        await fake.stasis_start(caller)

        async def waiting() -> bool:
            lines = (await api.call("GET", "/queues", 200))["queues"]
            return bool(lines)

        await until(waiting)
        (line,) = (await api.call("GET", "/queues", 200))["queues"]
        assert line["name"] == "agents"
        assert [(w["position"], w["call_id"], w["vip"]) for w in line["waiting"]] == [
            (1, caller, True)
        ]
        await act(api, "a102", "login")
        rung = await fake.wait_request("POST", rf"/channels/{re.escape(caller)}-leg\d+")
        assert rung.query["endpoint"] == "PJSIP/agent102"
        await fake.wait_request("POST", rf"/bridges/{caller}-bridge/addChannel")
        (call,) = (await api.call("GET", "/calls/live", 200))["calls"]
        assert (call["status"], call["agent"]) == ("connected", "a102")
        assert call["customer"] is not None
        decisions = re.search(r"^switchboard_routing_decision_seconds_count (\S+)$",
                              await metrics(api), re.MULTILINE)  # fmt: skip
        assert decisions is not None
        assert float(decisions[1]) >= 1
        await fake.caller_hangs_up(caller)


async def test_the_database_away_is_503_and_counted(fake: FakeAri, tmp_path: Path) -> None:
    async with running(fake, tmp_path) as api:  # no database: section
        body = await api.call("GET", "/agents", 503)
        assert body["error"]["id"] == "database_unavailable"
    down = replace(lab_config(fake, tmp_path), database=DatabaseConfig(
        UNREACHABLE, "nowhere"))  # fmt: skip
    assert down.database is not None
    counted = Metrics()
    context = ApiContext(
        api_config(), database=Database(down.database.url, "nowhere"), metrics=counted
    )
    async with api_client(make_app(context, route_groups())) as client:
        response = await client.get("/voicemails", headers=AUTH)
        body = await response.json()
        assert response.status == 503
        check_response("GET", "/voicemails", 503, body)
    assert 'switchboard_db_errors_total{component="api"} 1.0' in counted.exposition().decode()


# -- flows --------------------------------------------------------------------------------
async def test_reload_answers_the_new_version_or_the_problems(
    fake: FakeAri, tmp_path: Path
) -> None:
    async with running(fake, tmp_path) as api:
        same = await api.call("POST", "/flows/reload", 200)
        assert same["changed"] is False
        assert same["version"] == same["previous"]
        (tmp_path / "flow.yaml").write_text(SPINE.replace("timeout: 25", "timeout: 20"))
        new = await api.call("POST", "/flows/reload", 200)
        assert new["changed"] is True
        assert new["previous"] == same["version"]
        assert new["version"] != same["version"]
        (tmp_path / "flow.yaml").write_text(SPINE.replace("next: agent", "next: nowhere"))
        refused = await api.call("POST", "/flows/reload", 422)
        assert refused["error"]["id"] == "flows_invalid"
        assert refused["error"]["version"] == new["version"]  # the old one still serves
        assert any("nowhere" in problem for problem in refused["error"]["problems"])
        assert (await api.call("GET", "/ready", 200, headers={}))["status"] == "ready"
        cookie_only = {"Cookie": "switchboard_token=" + AUTH["Authorization"][7:]}
        await api.call("POST", "/flows/reload", 401, headers=cookie_only)  # reading only


# -- voicemails ---------------------------------------------------------------------------
async def add_voicemail(
    schema: str, tmp_path: Path, name: str, mailbox: str, minutes_ago: int, heard: bool = False
) -> bytes:
    audio = f"RIFF-{name}".encode() * 100
    path = tmp_path / "voicemail" / "2026" / "11" / f"{name}.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(audio)
    database = Database(DATABASE_URL, schema)
    pool = await database.pool()
    await pool.execute(
        "INSERT INTO voicemails (id, call_id, mailbox, caller, recorded_at, duration_s, file,"
        " size_bytes, heard_at) VALUES ($1, 'c-' || $1, $2, '+7916', now() - make_interval("
        "mins => $3), 3.5, $4, $5, CASE WHEN $6 THEN now() END)",
        name, mailbox, minutes_ago, str(path), len(audio), heard,
    )  # fmt: skip
    await database.close()
    return audio


async def test_voicemails_newest_first_paged_and_filtered(
    fake: FakeAri, tmp_path: Path, schema: str
) -> None:
    rows = [("vm1", "100", 30, True), ("vm2", "100", 20, False), ("vm3", "200", 10, False),
            ("vm4", "100", 5, False)]  # fmt: skip
    for name, mailbox, ago, heard in rows:
        await add_voicemail(schema, tmp_path, name, mailbox, ago, heard)
    async with running(fake, tmp_path, database=schema) as api:
        seen, cursor = [], None
        while True:
            query = {"limit": "3"} | ({"cursor": cursor} if cursor else {})
            page = await api.call("GET", "/voicemails", 200, params=query)
            seen += [v["id"] for v in page["voicemails"]]
            if (cursor := page["next_cursor"]) is None:
                break
        assert seen == ["vm4", "vm3", "vm2", "vm1"]
        box = await api.call("GET", "/voicemails", 200, params={"mailbox": "100", "heard": "false"})
        assert [v["id"] for v in box["voicemails"]] == ["vm4", "vm2"]
        assert box["voicemails"][0]["audio"] == "/voicemails/vm4/audio"
        assert "file" not in box["voicemails"][0]  # where it is on disk is not the client's
        heard = await api.call("GET", "/voicemails", 200, params={"heard": "true"})
        assert [(v["id"], v["heard"]) for v in heard["voicemails"]] == [("vm1", True)]
        bad = [("heard=maybe", "heard"), ("limit=501", "limit"), ("cursor=eyJ4Ijox", "cursor"),
               ("mailbox=", "mailbox")]  # fmt: skip
        for text, param in bad:
            error = await api.call("GET", f"/voicemails?{text}", 400, template="/voicemails")
            assert error["error"]["param"] == param


async def test_voicemail_audio_and_heard(fake: FakeAri, tmp_path: Path, schema: str) -> None:
    audio = await add_voicemail(schema, tmp_path, "vm1", "100", 1)
    outside = tmp_path / "elsewhere.wav"
    outside.write_bytes(b"secret")
    database = Database(DATABASE_URL, schema)
    await (await database.pool()).execute(
        "INSERT INTO voicemails (id, call_id, mailbox, duration_s, file, size_bytes)"
        " VALUES ('vm-out', 'c', '100', 1, $1, 6), ('vm-gone', 'c', '100', 1, $2, 6)",
        str(outside),
        str(tmp_path / "voicemail" / "gone.wav"),
    )
    await database.close()
    async with running(fake, tmp_path, database=schema) as api:
        async with api.session.get(f"{api.base}/voicemails/vm1/audio", headers=AUTH) as got:
            assert got.status == 200
            assert got.content_type == "audio/wav"
            assert await got.read() == audio
            check_response("GET", "/voicemails/{voicemail_id}/audio", 200, None, got.content_type)
        template = "/voicemails/{voicemail_id}/audio"
        for name, error_id in (("vm-out", "audio_not_found"), ("vm-gone", "audio_not_found"),
                               ("nope", "voicemail_not_found"),
                               ("..%2F..%2Fetc%2Fpasswd", "voicemail_not_found")):  # fmt: skip
            body = await api.call("GET", f"/voicemails/{name}/audio", 404, template=template)
            assert body["error"]["id"] == error_id
        heard = "/voicemails/{voicemail_id}/heard"
        first = await api.call("POST", "/voicemails/vm1/heard", 200, template=heard)
        assert first["heard"] is True
        again = await api.call("POST", "/voicemails/vm1/heard", 200, template=heard)
        assert again["heard_at"] == first["heard_at"]  # the first time is kept
        missing = await api.call("POST", "/voicemails/nope/heard", 404, template=heard)
        assert missing["error"]["id"] == "voicemail_not_found"
        await api.call("POST", "/voicemails/vm1/heard", 401, template=heard, headers={})


async def test_unknown_routes_are_json_404s_without_asking_for_a_token(
    fake: FakeAri, tmp_path: Path
) -> None:
    async with (
        running(fake, tmp_path) as api,
        api.session.get(f"{api.base}/calls/everything") as response,
    ):
        assert response.status == 404
        assert (await response.json())["error"]["id"] == "not_found"
