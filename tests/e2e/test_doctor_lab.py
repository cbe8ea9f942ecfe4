"""Tier 3: `switchboard doctor` against the real lab Asterisk 22 and PostgreSQL.

With the daemon running every check passes; without it the app is not
registered; a wrong password and a missing context are told apart on the real
Asterisk. The dialplan probe leaves no channel behind and never reaches the daemon.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from labkit.daemon import REPO, SWITCHBOARD, IsolatedDaemon, stop_and_drop
from labkit.lab import get_global, set_global, wait_for_channel_count
from switchboard import doctor
from switchboard.config import load_config
from switchboard.doctor import Verdict

CHECKS = ["config", "flows", "ARI", "ARI app", "dialplan", "endpoints", "database"]


def switchboard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SWITCHBOARD), *args], capture_output=True, text=True, timeout=60, check=False
    )


def verdicts(stdout: str) -> list[tuple[str, str]]:
    """(verdict, check) of each check line (not the fix: lines, not the summary)."""
    lines = [line for line in stdout.splitlines()[:-1] if line[:4].strip()]
    return [(line[:4].strip(), line[6:15].rstrip()) for line in lines]


def config_without_daemon_or_database(directory: Path, password: str = "switchboard") -> Path:
    flows = ", ".join(str(REPO / "flows" / f) for f in ("lab.yaml", "examples/seed.yaml"))
    path = directory / "switchboard.yaml"
    path.write_text(
        f"ari: {{url: 'http://127.0.0.1:8088', username: switchboard, password: {password}}}\n"
        f"flows: {{files: [{flows}], prompts: '{REPO / 'prompts'}'}}\n"
    )
    return path


def test_every_check_passes_on_the_lab_with_the_daemon_running(lab: None, tmp_path: Path) -> None:
    one = IsolatedDaemon(tmp_path, "doctor-all-ok")
    try:
        upgrade = switchboard("db", "upgrade", "--config", str(one.config))
        assert upgrade.returncode == 0, upgrade.stderr
        one.daemon.start()
        result = switchboard("doctor", "--config", str(one.config))
        assert result.returncode == 0, result.stdout
        assert verdicts(result.stdout) == [("OK", check) for check in CHECKS]
        assert result.stdout.splitlines()[-1] == "doctor: 7 OK"
        assert "(Asterisk 22." in result.stdout
        assert wait_for_channel_count(0) == 0  # the probe channel is gone
        assert one.daemon.calls() == []  # and the daemon never saw it
    finally:
        stop_and_drop([one])


def test_without_the_daemon_the_app_is_not_registered(lab: None, tmp_path: Path) -> None:
    config = str(config_without_daemon_or_database(tmp_path))
    for _ in range(2):  # the first run's own probe app must not pass for a daemon
        result = switchboard("doctor", "--config", config)
        assert result.returncode == 1, result.stdout
        assert verdicts(result.stdout) == [
            ("OK", "config"),
            ("OK", "flows"),
            ("OK", "ARI"),
            ("FAIL", "ARI app"),
            ("OK", "dialplan"),
            ("OK", "endpoints"),
            ("SKIP", "database"),
        ]
        assert "no daemon is connected as 'switchboard' (connected apps: none)" in result.stdout
        assert "fix: start the daemon (systemctl start switchboard" in result.stdout
    assert wait_for_channel_count(0) == 0


def test_a_wrong_password_is_a_401_on_the_real_asterisk(lab: None, tmp_path: Path) -> None:
    config = load_config(config_without_daemon_or_database(tmp_path, password="not-it"))
    found = {f.check: f for f in asyncio.run(doctor.examine(config))}
    assert found["ARI"].verdict is Verdict.FAIL
    assert (
        found["ARI"].found
        == "http://127.0.0.1:8088 refused user 'switchboard' (401: wrong user name or password)"
    )
    assert found["dialplan"].verdict is Verdict.SKIP


def test_a_missing_context_and_a_wrong_global_on_the_real_asterisk(
    lab: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(doctor, "CONTEXTS", (*doctor.CONTEXTS, "switchboard-not-loaded"))
    config = load_config(config_without_daemon_or_database(tmp_path))
    before = get_global("SWITCHBOARD_APP")
    set_global("SWITCHBOARD_APP", "callrouter")
    try:
        found = {f.check: f for f in asyncio.run(doctor.examine(config))}
    finally:
        set_global("SWITCHBOARD_APP", before)
    assert found["dialplan"].verdict is Verdict.FAIL
    assert found["dialplan"].found == (
        "context [switchboard-not-loaded] is missing; "
        "global SWITCHBOARD_APP is callrouter, the daemon's app is 'switchboard'"
    )
    assert wait_for_channel_count(0) == 0
