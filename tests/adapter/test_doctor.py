"""Tier 2: `switchboard doctor` against the fake ARI and real PostgreSQL, one test per
way a live setup can be wrong; each must be told apart and say what to do."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from switchboard import db
from switchboard.ari.client import basic_auth_header
from switchboard.cli import main
from switchboard.config import load_config
from switchboard.doctor import Finding, Verdict, examine
from tests.fake_ari import PASSWORD, USER, FakeAri
from tests.pgkit import DATABASE_URL, fresh_schema

ROOT = Path(__file__).resolve().parents[2]
FLOW = """\
languages: [en]
entry: {"100": office}
nodes:
  office:
    kind: route
    endpoints: [PJSIP/100, PJSIP/101]
    on_fail: mobile
  mobile:
    kind: route
    number: "+79871234567"
    trunk: carrier
    on_fail: bye
  bye: {kind: hangup}
"""


def write_config(
    tmp_path: Path,
    ari_url: str,
    *,
    schema: str | None = None,
    database_url: str = DATABASE_URL,
    password: str = PASSWORD,
    flow: str = FLOW,
) -> Path:
    (tmp_path / "flow.yaml").write_text(flow)
    path = tmp_path / "switchboard.yaml"
    text = (
        f"ari: {{url: '{ari_url}', username: {USER}, password: {password}}}\n"
        f"flows: {{files: [flow.yaml], prompts: '{ROOT / 'prompts'}'}}\n"
    )
    if schema is not None:
        text += f"database: {{url: '{database_url}', schema: {schema}}}\n"
    path.write_text(text)
    return path


async def findings_for(path: Path, request_timeout: float = 2.0) -> dict[str, Finding]:
    return {f.check: f for f in await examine(load_config(path), request_timeout)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    """A schema with every migration applied (what `switchboard db upgrade` leaves)."""
    async with fresh_schema("doctor") as name:
        pool = await db.create_pool(DATABASE_URL, name, max_size=1)
        try:
            await db.upgrade(pool)
        finally:
            await pool.close()
        yield name


@pytest.fixture
async def daemon_connected(fake: FakeAri) -> AsyncIterator[None]:
    """An event websocket open as the app `switchboard`, as the running daemon holds."""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            fake.url.replace("http", "ws") + "/ari/events",
            params={"app": "switchboard"},
            headers={"Authorization": basic_auth_header(USER, PASSWORD)},
        ),
    ):
        await fake.wait_connected()
        yield


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers (a black hole)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


async def test_a_healthy_setup_prints_ok_for_every_check_and_exits_0(
    fake: FakeAri,
    daemon_connected: None,
    schema: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, fake.url, schema=schema)
    code = await asyncio.to_thread(main, ["doctor", "--config", str(config)])
    out = capsys.readouterr().out.splitlines()
    assert code == 0, out
    checks = ["config", "flows", "ARI", "ARI app", "dialplan", "endpoints", "database"]
    assert [(line[:4], line[6:15].rstrip()) for line in out[:-1]] == [("OK  ", c) for c in checks]
    assert out[-1] == "doctor: 7 OK"
    assert f"{fake.url} accepts user 'switchboard' (Asterisk 22.10.1-fake)" in out[2]
    assert "all 3 endpoint(s) the flows ring exist in Asterisk" in out[5]
    assert f"schema '{schema}' is current" in out[6]
    # the dialplan probe: its own app, a channel created (never dialled) and deleted
    [probe] = fake.requested("POST", "/channels/create")
    assert probe.query == {
        "endpoint": "Local/doctor@switchboard-doctor",
        "app": "switchboard-doctor",
    }
    assert fake.created == {}
    assert len(fake.requested("DELETE", r"/channels/.*")) == 1
    assert fake.channels == {}


async def test_a_wrong_password_is_told_apart_and_the_ari_checks_are_skipped(
    fake: FakeAri, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, fake.url, password="wrong")
    code = await asyncio.to_thread(main, ["doctor", "--config", str(config)])
    out = capsys.readouterr().out
    assert code == 1
    assert f"FAIL  ARI        {fake.url} refused user 'switchboard' (401" in out
    assert "fix: ari.conf needs [switchboard] type=user with the password" in out
    for check in ("ARI app", "dialplan", "endpoints"):
        assert f"SKIP  {check:<9}  not checked: ARI is not reachable" in out
    assert "SKIP  database" in out  # no database section in this config
    assert out.splitlines()[-1] == "doctor: 2 OK, 1 FAIL, 4 SKIP"


async def test_nothing_listening_is_connection_refused(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    found = (await findings_for(write_config(tmp_path, url)))["ARI"]
    assert found.verdict is Verdict.FAIL
    assert (
        found.found == f"nothing listens at 127.0.0.1:{url.rsplit(':', 1)[1]} (connection refused)"
    )
    assert "http.conf enabled=yes and bindaddr/bindport" in found.fix


async def test_a_url_that_serves_no_ari_is_a_wrong_url(fake: FakeAri, tmp_path: Path) -> None:
    found = (await findings_for(write_config(tmp_path, fake.url + "/asterisk")))["ARI"]
    assert found.verdict is Verdict.FAIL
    assert found.found.endswith("is not found (404): this URL serves no ARI")
    assert "without /ari" in found.fix


async def test_a_server_that_is_not_asterisk_is_named(fake: FakeAri, tmp_path: Path) -> None:
    fake.fail("GET", "/asterisk/info", 200, "<html>router login</html>")
    found = (await findings_for(write_config(tmp_path, fake.url)))["ARI"]
    assert found.verdict is Verdict.FAIL
    assert "answered, but not as ARI does: HTTP 502" in found.found


async def test_a_host_that_never_answers_is_a_timeout(silent_port: int, tmp_path: Path) -> None:
    config = write_config(tmp_path, f"http://127.0.0.1:{silent_port}")
    found = (await findings_for(config, request_timeout=0.3))["ARI"]
    assert (found.verdict, found.found) == (
        Verdict.FAIL,
        f"no answer from 127.0.0.1:{silent_port} in time",
    )


async def test_no_daemon_connected_is_app_not_registered(fake: FakeAri, tmp_path: Path) -> None:
    found = await findings_for(write_config(tmp_path, fake.url))
    assert found["ARI"].verdict is Verdict.OK
    app = found["ARI app"]
    assert app.verdict is Verdict.FAIL
    assert app.found == "no daemon is connected as 'switchboard' (connected apps: none)"
    assert app.fix.startswith("start the daemon (systemctl start switchboard")
    assert found["dialplan"].verdict is Verdict.OK  # checked all the same
    assert fake.created == {}


async def test_a_doctor_probe_still_listed_is_not_taken_for_a_daemon(
    fake: FakeAri, tmp_path: Path
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            fake.url.replace("http", "ws") + "/ari/events",
            params={"app": "switchboard-doctor"},  # Asterisk lists it ~1 s after it closes
            headers={"Authorization": basic_auth_header(USER, PASSWORD)},
        ),
    ):
        await fake.wait_connected()
        app = (await findings_for(write_config(tmp_path, fake.url)))["ARI app"]
    assert app.found == "no daemon is connected as 'switchboard' (connected apps: none)"
    assert app.fix.startswith("start the daemon")


async def test_an_app_name_that_differs_from_the_dialplan_is_hinted(
    fake: FakeAri, tmp_path: Path
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            fake.url.replace("http", "ws") + "/ari/events",
            params={"app": "switchbord"},
            headers={"Authorization": basic_auth_header(USER, PASSWORD)},
        ),
    ):
        await fake.wait_connected()
        app = (await findings_for(write_config(tmp_path, fake.url)))["ARI app"]
    assert app.found == "no daemon is connected as 'switchboard' (connected apps: switchbord)"
    assert app.fix.startswith("ari.app is 'switchboard' but 'switchbord' is connected")


async def test_missing_contexts_and_globals_are_each_named(
    fake: FakeAri, daemon_connected: None, tmp_path: Path
) -> None:
    fake.contexts -= {"switchboard-fallback", "switchboard-voicemail"}
    fake.globals["SWITCHBOARD_APP"] = "callrouter"
    del fake.globals["SWITCHBOARD_FALLBACK_MAILBOX"]
    found = (await findings_for(write_config(tmp_path, fake.url)))["dialplan"]
    assert found.verdict is Verdict.FAIL
    assert found.found == (
        "context [switchboard-fallback] is missing; context [switchboard-voicemail] is missing; "
        "global SWITCHBOARD_APP is callrouter, the daemon's app is 'switchboard'; "
        "global SWITCHBOARD_FALLBACK_MAILBOX is not set"
    )
    assert '#include "extensions_switchboard.conf"' in found.fix
    assert fake.created == {}  # the probe channel is deleted whatever was found


async def test_no_dialplan_functions_is_a_skip_with_the_manual_check(
    fake: FakeAri, daemon_connected: None, tmp_path: Path
) -> None:
    fake.dialplan_functions = False
    found = (await findings_for(write_config(tmp_path, fake.url)))["dialplan"]
    assert found.verdict is Verdict.SKIP
    assert "func_dialplan.so" in found.found
    assert "dialplan show switchboard-inbound" in found.fix
    assert fake.created == {}


async def test_endpoints_asterisk_lacks_are_named_with_where_and_a_hint(
    fake: FakeAri, daemon_connected: None, tmp_path: Path
) -> None:
    config = write_config(tmp_path, fake.url, flow=FLOW.replace("PJSIP/101", "PJSIP/1011"))
    found = (await findings_for(config))["endpoints"]
    assert found.verdict is Verdict.FAIL
    assert found.found == (
        f"1 unknown to Asterisk, first: {tmp_path / 'flow.yaml'}:6:28: "
        "PJSIP/1011 is not an endpoint in Asterisk (did you mean PJSIP/101?)"
    )


async def test_flows_that_do_not_compile_fail_and_skip_the_endpoints(
    fake: FakeAri, daemon_connected: None, tmp_path: Path
) -> None:
    config = write_config(tmp_path, fake.url, flow=FLOW.replace("on_fail: bye", "on_fail: byee"))
    found = await findings_for(config)
    assert found["flows"].verdict is Verdict.FAIL
    assert found["flows"].found.startswith("1 error(s), first: ")
    assert "byee" in found["flows"].found
    assert found["flows"].fix.startswith("switchboard check ")
    assert found["endpoints"].verdict is Verdict.SKIP


async def test_a_database_that_refuses_connections(fake: FakeAri, tmp_path: Path) -> None:
    port = free_port()
    config = write_config(
        tmp_path, fake.url, schema="x", database_url=f"postgresql://sb:pw@127.0.0.1:{port}/sb"
    )
    found = (await findings_for(config))["database"]
    assert found.verdict is Verdict.FAIL
    assert found.found.startswith(f"sb@127.0.0.1:{port}/sb: cannot connect (")
    assert "pw" not in found.found + found.fix  # never the password
    assert "is PostgreSQL running" in found.fix


async def test_a_database_host_that_never_answers(
    fake: FakeAri, silent_port: int, tmp_path: Path
) -> None:
    url = f"postgresql://sb@127.0.0.1:{silent_port}/sb"
    config = write_config(tmp_path, fake.url, schema="x", database_url=url)
    found = (await findings_for(config, request_timeout=0.3))["database"]
    assert (found.verdict, found.found) == (
        Verdict.FAIL,
        f"sb@127.0.0.1:{silent_port}/sb: no answer in time",
    )


async def test_an_unknown_database_role(fake: FakeAri, tmp_path: Path) -> None:
    url = DATABASE_URL.replace("postgres@", "no_such_role_sb@")
    config = write_config(tmp_path, fake.url, schema="x", database_url=url)
    found = (await findings_for(config))["database"]
    assert found.verdict is Verdict.FAIL
    assert "PostgreSQL refused the user" in found.found
    assert "no_such_role_sb" in found.found
    assert "createuser" in found.fix


async def test_a_database_that_does_not_exist(fake: FakeAri, tmp_path: Path) -> None:
    url = DATABASE_URL.rsplit("/", 1)[0] + "/no_such_db_sb"
    config = write_config(tmp_path, fake.url, schema="x", database_url=url)
    found = (await findings_for(config))["database"]
    assert found.verdict is Verdict.FAIL
    assert 'database "no_such_db_sb" does not exist' in found.found
    assert found.fix.startswith("createdb it")


async def test_an_empty_schema_has_every_migration_pending(fake: FakeAri, tmp_path: Path) -> None:
    async with fresh_schema("doctor") as name:  # never created: the doctor must not create it
        found = (await findings_for(write_config(tmp_path, fake.url, schema=name)))["database"]
        conn = await asyncpg.connect(DATABASE_URL)
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", name)
        finally:
            await conn.close()
    assert found.verdict is Verdict.FAIL
    names = [m.name for m in db.migrations()]
    assert found.found.endswith(f"{len(names)} migration(s) not applied: {', '.join(names)}")
    assert found.fix.startswith("switchboard db upgrade --config PATH")
    assert exists is None


async def test_one_migration_missing_is_named(fake: FakeAri, schema: str, tmp_path: Path) -> None:
    last = db.migrations()[-1]
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": schema})
    try:
        await conn.execute("DELETE FROM schema_migrations WHERE version = $1", last.version)
    finally:
        await conn.close()
    found = (await findings_for(write_config(tmp_path, fake.url, schema=schema)))["database"]
    assert found.verdict is Verdict.FAIL
    assert found.found.endswith(f"1 migration(s) not applied: {last.name}")


async def test_a_schema_ahead_after_a_rollback_passes_with_a_note(
    fake: FakeAri, schema: str, tmp_path: Path
) -> None:
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": schema})
    try:
        await conn.execute("INSERT INTO schema_migrations (version, name) VALUES (998, '998_x')")
    finally:
        await conn.close()
    found = (await findings_for(write_config(tmp_path, fake.url, schema=schema)))["database"]
    assert found.verdict is Verdict.OK
    assert found.found.endswith(
        "also has 998 from a newer version (a rollback: see docs/deploy.md)"
    )


async def test_a_config_that_does_not_load_is_a_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "switchboard.yaml"
    path.write_text("ari: {url: ftp://x, username: u, password: p}\nflows: {files: [f.yaml]}\n")
    assert await asyncio.to_thread(main, ["doctor", "--config", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        f"FAIL  config  {path}:1:12: ari.url: must start with http:// or https://, got 'ftp://x'"
    )
    assert out[-1] == "doctor: 1 FAIL"


async def test_a_read_only_ari_user_is_suspected_when_the_probe_is_refused(
    fake: FakeAri, daemon_connected: None, tmp_path: Path
) -> None:
    fake.fail("POST", "/channels/create", 403, '{"message":"Forbidden"}')
    found = (await findings_for(write_config(tmp_path, fake.url)))["dialplan"]
    assert found.verdict is Verdict.FAIL
    assert found.found.startswith("could not ask Asterisk: ARI POST /channels/create -> 403")
    assert found.found.endswith("(is the ARI user read_only?)")


async def test_a_probe_channel_asterisk_hangs_up_is_reported_not_crashed_on(
    fake: FakeAri, daemon_connected: None, tmp_path: Path
) -> None:
    fake.fail("GET", r"/channels/.*/variable", 404, '{"message":"Provided channel was not found"}')
    fake.fail("DELETE", r"/channels/.*", 404, '{"message":"Channel not found"}')
    found = (await findings_for(write_config(tmp_path, fake.url)))["dialplan"]
    assert found.verdict is Verdict.FAIL
    assert '-> 404: {"message":"Provided channel was not found"}' in found.found
