"""Tier 1: where a recording is filed, and what is refused as a file name."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from switchboard.jobspool import audio_path, wav_seconds
from tests.fake_ari import silent_wav

NOV = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_a_recording_is_filed_by_year_and_month() -> None:
    path = audio_path(Path("/rec"), "1764064800.7-rec3", NOV)
    assert path == Path("/rec/2026/11/1764064800.7-rec3.wav")


@pytest.mark.parametrize("name", ["", "../etc/passwd", "a/b", ".hidden", "/abs"])
def test_a_name_that_is_not_a_plain_file_name_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="not a plain file name"):
        audio_path(Path("/rec"), name, NOV)


def test_wav_seconds_reads_the_length_and_says_zero_for_anything_else() -> None:
    assert wav_seconds(silent_wav(2.5)) == 2.5
    assert wav_seconds(b"not a wav") == 0.0
