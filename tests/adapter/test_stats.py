"""Tier 2, real PostgreSQL: statistics over calls logged through the real call log
(``CallLog.record`` spools, ``flush`` writes), checked to exact numbers.

The day is 2026-11-25 in Moscow (UTC+3). Flow main.yaml has two queues:
- sales: c1 answered by a101 exactly 20 s after it was offered (inside the service
  level), c2 answered by a101 after 20.5 s (outside), c3 hung up after 30 s while the
  owner's phone (a102) rang, c4 overflowed to a mobile after 60 s (a100 rang out);
- support: c9 answered by a102 after 10 s (a100 busy first).
c5 hung up in the IVR; after.yaml's c6 left a voicemail at 23:30 Moscow time; c7
(00:30 Moscow on the 26th) and c8 (23:59:59 Moscow on the 24th) are outside the day.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from switchboard.calllog import CallLog, CallRecord, LegRecord
from switchboard.cli import main
from switchboard.db import Database
from switchboard.stats import (
    AgentFigures,
    Cursor,
    FlowFigures,
    HourFigures,
    Period,
    QueueFigures,
)
from switchboard.stats import repository as stats
from tests.pgkit import DATABASE_URL, fresh_schema

MOSCOW = ZoneInfo("Europe/Moscow")
DAY = Period.of_days(date(2026, 11, 25), date(2026, 11, 26), "Europe/Moscow", 20.0)


def at(hhmmss: str, day: int = 25, plus: float = 0.0) -> datetime:
    local = datetime.fromisoformat(f"2026-11-{day:02d}T{hhmmss}").replace(tzinfo=MOSCOW)
    return local + timedelta(seconds=plus)


def leg(target: str, result: str, start: datetime, ring: tuple[float, float] | None,
        agent: str = "", owner: bool = False) -> LegRecord:  # fmt: skip
    if ring is None:
        return LegRecord(target, result, agent=agent)
    began, ended = (start + timedelta(seconds=s) for s in ring)
    return LegRecord(target, result, began.isoformat(), ended.isoformat(), agent, owner)


def logged(
    call_id: str,
    start: datetime,
    *,
    outcome: str,
    flow: str = "main.yaml",
    queue: str = "",
    queued: float = 5.0,
    answered: float | None = None,
    waited: float | None = None,
    length: float = 200.0,
    agent: str = "",
    answered_by: str = "",
    external: bool = False,
    ended_phase: str = "connected",
    legs: tuple[LegRecord, ...] = (),
) -> CallRecord:
    def iso(seconds: float | None) -> str:
        return (start + timedelta(seconds=seconds)).isoformat() if seconds is not None else ""

    return CallRecord(
        id=call_id, dialed="74951234567", caller="+79161234567", customer=None, flow=flow,
        flow_version="v1", started_at=iso(0), answered_at=iso(answered), ended_at=iso(length),
        answered_by=answered_by, agent=agent, outcome=outcome, route_result="",
        path=("welcome", queue) if queue else ("welcome",), legs=legs, queue=queue,
        queued_at=iso(queued) if queue else "", waited_until=iso(waited if waited else answered),
        ended_phase=ended_phase, answered_external=external,
    )  # fmt: skip


def the_calls() -> list[CallRecord]:
    c1, c2, c3, c4 = at("09:00:00"), at("09:10:00"), at("10:00:00"), at("10:00:00")
    c9 = at("11:30:00")
    return [
        logged("c1", c1, outcome="answered", queue="sales", answered=25, length=85,
               agent="a101", answered_by="PJSIP/101",
               legs=(leg("PJSIP/100", "no_answer", c1, (5, 15), "a100"),
                     leg("PJSIP/101", "answered", c1, (15, 25), "a101"))),
        logged("c2", c2, outcome="answered", queue="sales", answered=25.5, length=145.5,
               agent="a101", answered_by="PJSIP/101",
               legs=(leg("PJSIP/101", "answered", c2, (5, 25.5), "a101"),)),
        logged("c3", c3, outcome="abandoned", queue="sales", waited=35, length=35,
               agent="a102", ended_phase="dialing",
               legs=(leg("PJSIP/102", "cancelled", c3, (5, 35), "a102", owner=True),)),
        logged("c4", c4, outcome="answered", queue="sales", answered=65, length=100,
               answered_by="+79871234567", external=True,
               legs=(leg("PJSIP/100", "no_answer", c4, (5, 25), "a100"),
                     leg("+79871234567", "answered", c4, (25, 65)))),
        logged("c5", at("11:00:00"), outcome="abandoned", length=12, ended_phase="ivr"),
        logged("c9", c9, outcome="answered", queue="support", queued=3, answered=13,
               length=43, agent="a102", answered_by="PJSIP/102",
               legs=(leg("PJSIP/100", "busy", c9, (3, 4), "a100"),
                     leg("PJSIP/102", "answered", c9, (4, 13), "a102"))),
        logged("c6", at("23:30:00"), flow="after.yaml", outcome="voicemail", length=50,
               ended_phase="recording"),
        logged("c7", at("00:30:00", day=26), outcome="abandoned", length=3, ended_phase="ivr"),
        logged("c8", at("23:59:59", day=24), outcome="abandoned", length=3, ended_phase="ivr"),
    ]  # fmt: skip


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    async with fresh_schema("stats") as schema:
        database = Database(DATABASE_URL, schema)
        try:
            log = CallLog(tmp_path / "calls", database)
            for call in the_calls():
                await log.record(call)
            assert await log.flush() == 9
            yield database
        finally:
            await database.close()


async def test_per_flow_offered_answered_abandoned_service_level_and_waits(
    database: Database,
) -> None:
    flows = await stats.flow_figures(await database.pool(), DAY)
    main = FlowFigures("main.yaml", received=6, offered=5, answered=3, overflowed=1,
                       abandoned_in_ivr=1, abandoned_in_queue=1, voicemail=0,
                       answered_within=2, avg_wait_s=28.1, max_wait_s=60.0)  # fmt: skip
    after = FlowFigures("after.yaml", 1, 0, 0, 0, 0, 0, 1, 0, None, None)
    assert flows == (after, main)
    assert main.service_level == 0.4
    assert after.service_level is None


async def test_per_queue_service_level_counts_an_answer_at_exactly_20_s_and_not_at_20_5(
    database: Database,
) -> None:
    pool = await database.pool()
    sales = QueueFigures("main.yaml", "sales", offered=4, answered=2, overflowed=1, abandoned=1,
                         answered_within=1, avg_wait_s=32.625, max_wait_s=60.0)  # fmt: skip
    support = QueueFigures("main.yaml", "support", 1, 1, 0, 0, 1, 10.0, 10.0)
    assert await stats.queue_figures(pool, DAY) == (sales, support)
    assert sales.service_level == 0.25
    wider = await stats.queue_figures(pool, replace(DAY, service_level_s=20.5))
    assert [(q.queue, q.answered_within) for q in wider] == [("sales", 2), ("support", 1)]
    narrower = await stats.queue_figures(pool, replace(DAY, service_level_s=19.99))
    assert [(q.queue, q.answered_within) for q in narrower] == [("sales", 0), ("support", 1)]


async def test_per_agent_handled_talk_time_and_missed_but_not_the_owners_short_ring(
    database: Database,
) -> None:
    agents = await stats.agent_figures(await database.pool(), DAY)
    assert agents == (
        AgentFigures("a100", "", handled=0, avg_talk_s=None, rung=3, missed=3),
        AgentFigures("a101", "", handled=2, avg_talk_s=90.0, rung=2, missed=0),
        AgentFigures("a102", "", handled=1, avg_talk_s=30.0, rung=2, missed=0),
    )


async def test_hours_of_the_day_are_local_to_the_zone_asked_for(database: Database) -> None:
    pool = await database.pool()
    moscow = {h.hour: h for h in await stats.hour_figures(pool, DAY) if h.offered}
    assert moscow == {
        9: HourFigures(9, offered=2, answered=2, overflowed=0, abandoned=0),
        10: HourFigures(10, offered=2, answered=0, overflowed=1, abandoned=1),
        11: HourFigures(11, offered=2, answered=1, overflowed=0, abandoned=1),
        23: HourFigures(23, offered=1, answered=0, overflowed=0, abandoned=0),
    }
    utc_day = Period.of_days(date(2026, 11, 25), date(2026, 11, 26), "UTC", 20.0)
    utc = {h.hour: h.offered for h in await stats.hour_figures(pool, utc_day) if h.offered}
    assert utc == {6: 2, 7: 2, 8: 2, 20: 1, 21: 1}  # c7 is the 25th in UTC, c8 is not


async def test_an_empty_range_has_no_rows_and_24_quiet_hours(database: Database) -> None:
    empty = Period.of_days(date(2026, 12, 1), date(2026, 12, 2), "Europe/Moscow", 20.0)
    report = await stats.report(await database.pool(), empty)
    assert (report.agents, report.queues, report.flows) == ((), (), ())
    assert report.hours == tuple(HourFigures(h, 0, 0, 0, 0) for h in range(24))


async def test_the_call_log_pages_newest_first_with_a_cursor_and_each_calls_legs(
    database: Database,
) -> None:
    pool = await database.pool()
    seen: list[str] = []
    cursor: Cursor | None = None
    for _ in range(10):
        page = await stats.call_page(pool, DAY.start, DAY.end, 2, cursor)
        seen += [c.id for c in page.calls]
        cursor = page.next_cursor
        if cursor is None:
            break
        cursor = Cursor.decode(cursor.encode())  # as a client sends it back
    # c3 and c4 arrived in the same second: the id breaks the tie, across pages.
    assert seen == ["c6", "c9", "c5", "c4", "c3", "c2", "c1"]
    last = await stats.call_page(pool, DAY.start, DAY.end, 2, Cursor(at("09:10:00"), "c2"))
    (c1,) = last.calls
    assert last.next_cursor is None
    assert (c1.category, c1.queue, c1.queue_wait_s, c1.wait_s, c1.talk_s) == (
        "answered", "sales", 20.0, 25.0, 60.0,
    )  # fmt: skip
    assert c1.path == ("welcome", "sales")
    assert c1.queued_at == at("09:00:05").astimezone(UTC)
    assert [(g.seq, g.target, g.result, g.ring_s, g.agent) for g in c1.legs] == [
        (0, "PJSIP/100", "no_answer", 10.0, "a100"),
        (1, "PJSIP/101", "answered", 10.0, "a101"),
    ]
    with pytest.raises(ValueError, match="1 to 500"):
        await stats.call_page(pool, DAY.start, DAY.end, 0, None)


def config_for(tmp_path: Path, schema: str) -> str:
    config = tmp_path / "switchboard.yaml"
    config.write_text(
        "ari: {url: http://127.0.0.1:8088, username: u, password: p}\n"
        "flows: {files: [flow.yaml]}\n"
        f'database: {{url: "{DATABASE_URL}", schema: {schema}}}\n'
    )
    return str(config)


async def test_the_stats_command_prints_tables_and_json(
    database: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    day = ["--from", "2026-11-25", "--to", "2026-11-26", "--tz", "Europe/Moscow"]
    args = ["stats", "--config", config_for(tmp_path, database.schema), *day]
    assert await asyncio.to_thread(main, args) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["main.yaml", "sales", "4", "2", "1", "1", "25.0%", "32.6", "s", "60.0", "s"] in rows
    assert ["a101", "2", "90.0", "s", "2", "0"] in rows  # (no name: not in the agents table)
    assert await asyncio.to_thread(main, [*args, "--json", "--service-level", "20.5"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(q["queue"], q["service_level"]) for q in data["queues"]] == [
        ("sales", 0.5), ("support", 1.0),
    ]  # fmt: skip
    assert sum(h["offered"] for h in data["hours"]) == 7


async def test_a_database_not_upgraded_is_reported_not_changed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with fresh_schema("stale") as schema:
        day = ["--from", "2026-11-25", "--to", "2026-11-26"]
        code = await asyncio.to_thread(
            main, ["stats", "--config", config_for(tmp_path, schema), *day]
        )
        assert code == 1
        err = capsys.readouterr().err
        assert err.startswith("switchboard: stats: the database schema is not current (pending: ")
        assert err.endswith("run switchboard db upgrade\n")
