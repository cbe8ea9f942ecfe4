"""Tier 2: `switchboard import customers|agents` against real PostgreSQL: all rows in
one transaction or none, agents upserted with their skills replaced."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from switchboard import db
from switchboard.cli import main
from tests.pgkit import DATABASE_URL, fresh_schema

AGENTS = """\
sites:
  msk: {name: Moscow, zone: Europe/Moscow, calendar: office}
agents:
  - id: a101
    name: Anna
    site: msk
    endpoints: [PJSIP/101]
    languages: [ru, en]
    level: senior
    max_calls: 2
    wrap_up_s: 15
    skills: {sales: 4, support: 2}
  - {id: a102, name: Boris, site: msk, endpoints: [PJSIP/102], skills: {support: 5}}
"""
CUSTOMERS = """\
name,phones,segment,language,products,owner_agent,lifetime_value,churn_score,notes
"'; DROP TABLE customers; --",8 (987) 123-45-67;+37360123456,vip,ru,card;loan,a101,1250.50,0.25,
Ann,89870000001,,,,,,,"multi
line"
"""


Run = tuple[int, list[str]]  # exit code, stdout lines
Importer = Callable[[str, str, str], Awaitable[Run]]  # (kind, file name, content)


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with fresh_schema("import") as name:
        yield name


@pytest.fixture
async def pool(schema: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await db.create_pool(DATABASE_URL, schema, max_size=2)
    try:
        await db.upgrade(pool)
        yield pool
    finally:
        await pool.close()


@pytest.fixture
def config(tmp_path: Path, schema: str) -> Path:
    path = tmp_path / "switchboard.yaml"
    path.write_text(
        "ari: {url: http://127.0.0.1:8088, username: u, password: p}\n"
        "flows: {files: [flow.yaml]}\n"
        f'database: {{url: "{DATABASE_URL}", schema: {schema}}}\n'
    )
    return path


@pytest.fixture
def run(tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]) -> Importer:
    async def run_import(kind: str, name: str, content: str) -> Run:
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        code = await asyncio.to_thread(main, ["import", kind, str(path), "--config", str(config)])
        out = capsys.readouterr().out
        return code, [line.replace(f"{tmp_path}/", "") for line in out.splitlines()]

    return run_import


async def test_agents_then_customers_are_imported_with_their_phones(
    pool: asyncpg.Pool, run: Importer
) -> None:
    assert await run("agents", "agents.yaml", AGENTS) == (0, ["imported 2 agents, 1 site"])
    assert await run("customers", "customers.csv", CUSTOMERS) == (
        0,
        ["imported 2 customers (3 phones)"],
    )
    site = await one(pool, "SELECT * FROM sites")
    assert dict(site) == {
        "id": "msk",
        "name": "Moscow",
        "zone": "Europe/Moscow",
        "calendar": "office",
    }
    agent = await one(pool, "SELECT * FROM agents WHERE id = 'a101'")
    assert (agent["name"], agent["site"], agent["endpoints"], agent["languages"]) == (
        "Anna",
        "msk",
        ["PJSIP/101"],
        ["ru", "en"],
    )
    assert (agent["level"], agent["max_calls"], agent["wrap_up_s"]) == ("senior", 2, 15)
    assert await skills(pool) == [
        ("a101", "sales", 4),
        ("a101", "support", 2),
        ("a102", "support", 5),
    ]
    rows = await pool.fetch(
        "SELECT c.name, c.segment, c.language, c.products, c.owner_agent, c.lifetime_value::text,"
        " c.churn_score, c.notes, array_agg(p.phone ORDER BY p.phone) AS phones"
        " FROM customers c JOIN customer_phones p ON p.customer = c.id"
        " GROUP BY c.id ORDER BY c.id"
    )
    assert [tuple(r) for r in rows] == [
        (
            "'; DROP TABLE customers; --",
            "vip",
            "ru",
            ["card", "loan"],
            "a101",
            "1250.50",
            0.25,
            "",
            ["+37360123456", "+79871234567"],
        ),
        ("Ann", "regular", "", [], None, "0.00", 0.0, "multi\nline", ["+79870000001"]),
    ]


async def test_a_file_with_one_bad_row_imports_nothing(pool: asyncpg.Pool, run: Importer) -> None:
    await run("agents", "agents.yaml", AGENTS)
    bad = CUSTOMERS + "Bob,89870000002,gold,,,,,,\n"
    assert await run("customers", "customers.csv", bad) == (
        2,
        [
            "customers.csv:5: segment: 'gold' is not a segment "
            "(use vip, regular, new or occasional)",
            "1 error(s); nothing imported",
        ],
    )
    assert await pool.fetchval("SELECT count(*) FROM customers") == 0
    assert await pool.fetchval("SELECT count(*) FROM customer_phones") == 0


async def test_an_owner_that_is_not_an_agent_imports_nothing(
    pool: asyncpg.Pool, run: Importer
) -> None:
    assert await run("customers", "customers.csv", CUSTOMERS) == (
        2,
        [
            "customers.csv:2: owner_agent: 'a101' is not an agent in the database "
            "(import the agents first, or leave it empty)",
            "1 error(s); nothing imported",
        ],
    )
    assert await pool.fetchval("SELECT count(*) FROM customers") == 0


async def test_a_phone_that_belongs_to_a_customer_in_the_database_imports_nothing(
    pool: asyncpg.Pool, run: Importer
) -> None:
    await run("agents", "agents.yaml", AGENTS)
    await run("customers", "customers.csv", CUSTOMERS)
    ann = await pool.fetchval("SELECT customer FROM customer_phones WHERE phone = '+79870000001'")
    again = "name,phones\nNew,89870000009\nAnn again,8 987 000-00-01\n"
    assert await run("customers", "more.csv", again) == (
        2,
        [
            f"more.csv:3: phones: +79870000001 already belongs to customer {ann} in the "
            f"database (remove it here, or from customer {ann} first)",
            "1 error(s); nothing imported",
        ],
    )
    assert await pool.fetchval("SELECT count(*) FROM customers") == 2
    assert await pool.fetchval("SELECT count(*) FROM customer_phones") == 3


async def test_importing_agents_again_replaces_skills_and_keeps_their_runtime_state(
    pool: asyncpg.Pool, run: Importer
) -> None:
    await run("agents", "agents.yaml", AGENTS)
    await pool.execute(
        "UPDATE agents SET state = 'available', active = 1, calls_today = 7,"
        " last_call_ended_at = '2026-01-31T10:00:00Z' WHERE id = 'a101'"
    )
    csv = (
        "id,name,site,endpoints,languages,level,max_calls,wrap_up_s,skills\n"
        "a101,Anna P.,msk,PJSIP/101;PJSIP/201,ru,regular,1,5,billing:3\n"
        "a103,Vera,,PJSIP/103,,,,,\n"
    )
    assert await run("agents", "agents.csv", csv) == (0, ["imported 2 agents, 0 sites"])
    assert await skills(pool) == [("a101", "billing", 3), ("a102", "support", 5)]
    agent = await one(pool, "SELECT * FROM agents WHERE id = 'a101'")
    assert (agent["name"], agent["endpoints"], agent["level"], agent["max_calls"]) == (
        "Anna P.",
        ["PJSIP/101", "PJSIP/201"],
        "regular",
        1,
    )
    assert (agent["state"], agent["active"], agent["calls_today"]) == ("available", 1, 7)
    assert agent["last_call_ended_at"].isoformat() == "2026-01-31T10:00:00+00:00"
    assert await pool.fetchval("SELECT site FROM agents WHERE id = 'a103'") is None


async def test_agents_whose_site_is_unknown_or_whose_calls_exceed_max_calls_import_nothing(
    pool: asyncpg.Pool, run: Importer
) -> None:
    await run("agents", "agents.yaml", AGENTS)
    await pool.execute("UPDATE agents SET active = 2 WHERE id = 'a101'")
    csv = (
        "id,name,site,endpoints,max_calls,skills\n"
        "a101,Anna,msk,PJSIP/101,1,\n"
        "a104,Gleb,spb,PJSIP/104,1,sales:1\n"
    )
    assert await run("agents", "agents.csv", csv) == (
        2,
        [
            "agents.csv:2: max_calls: a101 has 2 calls now, more than 1 "
            "(import again when they end)",
            "agents.csv:3: site: 'spb' is neither in this file's sites nor in the database "
            "(define it under sites: in a YAML agents file)",
            "2 error(s); nothing imported",
        ],
    )
    assert await pool.fetchval("SELECT max_calls FROM agents WHERE id = 'a101'") == 2
    assert await pool.fetchval("SELECT count(*) FROM agents") == 2


async def test_a_database_that_does_not_answer_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "switchboard.yaml"
    config.write_text(
        "ari: {url: http://127.0.0.1:8088, username: u, password: p}\n"
        "flows: {files: [flow.yaml]}\n"
        'database: {url: "postgresql://postgres@127.0.0.1:1/test"}\n'
    )
    agents = tmp_path / "agents.yaml"
    agents.write_text(AGENTS)
    code = await asyncio.to_thread(main, ["import", "agents", str(agents), "--config", str(config)])
    assert code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("switchboard: database: ")
    assert captured.err.count("\n") == 1


async def one(pool: asyncpg.Pool, query: str) -> asyncpg.Record:
    row = await pool.fetchrow(query)
    assert row is not None
    return row


async def skills(pool: asyncpg.Pool) -> list[tuple[str, str, int]]:
    rows = await pool.fetch("SELECT agent, skill, proficiency FROM agent_skills ORDER BY 1, 2")
    return [(r["agent"], r["skill"], r["proficiency"]) for r in rows]
