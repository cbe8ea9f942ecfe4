"""Drive the real-Asterisk lab (deploy/lab/lab.sh) and sipp, for the demo and tier 3.

Everything here is synchronous and blocking on purpose: Tier 3 tests are a
script of real SIP calls, and a plain subprocess per phone is easiest to read.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
LAB_SH = REPO / "deploy" / "lab" / "lab.sh"
SCENARIOS = Path(__file__).resolve().parent / "scenarios"
SIPP_ARTIFACTS = REPO / "artifacts" / "sipp"

COMPANY_NUMBER = "74951234567"
ASTERISK_SIP = "127.0.0.1:5060"
CALLER_PORT = 5070
AGENT_PORTS = {"agent100": 5081, "agent101": 5082, "agent102": 5083}


class LabError(RuntimeError):
    """The lab (Asterisk, lab.sh) misbehaved: the environment's fault, not the test's."""


def _lab(*args: str, timeout: float = 300.0) -> str:
    proc = subprocess.run(
        [str(LAB_SH), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise LabError(
            f"lab.sh {' '.join(args)} exited {proc.returncode}\n{proc.stdout}{proc.stderr}"
        )
    return proc.stdout


def start_lab() -> None:
    """Build if needed and (re)start Asterisk with the repo's configs."""
    _lab("start")


def stop_lab() -> None:
    _lab("stop", timeout=60.0)


def lab_root() -> Path:
    return Path(_lab("root").strip())


def lab_cli(cmd: str) -> str:
    """Run one Asterisk CLI command (asterisk -rx) and return its output."""
    return _lab("cli", cmd, timeout=30.0)


def active_channel_count() -> int:
    output = lab_cli("core show channels count")
    match = re.search(r"^(\d+) active channels?$", output, re.MULTILINE)
    if match is None:
        raise LabError(f"unexpected 'core show channels count' output: {output!r}")
    return int(match.group(1))


def wait_for_channel_count(expected: int, timeout: float = 5.0) -> int:
    """Poll until Asterisk reports `expected` channels; return the last count seen."""
    deadline = time.monotonic() + timeout
    count = active_channel_count()
    while count != expected and time.monotonic() < deadline:
        time.sleep(0.2)
        count = active_channel_count()
    return count


def ari_app_names() -> list[str]:
    """Stasis applications with a connected websocket (`ari show apps`)."""
    lines = lab_cli("ari show apps").splitlines()
    return [line.strip() for line in lines[2:] if line.strip()]


def get_global(name: str) -> str:
    match = re.search(rf"^\s*{re.escape(name)}=(.*)$", lab_cli("dialplan show globals"), re.M)
    if match is None:
        raise LabError(f"dialplan global {name} is not set")
    return match.group(1)


def set_global(name: str, value: str) -> None:
    """Change a dialplan global at run time (reset by the next lab start)."""
    lab_cli(f"dialplan set global {name} {value}")


class AsteriskLog:
    """The lab's Asterisk log file, read from a mark so a test sees only its own lines."""

    def __init__(self) -> None:
        self.path = lab_root() / "var" / "log" / "asterisk" / "messages"
        self.mark = self.path.stat().st_size

    def since_mark(self) -> str:
        with self.path.open("rb") as log:
            log.seek(self.mark)
            return log.read().decode("utf-8", errors="replace")

    def notices(self) -> list[str]:
        """The NOTICE lines logged since the mark (what Log(NOTICE, ...) writes)."""
        return [line for line in self.since_mark().splitlines() if "] NOTICE[" in line]


def _sipp_command(role: str, scenario: list[str], port: int, media_port: int) -> list[str]:
    SIPP_ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stem = SIPP_ARTIFACTS / f"{role}-{port}"
    return [
        "sipp",
        *scenario,
        "-i", "127.0.0.1",
        "-p", str(port),
        "-mp", str(media_port),
        "-m", "1",
        "-nostdin",
        "-trace_err", "-error_file", f"{stem}-errors.log",
        "-trace_msg", "-message_file", f"{stem}-messages.log",
    ]  # fmt: skip


def start_agent_uas(
    port: int,
    scenario_xml: Path | None = None,
    media_port: int | None = None,
    timeout_s: int = 60,
) -> subprocess.Popen[bytes]:
    """An agent's phone on `port` for one call: sipp's built-in UAS (answers at
    once) or a scenario such as scenarios/agent_ring_no_answer.xml.
    The caller must `finish_sipp()` it (no stray processes, no ResourceWarning)."""
    scenario = ["-sf", str(scenario_xml)] if scenario_xml else ["-sn", "uas"]
    command = _sipp_command("agent", scenario, port, media_port or port * 10)
    command += ["-timeout", f"{timeout_s}s", "-timeout_error"]
    return subprocess.Popen(
        command,
        cwd=SIPP_ARTIFACTS,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,  # sipp's errors go to its -error_file
    )


def finish_sipp(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> int:
    """Wait for a sipp to end by itself; kill it after `timeout`. Returns its exit code
    (0: every call succeeded; sipp's -9 after a kill)."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def run_caller(
    number: str,
    scenario_xml: Path | None = None,
    hold_ms: int = 3000,
    timeout_s: int = 60,
) -> subprocess.CompletedProcess[bytes]:
    """Call `number` from 127.0.0.1:5070 and wait for the call to end.

    Default scenario: scenarios/caller_hangup_after.xml, which talks for
    `hold_ms` (sipp -d) then hangs up, or accepts Asterisk's BYE first.
    Exit code 0 means the call was answered and ended cleanly."""
    scenario = scenario_xml or SCENARIOS / "caller_hangup_after.xml"
    command = _sipp_command("caller", ["-sf", str(scenario)], CALLER_PORT, 16000)
    command += ["-s", number, "-d", str(hold_ms), "-timeout", f"{timeout_s}s", "-timeout_error"]
    command.append(ASTERISK_SIP)
    return subprocess.run(
        command,
        cwd=SIPP_ARTIFACTS,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,  # kept on the result, not printed amid the demo
        timeout=timeout_s + 10,
        check=False,
    )


ARI_URL = "http://127.0.0.1:8088/ari"
ARI_AUTH = "Basic " + base64.b64encode(b"switchboard:switchboard").decode()


def ari_get(path: str) -> Any:
    """One ARI GET against the lab (the tests' own view, not the daemon's)."""
    request = urllib.request.Request(ARI_URL + path, headers={"Authorization": ARI_AUTH})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read() or b"null")


def endpoint_state(resource: str) -> str:
    return str(ari_get(f"/endpoints/PJSIP/{resource}").get("state", ""))


def wait_for_endpoints(resources: list[str], state: str, within: float = 10.0) -> None:
    """Until every endpoint is `state` (online: its phone registered; offline: not)."""
    deadline = time.monotonic() + within
    while True:
        states = {r: endpoint_state(r) for r in resources}
        if all(s == state for s in states.values()):
            return
        if time.monotonic() > deadline:
            raise LabError(f"endpoints not {state} after {within} s: {states}")
        time.sleep(0.1)
