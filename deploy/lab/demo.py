"""`make demo`: the lab Asterisk, the daemon and sample SIP calls, each call's path printed.

Starts the lab (deploy/lab/lab.sh) and `switchboard run`, places calls with sipp,
prints what happened to each call (the daemon's transitions and the dialplan's
own log lines), then stops everything it started.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from labkit.daemon import (  # (deploy/lab, this script's directory, is on the path)
    DATABASE_URL,
    REPO,
    SWITCHBOARD,
    DaemonProcess,
    IsolatedDaemon,
    seed_config,
)
from labkit.lab import (
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
    wait_for_endpoints,
)
from labkit.sipp_scenarios import (
    CARRIER_PORT,
    DESK_PHONE_PORTS,
    call_pressing_keys,
    carrier_answer,
    carrier_ring_no_answer,
    start_desk_phones,
    voicemail_caller,
)
from labkit.smtp import ThreadedSmtpSink, attachments
from switchboard.trace import format_call

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


# -- the seed specification (flows/examples/seed.yaml) --------------------------------------
SEED_NUMBER = "74951234570"
IN_HOURS = "2026-11-25T12:00:00+03:00"  # a Wednesday, noon in Moscow
OUT_OF_HOURS = "2026-11-28T12:00:00+03:00"  # a Saturday
SMTP_PORT = 2526


def seed_a() -> dict[str, int]:
    ringing = start_desk_phones("demo_a", {"100": None, "101": 2000, "102": None})
    caller = run_caller(SEED_NUMBER, hold_ms=14000)
    return {"caller": caller.returncode} | {e: finish_sipp(p, 20) for e, p in ringing.items()}


def seed_b() -> dict[str, int]:
    ringing = start_desk_phones("demo_b", {"100": None, "101": None, "102": None})
    mobile = start_agent_uas(CARRIER_PORT, carrier_ring_no_answer("demo_b_mobile"))
    caller = run_caller(SEED_NUMBER, hold_ms=30000, timeout_s=60)
    exits = {e: finish_sipp(p, 20) for e, p in ringing.items()}
    return {"caller": caller.returncode, **exits, "mobile": finish_sipp(mobile)}


def seed_c() -> dict[str, int]:
    wait_for_endpoints(list(DESK_PHONE_PORTS), "offline")
    mobile = start_agent_uas(CARRIER_PORT, carrier_answer("demo_c_mobile", answer_after_ms=1000))
    caller = run_caller(SEED_NUMBER, hold_ms=10000)
    return {"caller": caller.returncode, "mobile": finish_sipp(mobile)}


def seed_d() -> dict[str, int]:
    mobile = start_agent_uas(CARRIER_PORT, carrier_ring_no_answer("demo_d_mobile"))
    speaker = voicemail_caller("demo_d_caller", talk_ms=75000, hold_ms=62000)
    caller = run_caller(SEED_NUMBER, speaker, timeout_s=90)
    return {"caller": caller.returncode, "mobile": finish_sipp(mobile)}


def seed_daemon(now: str, name: str) -> DaemonProcess:
    config = seed_config(
        ARTIFACTS / name, schema="switchboard_demo", smtp_port=SMTP_PORT, database_url=DATABASE_URL
    )
    daemon = DaemonProcess(ARTIFACTS / f"{name}.log", config, env={"SWITCHBOARD_NOW": now})
    daemon.start()
    print(f"\nDaemon restarted with its clock at {now} (log: {daemon.log_path})")
    return daemon


def run_seed(results: list[bool]) -> None:
    print("\n## The seed specification: Mon-Fri 09-18 Moscow; 100, 101, 102 at once for 20 s;")
    print("## then the mobile 8 (987) 123-45-67 through the trunk; then voicemail by email")
    daemon = seed_daemon(IN_HOURS, "seed-in-hours")
    try:
        for title, scenario in [
            ("a. Working hours: 100-102 ring at once, 101 answers, 100 and 102 stop", seed_a),
            ("b. Working hours, nobody answers: at 20 s the mobile rings", seed_b),
            ("c. Working hours, no phone registered: the mobile rings at once", seed_c),
        ]:
            results.append(run_scenario(title, scenario, daemon))
    finally:
        daemon.stop()
    sink = ThreadedSmtpSink(SMTP_PORT).start()
    daemon = seed_daemon(OUT_OF_HOURS, "seed-out-of-hours")
    try:
        title = "d. Saturday: greeting, the mobile does not answer, voicemail, emailed"
        ok = run_scenario(title, seed_d, daemon)
        mails = sink.wait_for(1, within=20)
        for name, kind, data in attachments(mails[-1]):
            print(f"  mail to {mails[-1]['To']}: {mails[-1]['Subject']!r}, {name} {kind} "
                  f"{len(data)} bytes")  # fmt: skip
        results.append(ok and bool(mails))
    finally:
        daemon.stop()
        sink.stop()


# -- routes to agents (flows/agents.yaml) ---------------------------------------------------
SALES_NUMBER = "74951234573"
LANGUAGE_NUMBER = "74951234574"


def agents_vip_owner_then_best() -> dict[str, int]:
    ringing = start_desk_phones("demo_vip", {"100": None, "101": None, "102": 1500})
    caller = run_caller(SALES_NUMBER, hold_ms=14000)
    ringing["100"].kill()  # it is never rung: do not wait for it to give up
    return {"caller": caller.returncode} | {e: finish_sipp(p, 20) for e, p in ringing.items()}


def agents_romanian() -> dict[str, int]:
    ringing = start_desk_phones("demo_ro", {"100": None, "102": 1000})
    caller = call_pressing_keys(LANGUAGE_NUMBER, [(1500, "3")], 9000, "demo_ro_caller")
    ringing["100"].kill()
    return {"caller": caller.returncode} | {e: finish_sipp(p, 20) for e, p in ringing.items()}


def run_agents(results: list[bool]) -> None:
    print("\n## Routes to agents (flows/agents.yaml): agents, skills and customers in PostgreSQL")
    office = IsolatedDaemon(ARTIFACTS, "agents", prefix="demo_agents")  # a schema of its own
    lab = REPO / "deploy" / "lab"
    daemon = office.daemon
    try:
        for args in (
            ["import", "agents", str(lab / "agents.yaml")],
            ["import", "customers", str(lab / "customers.csv")],
            *(["agent", "login", agent] for agent in ("a100", "a101", "a102")),
        ):
            done = subprocess.run(
                [str(SWITCHBOARD), *args, "--config", str(office.config)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            print(f"  $ switchboard {' '.join(args[:2])} {Path(args[2]).name}: "
                  f"{(done.stdout or done.stderr).strip()}")  # fmt: skip
        daemon.start()
        print(f"Daemon started (log: {daemon.log_path})")
        for title, scenario in [
            (
                "e. The VIP Ivan Petrov (owner: a101) calls sales: 101 rings alone for 6 s, "
                "then the best sales agent for a VIP, 102 (senior, sales 5), answers",
                agents_vip_owner_then_best,
            ),
            (
                f"f. Ivan dials {LANGUAGE_NUMBER} and presses 3 (Romanian; his CRM language is "
                "Russian: the menu's choice wins): the support agent who speaks Romanian, 102, "
                "answers once their 3 s of wrap-up are over (not 100, better at support)",
                agents_romanian,
            ),
        ]:
            results.append(run_scenario(title, scenario, daemon, answered_by="PJSIP/102"))
        results.append(show_operations(office))
    finally:
        daemon.stop()
        office.drop()


def switchboard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SWITCHBOARD), *args], capture_output=True, text=True, check=False)


def show_operations(office: IsolatedDaemon) -> bool:
    """What ops see of those calls: `switchboard doctor` on the live setup, then (the
    daemon stopped: its call log written) `switchboard stats` for today."""
    print("\n== g. Operations: switchboard doctor on the running setup, then switchboard stats")
    doctor = switchboard("doctor", "--config", str(office.config))
    for line in doctor.stdout.splitlines():
        print("  " + line)
    office.daemon.stop()
    today = datetime.now(UTC).date()
    stats = switchboard(
        "stats", "--config", str(office.config), "--from", today.isoformat(),
        "--to", (today + timedelta(days=1)).isoformat(),
    )  # fmt: skip
    for line in (stats.stdout or stats.stderr).splitlines():
        print("  " + line)
    ok = doctor.returncode == 0 and stats.returncode == 0
    print(f"  doctor exit {doctor.returncode}, stats exit {stats.returncode}; "
          f"{'OK' if ok else 'FAILED'}")  # fmt: skip
    return ok


def print_daemon_trace(daemon: DaemonProcess, call_id: str) -> None:
    for line in format_call(daemon.lines(), call_id):
        print("  " + line)


def print_dialplan_trace(log: AsteriskLog) -> None:
    for line in log.notices():
        said = line.split("] ", 1)[-1].split(": ", 1)[-1].strip()
        if said.startswith("switchboard"):  # the dialplan's own Log(NOTICE, ...) lines
            print("  dialplan: " + said)


def run_scenario(
    title: str,
    scenario: Callable[[], dict[str, int]],
    daemon: DaemonProcess | None,
    answered_by: str = "",
) -> bool:
    """Run one scenario and print each new call's path. OK: the caller's sipp ended
    cleanly, no channel is left, and (if given) ``answered_by`` took the call."""
    print(f"\n== {title}")
    seen = set(daemon.calls()) if daemon else set()
    log = AsteriskLog()
    started = time.monotonic()
    exits = scenario()
    left = wait_for_channel_count(0)
    time.sleep(0.5)
    ends = []
    if daemon:
        for call_id in [c for c in daemon.calls() if c not in seen]:
            print_daemon_trace(daemon, call_id)
            ends += [r for r in daemon.trace(call_id) if r.get("msg") == "call.end"]
    else:
        print("  (daemon stopped: Stasis() fails at once)")
    print_dialplan_trace(log)
    phones = ", ".join(f"{name} exit {code}" for name, code in exits.items())
    ok = exits["caller"] == 0 and left == 0
    if answered_by:
        took = [e.get("answered_by") for e in ends]
        ok = ok and answered_by in took
        print(f"  answered by: {', '.join(map(str, took)) or '-'} (expected {answered_by})")
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
        run_seed(results)
        run_agents(results)
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
