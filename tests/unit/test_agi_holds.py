"""Tier 1: the table of channels route remembers (agi.holds), with a fake clock.

Channels without an agent are forgotten within a minute whether or not ARI can be
asked; the table never grows past max_holds for channels without an agent, and a
channel holding an agent is never pushed out (only a new channel is refused)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from switchboard.agi.holds import (
    FORGET_AFTER_S,
    SWEEP_TICK_S,
    Holds,
    sweeps_per_check,
)
from switchboard.engine.commands import ReportAgent


@dataclass
class Clock:
    now: float = 1_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Router:
    reports: list[ReportAgent] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)

    def report(self, cmd: ReportAgent) -> None:
        self.reports.append(cmd)

    def call_ended(self, call_id: str) -> None:
        self.ended.append(call_id)


def a_table(max_holds: int = 10_000) -> tuple[Holds, Router, Clock]:
    router, clock = Router(), Clock()
    return Holds(router, hold_limit=14_400, max_holds=max_holds, clock=clock), router, clock


def route(holds: Holds, uniqueid: str, agent: str = "") -> str:
    """A route on the channel (its agent held, if any); the router's call id."""
    call = holds.next_call(uniqueid)
    assert call is not None
    if agent:
        holds.hold(uniqueid, call[0], agent)
    return call[0]


def test_channels_without_an_agent_are_forgotten_within_a_minute_without_ari() -> None:
    holds, _, clock = a_table()
    route(holds, "nobody")  # found nobody free
    route(holds, "talked", "a100")
    route(holds, "talking", "a101")
    clock.now += 30
    holds.release("talked", "ANSWER", "done")  # its minute starts at the release
    clock.now += FORGET_AFTER_S - 29
    holds.sweep(None)  # ARI could not be asked
    assert list(holds.channels) == ["talking", "talked"]
    clock.now += 30
    assert holds.sweep(None) == 0
    assert list(holds.channels) == ["talking"]  # an agent's hold keeps today's rules
    assert holds.held("talking") == "a101"
    assert FORGET_AFTER_S + SWEEP_TICK_S <= 60


@pytest.mark.parametrize("check_interval", [0.05, 1, 15, 16, 60, 3600])
def test_the_sweep_runs_at_least_every_tick_whatever_the_check_interval(
    check_interval: float,
) -> None:
    ticks = sweeps_per_check(check_interval)
    assert check_interval / ticks <= SWEEP_TICK_S
    assert ticks == 1 or check_interval / (ticks - 1) > SWEEP_TICK_S  # (no more than needed)


def test_a_flood_of_new_channels_pushes_out_the_oldest_without_an_agent_only() -> None:
    holds, _, clock = a_table(max_holds=10)
    for n in range(3):
        route(holds, f"held.{n}", f"a10{n}")
    route(holds, "early")
    clock.now += 1
    route(holds, "asked.again")
    route(holds, "early")  # seen again: now younger than asked.again
    for n in range(1_000):
        clock.now += 0.001
        route(holds, f"flood.{n}")
        assert len(holds.channels) <= 10
    assert [holds.held(f"held.{n}") for n in range(3)] == ["a100", "a101", "a102"]
    assert holds.pushed_out == 1_000 - 5
    assert holds.refused == 0


def test_the_oldest_without_an_agent_goes_first() -> None:
    holds, _, clock = a_table(max_holds=3)
    route(holds, "first")
    route(holds, "second")
    route(holds, "third")
    clock.now += 1
    route(holds, "first")  # seen again
    route(holds, "fourth")
    assert list(holds.channels) == ["third", "first", "fourth"]


def test_a_table_full_of_agents_refuses_new_channels_but_not_those_it_knows() -> None:
    holds, router, _ = a_table(max_holds=2)
    route(holds, "one", "a100")
    route(holds, "two", "a101")
    assert holds.next_call("three") is None
    assert (holds.refused, list(holds.channels)) == (1, ["one", "two"])
    holds.release("one", "NOANSWER", "route_again")
    call = holds.next_call("one")  # a channel it knows routes again
    assert call is not None
    assert call[1] == ("a100",)  # and is not offered its last agent again
    assert router.reports[-1] == ReportAgent("agi-one-1", "a100", "missed")
    assert holds.next_call("three") is not None  # "one" holds nobody now: pushed out
    assert list(holds.channels) == ["two", "three"]


def test_an_agent_reserved_while_its_channel_was_pushed_out_is_still_held() -> None:
    holds, _, _ = a_table(max_holds=1)
    call = holds.next_call("slow")  # the router is deciding ...
    assert call is not None
    route(holds, "other")  # ... meanwhile another channel takes its place
    holds.hold("slow", call[0], "a100")
    assert holds.held("slow") == "a100"  # a reservation nobody would release: never


def test_every_route_is_its_own_call_even_on_a_channel_that_was_forgotten() -> None:
    holds, _, clock = a_table()
    first = route(holds, "1.1")
    clock.now += FORGET_AFTER_S + 1
    holds.sweep(None)
    assert "1.1" not in holds.channels
    assert route(holds, "1.1") != first
