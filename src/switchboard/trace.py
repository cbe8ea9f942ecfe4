"""Print a call's story from the daemon's JSON log (`switchboard trace CALL_ID`).

The log's JSON escapes everything, but the story is printed to a terminal: each
line is made one line (``text.one_line``) so nothing from a log (a caller ID
logged before the daemon cleaned it, a line edited by hand) can start a forged
line or send the terminal an escape sequence.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from switchboard.text import one_line

TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def read_log(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The JSON records of a log; lines that are not JSON objects are skipped."""
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            yield record


def call_ids(records: Iterable[dict[str, Any]]) -> list[str]:
    return [one_line(str(r["call_id"]), None) for r in records if r.get("msg") == "call.start"]


def format_call(records: Iterable[dict[str, Any]], call_id: str) -> list[str]:
    """One line per step of the call, with time since its first record."""
    trace = [r for r in records if r.get("call_id") == call_id]
    if not trace:
        return []
    start = _when(trace[0])
    return [
        one_line(f"+{(_when(r) - start).total_seconds():6.2f}s {_describe(r)}", None) for r in trace
    ]


def _when(record: dict[str, Any]) -> datetime:
    try:
        return datetime.strptime(str(record.get("ts", "")), TS_FORMAT)
    except ValueError:
        return datetime.min


def _describe(r: dict[str, Any]) -> str:
    match r.get("msg"):
        case "call.start":
            return f"call {r['call_id']}: caller {r.get('caller')} dialed {r.get('dialed')}"
        case "call.transition":
            commands = ", ".join(r.get("commands", [])) or "-"
            at = f" @{r['node']}" if r.get("node") else ""
            return f"{r.get('event', ''):<22} {r.get('from')} -> {r.get('to')}{at}: {commands}"
        case "call.command_result":
            return f"{'':<22} Asterisk answered: {r.get('result')}"
        case "call.targets":
            skipped = ", ".join(f"#{i} {why}" for i, why in r.get("skipped") or []) or "none"
            order = ", ".join(f"#{i}" for i in r.get("order") or []) or "none"
            return f"{'':<22} can ring: {order}; skipped: {skipped}"
        case "call.end":
            path = " > ".join(r.get("path") or []) or "-"
            tried = "; ".join(f"{who} {result}" for who, result in r.get("route_log") or [])
            return (
                f"end: outcome={r.get('outcome')} answered_by={r.get('answered_by') or '-'}"
                f" path: {path}" + (f" | phones: {tried}" if tried else "")
            )
        case str(msg) if msg.startswith("voicemail."):
            details = {
                k: v
                for k, v in r.items()
                if k in ("file", "bytes", "s", "to", "stage", "attempt", "retry_in_s", "error")
            }
            shown = " ".join(f"{k}={v}" for k, v in details.items())
            return f"{msg} {shown}".strip()
        case other:
            return str(other)
