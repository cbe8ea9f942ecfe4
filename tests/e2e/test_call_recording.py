"""Tier 3: a recorded call on real Asterisk with real SIP. The caller (sipp, talking)
dials the lab's recorded line (flows/lab.yaml 74951234575); desk phone 101 (sipp,
registered, talking too) answers; they talk for a few seconds and the caller hangs
up. Afterwards a WAV of about that length, with speech in it, is under the
daemon's recording directory, its row is in PostgreSQL, linked from the call's
row, and Asterisk's own copy is gone."""

from __future__ import annotations

import array
import math
import time
import urllib.error
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit.daemon import IsolatedDaemon, stop_and_drop
from labkit.lab import (
    ari_get,
    finish_sipp,
    run_caller,
    wait_for_channel_count,
    wait_for_endpoints,
)
from labkit.sipp_scenarios import DESK_PHONE_PORTS, agent_phone, dtmf_caller, start_phone

pytestmark = pytest.mark.e2e

RECORDED_NUMBER = "74951234575"
TALK_MS = 6000  # the caller hangs up this long after the daemon answers


@pytest.fixture
def office(lab: None, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[IsolatedDaemon]:
    one = IsolatedDaemon(tmp_path, request.node.name, prefix="rec")
    one.daemon.start()
    try:
        yield one
    finally:
        stop_and_drop([one])


def daemon_sees_online(office: IsolatedDaemon, endpoint: str, within: float = 10.0) -> None:
    """Until the daemon has read the endpoint's registration (it polls every second)."""
    deadline = time.monotonic() + within
    while not any(
        line.get("msg") == "endpoints.loaded" and endpoint not in line["offline"]
        for line in office.daemon.lines()
    ):
        assert time.monotonic() < deadline, f"the daemon never saw {endpoint} online"
        time.sleep(0.1)


def rms(path: Path) -> tuple[float, float]:
    """(seconds, RMS level) of a 16-bit mono WAV."""
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        frames = wav.readframes(wav.getnframes())
        seconds = wav.getnframes() / wav.getframerate()
    samples = array.array("h", frames)
    level = math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0
    return seconds, level


def test_a_recorded_call_leaves_a_wav_of_the_conversation_linked_from_its_row(
    office: IsolatedDaemon,
) -> None:
    phone = start_phone(
        agent_phone("101", "rec_101", answer_after_ms=0, audio=True, wait_s=40),
        DESK_PHONE_PORTS["101"],
        timeout_s=60,
    )
    wait_for_endpoints(["101"], "online")
    daemon_sees_online(office, "PJSIP/101")
    caller = run_caller(RECORDED_NUMBER, dtmf_caller([], TALK_MS, "rec_caller"), timeout_s=40)
    assert finish_sipp(phone, timeout=20) == 0, "phone 101 did not take one call cleanly"
    assert caller.returncode == 0, caller.stderr.decode()[-2000:]
    assert wait_for_channel_count(0) == 0

    call_id = office.only_call()
    end = office.daemon.wait_for("call.end", call_id)
    assert (end["outcome"], end["answered_by"]) == ("answered", "PJSIP/101")
    rows = office.wait_rows(
        "SELECT c.recording, c.talk_s, r.call_id, r.file, r.duration_s, r.size_bytes"
        " FROM calls c JOIN recordings r ON r.id = c.recording WHERE c.id = $1",
        call_id,
        within=30,
    )
    assert len(rows) == 1, office.daemon.log_path
    row = rows[0]
    assert row["recording"] == f"{call_id}-rec2"  # named after the call: unique per call
    assert row["call_id"] == call_id
    wav_file = Path(row["file"])
    assert wav_file.parent.parent.parent == office.directory / "recordings"  # YYYY/MM/
    assert wav_file.name == f"{row['recording']}.wav"
    assert wav_file.stat().st_size == row["size_bytes"]

    seconds, level = rms(wav_file)
    print(f"recorded {seconds:.2f} s, RMS {level:.0f}, talk_s {row['talk_s']:.2f}")
    # The conversation: from the bridge to the caller's BYE, about the talk time.
    assert 3.0 <= seconds <= TALK_MS / 1000 + 1, (seconds, row)
    assert abs(seconds - row["duration_s"]) < 0.05
    assert abs(seconds - row["talk_s"]) < 1.5, (seconds, row["talk_s"])
    assert level > 100, f"the recording is silent (RMS {level:.0f})"

    # Asterisk's copy was deleted once ours was stored and noted.
    with pytest.raises(urllib.error.HTTPError) as gone:
        ari_get(f"/recordings/stored/{row['recording']}")
    gone.value.close()  # (its response holds the socket)
    assert gone.value.code == 404
    # Noted before Asterisk was asked to record the bridge (a channel: 409 while bridged).
    connected = next(t for t in office.transitions(call_id) if t["to"] == "connected")
    noted, record = connected["commands"][-2:]
    assert noted.startswith(f"KeepCallRecording({row['recording']},{call_id},")
    assert record == f"RecordBridge({call_id}-bridge,{row['recording']},wav)"
