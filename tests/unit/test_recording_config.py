"""Tier 1: the config's optional ``recording`` section (where recorded calls are kept)."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard.config import ConfigError, RecordingConfig, load_config
from tests.unit.test_config_and_cli import GOOD, write

RECORDING = """\
recording:
  directory: recordings
  retry_seconds: 3
"""


def test_recording_is_off_without_the_section_and_relative_to_the_config_with_it(
    tmp_path: Path,
) -> None:
    assert load_config(write(tmp_path, GOOD)).recording is None
    config = load_config(write(tmp_path, GOOD + RECORDING))
    assert config.recording == RecordingConfig(tmp_path / "recordings", 3.0)
    defaults = load_config(write(tmp_path, GOOD + "recording: {directory: /srv/rec}\n"))
    assert defaults.recording == RecordingConfig(Path("/srv/rec"), 10.0)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "retry_seconds: 3",
            "retry_seconds: soon",
            "9:18: recording.retry_seconds: could not convert string to float: 'soon'",
        ),
        ("retry_seconds: 3", "retry_seconds: 0", "9:18: recording.retry_seconds: must be a"),
        ("retry_seconds: 3", "folder: x", "9:11: recording: unknown key 'folder' (known: "),
        ("  directory: recordings\n", "", "8:3: recording: missing key 'directory'"),
    ],
)
def test_recording_mistakes_name_the_line(tmp_path: Path, old: str, new: str, message: str) -> None:
    path = write(tmp_path, GOOD + RECORDING.replace(old, new))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}:{message}")
