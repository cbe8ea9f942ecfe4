"""Tier 3 on real Asterisk, real SIP and real PostgreSQL: a web callback.

A visitor of the company's site posts their number (POST /callbacks). The daemon
reserves the free agent with the skill (a100, support 5; desk phone 100 registers
and answers), rings them first, and when they answer calls the customer through
the lab's carrier trunk (sipp on 5090, answers, talks, hangs up). The row ends
``done`` in PostgreSQL and the agent is released. The daemon's clock is set to a
Wednesday noon in Moscow: the callbacks' calendar (the seed's office hours) is
open. A second request for tomorrow is ``scheduled`` for that time.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from labkit.daemon import SWITCHBOARD, IsolatedDaemon, free_port, stop_and_drop, when
from labkit.lab import finish_sipp, start_agent_uas, wait_for_channel_count
from labkit.sipp_scenarios import CARRIER_PORT, carrier_answer, start_desk_phones
from tests.e2e.test_agents_call import LAB_AGENTS

pytestmark = pytest.mark.e2e

CUSTOMER = "+79161234567"
WEDNESDAY_NOON = "2026-11-25T12:00:00+03:00"


class WebOffice(IsolatedDaemon):
    """A daemon with its own schema, the lab's agents, the API and web callbacks."""

    def __init__(self, root: Path, name: str) -> None:
        super().__init__(root, name, prefix="webcb", now=WEDNESDAY_NOON)
        self.port = free_port()
        self.sipps: list[subprocess.Popen[bytes]] = []  # ended at the test's end, whatever happens
        with self.config.open("a", encoding="utf-8") as config:
            config.write(
                f"""\
api:
  listen: 127.0.0.1:{self.port}
  tokens: [{{name: test, token: test-token-0123456789, scopes: [read]}}]
callbacks:
  trunk: carrier
  company_number: "+74951234567"
  calendar: office
  default_skill: sales
  skills: [sales, support]
  agent_ring_seconds: 15
  customer_ring_seconds: 20
"""
            )

    def switchboard(self, *args: str) -> None:
        done = subprocess.run(
            [str(SWITCHBOARD), *args, "--config", str(self.config)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr

    def post(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/callbacks",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as refused:
            return refused.code, json.load(refused)

    def status(self, callback_id: str) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.port}/callbacks/{callback_id}"
        with urllib.request.urlopen(url, timeout=10) as response:
            answer: dict[str, Any] = json.load(response)
            return answer


@pytest.fixture
def office(lab: None, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[WebOffice]:
    one = WebOffice(tmp_path, request.node.name)
    try:
        yield one
    finally:
        for sipp in one.sipps:  # a failed test must not leave the lab's ports taken
            if sipp.poll() is None:
                sipp.kill()
                sipp.wait()
        stop_and_drop([one])


def test_a_web_callback_rings_the_agent_then_calls_the_customer_through_the_trunk(
    office: WebOffice,
) -> None:
    office.switchboard("import", "agents", str(LAB_AGENTS))
    office.switchboard("agent", "login", "a100")
    office.daemon.start()
    customer = start_agent_uas(CARRIER_PORT, carrier_answer("webcb_customer", 1000, hold_ms=3000))
    office.sipps.append(customer)
    phones = start_desk_phones("webcb", {"100": 1000})
    office.sipps.append(phones["100"])

    posted_at = time.time()
    code, accepted = office.post({"number": "8 916 123-45-67", "name": "Ivan", "skill": "support"})
    assert code == 202, accepted
    assert accepted["status"] == "pending"

    assert finish_sipp(phones["100"], timeout=40) == 0  # rang, answered, talked
    assert finish_sipp(customer, timeout=40) == 0  # called back, talked, hung up
    deadline = time.monotonic() + 15
    while office.status(accepted["id"])["status"] != "done":
        assert time.monotonic() < deadline, office.status(accepted["id"])
        time.sleep(0.2)
    (row,) = office.fetch("SELECT * FROM web_callbacks")
    assert (row["status"], row["attempts"], row["agent"], row["number"]) == (
        "done",
        1,
        "a100",
        CUSTOMER,
    )
    (callback_call,) = [c for c in office.daemon.calls() if c.startswith("cb-")]
    end = office.daemon.wait_for("call.end", callback_call)
    assert (end["outcome"], end["answered_by"]) == ("answered", CUSTOMER)
    rang = office.daemon.wait_for_any("webcallback.ring_agent")
    print(f"\nPOST to the agent's phone ringing: {when(rang) - posted_at:.2f} s")
    agents = office.fetch("SELECT id, active FROM agents WHERE id = 'a100'")
    deadline = time.monotonic() + 10
    while agents[0]["active"] != 0 and time.monotonic() < deadline:
        time.sleep(0.2)
        agents = office.fetch("SELECT id, active FROM agents WHERE id = 'a100'")
    assert agents[0]["active"] == 0  # released: never leaked
    assert wait_for_channel_count(0) == 0

    # A request for tomorrow 10:00 Moscow time waits for it.
    tomorrow = datetime.fromisoformat(WEDNESDAY_NOON) + timedelta(days=1, hours=-2)
    code, later = office.post({"number": "+74951112233", "preferred_time": tomorrow.isoformat()})
    assert code == 202, later
    assert later["status"] == "scheduled"
    assert datetime.fromisoformat(later["next_attempt_at"]) == tomorrow
