"""Tier 1: the call journal: a call's record so far (no end, phones still ringing),
what a restarted daemon makes of it (completed, carried into a re-adopted call), and
the folder itself (atomic files, leftovers, a file that cannot be read)."""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from pathlib import Path

import pytest

from switchboard.calljournal import CallJournal, carried, completed
from switchboard.calllog import RINGING, Category, LegRecord, call_record
from switchboard.engine import Outcome, TimerFired
from switchboard.engine.events import TargetsFound
from tests.unit.test_stats import T0, TimedCall, record

AT = T0 + timedelta(seconds=30)


def so_far(call: TimedCall) -> object:
    return call_record(
        call.state, call.times, started=T0, answered_at=None, ended=None, recorded=False
    )


def test_a_call_in_progress_has_no_end_its_phase_so_far_and_its_phones_ringing() -> None:
    call = TimedCall()
    call.dials()
    call.at(2, TargetsFound("c1-q1", order=(0,), skipped=((1, "busy"),)))
    now = call_record(
        call.state, call.times, started=T0, answered_at=None, ended=None, recorded=False
    )
    assert (now.ended_at, now.outcome, now.ended_phase, now.queue) == ("", "", "queued", "wait")
    assert [(g.target, g.result, g.ended_at) for g in now.legs] == [
        ("PJSIP/100", RINGING, ""),  # (a queue's busy phone is not a try: not recorded)
    ]
    assert now.path == ("wait",)


def test_a_call_gone_while_the_daemon_was_down_ends_unobserved_at_the_reconcile() -> None:
    call = TimedCall()
    call.dials()
    call.at(2, TargetsFound("c1-q1", order=(0,), skipped=()))
    row = completed(
        call_record(call.state, call.times, started=T0, answered_at=None, ended=None,
                    recorded=False),
        Outcome.ENDED_UNOBSERVED,
        AT,
    )  # fmt: skip
    assert (row.outcome, row.ended_at, row.category) == (
        "ended_unobserved", AT.isoformat(), Category.FAILED,
    )  # fmt: skip
    (leg,) = row.legs
    assert (leg.result, leg.ended_at, leg.ring_s) == ("ended_unobserved", AT.isoformat(), 28.0)
    assert row.queue_wait_s == 30.0  # until the reconcile: "at or before"


def test_an_adopted_call_carries_who_called_when_and_the_path_before_the_restart() -> None:
    rang = LegRecord(
        "PJSIP/agent100", "answered", T0.isoformat(), (T0 + timedelta(seconds=5)).isoformat()
    )
    history = record(
        "answered", started_at=T0.isoformat(), answered_at=(T0 + timedelta(seconds=5)).isoformat(),
        path=("greeting", "sales"), legs=(rang,), customer=7, queue="sales",
        queued_at=(T0 + timedelta(seconds=2)).isoformat(),
        waited_until=(T0 + timedelta(seconds=5)).isoformat(), answered_by="PJSIP/agent100",
        ended_at="",
    )  # fmt: skip
    fresh = record(
        "answered", started_at=AT.isoformat(), answered_at=AT.isoformat(), caller="",
        dialed="", flow="other.yaml", ended_at=(AT + timedelta(seconds=60)).isoformat(),
        ended_phase="connected",
    )  # fmt: skip
    row = carried(history, fresh)
    assert (row.started_at, row.answered_at, row.caller, row.flow, row.customer) == (
        history.started_at, history.answered_at, "+79161234567", "main.yaml", 7,
    )  # fmt: skip
    assert (row.path, row.legs, row.answered_by, row.queue) == (
        ("greeting", "sales"), (rang,), "PJSIP/agent100", "sales",
    )  # fmt: skip
    assert (row.ended_at, row.outcome, row.ended_phase) == (fresh.ended_at, "answered", "connected")
    assert (row.wait_s, row.talk_s) == (5.0, 85.0)


def test_a_caller_answered_while_the_daemon_was_down_waited_until_the_adoption() -> None:
    history = record("", queue="sales", queued_at=T0.isoformat(), ended_at="")
    fresh = record("answered", answered_at=AT.isoformat(), ended_at=AT.isoformat())
    row = carried(history, fresh)
    assert (row.waited_until, row.answered_at) == (AT.isoformat(), AT.isoformat())


def test_the_journal_keeps_one_file_per_call_rewritten_whole(tmp_path: Path) -> None:
    journal = CallJournal(tmp_path / "journal")
    assert journal.leftovers() == []  # (no folder yet)
    first = record("", ended_at="", path=("greeting",))
    assert journal.write(first, T0)
    later = record("", ended_at="", path=("greeting", "sales"))
    assert journal.write(later, AT)
    (found,) = journal.leftovers()
    assert (found.record, found.seen_at) == (later, AT.isoformat())
    assert sorted(p.name for p in (tmp_path / "journal").iterdir()) == ["c1.json"]
    journal.remove("c1")
    journal.remove("c1")  # (gone already: nothing to do)
    assert journal.leftovers() == []


def test_a_shorter_version_overwrites_a_longer_one_in_place_and_reads_back_whole(
    tmp_path: Path,
) -> None:
    journal = CallJournal(tmp_path)
    (tmp_path / "c1.json").write_bytes(b"x" * 5000)  # (not ours: the first write truncates)
    longer = record("", ended_at="", path=("greeting", "sales", "support", "voicemail"))
    assert journal.write(longer, T0)
    size = (tmp_path / "c1.json").stat().st_size
    assert size < 5000
    shorter = record("", ended_at="", path=("greeting",))
    assert journal.write(shorter, AT)
    assert (tmp_path / "c1.json").stat().st_size == size  # (padded: one write, no rename)
    (found,) = CallJournal(tmp_path).leftovers()  # (as the next process reads it)
    assert (found.record, found.seen_at) == (shorter, AT.isoformat())
    journal.remove("c1")
    assert journal.write(shorter, AT)  # (a new file: not padded to the old length)
    assert (tmp_path / "c1.json").stat().st_size < size


def test_a_torn_file_is_set_aside_and_a_half_written_one_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = CallJournal(tmp_path)
    journal.write(record("", id="c2", ended_at=""), T0)
    (tmp_path / "c1.json").write_bytes(b'{"seen_at": "2026')  # (power lost mid-write)
    (tmp_path / ".c3.json.tmp").write_bytes(b"{")  # (an older version killed before its rename)
    assert [j.record.id for j in journal.leftovers()] == ["c2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c1.bad", "c2.json"]
    assert [r.getMessage() for r in caplog.records] == ["calljournal.bad_spool_file"]


def test_a_journal_that_cannot_write_says_so_once_and_the_call_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "file").write_text("")
    journal = CallJournal(tmp_path / "file" / "journal")  # (a file where a folder should be)
    with caplog.at_level(logging.ERROR):
        assert not journal.write(record("", ended_at=""), T0)
        assert not journal.write(record("", id="c2", ended_at=""), T0)
    assert [r.getMessage() for r in caplog.records] == ["calljournal.write_failed"]


def test_a_menu_timer_that_changes_nothing_does_not_change_the_record() -> None:
    call = TimedCall()
    call.dials()
    before = so_far(call)
    call.at(3, TimerFired("no-such-timer"))
    assert so_far(call) == before


def test_a_write_cut_short_by_a_full_disk_is_a_failed_write_and_the_next_covers_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = CallJournal(tmp_path)
    assert journal.write(record("", ended_at="", path=("greeting",)), T0)
    real = os.pwrite
    longer = record("", ended_at="", path=("greeting", "sales", "support", "voicemail"))
    monkeypatch.setattr(os, "pwrite", lambda fd, data, at: real(fd, data[:-40], at))
    with caplog.at_level(logging.ERROR):
        assert not journal.write(longer, T0)
    assert [r.getMessage() for r in caplog.records] == ["calljournal.write_failed"]
    monkeypatch.setattr(os, "pwrite", real)
    shorter = record("", ended_at="", path=("greeting", "sales"))
    assert journal.write(shorter, AT)  # (padded over what the cut write left)
    (found,) = CallJournal(tmp_path).leftovers()
    assert (found.record, found.seen_at) == (shorter, AT.isoformat())
