"""Run the real `switchboard run` daemon as a process for tier-3 tests and the demo."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from switchboard.trace import call_ids, read_log

# The lab's PostgreSQL (the same variable and default as tests/pgkit.py).
DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REPO = Path(__file__).resolve().parents[3]
LAB_CONFIG = REPO / "deploy" / "lab" / "switchboard.yaml"
SWITCHBOARD = Path(sys.executable).parent / "switchboard"


class DaemonProcess:
    """`switchboard run --config ...` with its JSON log captured to a file."""

    def __init__(
        self, log_path: Path, config: Path = LAB_CONFIG, env: dict[str, str] | None = None
    ) -> None:
        self.config = config
        self.log_path = log_path
        self.env = env or {}  # e.g. SWITCHBOARD_NOW: the instant the daemon's clock starts
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, within: float = 20.0) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [str(SWITCHBOARD), "run", "--config", str(self.config)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env={**os.environ, **self.env},
            )  # fmt: skip
        deadline = time.monotonic() + within
        while not any(line.get("msg") == "reconcile.done" for line in self.lines()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"daemon did not connect to ARI:\n{self.log_path.read_text()}")
            time.sleep(0.1)

    def stop(self, within: float = 40.0) -> int:
        """SIGTERM (drain), then wait; returns the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=within)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc = None
        return code

    def kill(self) -> int:
        """SIGKILL: no drain, no flush (what the OOM killer does); returns the exit code."""
        if self.proc is None:
            return 0
        self.proc.kill()
        code = self.proc.wait()
        self.proc = None
        return code

    def lines(self) -> list[dict[str, Any]]:
        if not self.log_path.exists():
            return []
        with self.log_path.open(encoding="utf-8", errors="replace") as log:
            return list(read_log(log))

    def calls(self) -> list[str]:
        return call_ids(self.lines())

    def trace(self, call_id: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("call_id") == call_id]

    def wait_for_any(self, msg: str, within: float = 20.0) -> dict[str, Any]:
        """The first log line with this message, from any call."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for line in self.lines():
                if line.get("msg") == msg:
                    return line
            time.sleep(0.1)
        raise AssertionError(f"no {msg} in {within} s (log: {self.log_path})")

    def wait_for(self, msg: str, call_id: str, within: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for line in self.trace(call_id):
                if line.get("msg") == msg:
                    return line
            time.sleep(0.1)
        raise AssertionError(f"no {msg} for call {call_id} in {within} s: {self.trace(call_id)}")


FLOW_FILES = ("lab.yaml", "examples/seed.yaml", "agents.yaml")


def seed_config(directory: Path, *, schema: str, smtp_port: int, database_url: str) -> Path:
    """A daemon config for the seed specification: the lab's ARI and flows, a
    database schema of the test's own, voicemail and the spools under `directory`,
    mail to a local SMTP sink on `smtp_port`, retries every second."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "switchboard.yaml"
    config.write_text(
        f"""\
ari: {{url: "http://127.0.0.1:8088", username: switchboard, password: switchboard}}
flows:
  files: [{", ".join(str(REPO / "flows" / f) for f in FLOW_FILES)}]
  prompts: {REPO / "prompts"}
  watch_interval: 0
daemon: {{drain_timeout: 30, log_level: info, state_directory: {directory / "state"}}}
database: {{url: "{database_url}", schema: {schema}}}
voicemail:
  directory: {directory / "voicemail"}
  from: "Switchboard <switchboard@example.com>"
  retry_seconds: 1
  mailboxes:
    "100": {{email: [office@example.com], name: Office}}
smtp: {{host: 127.0.0.1, port: {smtp_port}, timeout: 5}}
recording: {{directory: {directory / "recordings"}, retry_seconds: 1}}
dial_policy: {{countries: [RU], default_country: RU}}
""",
        encoding="utf-8",
    )
    return config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class IsolatedDaemon:
    """The daemon for one test: the lab's ARI and flows, a database schema of its own
    (dropped by ``drop``), voicemail under ``root/name``, mail to ``smtp_port``."""

    def __init__(
        self,
        root: Path,
        name: str,
        *,
        prefix: str = "t",
        now: str | None = None,
        database_url: str = DATABASE_URL,
    ) -> None:
        self.schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
        self.smtp_port = free_port()
        self.directory = root / name
        self.config = seed_config(
            self.directory, schema=self.schema, smtp_port=self.smtp_port, database_url=database_url
        )
        log = REPO / "artifacts" / "daemon" / f"{name}.log"
        env = {"SWITCHBOARD_NOW": now} if now else None  # the instant its clock starts
        self.daemon = DaemonProcess(log, self.config, env=env)

    def fetch(self, query: str, *args: object) -> list[dict[str, Any]]:
        """Rows of a query in this daemon's schema ([] if the schema has no such table)."""

        async def fetch() -> list[dict[str, Any]]:
            conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": self.schema})
            try:
                return [dict(r) for r in await conn.fetch(query, *args)]
            except asyncpg.UndefinedTableError:
                return []  # the daemon has not created its tables yet
            finally:
                await conn.close()

        return asyncio.run(fetch())

    def drop(self) -> None:
        async def drop() -> None:
            conn = await asyncpg.connect(DATABASE_URL)
            try:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
            finally:
                await conn.close()

        asyncio.run(drop())

    def wait_rows(self, query: str, *args: object, within: float = 10.0) -> list[dict[str, Any]]:
        """The rows, once there are some (the daemon writes in the background)."""
        deadline = time.monotonic() + within
        while not (rows := self.fetch(query, *args)) and time.monotonic() < deadline:
            time.sleep(0.1)
        return rows

    def only_call(self) -> str:
        calls = [c for c in self.daemon.calls() if c]
        assert len(calls) == 1, calls
        return calls[0]

    def transitions(self, call_id: str) -> list[dict[str, Any]]:
        return [t for t in self.daemon.trace(call_id) if t.get("msg") == "call.transition"]

    def first_originate(self, call_id: str, endpoint: str) -> dict[str, Any] | None:
        """The transition that first rang ``endpoint`` for this call (None: never)."""
        for line in self.transitions(call_id):
            if any(c.startswith("Originate(") and f",{endpoint}," in c for c in line["commands"]):
                return line
        return None


def stop_and_drop(made: Sequence[IsolatedDaemon]) -> None:
    """The end of a test: each daemon must drain and exit 0; its schema is dropped."""
    for one in made:
        code = one.daemon.stop()
        one.drop()
        assert code == 0, f"daemon did not drain and exit 0, see {one.daemon.log_path}"


def when(line: dict[str, Any]) -> float:
    """A log line's time, as a timestamp."""
    return datetime.strptime(line["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
