"""Tier 1: `switchboard trace` tells a call's story from the JSON log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from switchboard.cli import main
from switchboard.trace import call_ids, format_call, read_log

LOG = [
    {"ts": "2026-11-25T10:00:00.000Z", "msg": "daemon.started"},
    {
        "ts": "2026-11-25T10:00:01.000Z",
        "msg": "call.start",
        "call_id": "c1",
        "caller": "+79161234567",
        "dialed": "74951234567",
    },
    {
        "ts": "2026-11-25T10:00:01.002Z",
        "msg": "call.transition",
        "call_id": "c1",
        "event": "StasisStart",
        "from": "new",
        "to": "ivr",
        "node": "welcome",
        "commands": ["Answer(c1)", "Play(c1,sound:switchboard/greeting,c1-greeting)"],
    },
    {
        "ts": "2026-11-25T10:00:02.000Z",
        "msg": "call.start",
        "call_id": "c2",
        "caller": "",
        "dialed": "74951234567",
    },
    {
        "ts": "2026-11-25T10:00:05.120Z",
        "msg": "call.end",
        "call_id": "c1",
        "outcome": "answered",
        "answered_by": "PJSIP/agent100",
        "path": ["welcome", "agent"],
    },
]


def test_a_call_is_told_step_by_step_with_time_since_its_start() -> None:
    records = list(read_log([json.dumps(r) for r in LOG] + ["not json", "[1]"]))
    assert call_ids(records) == ["c1", "c2"]
    assert format_call(records, "c1") == [
        "+  0.00s call c1: caller +79161234567 dialed 74951234567",
        "+  0.00s StasisStart            new -> ivr @welcome: Answer(c1), "
        "Play(c1,sound:switchboard/greeting,c1-greeting)",
        "+  4.12s end: outcome=answered answered_by=PJSIP/agent100 path: welcome > agent",
    ]
    assert format_call(records, "nope") == []


def test_nothing_from_the_log_reaches_the_terminal_as_a_control_character() -> None:
    """A caller ID logged by a daemon before it cleaned them (or a log edited by hand):
    the story is still one line per record, with no escape sequence in it."""
    forged = {
        "ts": "2026-11-25T10:00:01.000Z",
        "msg": "call.start",
        "call_id": "c\x1b",
        "caller": "\x1b[2J\n+  9.99s end: outcome=answered",
        "dialed": "74951234567",
    }
    records = list(read_log([json.dumps(forged)]))
    assert call_ids(records) == ["c\ufffd"]
    assert format_call(records, "c\x1b") == [
        "+  0.00s call c\ufffd: caller \ufffd[2J\ufffd+  9.99s end: outcome=answered"
        " dialed 74951234567"
    ]


def test_trace_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "daemon.log"
    log.write_text("\n".join(json.dumps(r) for r in LOG))
    assert main(["trace", "--log", str(log)]) == 0
    assert capsys.readouterr().out == "c1\nc2\n"
    assert main(["trace", "c1", "--log", str(log)]) == 0
    assert "end: outcome=answered" in capsys.readouterr().out
    assert main(["trace", "c9", "--log", str(log)]) == 1
    assert "no call c9" in capsys.readouterr().err
    assert main(["trace", "c1", "--log", str(tmp_path / "missing.log")]) == 2
    assert "cannot read log" in capsys.readouterr().err
