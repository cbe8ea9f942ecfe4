"""Tier 3: the blocklist on real Asterisk with real SIP. A number is blocked with
`switchboard block add` while the daemon runs; a call from it to the lab's IVR line
(flows/lab.yaml 74951234568, `blocklist: {node: blocked}`) hears goodbye and is
hung up by the flow, never reaching the menu; the same caller, unblocked, reaches
the menu again, without a reload."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labkit.daemon import IsolatedDaemon, stop_and_drop
from labkit.lab import wait_for_channel_count
from labkit.sipp_scenarios import call_pressing_keys
from switchboard.cli import main

pytestmark = pytest.mark.e2e

IVR_NUMBER = "74951234568"
CALLER = "89990001122"  # read as +79990001122, the way the blocklist stores it


@pytest.fixture
def office(lab: None, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[IsolatedDaemon]:
    one = IsolatedDaemon(tmp_path, request.node.name, prefix="blk")
    one.daemon.start()
    try:
        yield one
    finally:
        stop_and_drop([one])


def loaded(office: IsolatedDaemon, entries: int, since: int, within: float = 10.0) -> None:
    """Until the daemon has read a list of ``entries`` entries after its log's line
    ``since`` (it polls every 2 s)."""
    deadline = time.monotonic() + within
    while not any(
        line.get("msg") == "blocklist.loaded" and line.get("entries") == entries
        for line in office.daemon.lines()[since:]
    ):
        assert time.monotonic() < deadline, f"the daemon never read {entries} entries"
        time.sleep(0.1)


def ended(office: IsolatedDaemon, known: set[str]) -> dict[str, Any]:
    """The call.end line of the one call not in ``known``."""
    calls = [c for c in office.daemon.calls() if c and c not in known]
    assert len(calls) == 1, calls
    return office.daemon.wait_for("call.end", calls[0])


def test_a_number_blocked_while_the_daemon_runs_hears_goodbye_and_unblocked_reaches_the_menu(
    office: IsolatedDaemon,
) -> None:
    config = str(office.config)
    mark = len(office.daemon.lines())
    assert main(["block", "add", "+7999*", "--reason", "test", "--config", config]) == 0
    loaded(office, 1, mark)
    caller = call_pressing_keys(IVR_NUMBER, [], 15000, "blocked_caller", caller=CALLER)
    assert caller.returncode == 0, caller.stderr.decode()[-2000:]
    assert wait_for_channel_count(0) == 0
    blocked = ended(office, set())
    assert blocked["path"] == ["blocked"]
    assert blocked["outcome"] == "hangup_by_flow"
    assert blocked["vars"] == {"blocked": "+7999*"}
    assert any(
        line.get("msg") == "call.blocked" and line.get("blocked_by") == "+7999*"
        for line in office.daemon.trace(blocked["call_id"])
    )
    rows = office.wait_rows("SELECT path, caller FROM calls WHERE id = $1", blocked["call_id"])
    assert [r["caller"] for r in rows] == [CALLER]

    mark = len(office.daemon.lines())
    assert main(["block", "remove", "+7999*", "--config", config]) == 0
    loaded(office, 0, mark)
    again = call_pressing_keys(IVR_NUMBER, [(5000, "1")], 1000, "unblocked_caller", caller=CALLER)
    assert again.returncode == 0, again.stderr.decode()[-2000:]
    assert wait_for_channel_count(0) == 0
    served = ended(office, {blocked["call_id"]})
    assert served["path"][:2] == ["ivr_welcome", "main"]
    assert "blocked" not in served.get("vars", {})
