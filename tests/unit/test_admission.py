"""Admission (daemon/admission.py): when an overloaded daemon sheds new calls."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from switchboard.config import AdmissionConfig, ConfigError, load_config
from switchboard.daemon.admission import Admission, ShedReason
from switchboard.engine import CallState, Phase, new_call
from tests.flowkit import SPINE, flow


def calls(*phases: Phase) -> list[CallState]:
    spine = flow(SPINE)
    return [replace(new_call(f"c{i}", spine, "welcome"), phase=p) for i, p in enumerate(phases)]


def test_an_idle_daemon_admits_every_call() -> None:
    admission = Admission(AdmissionConfig(max_loop_lag=0.5, max_setting_up=3))
    admission.observe(0.01)
    assert admission.reason(calls(Phase.IVR, Phase.CONNECTED, Phase.CONNECTED)) is None


def test_a_late_event_loop_sheds_new_calls_until_it_catches_up() -> None:
    admission = Admission(AdmissionConfig(max_loop_lag=0.5, max_setting_up=0))
    admission.observe(0.8)
    assert admission.reason([]) is ShedReason.LOOP_LAG
    admission.observe(0.05)
    assert admission.reason([]) is ShedReason.LOOP_LAG  # (the worst of the last samples)
    for _ in range(10):
        admission.observe(0.05)
    assert admission.reason([]) is None


@pytest.mark.parametrize(
    ("phases", "shed"),
    [
        ((Phase.IVR, Phase.QUEUED), False),
        ((Phase.IVR, Phase.QUEUED, Phase.SEEKING_AGENT), True),
        ((Phase.NEW, Phase.DIALING, Phase.IVR), True),
        # connected calls and voicemail are not setting up: they need nothing more of us
        ((Phase.IVR, Phase.CONNECTED, Phase.RECORDING, Phase.CONNECTED), False),
    ],
)
def test_calls_in_set_up_at_the_limit_shed_the_next(phases: tuple[Phase, ...], shed: bool) -> None:
    admission = Admission(AdmissionConfig(max_loop_lag=0, max_setting_up=3))
    admission.observe(5.0)  # (the lag limit is off)
    expected = ShedReason.SETTING_UP if shed else None
    assert admission.reason(calls(*phases)) is expected


def test_zero_turns_both_limits_off() -> None:
    admission = Admission(AdmissionConfig(max_loop_lag=0, max_setting_up=0))
    admission.observe(10.0)
    assert admission.reason(calls(*[Phase.IVR] * 5000)) is None


def test_a_refusal_is_logged_and_counted_by_reason(caplog: pytest.LogCaptureFixture) -> None:
    registry = CollectorRegistry()
    admission = Admission(AdmissionConfig(max_loop_lag=0.5, max_setting_up=1), registry)
    caplog.set_level(logging.INFO, logger="switchboard.call")
    assert admission.refuse("chan-1", calls()) is False
    assert admission.refuse("chan-2", calls(Phase.IVR)) is True
    admission.observe(0.9)
    assert admission.refuse("chan-3", []) is True
    shed = [r for r in caplog.records if r.getMessage() == "call.shed"]
    assert [(r.call_id, r.reason) for r in shed] == [  # type: ignore[attr-defined]
        ("chan-2", "setting_up"),
        ("chan-3", "loop_lag"),
    ]
    assert admission.shed == 2
    value = registry.get_sample_value
    assert value("switchboard_calls_shed_total", {"reason": "setting_up"}) == 1
    assert value("switchboard_calls_shed_total", {"reason": "loop_lag"}) == 1
    assert value("switchboard_event_loop_lag_seconds") == pytest.approx(0.9)


async def test_the_sampler_measures_a_blocked_loop() -> None:
    admission = Admission(AdmissionConfig())
    sampler = asyncio.create_task(admission.run(every=0.02))  # (a window of 10: 0.2 s)
    try:
        await asyncio.sleep(0.01)  # the sampler is asleep now
        time.sleep(0.3)  # noqa: ASYNC251 - the point: something blocks the loop
        await asyncio.sleep(0.05)
        assert admission.lag > 0.2
        await asyncio.sleep(0.4)  # the loop is free again: small lag
        assert admission.lag < 0.2
    finally:
        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)


CONFIG = """\
ari: {url: "http://127.0.0.1:8088", username: u, password: p}
flows: {files: [flow.yaml]}
"""


def test_the_config_has_sane_defaults_and_reads_the_section(tmp_path: Path) -> None:
    path = tmp_path / "switchboard.yaml"
    path.write_text(CONFIG)
    assert load_config(path).admission == AdmissionConfig(max_loop_lag=0.5, max_setting_up=1000)
    path.write_text(CONFIG + "admission: {max_loop_lag: 0.25, max_setting_up: 0}\n")
    assert load_config(path).admission == AdmissionConfig(max_loop_lag=0.25, max_setting_up=0)


@pytest.mark.parametrize(
    ("section", "words"),
    [
        ("{max_loop_lag: -1}", "limits must be >= 0"),
        ("{max_lag: 1}", "unknown key 'max_lag'"),
        ("{max_setting_up: lots}", "admission.max_setting_up"),
    ],
)
def test_a_wrong_admission_section_names_the_line(tmp_path: Path, section: str, words: str) -> None:
    path = tmp_path / "switchboard.yaml"
    path.write_text(CONFIG + f"admission: {section}\n")
    with pytest.raises(ConfigError, match=words) as caught:
        load_config(path)
    assert caught.value.problem.line == 3
