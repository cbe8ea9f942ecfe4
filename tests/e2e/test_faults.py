"""Tier 3: faults while calls are in progress (issue 15; the campaign is deploy/lab/faults.py).

A few calls on the real lab (callers in the IVR pressing '4' every 3 s, one caller
talking to agent100 through the daemon's bridge), then one fault:

- the daemon SIGKILLed and a new one started 2 s later: callers in the IVR are
  served again (or handed to the dialplan) within a few seconds of the new daemon's
  reconcile, the talking call keeps talking, and every call gets its row in the
  call log. The last needs the call journal (branch ``journal``): until it is
  merged, the rows of the calls the killed daemon held are lost and the test fails
  on that assertion, after the others have passed;
- the ARI connection (REST and websocket) cut for 4 s by a relay, the daemon alive:
  it reconnects, reconciles, serves the IVR callers again, drops nobody;
- the daemon frozen (SIGSTOP 8 s, stall guard 5 s) then SIGCONT: nothing handled
  twice (one ``call.end`` per call, no prompt played to a call already handed to
  the dialplan), every call gets one row, nobody dropped.

What Asterisk did is read by an observer ARI application of its own
(labkit/faultwatch.py). The shared PostgreSQL and the lab Asterisk are never
restarted here (the campaign does those, on a private cluster).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit.daemon import DaemonProcess, IsolatedDaemon, stop_and_drop
from labkit.faultwatch import Seen, ThreadedObserver, logged_at
from labkit.lab import SIPP_ARTIFACTS
from labkit.relay import ThreadedRelay
from labkit.sipp_scenarios import campaign_caller, start_answering_uas, start_campaign_callers

pytestmark = pytest.mark.e2e

IVR, TALK = "74951234568", "74951234567"
IVR_CALLER, TALK_CALLER = "79160000102", "79160000101"
KINDS = {IVR_CALLER: "ivr", TALK_CALLER: "talk"}
RECOVERY_S = 5.0  # a caller waits at most this long after the daemon is back


class Calls:
    """Three IVR callers and one talking caller, and the phones they reach."""

    def __init__(self, name: str) -> None:
        ivr = campaign_caller(
            f"{name}_ivr",
            keys=tuple((3000, "4") for _ in range(6)),
            hold_min_ms=1000,
            hold_max_ms=1000,
            caller=IVR_CALLER,
        )
        talk = campaign_caller(
            f"{name}_talk", hold_min_ms=18000, hold_max_ms=18000, caller=TALK_CALLER
        )
        self.phones = [
            start_answering_uas(5081, timeout_s=120),  # agent100: the talk line
            start_answering_uas(5083, timeout_s=120),
        ]  # agent102: the IVR operator
        self.logs = [
            SIPP_ARTIFACTS / f"{s.stem}-{p}-logs.log" for s, p in ((ivr, 5391), (talk, 5392))
        ]
        for log in self.logs:
            log.unlink(missing_ok=True)
        self.callers = [
            start_campaign_callers(
                ivr, IVR, port=5391, media_port=41910, rate=2, calls=3, timeout_s=60
            ),
            start_campaign_callers(
                talk, TALK, port=5392, media_port=41920, rate=1, calls=1, timeout_s=60
            ),
        ]

    def finish(self) -> list[int]:
        codes = [proc.wait(timeout=70) for proc in self.callers]
        for phone in self.phones:
            phone.kill()
            phone.wait()
        return codes

    def dropped(self) -> list[str]:
        """Calls Asterisk hung up on (the callers meant to hang up themselves)."""
        return [
            ln
            for log in self.logs
            if log.exists()
            for ln in log.read_text().splitlines()
            if "far_end_bye" in ln
        ]


@pytest.fixture
def watch(lab: None) -> Iterator[ThreadedObserver]:
    observer = ThreadedObserver(lambda number: KINDS.get(number, "other")).start()
    yield observer
    observer.stop()


@pytest.fixture
def office(lab: None, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[IsolatedDaemon]:
    one = IsolatedDaemon(tmp_path, request.node.name, prefix="faults")
    yield one
    stop_and_drop([one])


def configure(office: IsolatedDaemon, *, ari_port: int = 8088, stall_guard: float = 120) -> None:
    text = office.config.read_text()
    text = text.replace("127.0.0.1:8088", f"127.0.0.1:{ari_port}")
    text = text.replace("log_level: info,", f"log_level: info, stall_guard: {stall_guard},")
    office.config.write_text(text)


def in_progress(watch: ThreadedObserver, at: float) -> list[Seen]:
    return [s for s in watch.calls.values() if s.kind != "other" and s.alive_at(at)]


def reconciled_after(daemon: DaemonProcess, after: float, within: float = 15.0) -> float:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for line in daemon.lines():
            if line.get("msg") == "reconcile.done" and logged_at(line) >= after:
                return logged_at(line)
        time.sleep(0.1)
    raise AssertionError(f"no reconcile.done after the fault in {within} s ({daemon.log_path})")


def assert_served_again(calls: list[Seen], fault: float, back: float) -> None:
    """IVR callers: served again within RECOVERY_S of the daemon being back; the talking
    caller: never stopped talking."""
    until = time.time()
    for seen in calls:
        gap, _ = seen.silence_after(fault, until)
        if seen.kind == "talk":
            assert gap == 0.0, f"{seen.id} stopped talking: {seen}"
        else:
            assert gap <= back - fault + RECOVERY_S, f"{seen.id} waited {gap:.1f} s: {seen}"


def rows_of(office: IsolatedDaemon, ids: set[str], within: float = 15.0) -> set[str]:
    deadline = time.monotonic() + within
    while True:
        rows = office.fetch("SELECT id FROM calls WHERE id = ANY($1)", list(ids))
        found = {r["id"] for r in rows}
        if found == ids or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def test_a_killed_daemon_restarted_picks_up_its_callers_and_writes_every_row(
    office: IsolatedDaemon, watch: ThreadedObserver
) -> None:
    office.daemon.start()
    calls = Calls("faults_kill")
    time.sleep(7)  # IVR callers in the menu, the talking caller bridged with agent100
    killed = time.time()
    assert office.daemon.proc is not None
    office.daemon.proc.kill()
    office.daemon.proc.wait()
    office.daemon.proc = None  # (killed: not expected to drain at the end)
    time.sleep(2)
    second = DaemonProcess(office.daemon.log_path.with_suffix(".restarted.log"), office.config)
    second.start()
    try:
        back = reconciled_after(second, killed)
        held = in_progress(watch, killed)
        assert sorted(s.kind for s in held) == ["ivr", "ivr", "ivr", "talk"], held
        assert calls.finish() == [0, 0]
        assert calls.dropped() == []
        assert_served_again(held, killed, back)
        # The rows of the calls the killed daemon held: lost until the call journal
        # (branch `journal`) lands; then this passes.
        ids = {s.id for s in held}
        assert rows_of(office, ids) == ids, "calls in progress at the SIGKILL have no row"
    finally:
        assert second.stop() == 0, f"restarted daemon did not drain, see {second.log_path}"


def test_the_ari_connection_cut_and_restored_drops_no_call(
    office: IsolatedDaemon, watch: ThreadedObserver
) -> None:
    relay = ThreadedRelay(8088).start()
    try:
        configure(office, ari_port=relay.port)
        office.daemon.start()
        calls = Calls("faults_relay")
        time.sleep(7)
        cut = relay.sever()
        time.sleep(4)
        restored = relay.restore()
        back = reconciled_after(office.daemon, restored)
        held = in_progress(watch, cut)
        assert sorted(s.kind for s in held) == ["ivr", "ivr", "ivr", "talk"], held
        assert calls.finish() == [0, 0]
        assert calls.dropped() == []
        assert_served_again(held, cut, back)
        disconnected = [ln for ln in office.daemon.lines() if ln.get("msg") == "ari.disconnected"]
        assert disconnected, "the daemon did not see its websocket drop"
        assert cut <= logged_at(disconnected[0]) <= restored
        ids = {s.id for s in held}
        assert rows_of(office, ids) == ids
    finally:
        office.daemon.stop()  # (before the relay goes: it drains through it)
        relay.stop()


def test_a_frozen_daemon_resumed_handles_no_call_twice(
    office: IsolatedDaemon, watch: ThreadedObserver
) -> None:
    configure(office, stall_guard=5)
    office.daemon.start()
    calls = Calls("faults_stop")
    time.sleep(7)
    proc = office.daemon.proc
    assert proc is not None
    frozen = time.time()
    proc.send_signal(signal.SIGSTOP)
    try:
        time.sleep(8)
    finally:
        proc.send_signal(signal.SIGCONT)
    resumed = time.time()
    held = in_progress(watch, frozen)
    assert sorted(s.kind for s in held) == ["ivr", "ivr", "ivr", "talk"], held
    assert calls.finish() == [0, 0]
    assert calls.dropped() == []
    assert_served_again(held, frozen, resumed)
    assert proc.poll() is None, "the daemon died after SIGCONT"
    ends: dict[str, int] = {}
    for line in office.daemon.lines():
        if line.get("msg") == "call.end":
            ends[line["call_id"]] = ends.get(line["call_id"], 0) + 1
    assert {c: n for c, n in ends.items() if n > 1} == {}, "a call ended twice"
    for seen in held:  # handed to the dialplan: the daemon plays it nothing more
        if seen.handed_back_at is not None:
            handed = seen.handed_back_at
            assert not [h for h in seen.hearing if h[0] and h[0] > handed + 0.5], seen
    ids = {s.id for s in held}
    assert rows_of(office, ids) == ids
