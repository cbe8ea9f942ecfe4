"""Tier 3: a dialplan of its own asks Switchboard over FastAGI, on real Asterisk.

dialplan/extensions_switchboard_agi.conf: 74951234590 runs
``AGI(agi://127.0.0.1:4573/route?skill=sales&...)`` then ``Dial(${SWITCHBOARD_TARGET})``
and ``done``, with a hangup handler that calls ``done`` too; 74951234591 runs
``hours?calendar=office``. The daemon's agents and customers are the lab's
(deploy/lab/agents.yaml, customers.csv), its flows the lab's (seed.yaml has the
``office`` calendar).

- The VIP caller reaches their owner agent (101) at once; the caller hangs up
  while talking, so the hangup handler's ``done`` (DIALSTATUS=ANSWER) frees the
  agent into wrap-up, counted as a call.
- The agent handed the call lets it ring out: ``done`` after Dial() counts a
  miss, frees them, and the caller goes on to voicemail.
- Nobody to hand out: the fallback number rings through the carrier trunk.
- ``hours`` sets SWITCHBOARD_OPEN from the calendar at the daemon's clock.
- No FastAGI server listening: AGI() fails at once and the caller still reaches
  voicemail.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from labkit.daemon import stop_and_drop
from labkit.lab import (
    AsteriskLog,
    finish_sipp,
    get_global,
    run_caller,
    set_global,
    start_agent_uas,
    wait_for_channel_count,
)
from labkit.sipp_scenarios import CARRIER_PORT, carrier_answer, start_desk_phones
from tests.e2e.test_agents_call import Office

pytestmark = pytest.mark.e2e

ROUTE = "74951234590"
HOURS = "74951234591"
AGI_SECTION = "agi: {listen: 127.0.0.1:4573, trunk: carrier, check_interval: 2}\n"


class AgiOffice(Office):
    """The lab daemon for one test, with its FastAGI server on the lab's port."""

    def __init__(self, root: Path, name: str, now: str | None = None) -> None:
        super().__init__(root, name)
        if now is not None:
            self.daemon.env = {"SWITCHBOARD_NOW": now}
        with self.config.open("a", encoding="utf-8") as config:
            config.write(AGI_SECTION)

    def start(self) -> None:
        self.daemon.start()
        self.daemon.wait_for_any("agi.listening", within=10)

    def agent_when(self, agent: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The agent's row once ``done`` holds (releases are written in the background)."""
        deadline = time.monotonic() + 10
        while True:
            (row,) = self.fetch("SELECT * FROM agents WHERE id = $1", agent)
            if done(row) or time.monotonic() > deadline:
                return row
            time.sleep(0.1)


@pytest.fixture
def office(
    lab: None, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., AgiOffice]]:
    made: list[AgiOffice] = []

    def start(**kwargs: Any) -> AgiOffice:
        one = AgiOffice(tmp_path, request.node.name, **kwargs)
        made.append(one)
        return one

    yield start
    stop_and_drop(made)


@pytest.fixture
def short_ring(lab: None) -> Iterator[None]:
    original = get_global("SWITCHBOARD_AGI_RING_SECONDS")
    set_global("SWITCHBOARD_AGI_RING_SECONDS", "4")
    try:
        yield
    finally:
        set_global("SWITCHBOARD_AGI_RING_SECONDS", original)


def notice(log: AsteriskLog, words: str, within: float = 10.0) -> str:
    """The first NOTICE line since the mark that holds ``words``."""
    deadline = time.monotonic() + within
    while True:
        found = [line for line in log.notices() if words in line]
        if found or time.monotonic() > deadline:
            assert found, f"no NOTICE with {words!r}:\n" + "\n".join(log.notices())
            return found[0]
        time.sleep(0.1)


def test_the_vip_caller_reaches_the_agent_switchboard_chose_and_the_agent_is_freed(
    office: Callable[..., AgiOffice],
) -> None:
    sales = office()
    sales.load(customers=True)
    # The phones first: the daemon reads who is registered when it connects (then
    # every second), and route decides at once, with no greeting before it.
    phones = start_desk_phones("agi_vip", {"100": None, "101": 1000, "102": None})
    sales.start()
    log = AsteriskLog()
    caller = run_caller(ROUTE, hold_ms=3000, timeout_s=40)  # hangs up while talking
    assert caller.returncode == 0, caller.stderr.decode()[-2000:]
    assert finish_sipp(phones["101"], timeout=20) == 0  # it took the call, cleanly
    (customer,) = sales.fetch("SELECT id FROM customers")
    route = notice(log, "switchboard-agi: ")
    assert "route AGISTATUS=SUCCESS target=PJSIP/101 agent=a101" in route
    assert f"customer={customer['id']} segment=vip result=agent error=" in route
    assert route.endswith("error=")
    handler = notice(log, "hangup handler")  # the caller hung up inside Dial()
    assert "DIALSTATUS=ANSWER AGISTATUS=SUCCESS" in handler
    a101 = sales.agent_when("a101", lambda row: row["active"] == 0)
    assert (a101["active"], a101["calls_today"], a101["missed_in_row"]) == (0, 1, 0)
    assert a101["state"] in ("wrap_up", "available")
    released = sales.daemon.wait_for_any("agi.released")
    assert (released["agent"], released["result"], released["why"]) == ("a101", "talked", "done")
    for ext in ("100", "102"):  # never rung
        phones[ext].kill()
        finish_sipp(phones[ext])
    assert wait_for_channel_count(0) == 0


def test_an_agent_who_lets_it_ring_out_is_counted_and_the_caller_reaches_voicemail(
    office: Callable[..., AgiOffice], short_ring: None
) -> None:
    sales = office()
    sales.load()
    phones = start_desk_phones("agi_miss", {"100": None, "101": None, "102": None})
    sales.start()
    log = AsteriskLog()
    caller = run_caller(ROUTE, hold_ms=8000, timeout_s=40)  # voicemail answers
    assert caller.returncode == 0, caller.stderr.decode()[-2000:]
    route = notice(log, "route AGISTATUS=SUCCESS")
    found = re.search(r"target=PJSIP/(\d+) agent=(a\d+) customer= segment=new result=agent", route)
    assert found is not None, route
    phone, agent = found.groups()
    assert agent == f"a{phone}"
    assert notice(log, "done DIALSTATUS=NOANSWER")
    missed = sales.agent_when(agent, lambda row: row["missed_in_row"] == 1)
    assert (missed["active"], missed["missed_in_row"], missed["calls_today"]) == (0, 1, 0)
    assert notice(log, "hangup handler DIALSTATUS=NOANSWER")  # done again: nothing held
    assert finish_sipp(phones.pop(phone), timeout=20) == 0  # it rang, then was CANCELled
    for other in phones.values():  # never rung
        other.kill()
        finish_sipp(other)
    assert wait_for_channel_count(0) == 0


@pytest.fixture
def fallback_number(lab: None) -> Iterator[str]:
    original = get_global("SWITCHBOARD_AGI_FALLBACK")
    set_global("SWITCHBOARD_AGI_FALLBACK", "89160000001")
    try:
        yield "+79160000001"
    finally:
        set_global("SWITCHBOARD_AGI_FALLBACK", original)


def test_with_no_agent_logged_in_the_fallback_number_rings_through_the_trunk(
    office: Callable[..., AgiOffice], fallback_number: str
) -> None:
    sales = office()  # no agents imported: nobody to hand out
    sales.start()
    mobile = start_agent_uas(CARRIER_PORT, carrier_answer("agi_fallback_mobile", 1000))
    log = AsteriskLog()
    caller = run_caller(ROUTE, hold_ms=3000, timeout_s=30)
    assert caller.returncode == 0, caller.stderr.decode()[-2000:]
    assert finish_sipp(mobile, timeout=20) == 0  # it answered, then got the caller's BYE
    route = notice(log, "route AGISTATUS=SUCCESS")
    assert f"target=PJSIP/{fallback_number}@carrier agent= customer=" in route
    assert "segment=new result=fallback error=" in route
    assert wait_for_channel_count(0) == 0


def test_hours_tell_the_dialplan_whether_the_office_is_open(
    office: Callable[..., AgiOffice],
) -> None:
    desk = office(now="2026-11-30T12:00:00+03:00")  # a Monday, noon in Moscow
    desk.start()
    log = AsteriskLog()
    caller = run_caller(HOURS, hold_ms=5000, timeout_s=30)  # Asterisk hangs up first
    assert caller.returncode == 0, caller.stderr.decode()[-2000:]
    hours = notice(log, "hours AGISTATUS=SUCCESS")
    assert "open=1 hours=open next=2026-11-30T18:00:00+03:00 error=" in hours
    assert wait_for_channel_count(0) == 0


def test_with_no_fastagi_server_the_caller_still_reaches_voicemail(lab: None) -> None:
    log = AsteriskLog()
    caller = run_caller(ROUTE, hold_ms=3000, timeout_s=30)
    assert caller.returncode == 0, caller.stderr.decode()[-2000:]
    route = notice(log, "switchboard-agi: ")
    assert "route AGISTATUS=FAILURE target= agent=" in route
    assert wait_for_channel_count(0) == 0
