"""Tier 1: what a logged call counts as (its category), when the daemon notes a
call's wait and each phone's ring, the stats command's arguments, and the tables."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from switchboard.ari import events as ari
from switchboard.calllog import CALLBACK_VERSION, CallRecord, Category, LegRecord, category_of
from switchboard.cli import main
from switchboard.daemon.calltimes import CallTimes
from switchboard.engine import CallState, Outcome, Phase, TimerFired, new_call, step
from switchboard.engine.commands import Command, Originate
from switchboard.engine.events import EngineEvent, TargetsFound
from switchboard.stats import (
    AgentFigures,
    BadCursor,
    Cursor,
    FlowFigures,
    HourFigures,
    Period,
    QueueFigures,
    Report,
)
from switchboard.stats.command import StatsUsageError, parse_period
from switchboard.stats.format import format_report, report_json
from switchboard.stats.model import all_hours
from tests.enginekit import lookup
from tests.unit.test_engine_queue import QUEUE

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def record(outcome: str, **changes: object) -> CallRecord:
    fields: dict[str, object] = {
        "id": "c1", "dialed": "100", "caller": "+79161234567", "customer": None,
        "flow": "main.yaml", "flow_version": "v1", "started_at": T0.isoformat(),
        "answered_at": "", "ended_at": T0.isoformat(), "answered_by": "", "agent": "",
        "outcome": outcome, "route_result": "", "path": (), "legs": (),
    }  # fmt: skip
    return CallRecord(**{**fields, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("outcome", "changes", "category"),
    [
        (Outcome.ANSWERED, {}, Category.ANSWERED),
        (Outcome.ANSWERED, {"answered_external": True}, Category.OVERFLOWED),
        # a callback call rings the customer's own number: reaching them is an answer
        (Outcome.ANSWERED, {"answered_external": True, "flow_version": CALLBACK_VERSION},
         Category.ANSWERED),
        (Outcome.ABANDONED, {"ended_phase": "ivr"}, Category.ABANDONED_IN_IVR),
        (Outcome.ABANDONED, {"ended_phase": ""}, Category.ABANDONED_IN_IVR),  # old spool
        (Outcome.ABANDONED, {"ended_phase": "dialing"}, Category.ABANDONED_IN_QUEUE),
        (Outcome.ABANDONED_IN_QUEUE, {"ended_phase": "queued"}, Category.ABANDONED_IN_QUEUE),
        (Outcome.VOICEMAIL, {}, Category.VOICEMAIL),
        (Outcome.VOICEMAIL_DIALPLAN, {}, Category.VOICEMAIL),
        (Outcome.CALLBACK, {}, Category.CALLBACK_REQUESTED),
        (Outcome.HANGUP_BY_FLOW, {}, Category.ENDED_BY_FLOW),
        (Outcome.HANDED_BACK, {}, Category.FAILED),
        (Outcome.HANDED_BACK_ON_STOP, {}, Category.FAILED),
        (Outcome.FAILED, {}, Category.FAILED),
        # ended while the daemon was down: a conversation if it had been answered
        (Outcome.ENDED_UNOBSERVED, {"answered_at": T0.isoformat()}, Category.ANSWERED),
        (Outcome.ENDED_UNOBSERVED, {"answered_at": T0.isoformat(), "answered_external": True},
         Category.OVERFLOWED),
        (Outcome.ENDED_UNOBSERVED, {"ended_phase": "queued"}, Category.FAILED),
        ("an_outcome_of_a_newer_version", {}, Category.FAILED),
    ],
)  # fmt: skip
def test_every_outcome_has_a_category(
    outcome: str, changes: dict[str, object], category: Category
) -> None:
    assert category_of(record(outcome, **changes)) is category


def test_no_outcome_is_left_without_a_deliberate_category() -> None:
    assert {category_of(record(o)) for o in Outcome} <= set(Category)
    assert category_of(record(Outcome.HANGUP_BY_FLOW)) is not Category.FAILED


class TimedCall:
    """Steps the engine and notes times as the daemon's call runner does."""

    def __init__(self) -> None:
        self.state: CallState = new_call("c1", QUEUE, "wait")
        self.times = CallTimes()
        self.now = T0

    def at(self, seconds: float, event: EngineEvent) -> list[Command]:
        self.now = T0 + timedelta(seconds=seconds)
        before = self.state
        self.state, commands, _ = step(before, event)
        self.times.stepped(before, self.state, self.now)
        for cmd in commands:
            if isinstance(cmd, Originate):
                self.times.leg_originated(self.state, cmd.channel_id, self.now)
        return commands

    def dials(self) -> None:
        channel = ari.Channel(id="c1", caller_number="+79161234567")
        self.at(0, ari.StasisStart(channel=channel, args=("inbound", "100"), at=T0))

    def legs(self, end: float) -> list[tuple[str, str, float | None, str]]:
        found = self.times.legs(self.state.route_log, T0 + timedelta(seconds=end))
        return [(g.target, g.result, g.ring_s, g.ringing_at[-14:-6]) for g in found]


def test_the_wait_and_each_phones_ring_are_timed_by_the_daemon_not_the_engine() -> None:
    call = TimedCall()
    call.dials()  # straight into the queue "wait": offered to a person at once
    call.at(1, TargetsFound("c1-q1", order=(1,), skipped=((0, "busy"),)))
    call.at(4, ari.StasisStart(channel=ari.Channel(id="c1-leg3"), args=("leg", "c1")))
    call.at(64, ari.StasisEnd(channel=ari.Channel(id="c1")))
    times = call.times
    assert (times.queue, times.queued_at, times.waited_until) == (
        "wait", T0, T0 + timedelta(seconds=4),
    )  # fmt: skip
    assert (times.ended_phase, times.answered_external) == (Phase.CONNECTED, False)
    assert call.legs(end=64) == [
        # (PJSIP/100, busy at the turn, never rang: a queue's member away is not a try)
        ("PJSIP/101", "answered", 3.0, "09:00:01"),
    ]


def test_a_caller_who_hangs_up_while_a_phone_rings_leaves_it_cancelled() -> None:
    call = TimedCall()
    call.dials()
    call.at(2, TargetsFound("c1-q1", order=(0, 1), skipped=()))
    call.at(9, ari.StasisEnd(channel=ari.Channel(id="c1")))
    assert call.state.outcome is Outcome.ABANDONED_IN_QUEUE
    assert (call.times.ended_phase, call.times.waited_until) == (
        Phase.QUEUED,
        T0 + timedelta(seconds=9),
    )
    assert call.legs(end=9.5) == [
        ("PJSIP/100", "cancelled", 7.5, "09:00:02"),
        ("PJSIP/101", "cancelled", 7.5, "09:00:02"),
    ]


def test_an_overflow_to_a_mobile_keeps_waiting_until_the_mobile_answers() -> None:
    call = TimedCall()
    call.dials()
    call.at(1, TargetsFound("c1-q1", order=(), skipped=((0, "busy"), (1, "busy"))))
    call.at(120, TimerFired("c1-t1"))  # max_wait: on to the mobile
    find = lookup(call.state)
    call.at(120, TargetsFound(find, order=(0,), skipped=()))
    (leg,) = call.state.legs
    call.at(125, ari.StasisStart(channel=ari.Channel(id=leg.id), args=("leg", "c1")))
    times = call.times
    assert (times.queue, times.waited_until, times.answered_external) == (
        "wait", T0 + timedelta(seconds=125), True,
    )  # fmt: skip
    assert call.legs(end=200)[-1] == ("+79871234567", "answered", 5.0, "09:02:00")


def test_a_record_waits_from_queued_at_to_the_answer_or_the_end() -> None:
    queued = record(Outcome.ANSWERED, queued_at=T0.isoformat(),
                    waited_until=(T0 + timedelta(seconds=12)).isoformat())  # fmt: skip
    assert queued.queue_wait_s == 12.0
    crashed = record(Outcome.FAILED, queued_at=T0.isoformat(),
                     ended_at=(T0 + timedelta(seconds=30)).isoformat())  # fmt: skip
    assert crashed.queue_wait_s == 30.0
    assert record(Outcome.ABANDONED).queue_wait_s is None
    leg = LegRecord("PJSIP/100", "no_answer", T0.isoformat(), (T0 + timedelta(20)).isoformat())
    assert leg.ring_s == 20 * 86400.0


# -- the command's arguments -----------------------------------------------------------------
def test_days_are_local_midnights_in_the_zone() -> None:
    period = parse_period("2026-03-28", "2026-03-30", "Europe/London", "15")
    assert period.start.isoformat() == "2026-03-28T00:00:00+00:00"
    assert period.end.isoformat() == "2026-03-30T00:00:00+01:00"  # summer time began
    assert (period.end.astimezone(UTC) - period.start.astimezone(UTC)) == timedelta(hours=47)
    assert (period.zone, period.service_level_s) == ("Europe/London", 15.0)


@pytest.mark.parametrize(
    ("first", "after_last", "zone", "level", "message"),
    [
        ("2026-13-01", "2026-12-02", "UTC", "20", "--from '2026-13-01' is not a date"),
        ("2026-11-01", "20261102", "UTC", "20", "--to '20261102' is not a date"),
        ("2026-11-02", "2026-11-02", "UTC", "20", "--to 2026-11-02 must be after --from"),
        ("2026-11-01", "2026-11-02", "Mars/Olympus", "20", "--tz 'Mars/Olympus' is not a"),
        ("2026-11-01", "2026-11-02", "../../etc/passwd", "20", "is not a time zone"),
        ("2026-11-01", "2026-11-02", "UTC", "0", "--service-level '0' is not a number"),
        ("2026-11-01", "2026-11-02", "UTC", "nan", "--service-level 'nan' is not"),
        ("2026-11-01", "2026-11-02", "UTC", "soon", "--service-level 'soon' is not"),
    ],
)
def test_bad_arguments_say_which_and_why(
    first: str, after_last: str, zone: str, level: str, message: str
) -> None:
    with pytest.raises(StatsUsageError, match=message.replace("(", r"\(")):
        parse_period(first, after_last, zone, level)


def test_a_bad_zone_on_the_command_line_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["stats", "--config", "none.yaml", "--from", "2026-11-01", "--to", "2026-11-02"]
    assert main([*args, "--tz", "Europe/Atlantis"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "switchboard: stats: --tz 'Europe/Atlantis' is not a time zone (e.g. Europe/Moscow, UTC)\n"
    )
    assert main(args) == 2  # good arguments, but the config is missing
    assert capsys.readouterr().err.startswith("switchboard: stats: none.yaml: cannot read config")


# -- results and how they are shown --------------------------------------------------------
def test_a_cursor_round_trips_and_a_forged_one_is_refused() -> None:
    cursor = Cursor(T0, "1764061234.12")
    assert Cursor.decode(cursor.encode()) == cursor
    for forged in ("", "bm90IGEgY3Vyc29y", "!!!", Cursor(T0.replace(tzinfo=None), "x").encode()):
        with pytest.raises(BadCursor):
            Cursor.decode(forged)


def test_all_24_hours_are_listed() -> None:
    hours = all_hours([HourFigures(9, 3, 2, 0, 1)])
    assert len(hours) == 24
    assert hours[9] == HourFigures(9, 3, 2, 0, 1)
    assert hours[10] == HourFigures(10, 0, 0, 0, 0)


def sample_report() -> Report:
    period = Period.of_days(date(2026, 11, 25), date(2026, 11, 26), "Europe/Moscow", 20.0)
    return Report(
        period,
        agents=(AgentFigures("a101", "Anna <b>", 2, 90.0, 3, 1),),
        queues=(QueueFigures("main.yaml", "sales", 4, 2, 1, 1, 1, 32.625, 60.0),),
        flows=(FlowFigures("main.yaml", 6, 5, 3, 1, 1, 1, 0, 2, 28.1, 60.0),
               FlowFigures("after.yaml", 1, 0, 0, 0, 0, 0, 1, 0, None, None)),
        hours=all_hours([HourFigures(9, 2, 2, 0, 0), HourFigures(23, 1, 0, 0, 0)]),
    )  # fmt: skip


def test_the_tables() -> None:
    assert format_report(sample_report()).splitlines() == [
        "Calls that arrived from 2026-11-25 00:00 to 2026-11-26 00:00 (Europe/Moscow);"
        " service level: answered within 20.0 s",
        "",
        "Flows",
        "  flow        received  offered  answered  overflowed  aband. IVR  aband. queue"
        "  voicemail  service level  avg wait  max wait",
        "  main.yaml          6        5         3           1           1             1"
        "          0          40.0%    28.1 s    60.0 s",
        "  after.yaml         1        0         0           0           0             0"
        "          1              -         -         -",
        "",
        "Queues (where callers first waited for a person)",
        "  flow       queue  offered  answered  overflowed  abandoned  service level"
        "  avg wait  max wait",
        "  main.yaml  sales        4         2           1          1          25.0%"
        "    32.6 s    60.0 s",
        "",
        "Agents",
        "  agent  name      handled  avg talk  rung  missed",
        "  a101   Anna <b>        2    90.0 s     3       1",
        "",
        "Hours of the day (Europe/Moscow)",
        "   hour  offered  answered  overflowed  abandoned",
        "  09:00        2         2           0          0",
        "  23:00        1         0           0          0",
    ]


def test_an_empty_report_says_so_in_every_section() -> None:
    empty = Report(sample_report().period, (), (), (), all_hours([]))
    assert format_report(empty).count("(no calls)") == 4


def test_the_json_has_the_period_every_figure_and_the_24_hours() -> None:
    data = json.loads(json.dumps(report_json(sample_report())))
    assert data["period"] == {
        "from": "2026-11-25T00:00:00+03:00", "to": "2026-11-26T00:00:00+03:00",
        "zone": "Europe/Moscow", "service_level_s": 20.0,
    }  # fmt: skip
    assert data["queues"][0] == {
        "flow": "main.yaml", "queue": "sales", "offered": 4, "answered": 2, "overflowed": 1,
        "abandoned": 1, "answered_within": 1, "avg_wait_s": 32.625, "max_wait_s": 60.0,
        "service_level": 0.25,
    }  # fmt: skip
    assert data["flows"][0]["abandoned"] == 2
    assert data["flows"][1]["service_level"] is None
    assert data["agents"][0]["avg_talk_s"] == 90.0
    assert len(data["hours"]) == 24
