"""The call journal: what each call in progress has done so far, on local disk.

A call's row reaches the call log (``calllog``) when its runner ends. So that a
daemon that dies mid-call does not lose the calls it was running, the supervisor
also writes each call's *provisional* record (``calllog.call_record`` with no end:
started, caller, dialed, flow, path, customer, legs so far, answer, agent ...) to
``<directory>/<call id>.json``, after every batch of engine steps that changed it
(so at the start, each node entered, each phase change, each leg's result, the
connect). When the call ends its final row is spooled by the call log first, then
its journal file is removed. Callback calls (we call the customer) are not
journaled, nor are legs (agents' phones we ring): they have no row of their own.

At the next start (``leftovers``, read before the first reconcile), each file left
is a call the last process did not see end. The supervisor then (see
``Supervisor.reconcile``): re-adopts a connected call carrying this history
(``carried``: one row, the same id, its earlier path and legs); hands back a caller
still in our app but not connected, its row ``handed_back`` with the journal's path;
and writes at once the row of a call whose channel Asterisk no longer has
(``completed`` with ``ended_unobserved``: it ended while the daemon was down, at or
before the row's ``ended_at``, which is the time of that reconcile). A file whose call
is already in the call log's spool (killed between the two) is just removed.

What it covers: the daemon's *process* dying (SIGKILL, the OOM killer, a crash). A
call's file is overwritten in place by one ``write`` at offset 0, padded with spaces
to the length of its previous version (JSON ignores them), so it holds the old
version or the new: a process killed in a system call of a page or less (a record
is a few hundred bytes) does not leave it half done, and the kernel keeps it in the
page cache whatever happens to the process. (Written to a temporary name and
renamed over the old file instead, each version cost about ten times the CPU on
ext4, which starts writing a file's blocks back when a rename replaces it: 120-150
against 5-14 us a write, measured in one run on this machine; about 8 versions a
call.) What it does not cover: the machine losing power or the kernel crashing
before dirty pages are written back (about 30 s with Linux defaults): the files are
not fsync'd (a call rewrites its file several times, at tens of calls a second);
such a file may be older, missing, empty or torn, and one that cannot be read is
set aside as ``.bad`` and logged, as is one a process was killed in the middle of
writing where a record is over a page. The call log's spool, written once per
call, is fsync'd.

Writes are synchronous, in the event loop: a small file into the page cache takes
tens of microseconds, and keeps a call's versions in order. (A writer thread was
tried and measured: handing over each version and the GIL it then contends for
cost every call's set-up more than the write itself, bench/bench_first_command.py
``--journal-cost``; synchronous, the journal measured about +0.13 ms at the p50 of a
set-up, 0.97 against 0.84 ms, on a shared 2-core machine.) A write that fails (disk
full, no permission) is logged and the call goes on: the journal is a safety net,
never a reason to drop a call.
"""

from __future__ import annotations

import errno
import json
import logging
import os
from dataclasses import dataclass, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from switchboard.calllog import RINGING, CallRecord, LegRecord, record_from_json
from switchboard.durable import Spool
from switchboard.engine import Outcome

log = logging.getLogger("switchboard.calljournal")
UNOBSERVED = Outcome.ENDED_UNOBSERVED.value  # (also a leg's result: rang, its end unseen)


@dataclass(frozen=True, slots=True)
class Journaled:
    """One call as the journal last knew it."""

    record: CallRecord  # provisional: no ended_at, legs still ringing as ``ringing``
    seen_at: str  # ISO 8601: when it was written (the call was alive then)


class CallJournal:
    """One journal folder (blocking file work, each call small: see the docstring)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        unreadable = (OSError, ValueError, TypeError, KeyError, AttributeError)
        self._spool = Spool(directory, log, "calljournal", unreadable=unreadable)
        self._ready = False
        self._failing = False  # (a failing disk is logged once, until a write succeeds)
        self._sizes: dict[str, int] = {}  # call id -> its file's length (see write)

    def path(self, call_id: str) -> Path:
        return self._spool.path(_file_name(call_id))

    def write(self, record: CallRecord, seen_at: datetime) -> bool:
        """Overwrite the call's file in place (one write, padded to the last
        version's length: see the docstring); False if it failed."""
        data = json.dumps({"seen_at": seen_at.isoformat(), "record": _record_data(record)})
        encoded = data.encode()
        previous = self._sizes.get(record.id)
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if previous is None else 0)
        try:
            if not self._ready:
                self.directory.mkdir(parents=True, exist_ok=True)
                self._ready = True
            out = os.open(self.path(record.id), flags, 0o600)
            try:
                if previous is not None and previous > len(encoded):
                    encoded += b" " * (previous - len(encoded))
                written = os.pwrite(out, encoded, 0)
            finally:
                os.close(out)
            if written < len(encoded):  # (a full disk can cut a write short)
                self._sizes[record.id] = max(written, previous or 0)
                raise OSError(errno.ENOSPC, f"wrote {written} of {len(encoded)} bytes")
        except OSError as exc:
            if not self._failing:
                log.error("calljournal.write_failed", extra={"call_id": record.id,
                                                             "error": str(exc)})  # fmt: skip
            self._failing = True
            return False
        self._sizes[record.id] = max(len(encoded), previous or 0)
        self._failing = False
        return True

    def remove(self, call_id: str) -> None:
        self._sizes.pop(call_id, None)
        try:
            self.path(call_id).unlink(missing_ok=True)
        except OSError as exc:
            log.error("calljournal.remove_failed", extra={"call_id": call_id, "error": str(exc)})

    def leftovers(self) -> list[Journaled]:
        """The calls journaled by a process that did not see them end (blocking;
        unreadable files set aside; the temporary files of versions that wrote by
        rename, killed before renaming, removed)."""
        if self.directory.is_dir():
            for tmp in self.directory.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)
        return self._spool.read_all(_parse)


_RECORD_FIELDS = tuple(f.name for f in fields(CallRecord))
_LEG_FIELDS = tuple(f.name for f in fields(LegRecord))


def _record_data(record: CallRecord) -> dict[str, object]:
    """``asdict(record)``, a few times faster (no deep copies: all values are plain)."""
    data: dict[str, object] = {name: getattr(record, name) for name in _RECORD_FIELDS}
    data["path"] = list(record.path)
    data["legs"] = [{name: getattr(leg, name) for name in _LEG_FIELDS} for leg in record.legs]
    return data


def _file_name(call_id: str) -> str:
    """A channel id as a file name (Asterisk's are ``<epoch>.<n>``; others made safe)."""
    return call_id.replace("/", "_").lstrip(".") or "_"


def _parse(raw: bytes) -> Journaled:
    data: dict[str, Any] = json.loads(raw)
    return Journaled(record_from_json(data["record"]), str(data["seen_at"]))


# -- completing a record (pure) -------------------------------------------------------------
def settled_legs(legs: tuple[LegRecord, ...], at: datetime) -> tuple[LegRecord, ...]:
    """Phones the journal saw ringing: their end was not seen (``ended_unobserved``,
    at or before ``at``)."""
    end = at.isoformat()
    return tuple(
        replace(leg, result=UNOBSERVED, ended_at=end) if leg.result == RINGING else leg
        for leg in legs
    )


def completed(record: CallRecord, outcome: str, at: datetime) -> CallRecord:
    """The row of a journaled call that ends with ``outcome`` at ``at`` (a call gone
    while the daemon was down: ``ended_unobserved``; a caller handed back)."""
    return replace(
        record, outcome=outcome, ended_at=at.isoformat(), legs=settled_legs(record.legs, at)
    )


def carried(history: CallRecord, now: CallRecord) -> CallRecord:
    """A re-adopted call's record (``now``, provisional or final, from its fresh state)
    after what the journal knew of it (``history``, legs settled): who called, when,
    the path and phones so far come from the history, what happened since from ``now``."""
    queued_at = history.queued_at or now.queued_at
    waited_until = history.waited_until or now.waited_until
    if history.queued_at and not waited_until:  # answered while the daemon was down
        waited_until = now.answered_at
    return replace(
        now,
        dialed=history.dialed or now.dialed,
        caller=history.caller or now.caller,
        customer=history.customer if history.customer is not None else now.customer,
        flow=history.flow or now.flow,
        flow_version=history.flow_version or now.flow_version,
        started_at=history.started_at or now.started_at,
        answered_at=history.answered_at or now.answered_at,
        answered_by=now.answered_by or history.answered_by,
        agent=now.agent or history.agent,
        route_result=now.route_result or history.route_result,
        path=history.path + now.path,
        legs=history.legs + now.legs,
        queue=history.queue or now.queue,
        queued_at=queued_at,
        waited_until=waited_until,
        answered_external=history.answered_external or now.answered_external,
        recording=now.recording or history.recording,
    )
