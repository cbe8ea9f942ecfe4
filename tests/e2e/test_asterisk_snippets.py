"""Tier 3: the production snippets of deploy/asterisk-snippets/ load in the real
Asterisk 22 as an operator would merge them, and `switchboard doctor` passes the
checks they are meant to satisfy. The lab's own configs are put back at the end."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit.lab import lab_cli, lab_root, start_lab
from switchboard import doctor
from switchboard.config import load_config
from switchboard.doctor import Verdict

REPO = Path(__file__).resolve().parents[2]
SNIPPETS = REPO / "deploy" / "asterisk-snippets"
PASSWORD = "Prod-Pass-4b7e1c"  # hashed into ari.conf with `ari mkpasswd`, as the snippet says
FLOW = """\
languages: [en]
entry: {"74951234567": office}
nodes:
  office: {kind: route, endpoints: [PJSIP/100, PJSIP/101, PJSIP/102], on_fail: mobile}
  mobile: {kind: route, number: "+79871234567", trunk: carrier, on_fail: bye}
  bye: {kind: hangup}
"""


def merged_configs(ari_hash: str) -> dict[str, str]:
    """/etc/asterisk as an operator leaves it: the snippets merged into minimal files."""
    ari = (SNIPPETS / "ari.conf").read_text()
    ari = ari.replace("$6$REPLACE$WITH-THE-OUTPUT-OF-ari-mkpasswd", ari_hash)
    lab_voicemail = (REPO / "deploy" / "asterisk" / "voicemail.conf").read_text()
    return {
        "http.conf": (SNIPPETS / "http.conf").read_text(),
        "ari.conf": ari,
        "pjsip.conf": (SNIPPETS / "pjsip.conf").read_text(),
        "voicemail.conf": lab_voicemail.split("[switchboard]")[0]
        + (SNIPPETS / "voicemail.conf").read_text(),
        "extensions.conf": "[general]\nstatic = yes\nwriteprotect = yes\n\n"
        + (SNIPPETS / "extensions.conf").read_text(),
        "extensions_switchboard.conf": (
            REPO / "dialplan" / "extensions_switchboard.conf"
        ).read_text(),
    }


def ari_status(password: str) -> int:
    token = base64.b64encode(f"switchboard:{password}".encode()).decode()
    request = urllib.request.Request(
        "http://127.0.0.1:8088/ari/asterisk/info", headers={"Authorization": f"Basic {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


@pytest.fixture
def production_asterisk(lab: None) -> Iterator[Path]:
    """The lab Asterisk restarted with the snippets; its log; the lab configs back after."""
    root = lab_root()
    lines = lab_cli(f"ari mkpasswd {PASSWORD}").splitlines()
    ari_hash = next(
        line.split("=", 1)[1].strip() for line in lines if line.startswith("password =")
    )
    try:
        for name, text in merged_configs(ari_hash).items():
            (root / "etc" / "asterisk" / name).write_text(text)
        log = root / "var" / "log" / "asterisk" / "messages"
        log.write_text("")
        subprocess.run(
            ["chroot", str(root), "asterisk", "-rx", "core restart now"],
            capture_output=True,
            timeout=30,
            check=False,
        )
        deadline = time.monotonic() + 30
        while ari_status(PASSWORD) != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        yield log
    finally:
        start_lab()  # the lab's own configs, for the tests that follow


def test_the_snippets_load_and_satisfy_the_doctor(
    production_asterisk: Path, tmp_path: Path
) -> None:
    assert ari_status(PASSWORD) == 200
    assert ari_status("switchboard") == 401  # the lab's password no longer works
    endpoints = lab_cli("pjsip show endpoints")
    for name in ("100/100", "101/101", "102/102", "carrier"):
        assert f" Endpoint:  {name} " in endpoints
    assert "carrier/sip:sip.carrier.example" in lab_cli("pjsip show registrations")
    assert "2 voicemail users configured." in lab_cli("voicemail show users for switchboard")
    (tmp_path / "flow.yaml").write_text(FLOW)
    config = tmp_path / "switchboard.yaml"
    config.write_text(
        f"ari: {{url: 'http://127.0.0.1:8088', username: switchboard, password: {PASSWORD}}}\n"
        f"flows: {{files: [flow.yaml], prompts: '{REPO / 'prompts'}'}}\n"
    )
    found = {f.check: f for f in asyncio.run(doctor.examine(load_config(config)))}
    assert {c: f.verdict for c, f in found.items()} == {
        "flows": Verdict.OK,
        "ARI": Verdict.OK,
        "ARI app": Verdict.FAIL,  # no daemon in this test
        "dialplan": Verdict.OK,
        "endpoints": Verdict.OK,
        "database": Verdict.SKIP,
    }, found
    assert found["dialplan"].found.endswith("(fallback group: PJSIP/100&PJSIP/101&PJSIP/102)")
    problems = [line for line in production_asterisk.read_text().splitlines() if "] ERROR[" in line]
    assert problems == []
