"""Tier 3: the customer's specification (flows/examples/seed.yaml) on real Asterisk
with real SIP: sipp plays the caller, the desk phones 100-102 (they REGISTER), and
the carrier trunk (the mobile 8 987 123-45-67). The daemon's clock is set per test
(SWITCHBOARD_NOW); PostgreSQL is real; the mail goes to a local SMTP sink.

(a) working hours, 101 answers: bridged to 101, 100 and 102 stop ringing;
(b) working hours, nobody answers: at 20 s the trunk rings;
(c) working hours, no extension registered: the trunk rings at once;
(d) outside hours: greeting, the trunk does not answer, voicemail recorded,
    stored, in PostgreSQL and emailed with the WAV;
(e) SMTP down: the voicemail is kept and emailed when SMTP returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from labkit.daemon import IsolatedDaemon, stop_and_drop, when
from labkit.lab import (
    finish_sipp,
    run_caller,
    start_agent_uas,
    wait_for_channel_count,
    wait_for_endpoints,
)
from labkit.sipp_scenarios import (
    CARRIER_PORT,
    carrier_answer,
    carrier_reject,
    carrier_ring_no_answer,
    start_desk_phones,
    voicemail_caller,
)
from labkit.smtp import ThreadedSmtpSink, attachments

pytestmark = pytest.mark.e2e

SEED_NUMBER = "74951234570"
MOBILE = "+79871234567"
WEDNESDAY_NOON_MSK = "2026-11-25T12:00:00+03:00"  # working hours
SATURDAY_NOON_MSK = "2026-11-28T12:00:00+03:00"  # outside working hours
EXTENSIONS = ["100", "101", "102"]


class Seed(IsolatedDaemon):
    """The daemon for one test, with its own schema, voicemail folder and mail port."""

    def __init__(self, root: Path, name: str, now: str) -> None:
        super().__init__(root, name, prefix="seed", now=now)

    def voicemails(self) -> list[dict[str, Any]]:
        return self.fetch("SELECT * FROM voicemails ORDER BY recorded_at")

    def wait_voicemail(self, within: float = 20.0, **wanted: Any) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            rows = self.voicemails()
            if rows and all(rows[0].get(k) == v or v is ANY for k, v in wanted.items()):
                return rows[0]
            time.sleep(0.2)
        raise AssertionError(f"no voicemail row with {wanted} in {within} s: {self.voicemails()}")


ANY = object()


@pytest.fixture
def seed(
    lab: None, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[[str], Seed]]:
    made: list[Seed] = []

    def start(now: str) -> Seed:
        one = Seed(tmp_path, request.node.name, now)
        one.daemon.start()
        made.append(one)
        return one

    yield start
    stop_and_drop(made)


def first_originate(seed: Seed, call_id: str, endpoint: str) -> dict[str, Any]:
    line = seed.first_originate(call_id, endpoint)
    assert line is not None, f"{endpoint} was never rung: {seed.transitions(call_id)}"
    return line


# -- (a) ---------------------------------------------------------------------------------
def test_a_in_hours_101_answers_and_100_102_stop_ringing(seed: Callable[[str], Seed]) -> None:
    office = seed(WEDNESDAY_NOON_MSK)
    phones = start_desk_phones("seed_a", {"100": None, "101": 2000, "102": None})
    caller = run_caller(SEED_NUMBER, hold_ms=14000)
    exits = {ext: finish_sipp(phone, timeout=20) for ext, phone in phones.items()}
    assert caller.returncode == 0, caller.stderr.decode()[-2000:]
    call_id = office.only_call()
    end = office.daemon.wait_for("call.end", call_id)
    assert (end["outcome"], end["answered_by"]) == ("answered", "PJSIP/101")
    assert end["path"] == ["when", "greet_open", "office"]
    assert sorted(map(tuple, end["route_log"])) == [
        ("PJSIP/100", "answered_elsewhere"),
        ("PJSIP/101", "answered"),
        ("PJSIP/102", "answered_elsewhere"),
    ]
    # 100 and 102 rang and were CANCELled (their phones exit 0 only after one call ended)
    assert exits == {"100": 0, "101": 0, "102": 0}
    assert wait_for_channel_count(0) == 0


# -- (b) ---------------------------------------------------------------------------------
def test_b_in_hours_nobody_answers_so_the_trunk_rings_at_20_s(seed: Callable[[str], Seed]) -> None:
    office = seed(WEDNESDAY_NOON_MSK)
    phones = start_desk_phones("seed_b", {"100": None, "101": None, "102": None})
    carrier = start_agent_uas(CARRIER_PORT, carrier_ring_no_answer("seed_b_carrier"))
    caller = run_caller(SEED_NUMBER, hold_ms=32000, timeout_s=60)
    exits = {ext: finish_sipp(phone, timeout=20) for ext, phone in phones.items()}
    assert finish_sipp(carrier) == 0  # the mobile rang, then was CANCELled
    assert caller.returncode == 0, caller.stderr.decode()[-2000:]
    call_id = office.only_call()
    rang_office = when(first_originate(office, call_id, "PJSIP/100"))
    rang_mobile = when(first_originate(office, call_id, f"PJSIP/{MOBILE}@carrier"))
    assert 19.5 <= rang_mobile - rang_office <= 21.5, rang_mobile - rang_office
    end = office.daemon.wait_for("call.end", call_id)
    assert end["outcome"] == "abandoned"  # the caller hung up while the mobile rang
    assert sorted(tuple(e) for e in end["route_log"]) == [
        (f"PJSIP/{ext}", "no_answer") for ext in EXTENSIONS
    ]  # (the mobile was still ringing when the caller hung up)
    assert exits == {"100": 0, "101": 0, "102": 0}
    assert wait_for_channel_count(0) == 0


# -- (c) ---------------------------------------------------------------------------------
def test_c_no_extension_registered_the_trunk_rings_at_once(seed: Callable[[str], Seed]) -> None:
    office = seed(WEDNESDAY_NOON_MSK)
    wait_for_endpoints(EXTENSIONS, "offline")
    carrier = start_agent_uas(CARRIER_PORT, carrier_answer("seed_c_carrier", answer_after_ms=1000))
    caller = run_caller(SEED_NUMBER, hold_ms=12000)
    assert finish_sipp(carrier) == 0
    assert caller.returncode == 0, caller.stderr.decode()[-2000:]
    call_id = office.only_call()
    greeting_done = next(
        line for line in office.transitions(call_id) if line["event"] == "PlaybackFinished"
    )
    rang_mobile = first_originate(office, call_id, f"PJSIP/{MOBILE}@carrier")
    assert when(rang_mobile) - when(greeting_done) < 2.0
    end = office.daemon.wait_for("call.end", call_id)
    assert (end["outcome"], end["answered_by"]) == ("answered", MOBILE)
    assert [tuple(e) for e in end["route_log"]] == [
        ("PJSIP/100", "unregistered"),
        ("PJSIP/101", "unregistered"),
        ("PJSIP/102", "unregistered"),
        (MOBILE, "answered"),
    ]
    assert wait_for_channel_count(0) == 0


# -- (d) ---------------------------------------------------------------------------------
def test_d_outside_hours_the_mobile_does_not_answer_and_the_voicemail_is_emailed(
    seed: Callable[[str], Seed],
) -> None:
    office = seed(SATURDAY_NOON_MSK)
    sink = ThreadedSmtpSink(office.smtp_port).start()
    try:
        carrier = start_agent_uas(CARRIER_PORT, carrier_ring_no_answer("seed_d_carrier"))
        # Speaks all along; hangs up well after the beep (greeting, 30 s of the mobile
        # ringing, the voicemail prompt): hanging up ends the message.
        speaker = voicemail_caller("seed_d_caller", talk_ms=75000, hold_ms=62000)
        caller = run_caller(SEED_NUMBER, speaker, timeout_s=90)
        assert finish_sipp(carrier) == 0
        assert caller.returncode == 0, caller.stderr.decode()[-2000:]
        call_id = office.only_call()
        end = office.daemon.wait_for("call.end", call_id)
        assert end["outcome"] == "voicemail"
        assert end["path"] == ["when", "greet_closed", "mobile", "voicemail"]
        assert [tuple(e) for e in end["route_log"]] == [(MOBILE, "no_answer")]
        row = office.wait_voicemail(emailed_to="office@example.com")
        assert (row["mailbox"], row["caller"], row["dialed"]) == (
            "100",
            "79161234567",  # as sipp sends it
            SEED_NUMBER,
        )
        assert row["emailed_at"] is not None
        audio = Path(row["file"]).read_bytes()
        assert row["size_bytes"] == len(audio) > 44  # more than a WAV header
        assert row["duration_s"] > 3.0
        (mail,) = sink.wait_for(1)
        assert mail["To"] == "office@example.com"
        assert attachments(mail) == [(f"voicemail-{row['id']}.wav", "audio/wav", audio)]
    finally:
        sink.stop()
    assert wait_for_channel_count(0) == 0


# -- (e) ---------------------------------------------------------------------------------
def test_e_smtp_down_the_voicemail_is_kept_and_sent_when_smtp_returns(
    seed: Callable[[str], Seed],
) -> None:
    office = seed(SATURDAY_NOON_MSK)
    carrier = start_agent_uas(CARRIER_PORT, carrier_reject(503, "seed_e_carrier"))
    speaker = voicemail_caller("seed_e_caller", talk_ms=45000, hold_ms=26000)
    caller = run_caller(SEED_NUMBER, speaker, timeout_s=60)
    assert finish_sipp(carrier) == 0
    assert caller.returncode == 0, caller.stderr.decode()[-2000:]
    call_id = office.only_call()
    end = office.daemon.wait_for("call.end", call_id)
    assert end["outcome"] == "voicemail"
    assert end["route_result"] == "unreachable"  # 503 from the trunk: overflow at once
    row = office.wait_voicemail(emailed_at=None)
    assert row["email_attempts"] >= 1
    assert Path(row["file"]).stat().st_size > 44  # kept on disk while mail is down
    office.daemon.wait_for_any("voicemail.retry")
    sink = ThreadedSmtpSink(office.smtp_port).start()  # the mail server is back
    try:
        (mail,) = sink.wait_for(1, within=30)
        assert attachments(mail)[0][2] == Path(row["file"]).read_bytes()
        office.wait_voicemail(emailed_to="office@example.com")
    finally:
        sink.stop()
    assert wait_for_channel_count(0) == 0
