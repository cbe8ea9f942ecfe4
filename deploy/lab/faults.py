"""`make faults`: the fault campaign (issue 15). Calls in progress while one fault
at a time is injected, and what became of them.

Under load from sipp (callers in the IVR, waiting in a queue, talking to an agent,
leaving a voicemail, asking for a callback, routed to agents by skill), each
fault in turn:

    kill      the daemon SIGKILLed, a new one started 2 s later
    stop      the daemon frozen: SIGSTOP for 10 s, then SIGCONT
    relay     the ARI connection (REST and websocket) cut by a relay, restored
    pg        PostgreSQL stopped, started again (a private cluster, never the shared one)
    asterisk  Asterisk restarted (lab.sh stop, lab.sh start)
    smtp      the mail server down for a minute
    disk      the voicemail spool's disk full (a small tmpfs), then space again

What is measured comes from Asterisk's side: an `observer` ARI application
(subscribeAll) sees every caller channel's playbacks, bridges, recordings, dialplan
steps and hang-up, with the time each event arrived. For each call in progress
when the fault struck, *silence* is the time from the fault (or the end of the
prompt or recording it was hearing then) to the next thing Asterisk did for it
(a playback, a bridge, a recording, a dialplan step or Dial); a call still in a
bridge with someone has none. Callers waiting in a queue hear music on hold
that ARI does not report, so their gap is shown apart ("queue wait"). Dropped:
Asterisk hung up on a caller who meant to hang up themselves (the sipp log's
`far_end_bye`), or sipp counted the call failed. Rows: the calls that entered
Stasis() (the observer's dialplan events) and were not refused, against rows in
the `calls` table. Voicemails: recordings of callers that finished with audio,
against rows in `voicemails` and mails received. Callbacks: callers who heard the
callback confirmation, against rows in `callbacks`.

    .venv/bin/python deploy/lab/faults.py                    # all faults
    .venv/bin/python deploy/lab/faults.py --only kill,relay --rate 3 --warmup 15

Run it under the lab lock (`flock /tmp/lab.lock make faults`); it starts the lab
Asterisk from this tree, its own PostgreSQL (port 55432), SMTP sink and relay.
A table is printed, and JSON written to artifacts/faults/<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from labkit.daemon import REPO, SWITCHBOARD, DaemonProcess, free_port
from labkit.faultwatch import Observer, Seen, logged_at
from labkit.lab import SIPP_ARTIFACTS, lab_root, start_lab, stop_lab
from labkit.pgcluster import PgCluster
from labkit.relay import ThreadedRelay
from labkit.sipp_scenarios import (
    DESK_PHONE_PORTS,
    agent_phone,
    campaign_caller,
    start_answering_uas,
    start_campaign_callers,
    start_phone,
)
from labkit.smtp import ThreadedSmtpSink

FAULTS = ("kill", "stop", "relay", "pg", "asterisk", "smtp", "disk")
ARTIFACTS = REPO / "artifacts" / "faults"
EVENTS_URL = "ws://127.0.0.1:8088/ari/events"
LAB_AGENTS = REPO / "deploy" / "lab" / "agents.yaml"


@dataclass(frozen=True, slots=True)
class Kind:
    """One sort of caller: the number dialled, keys, how long, its share of the rate."""

    name: str
    number: str
    caller: str  # its own caller ID: how the observer tells the kinds apart
    share: float
    keys: tuple[tuple[int, str], ...] = ()
    hold: tuple[int, int] = (20000, 40000)
    audio: bool = False
    hangs_up_itself: bool = True  # a BYE from Asterisk means the call was dropped


KINDS = (
    # greeting, then agent100 (a sipp UAS that answers every call): talking
    Kind("talk", "74951234567", "79160000001", 0.3),
    # the IVR: '4' (the Russian menu, which is the main menu again) every 3 s
    Kind(
        "ivr", "74951234568", "79160000002", 0.2, tuple((3000, "4") for _ in range(7)), (0, 19000)
    ),
    # the queue (one phone, agent100): most wait with music, one talks
    Kind("queue", "74951234571", "79160000003", 0.15),
    # the queue, then '5': a callback request, the daemon says goodbye and hangs up
    Kind(
        "callback",
        "74951234571",
        "79160000004",
        0.05,
        ((6000, "5"),),
        (20000, 25000),
        hangs_up_itself=False,
    ),
    # IVR 1 (sales), 1 (new customer): agent101 is busy (486): voicemail, speaking
    Kind(
        "voicemail",
        "74951234568",
        "79160000005",
        0.2,
        ((6000, "1"), (3000, "1")),
        (15000, 25000),
        audio=True,
    ),
    # a route to agents (desk phones 100-102, skills in PostgreSQL)
    Kind("agents", "74951234573", "79160000006", 0.1),
)
KIND_BY_CALLER = {k.caller: k for k in KINDS}
# Waiting with music on hold (queue, callback) or ringback while no agent is free (agents):
# neither has an ARI event, so their gaps are shown apart.
QUEUE_KINDS = {"queue", "callback", "agents"}


def kind_of(number: str) -> str:
    return KIND_BY_CALLER[number].name if number in KIND_BY_CALLER else "other"


# --- the campaign's pieces ----------------------------------------------------


def campaign_config(
    directory: Path, *, ari_port: int, db_url: str, smtp_port: int, stall_guard: float
) -> Path:
    flows = ", ".join(
        str(REPO / "flows" / f) for f in ("lab.yaml", "examples/seed.yaml", "agents.yaml")
    )
    config = directory / "switchboard.yaml"
    config.write_text(
        f"""\
ari: {{url: "http://127.0.0.1:{ari_port}", username: switchboard, password: switchboard}}
flows: {{files: [{flows}], prompts: {REPO / "prompts"}, watch_interval: 0}}
daemon:
  drain_timeout: 30
  log_level: info
  stall_guard: {stall_guard}
  state_directory: {directory / "state"}
database: {{url: "{db_url}", schema: faults}}
voicemail:
  directory: {directory / "voicemail"}
  from: "Switchboard <switchboard@example.com>"
  retry_seconds: 1
  mailboxes:
    "100": {{email: [office@example.com], name: Office}}
smtp: {{host: 127.0.0.1, port: {smtp_port}, timeout: 5}}
recording: {{directory: {directory / "recordings"}, retry_seconds: 1}}
dial_policy: {{countries: [RU], default_country: RU, per_number: 100000, window_seconds: 3600}}
""",
        encoding="utf-8",
    )
    return config


def switchboard_cli(config: Path, *args: str) -> None:
    done = subprocess.run(
        [str(SWITCHBOARD), *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"switchboard {' '.join(args)}: {done.stdout}{done.stderr}")


class Fetcher:
    """Queries in the campaign's schema of the private cluster; None if it is down."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def rows(self, query: str, *args: object) -> list[dict[str, Any]] | None:
        try:
            conn = await asyncpg.connect(
                self.url, server_settings={"search_path": "faults"}, timeout=3
            )
        except (OSError, asyncpg.PostgresError):
            return None
        try:
            return [dict(r) for r in await conn.fetch(query, *args)]
        except asyncpg.UndefinedTableError:
            return []
        finally:
            await conn.close()


@dataclass
class Result:
    fault: str
    in_progress: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    dropped: int = 0
    failed_sipp: int = 0
    longest_silence_s: float = 0.0
    silent_over_5s: int = 0
    left_in_silence: int = 0  # calls that ended without being served again
    queue_wait_s: float = 0.0
    rows_expected: int = 0
    rows_written: int = 0
    rows_in_progress_expected: int = 0
    rows_in_progress_written: int = 0
    voicemails_expected: int = 0
    voicemails_stored: int = 0
    mails: int = 0
    callbacks_expected: int = 0
    callbacks_stored: int = 0
    double_ended: int = 0  # calls with two call.end lines (handled twice)
    agent_overlaps: int = 0  # an agent given two calls at once (from the calls table)
    facts: dict[str, Any] = field(default_factory=dict)
    silences: list[tuple[str, str, float, bool]] = field(default_factory=list)  # the worst
    notes: list[str] = field(default_factory=list)


class Campaign:
    def __init__(self, args: argparse.Namespace, directory: Path) -> None:
        self.args = args
        self.directory = directory
        self.pg = PgCluster(port=args.pg_port, directory=directory / "pg")
        self.smtp_port = free_port()
        self.smtp: ThreadedSmtpSink | None = None
        self.relay = ThreadedRelay(8088)
        self.daemons: list[DaemonProcess] = []
        self.phones: list[subprocess.Popen[bytes]] = []
        self.config = Path()
        self.fetch = Fetcher(self.pg.url)
        self.observer = Observer(kind_of)
        self.phase = 0
        self.mails_before = 0

    # set-up and tear-down

    def set_up(self) -> None:
        (self.directory / "pg").mkdir(parents=True)
        self.pg.init().start()
        self.smtp = ThreadedSmtpSink(self.smtp_port).start()
        self.relay.start()
        self.config = campaign_config(
            self.directory,
            ari_port=self.relay.port,
            db_url=self.pg.url,
            smtp_port=self.smtp_port,
            stall_guard=self.args.stall_guard,
        )
        switchboard_cli(self.config, "import", "agents", str(LAB_AGENTS))
        for agent in ("a100", "a101", "a102"):
            switchboard_cli(self.config, "agent", "login", agent)
        self.phones = [
            start_answering_uas(5081),  # agent100: talk, the queue, callbacks' agent
            start_answering_uas(5082, reject=486),  # agent101 busy: the IVR's voicemail path
            start_answering_uas(5083),  # agent102: the IVR's operator
            start_answering_uas(5090, reject=486),  # the carrier: callbacks' customer busy
        ]
        wait = self.args.warmup + self.args.after + 300
        for ext, port in DESK_PHONE_PORTS.items():
            phone = agent_phone(ext, f"faults_{ext}", calls=100000, wait_s=wait, expires_s=3600)
            self.phones.append(start_phone(phone, port, timeout_s=int(wait) + 60))
        self.start_daemon()

    def start_daemon(self) -> DaemonProcess:
        log = self.directory / f"daemon-{len(self.daemons) + 1}.log"
        daemon = DaemonProcess(log, self.config)
        daemon.start(within=30)
        self.daemons.append(daemon)
        return daemon

    @property
    def daemon(self) -> DaemonProcess:
        return self.daemons[-1]

    def tear_down(self) -> None:
        for daemon in self.daemons:
            if daemon.proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    daemon.proc.send_signal(signal.SIGCONT)
                daemon.stop(within=40)
        for phone in self.phones:
            phone.kill()
            phone.wait()
        with contextlib.suppress(Exception):
            self.relay.stop()
        if self.smtp is not None:
            with contextlib.suppress(Exception):
                self.smtp.stop()
        unmount(self.directory / "voicemail")
        self.pg.destroy()
        with contextlib.suppress(OSError):  # what Asterisk logged (NOTICE: the dialplan's steps)
            shutil.copy(lab_root() / "var/log/asterisk/messages", self.directory / "asterisk.log")

    def log_lines(self) -> list[dict[str, Any]]:
        return [line for d in self.daemons for line in d.lines()]

    # one phase: load, fault, recovery, what became of the calls

    async def phase_of(self, fault: str) -> Result:
        self.phase += 1
        result = Result(fault)
        began = time.time()
        self.mails_before = len(self.smtp.messages) if self.smtp else 0
        callers = self.start_load(fault)
        await asyncio.sleep(self.args.warmup)
        struck = time.time()
        inject = getattr(self, f"fault_{fault}")
        result.facts = await inject(result)
        in_progress = [s for s in self.observer.calls.values() if s.alive_at(struck)]
        await asyncio.to_thread(wait_all, callers, self.args.warmup + self.args.after + 120)
        await asyncio.sleep(3)
        self.measure(result, began, struck, in_progress, callers)
        await self.count_stored(result, began, struck, in_progress)
        result.mails = self.mails_since()
        return result

    def start_load(self, fault: str) -> list[tuple[Kind, subprocess.Popen[bytes], Path]]:
        seconds = self.args.warmup + self.args.after
        started = []
        for index, kind in enumerate(KINDS):
            rate = self.args.rate * kind.share
            calls = max(1, round(rate * seconds))
            scenario = campaign_caller(
                f"faults_{kind.name}",
                keys=kind.keys,
                hold_min_ms=kind.hold[0],
                hold_max_ms=kind.hold[1],
                audio=kind.audio,
                caller=kind.caller,
            )
            port = 5300 + 10 * index + self.phase % 10 * 100
            proc = start_campaign_callers(
                scenario,
                kind.number,
                port=port,
                media_port=40000 + 20 * index + 200 * (self.phase % 10),
                rate=rate,
                calls=calls,
                timeout_s=seconds + 90,
            )
            started.append((kind, proc, SIPP_ARTIFACTS / f"{scenario.stem}-{port}"))
        return started

    # the faults: each returns what it observed about the recovery

    async def fault_kill(self, result: Result) -> dict[str, Any]:
        old = self.daemon
        assert old.proc is not None
        killed = time.time()
        old.proc.kill()
        old.proc.wait()
        old.proc = None
        await asyncio.sleep(2)
        await asyncio.to_thread(self.start_daemon)
        connected = self.first_after("reconcile.done", killed, self.daemon)
        return {"killed_at": killed, "reconciled_after_s": _since(connected, killed)}

    async def fault_stop(self, result: Result) -> dict[str, Any]:
        proc = self.daemon.proc
        assert proc is not None
        stopped = time.time()
        proc.send_signal(signal.SIGSTOP)
        await asyncio.sleep(self.args.freeze)
        proc.send_signal(signal.SIGCONT)
        await asyncio.sleep(self.args.stall_guard + 5)
        lines = [ln for ln in self.daemon.lines() if logged_at(ln) >= stopped]
        return {
            "frozen_s": self.args.freeze,
            "stalled_calls": sum(ln.get("msg") == "call.stalled" for ln in lines),
            "reconnects": sum(ln.get("msg") == "ari.connected" for ln in lines),
            "reconciles": sum(ln.get("msg") == "reconcile.done" for ln in lines),
            "errors": sorted({ln["msg"] for ln in lines if ln.get("level") == "ERROR"}),
        }

    async def fault_relay(self, result: Result) -> dict[str, Any]:
        cut = self.relay.sever()
        await asyncio.sleep(self.args.cut)
        restored = self.relay.restore()
        connected = await self.wait_log("reconcile.done", restored, within=30)
        return {
            "cut_s": round(restored - cut, 2),
            "reconciled_after_restore_s": _since(connected, restored),
        }

    async def fault_pg(self, result: Result) -> dict[str, Any]:
        down = await asyncio.to_thread(self.pg.stop)
        await asyncio.sleep(self.args.pg_down)
        up = await asyncio.to_thread(self.pg.start)
        # routes to agents asked while it was away: how long until their on_fail
        waits = []
        transitions = [ln for ln in self.daemon.lines() if ln.get("msg") == "call.transition"]
        entered: dict[str, float] = {}
        for line in transitions:
            at = logged_at(line)
            if line.get("node") == "sales_agents" and down <= at <= up:
                entered.setdefault(line["call_id"], at)
            elif line.get("node") == "office" and line["call_id"] in entered:
                waits.append(at - entered.pop(line["call_id"]))
        return {
            "down_s": round(up - down, 2),
            "agent_routes_in_outage": len(waits) + len(entered),
            "on_fail_after_s_max": round(max(waits), 2) if waits else None,
            "without_on_fail": len(entered),
        }

    async def fault_asterisk(self, result: Result) -> dict[str, Any]:
        stopped = time.time()
        await asyncio.to_thread(stop_lab)
        await asyncio.to_thread(start_lab)
        answering = time.time()  # lab.sh start returns once ARI answers
        connected = await self.wait_log("reconcile.done", answering, within=30)
        async with asyncio.timeout(10):
            await self.observer.connected.wait()
        probe = campaign_caller(
            "faults_probe", hold_min_ms=10000, hold_max_ms=10000, caller="79160000009"
        )
        proc = start_campaign_callers(
            probe, KINDS[0].number, port=5399, media_port=41990, rate=1, calls=1, timeout_s=40
        )
        await asyncio.to_thread(proc.wait, 60)
        await asyncio.sleep(1)  # (its call.end follows the hang-up)
        started = [
            ln["call_id"]
            for ln in self.daemon.lines()
            if ln.get("msg") == "call.start" and ln.get("caller") == "79160000009"
        ]
        outcomes = [
            ln.get("outcome")
            for ln in self.daemon.lines()
            if ln.get("msg") == "call.end" and ln.get("call_id") in started
        ]
        return {
            "restart_s": round(answering - stopped, 2),
            "reconciled_after_ari_s": _since(connected, answering),
            "next_call": outcomes or "not served",
        }

    async def fault_smtp(self, result: Result) -> dict[str, Any]:
        assert self.smtp is not None
        self.smtp.stop()
        down = time.time()
        await asyncio.sleep(self.args.smtp_down)
        held = self.smtp.messages
        self.smtp = ThreadedSmtpSink(self.smtp_port).start()
        self.smtp._sink.messages.extend(held)  # one count across the restart
        return {"down_s": round(time.time() - down, 2)}

    async def fault_disk(self, result: Result) -> dict[str, Any]:
        voicemail = self.directory / "voicemail"
        asterisk_inbox = lab_root() / "var/spool/asterisk/voicemail/switchboard/100/INBOX"
        before = count_files(asterisk_inbox, ".txt")
        filled = fill_tmpfs(voicemail)
        await asyncio.sleep(self.args.disk_full)
        (voicemail / "filler").unlink()
        errors = sorted(
            {
                f"{ln.get('msg')}: {str(ln.get('error', ''))[:120]}"
                for ln in self.daemon.lines()
                if logged_at(ln) >= filled
                and ln.get("level") in ("warning", "error")
                and "voicemail" in str(ln.get("logger", "")) + str(ln.get("msg", ""))
            }
        )
        return {
            "full_s": round(time.time() - filled, 2),
            "daemon_errors": errors[:10],
            "asterisk_voicemails": count_files(asterisk_inbox, ".txt") - before,
        }

    # measuring

    def first_after(self, msg: str, after: float, daemon: DaemonProcess) -> float | None:
        for line in daemon.lines():
            if line.get("msg") == msg and logged_at(line) >= after:
                return logged_at(line)
        return None

    async def wait_log(self, msg: str, after: float, within: float) -> float | None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            found = self.first_after(msg, after, self.daemon)
            if found is not None:
                return found
            await asyncio.sleep(0.2)
        return None

    def measure(
        self,
        result: Result,
        began: float,
        struck: float,
        in_progress: list[Seen],
        callers: list[tuple[Kind, subprocess.Popen[bytes], Path]],
    ) -> None:
        result.in_progress = len(in_progress)
        until = time.time()
        gaps = []
        for seen in in_progress:
            result.by_kind[seen.kind] = result.by_kind.get(seen.kind, 0) + 1
            gap, unserved = seen.silence_after(struck, until)
            gaps.append((seen.id, seen.kind, round(gap, 2), unserved))
            if seen.kind in QUEUE_KINDS:
                result.queue_wait_s = max(result.queue_wait_s, round(gap, 2))
                continue
            result.longest_silence_s = max(result.longest_silence_s, round(gap, 2))
            result.silent_over_5s += gap > 5
            result.left_in_silence += unserved and gap > 5
        result.silences = sorted(gaps, key=lambda g: -g[2])[:8]
        for kind, _, stem in callers:
            if kind.hangs_up_itself:
                result.dropped += count_lines(Path(f"{stem}-logs.log"), "far_end_bye")
            result.failed_sipp += failed_calls(Path(f"{stem}-stats.csv"))
        ends: dict[str, int] = {}
        for line in self.log_lines():
            if line.get("msg") == "call.end" and logged_at(line) >= began:
                ends[line["call_id"]] = ends.get(line["call_id"], 0) + 1
        result.double_ended = sum(n > 1 for n in ends.values())

    async def count_stored(
        self, result: Result, began: float, struck: float, in_progress: list[Seen]
    ) -> None:
        seen = self.observer.calls.values()
        phase = [s for s in seen if s.created >= began and s.kind != "other"]
        accepted = {s.id for s in phase if s.stasis is not None and not s.refused}
        progress = {s.id for s in in_progress if not s.refused}
        recorded = {s.id for s in phase if any(d >= 1 for d in s.recordings)}
        confirmed = {s.id for s in phase if s.callback_confirmed}
        result.rows_expected, result.rows_in_progress_expected = len(accepted), len(progress)
        result.voicemails_expected, result.callbacks_expected = len(recorded), len(confirmed)
        deadline = time.monotonic() + self.args.settle
        while True:
            calls = await self.fetch.rows(
                "SELECT id FROM calls WHERE id = ANY($1)", list(accepted | progress)
            )
            vms = await self.fetch.rows(
                "SELECT call_id FROM voicemails WHERE call_id = ANY($1)", list(recorded)
            )
            cbs = await self.fetch.rows(
                "SELECT call_id FROM callbacks WHERE call_id = ANY($1)", list(confirmed)
            )
            written = {r["id"] for r in calls or []}
            stored = {r["call_id"] for r in vms or []}
            result.rows_written = len(written & accepted)
            result.rows_in_progress_written = len(written & progress)
            result.voicemails_stored = len(stored)
            result.callbacks_stored = len({r["call_id"] for r in cbs or []})
            done = (
                result.rows_written == result.rows_expected
                and result.voicemails_stored == result.voicemails_expected
                and self.mails_since() >= result.voicemails_expected
            )
            if done or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        overlaps = await self.fetch.rows(
            "SELECT count(*) AS n FROM calls a JOIN calls b ON a.agent = b.agent AND a.id < b.id"
            " WHERE a.agent <> '' AND a.answered_at IS NOT NULL AND b.answered_at IS NOT NULL"
            " AND a.answered_at < b.ended_at AND b.answered_at < a.ended_at"
        )
        result.agent_overlaps = int(overlaps[0]["n"]) if overlaps else 0

    def mails_since(self) -> int:
        """Mails received since this phase began."""
        return len(self.smtp.messages) - self.mails_before if self.smtp else 0


# --- small helpers ------------------------------------------------------------


def _since(at: float | None, origin: float) -> float | None:
    return None if at is None else round(at - origin, 2)


def wait_all(callers: list[tuple[Kind, subprocess.Popen[bytes], Path]], within: float) -> None:
    deadline = time.monotonic() + within
    for _, proc, _ in callers:
        try:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def count_lines(path: Path, needle: str) -> int:
    if not path.exists():
        return 0
    return sum(needle in line for line in path.read_text(errors="replace").splitlines())


def failed_calls(stats: Path) -> int:
    """The last FailedCall(C) of sipp's -trace_stat CSV."""
    if not stats.exists():
        return 0
    rows = list(csv.DictReader(stats.read_text(errors="replace").splitlines(), delimiter=";"))
    return int(rows[-1].get("FailedCall(C)", 0) or 0) if rows else 0


def count_files(directory: Path, suffix: str) -> int:
    return len(list(directory.glob(f"*{suffix}"))) if directory.exists() else 0


def fill_tmpfs(directory: Path, size: str = "64m") -> float:
    """Mount a small tmpfs over `directory` (the spool inside made again) and fill it."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)], check=True
    )
    (directory / "spool").mkdir()
    with (directory / "filler").open("wb") as filler, contextlib.suppress(OSError):
        while True:
            filler.write(b"\0" * 65536)
            filler.flush()
    return time.time()


def unmount(directory: Path) -> None:
    if subprocess.run(["mountpoint", "-q", str(directory)], check=False).returncode == 0:
        subprocess.run(["umount", str(directory)], check=False)


COLUMNS = (
    ("fault", 9),
    ("in progress", 22),
    ("dropped", 8),
    ("silence s", 10),
    ("waiting s", 9),
    ("rows", 9),
    ("rows@fault", 10),
    ("voicemails", 10),
    ("mails", 6),
    ("callbacks", 9),
    ("double", 6),
)


def table(results: list[Result]) -> str:
    lines = ["  ".join(name.ljust(width) for name, width in COLUMNS)]
    for r in results:
        kinds = ",".join(f"{k[:4]}{n}" for k, n in sorted(r.by_kind.items()))
        cells = (
            r.fault,
            f"{r.in_progress} ({kinds})",
            f"{r.dropped}+{r.failed_sipp}",
            f"{r.longest_silence_s:.1f}",
            f"{r.queue_wait_s:.1f}",
            f"{r.rows_written}/{r.rows_expected}",
            f"{r.rows_in_progress_written}/{r.rows_in_progress_expected}",
            f"{r.voicemails_stored}/{r.voicemails_expected}",
            str(r.mails),
            f"{r.callbacks_stored}/{r.callbacks_expected}",
            f"{r.double_ended}/{r.agent_overlaps}",
        )
        lines.append("  ".join(c.ljust(w) for c, (_, w) in zip(cells, COLUMNS, strict=True)))
    for r in results:
        lines.append(
            f"{r.fault}: {json.dumps(r.facts)}; silent>5s {r.silent_over_5s}, "
            f"left in silence {r.left_in_silence}; worst {r.silences[:3]}"
        )
    return "\n".join(lines)


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        default=",".join(FAULTS),
        help=f"faults to inject, in order (default all: {','.join(FAULTS)})",
    )
    parser.add_argument("--rate", type=float, default=10.0, help="new calls a second")
    parser.add_argument(
        "--warmup",
        type=float,
        default=30.0,
        help="seconds of load before the fault (calls in progress build up)",
    )
    parser.add_argument(
        "--after", type=float, default=15.0, help="seconds new calls keep coming after the fault"
    )
    parser.add_argument("--freeze", type=float, default=10.0, help="SIGSTOP seconds")
    parser.add_argument("--cut", type=float, default=5.0, help="seconds the relay refuses")
    parser.add_argument("--pg-down", type=float, default=15.0, help="seconds PostgreSQL is away")
    parser.add_argument("--smtp-down", type=float, default=60.0, help="seconds SMTP is down")
    parser.add_argument("--disk-full", type=float, default=20.0, help="seconds the disk is full")
    parser.add_argument(
        "--stall-guard",
        type=float,
        default=8.0,
        help="the daemon's stall_guard (s): below --freeze, so it fires",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=60.0,
        help="seconds to wait for rows, voicemails and mails to arrive",
    )
    parser.add_argument("--pg-port", type=int, default=55432)
    parser.add_argument(
        "--no-lab-start",
        action="store_true",
        help="use the lab Asterisk as it runs (default: lab.sh start)",
    )
    args = parser.parse_args(argv)
    unknown = set(args.only.split(",")) - set(FAULTS)
    if unknown:
        parser.error(f"unknown faults {sorted(unknown)}; choose from {','.join(FAULTS)}")
    return args


async def campaign(args: argparse.Namespace) -> list[Result]:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    directory = ARTIFACTS / stamp
    directory.mkdir(parents=True)
    if not args.no_lab_start:
        await asyncio.to_thread(start_lab)
    run = Campaign(args, directory)
    results: list[Result] = []
    try:
        async with run.observer:
            await asyncio.to_thread(run.set_up)
            for fault in args.only.split(","):
                print(f"faults: {fault} ...", file=sys.stderr, flush=True)
                results.append(await run.phase_of(fault))
                print(table(results[-1:]), file=sys.stderr, flush=True)
    finally:
        await asyncio.to_thread(run.tear_down)
        report = {
            "when": stamp,
            "args": vars(args),
            "machine": "shared (2 cores, other sessions)",
            "daemon_logs": [str(d.log_path) for d in run.daemons],
            "results": [asdict(r) for r in results],
        }
        (ARTIFACTS / f"{stamp}.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
        seen = {id: asdict(one) for id, one in run.observer.calls.items()}
        (directory / "observer.json").write_text(json.dumps(seen, indent=1), encoding="utf-8")
    return results


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    if os.geteuid() != 0:
        print("faults: needs root (the lab, a private PostgreSQL, tmpfs)", file=sys.stderr)
        return 2
    results = asyncio.run(campaign(args))
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
