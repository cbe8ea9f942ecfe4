"""Tier 2: `switchboard check --live` asks Asterisk (the fake ARI) whether every
endpoint and trunk a flow rings exists."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from switchboard import db
from switchboard.cli import main
from tests.fake_ari import PASSWORD, USER, FakeAri
from tests.pgkit import DATABASE_URL, fresh_schema

ROOT = Path(__file__).resolve().parents[2]
FLOW = """\
languages: [en]
entry: {"100": office}
nodes:
  office:
    kind: route
    endpoints: [PJSIP/100, PJSIP/1011]
    on_fail: mobile
  mobile:
    kind: route
    number: "+79871234567"
    trunk: carier
    on_fail: bye
  bye: {kind: hangup}
"""


def config_for(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "switchboard.yaml"
    path.write_text(
        f"ari: {{url: {url}, username: {USER}, password: {PASSWORD}}}\n"
        "flows: {files: [flow.yaml]}\n"
    )
    return path


async def test_endpoints_asterisk_does_not_have_are_errors_with_where_and_a_hint(
    fake: FakeAri, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "flow.yaml").write_text(FLOW)
    config = config_for(tmp_path, fake.url)
    args = ["check", str(tmp_path / "flow.yaml"), "--prompts", str(ROOT / "prompts")]
    code = await asyncio.to_thread(main, [*args, "--live", str(config)])
    out = capsys.readouterr().out.splitlines()
    assert code == 2
    flow = tmp_path / "flow.yaml"
    assert out == [
        f"{flow}:6:28: PJSIP/1011 is not an endpoint in Asterisk (did you mean PJSIP/101?)",
        f"{flow}:11:12: PJSIP/carier is not an endpoint in Asterisk (did you mean PJSIP/carrier?)",
        "2 error(s)",
    ]
    fixed = FLOW.replace("PJSIP/1011", "PJSIP/101").replace("carier", "carrier")
    (tmp_path / "flow.yaml").write_text(fixed)
    assert await asyncio.to_thread(main, [*args, "--live", str(config)]) == 0
    assert capsys.readouterr().out.startswith("ok: 1 file, 1 number, 3 nodes")


async def test_an_unreachable_asterisk_is_reported_not_taken_for_a_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "flow.yaml").write_text(FLOW)
    config = config_for(tmp_path, "http://127.0.0.1:9")
    args = ["check", str(tmp_path / "flow.yaml"), "--prompts", str(ROOT / "prompts")]
    assert await asyncio.to_thread(main, [*args, "--live", str(config)]) == 2
    assert "--live: ARI GET /endpoints -> 0" in capsys.readouterr().err


AGENTS_FLOW = """\
languages: [en, ro]
skills: [sales, billing]
entry: {"100": sales}
nodes:
  sales:
    kind: route
    agents: {skills: {sales: 2, billing: 1}, language: ro, site: mks}
    on_fail: bye
  bye: {kind: hangup}
"""


async def test_skills_languages_and_sites_no_agent_in_the_database_has_are_errors(
    fake: FakeAri, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with fresh_schema("live") as schema:
        pool = await db.create_pool(DATABASE_URL, schema)
        try:
            await db.upgrade(pool)
            await pool.execute(
                "INSERT INTO sites (id, name, zone) VALUES ('msk', 'Moscow', 'Europe/Moscow')"
            )
            await pool.execute(
                "INSERT INTO agents (id, name, site, endpoints, languages)"
                " VALUES ('a1', 'A', 'msk', '{PJSIP/100}', '{ru}')"
            )
            await pool.execute("INSERT INTO agent_skills VALUES ('a1', 'sales', 3)")
            flow = tmp_path / "flow.yaml"
            flow.write_text(AGENTS_FLOW)
            config = config_for(tmp_path, fake.url)
            config.write_text(
                config.read_text() + f"database: {{url: '{DATABASE_URL}', schema: {schema}}}\n"
            )
            args = ["check", str(flow), "--prompts", str(ROOT / "prompts"), "--live", str(config)]
            code = await asyncio.to_thread(main, args)
            out = capsys.readouterr().out.splitlines()
            where = f"{flow}:5:3: node 'sales'"
            fix = "(switchboard import agents (docs/crm.md))"
            assert out == [
                f"{where}: no agent in the database has skill 'billing' {fix}",
                f"{where}: no agent in the database speaks 'ro' {fix}",
                f"{where}: site 'mks' is not in the database (did you mean 'msk'?)",
                "3 error(s)",
            ]
            assert code == 2
        finally:
            await pool.close()
