"""Tier 3: routes to agents on real Asterisk, real SIP and real PostgreSQL.

Agents and customers are put in the database the way an operator does it
(`switchboard import agents|customers`, `switchboard agent login`); the desk
phones 100-102 REGISTER; sipp is the caller (caller ID 79161234567).

- A known VIP customer calls the sales line (flows/agents.yaml, 74951234573):
  their owner agent (101) rings alone for 6 s; nobody answers, so the best
  agent with the sales skill for a VIP (102, proficiency 5, senior) rings and
  answers. 100 (proficiency 3) never rings.
- An unknown caller picks Romanian in the language menu (74951234574): the
  support agent who speaks Romanian (102) gets the call, although 100 has the
  better support skill and has been idle longer.
- The database is unreachable: the call takes the route's on_fail (the office
  ring group) within a second, and the failure is logged.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from labkit.daemon import REPO, SWITCHBOARD, IsolatedDaemon, stop_and_drop, when
from labkit.lab import finish_sipp, run_caller, wait_for_channel_count
from labkit.sipp_scenarios import call_pressing_keys, start_desk_phones
from tests.pgkit import DATABASE_URL

pytestmark = pytest.mark.e2e

SALES = "74951234573"
LANGUAGES = "74951234574"
LAB_AGENTS = REPO / "deploy" / "lab" / "agents.yaml"  # a100, a101 (sales 2), a102 (senior)
LAB_CUSTOMERS = REPO / "deploy" / "lab" / "customers.csv"  # the VIP +79161234567, owner a101


class Office(IsolatedDaemon):
    """The daemon for one test, with its own schema, agents and customers."""

    def __init__(self, root: Path, name: str, database_url: str = DATABASE_URL) -> None:
        super().__init__(root, name, prefix="agents", database_url=database_url)

    def switchboard(self, *args: str) -> str:
        done = subprocess.run(
            [str(SWITCHBOARD), *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def load(self, *, customers: bool = False) -> None:
        self.switchboard("import", "agents", str(LAB_AGENTS))
        if customers:
            self.switchboard("import", "customers", str(LAB_CUSTOMERS))
        for agent in ("a100", "a101", "a102"):
            self.switchboard("agent", "login", agent)

    def agents_once_freed(self, agent: str, within: float = 10.0) -> dict[str, dict[str, Any]]:
        """The agents, once `agent` has no call any more (releases are written
        in the background, just after the call ends)."""
        deadline = time.monotonic() + within
        while True:
            agents = {row["id"]: row for row in self.fetch("SELECT * FROM agents")}
            if agents[agent]["active"] == 0 or time.monotonic() > deadline:
                return agents
            time.sleep(0.1)

    def rung_at(self, call_id: str, endpoint: str) -> float | None:
        line = self.first_originate(call_id, endpoint)
        return when(line) if line is not None else None


@pytest.fixture
def office(
    lab: None, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Office]]:
    made: list[Office] = []

    def start(**kwargs: Any) -> Office:
        one = Office(tmp_path, request.node.name, **kwargs)
        made.append(one)
        return one

    yield start
    stop_and_drop(made)


def test_a_vip_reaches_their_owner_first_then_the_best_skilled_agent(
    office: Callable[..., Office],
) -> None:
    sales = office()
    sales.load(customers=True)
    sales.daemon.start()
    phones = start_desk_phones("agents_vip", {"100": None, "101": None, "102": 1500})
    caller = run_caller(SALES, hold_ms=16000, timeout_s=60)
    assert caller.returncode == 0, caller.stderr.decode()[-2000:]
    assert finish_sipp(phones["102"], timeout=20) == 0  # it took one call, cleanly
    assert finish_sipp(phones["101"], timeout=20) == 0  # it rang, then was CANCELled
    call_id = sales.only_call()
    end = sales.daemon.wait_for("call.end", call_id)
    assert (end["outcome"], end["answered_by"], end["agent"]) == ("answered", "PJSIP/102", "a102")
    assert [tuple(e) for e in end["route_log"]] == [
        ("PJSIP/101", "no_answer"),
        ("PJSIP/102", "answered"),
    ]
    customer = end["customer"]
    assert (customer["segment"], customer["owner"], customer["name"]) == (
        "vip",
        "a101",
        "Petrov, Ivan",
    )
    owner_rang = sales.rung_at(call_id, "PJSIP/101")
    best_rang = sales.rung_at(call_id, "PJSIP/102")
    assert owner_rang is not None
    assert best_rang is not None
    assert 5.5 <= best_rang - owner_rang <= 8.0, best_rang - owner_rang  # owner_seconds: 6
    assert sales.rung_at(call_id, "PJSIP/100") is None
    phones["100"].kill()
    finish_sipp(phones["100"])
    agents = sales.agents_once_freed("a102")
    assert (agents["a102"]["calls_today"], agents["a102"]["active"]) == (1, 0)
    assert agents["a102"]["state"] in ("wrap_up", "available")
    assert agents["a101"]["missed_in_row"] == 0  # the owner's short ring is not a miss
    # The call log: the call, who took it, how long the caller waited, every phone rung.
    (row,) = sales.wait_rows("SELECT * FROM calls WHERE id = $1", call_id)
    assert (row["outcome"], row["answered_by"], row["agent"]) == ("answered", "PJSIP/102", "a102")
    assert (row["dialed"], row["customer"]) == (SALES, customer["id"])
    assert 10.0 <= row["wait_s"] <= 14.0  # greeting ~4 s, the owner 6 s, 102 answers in 1.5 s
    # For the statistics: where the caller waited for a person, how long, each ring.
    assert (row["queue"], row["category"]) == ("sales_agents", "answered")
    assert 7.0 <= row["queue_wait_s"] <= 10.0  # the wait after the greeting
    legs = sales.fetch("SELECT * FROM call_legs WHERE call_id = $1 ORDER BY seq", call_id)
    assert [(r["target"], r["result"], r["agent"], r["owner_ring"]) for r in legs] == [
        ("PJSIP/101", "no_answer", "a101", True),
        ("PJSIP/102", "answered", "a102", False),
    ]
    assert 5.5 <= legs[0]["ring_s"] <= 7.5  # owner_seconds: 6
    assert 1.0 <= legs[1]["ring_s"] <= 3.5  # 102 answers after 1.5 s
    assert wait_for_channel_count(0) == 0


def test_an_unknown_caller_who_picks_romanian_reaches_the_romanian_speaking_agent(
    office: Callable[..., Office],
) -> None:
    support = office()
    support.load()
    support.daemon.start()
    phones = start_desk_phones("agents_ro", {"100": None, "102": 1000})
    caller = call_pressing_keys(LANGUAGES, [(1500, "3")], hold_ms=5000, name="agents_ro_caller")
    assert caller.returncode == 0, caller.stderr.decode()[-2000:]
    assert finish_sipp(phones["102"], timeout=20) == 0
    call_id = support.only_call()
    end = support.daemon.wait_for("call.end", call_id)
    assert (end["outcome"], end["answered_by"], end["agent"]) == ("answered", "PJSIP/102", "a102")
    assert end["path"] == ["choose_language", "romanian", "support_agents"]
    assert end["customer"]["segment"] == "new"  # unknown number: a new caller
    assert support.rung_at(call_id, "PJSIP/100") is None
    phones["100"].kill()
    finish_sipp(phones["100"])
    assert wait_for_channel_count(0) == 0


def test_with_the_database_down_the_call_takes_on_fail_within_a_second(
    office: Callable[..., Office],
) -> None:
    sales = office(database_url="postgresql://postgres@127.0.0.1:1/test")  # nobody listens
    sales.daemon.start()
    phones = start_desk_phones("agents_nodb", {"100": 1000})
    caller = run_caller(SALES, hold_ms=10000, timeout_s=40)
    assert caller.returncode == 0, caller.stderr.decode()[-2000:]
    assert finish_sipp(phones["100"], timeout=20) == 0
    call_id = sales.only_call()
    end = sales.daemon.wait_for("call.end", call_id)
    assert (end["outcome"], end["answered_by"]) == ("answered", "PJSIP/100")
    assert end["path"] == ["sales_welcome", "sales_agents", "office"]
    assert end["route_result"] == "routing_unavailable"
    assert ("agents", "routing_unavailable") in [tuple(e) for e in end["route_log"]]
    steps = sales.transitions(call_id)
    asked = next(t for t in steps if any(c.startswith("FindAgent(") for c in t["commands"]))
    fell_back = next(t for t in steps if any(c.startswith("FindTargets(") for c in t["commands"]))
    assert when(fell_back) - when(asked) <= 1.0
    failure = sales.daemon.wait_for("routing.unavailable", call_id)
    assert failure["error"]
    assert wait_for_channel_count(0) == 0
