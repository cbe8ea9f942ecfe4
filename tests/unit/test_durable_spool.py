"""durable.Spool: atomic fsync'd writes, listing in order, bad files set aside."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from switchboard.durable import Backoff, Spool, write_atomically
from switchboard.durable.spool import BAD, REJECTED

log = logging.getLogger("test.spool")


def _spool(tmp_path: Path, **kwargs: object) -> Spool:
    return Spool(tmp_path / "spool", log, "thing", **kwargs)  # type: ignore[arg-type]


def test_a_write_is_fsynced_file_and_folder_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    path = _spool(tmp_path).write("a", b"{}")
    assert path == tmp_path / "spool" / "a.json"
    assert path.read_bytes() == b"{}"
    assert len(synced) == 2  # the file, then the folder (the rename is durable too)
    assert [p.name for p in path.parent.iterdir()] == ["a.json"]


def test_a_write_that_fails_before_the_rename_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.json"
    write_atomically(path, b"old")

    def crash(_src: object, _dst: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        write_atomically(path, b"new")
    assert path.read_bytes() == b"old"  # never half of the new one


def test_paths_are_the_spooled_files_in_name_order(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    assert spool.paths() == []  # no folder yet
    for name in ("2", "1", "3"):
        spool.write(name, b"{}")
    (spool.directory / "0.bad").write_bytes(b"x")  # set aside: not spooled any more
    assert [p.name for p in spool.paths()] == ["1.json", "2.json", "3.json"]


def test_a_file_that_cannot_be_read_is_set_aside_as_bad_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = _spool(tmp_path)
    spool.write("good", json.dumps({"n": 1}).encode())
    spool.write("broken", b"{not json")
    assert spool.read_all(json.loads) == [{"n": 1}]
    assert (spool.directory / f"broken{BAD}").read_bytes() == b"{not json"  # never deleted
    assert [p.name for p in spool.paths()] == ["good.json"]
    [record] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert record.getMessage() == "thing.bad_spool_file"
    assert record.file == str(spool.directory / "broken.json")  # type: ignore[attr-defined]


def test_only_the_unreadable_errors_make_a_file_bad(tmp_path: Path) -> None:
    spool = _spool(tmp_path, unreadable=(ValueError,))
    path = spool.write("a", b"{}")

    def parse(_raw: bytes) -> object:
        raise KeyError("a bug, not a bad file")

    with pytest.raises(KeyError):
        spool.read(path, parse)
    assert path.exists()


def test_set_aside_keeps_the_file_under_the_suffix_given(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    path = spool.write("a", b"{}")
    spool.set_aside(path, REJECTED, "rejected", ValueError("refused"))
    assert [p.name for p in spool.directory.iterdir()] == ["a.rejected"]


def test_a_bad_file_that_cannot_be_renamed_is_left_or_raises_when_strict(tmp_path: Path) -> None:
    gone = tmp_path / "spool" / "gone.json"  # the rename fails: no such file
    _spool(tmp_path).set_aside(gone, BAD, "bad_spool_file", ValueError("x"))
    with pytest.raises(FileNotFoundError):
        _spool(tmp_path, strict=True).set_aside(gone, BAD, "bad_spool_file", ValueError("x"))


def test_remove_is_quiet_about_a_file_already_gone(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    path = spool.write("a", b"{}")
    spool.remove(path)
    spool.remove(path)
    assert spool.paths() == []


def test_backoff_doubles_up_to_its_most_and_steady_does_not() -> None:
    backoff = Backoff(5, 600)
    assert [backoff.delay(n) for n in (1, 2, 3, 8, 9)] == [5, 10, 20, 600, 600]
    steady = Backoff.steady(2.0)
    assert [steady.delay(n) for n in (1, 2, 5)] == [2.0, 2.0, 2.0]
    assert steady.crashed == 20.0
