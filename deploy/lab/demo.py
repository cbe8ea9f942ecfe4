"""`make demo`: the lab Asterisk, the daemon and sample SIP calls, each call's path printed.

Starts the lab (deploy/lab/lab.sh) and `switchboard run`, places calls with sipp,
prints what happened to each call (the daemon's transitions and the dialplan's
own log lines), then stops everything it started.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from switchboard.trace import format_call  # noqa: E402
from tests.e2e.daemon import DaemonProcess  # noqa: E402
from tests.e2e.lab import (  # noqa: E402
    AGENT_PORTS,
    COMPANY_NUMBER,
    SCENARIOS,
    AsteriskLog,
    finish_sipp,
    run_caller,
    start_agent_uas,
    start_lab,
    stop_lab,
    wait_for_channel_count,
)
from tests.e2e.sipp_scenarios import call_pressing_keys  # noqa: E402

NO_ANSWER = SCENARIOS / "agent_ring_no_answer.xml"
IVR_NUMBER = "74951234568"
ARTIFACTS = REPO / "artifacts" / "demo"


def answered_by_agent100() -> dict[str, int]:
    agent = start_agent_uas(AGENT_PORTS["agent100"])
    caller = run_caller(COMPANY_NUMBER, hold_ms=7000)
    return {"caller": caller.returncode, "agent100": finish_sipp(agent)}


def ivr_keys_to_sales() -> dict[str, int]:
    agent = start_agent_uas(AGENT_PORTS["agent101"])
    keys = [(5000, "1"), (1500, "7"), (4000, "1")]  # sales, a wrong key, new customer
    caller = call_pressing_keys(IVR_NUMBER, keys, 3000, "demo_ivr")
    return {"caller": caller.returncode, "agent101": finish_sipp(agent)}


def agent100_does_not_answer() -> dict[str, int]:
    phones = {
        "agent100": start_agent_uas(AGENT_PORTS["agent100"], NO_ANSWER),
        "agent101": start_agent_uas(AGENT_PORTS["agent101"]),
        "agent102": start_agent_uas(AGENT_PORTS["agent102"], NO_ANSWER),
    }
    caller = run_caller(COMPANY_NUMBER, hold_ms=24000, timeout_s=90)
    return {"caller": caller.returncode} | {n: finish_sipp(p) for n, p in phones.items()}


def daemon_down() -> dict[str, int]:
    return answered_by_agent100()


def print_daemon_trace(daemon: DaemonProcess, call_id: str) -> None:
    for line in format_call(daemon.lines(), call_id):
        print("  " + line)


def print_dialplan_trace(log: AsteriskLog) -> None:
    for line in log.notices():
        said = line.split("] ", 1)[-1].split(": ", 1)[-1].strip()
        if said.startswith("switchboard"):  # the dialplan's own Log(NOTICE, ...) lines
            print("  dialplan: " + said)


def run_scenario(
    title: str, scenario: Callable[[], dict[str, int]], daemon: DaemonProcess | None
) -> bool:
    print(f"\n== {title}")
    seen = set(daemon.calls()) if daemon else set()
    log = AsteriskLog()
    started = time.monotonic()
    exits = scenario()
    left = wait_for_channel_count(0)
    time.sleep(0.5)
    if daemon:
        for call_id in [c for c in daemon.calls() if c not in seen]:
            print_daemon_trace(daemon, call_id)
    else:
        print("  (daemon stopped: Stasis() fails at once)")
    print_dialplan_trace(log)
    phones = ", ".join(f"{name} exit {code}" for name, code in exits.items())
    ok = exits["caller"] == 0 and left == 0
    print(
        f"  sipp: {phones}; channels left in Asterisk: {left}; "
        f"{time.monotonic() - started:.1f}s; {'OK' if ok else 'FAILED'}"
    )
    return ok


def main() -> int:
    print("Starting the lab Asterisk (deploy/lab/lab.sh start) ...")
    start_lab()
    daemon = DaemonProcess(ARTIFACTS / "daemon.log")
    results = []
    try:
        daemon.start()
        print(f"Daemon connected to ARI as 'switchboard' (log: {daemon.log_path})")
        scenarios: list[tuple[str, Callable[[], dict[str, int]]]] = [
            (
                "1. A caller dials the company number: greeting, agent100 answers, caller hangs up",
                answered_by_agent100,
            ),
            (
                f"2. IVR line {IVR_NUMBER}: the caller presses 1 (sales), 7 (not a choice: "
                "'invalid', the menu again), 1 (new customer); agent101 answers",
                ivr_keys_to_sales,
            ),
            (
                "3. agent100 does not answer: the flow hands the caller back to the dialplan,"
                " whose fallback group rings and agent101 answers",
                agent100_does_not_answer,
            ),
        ]
        for title, scenario in scenarios:
            results.append(run_scenario(title, scenario, daemon))
        code = daemon.stop()
        print(f"\nDaemon stopped with SIGTERM: exit {code}")
        results.append(
            run_scenario(
                "4. The daemon is down: the dialplan's fallback rings the group, agent100 answers",
                daemon_down,
                None,
            )
        )
    finally:
        daemon.stop()
        stop_lab()
        print("Lab stopped.")
    print(f"\n{sum(results)} of {len(results)} demo calls ended as expected.")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
