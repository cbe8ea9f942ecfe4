"""Tier 2: an overloaded daemon hands new callers back to the dialplan (admission)."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pytest

from switchboard.config import AdmissionConfig, AriConfig, Config, DaemonConfig, FlowsConfig
from tests.daemonkit import running_daemon
from tests.fake_ari import PASSWORD, USER, FakeAri
from tests.flowkit import SPINE

REPO = Path(__file__).resolve().parents[2]


def config(fake: FakeAri, flow_dir: Path, admission: AdmissionConfig) -> Config:
    (flow_dir / "flow.yaml").write_text(SPINE)
    return Config(
        ari=AriConfig(url=fake.url, username=USER, password=PASSWORD),
        flows=FlowsConfig(files=(flow_dir / "flow.yaml",), prompts=REPO / "prompts",
                          watch_interval=0),
        daemon=DaemonConfig(drain_timeout=1),
        admission=admission,
    )  # fmt: skip


async def test_above_the_set_up_limit_a_new_caller_goes_to_the_dialplan_untouched(
    fake: FakeAri, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    fake.finish_playbacks = False  # the first caller stays in the greeting: setting up
    limits = AdmissionConfig(max_loop_lag=0, max_setting_up=1)
    with tempfile.TemporaryDirectory() as flow_dir:
        async with running_daemon(fake, config(fake, Path(flow_dir), limits)):
            first, second = fake.new_channel(), fake.new_channel()
            await fake.stasis_start(first)
            await fake.wait_request("POST", rf"/channels/{first}/play/.*")
            await fake.stasis_start(second)
            await fake.wait_request("POST", rf"/channels/{second}/continue")
    touched = [(r.method, r.path) for r in fake.requests if second in r.path]
    assert touched == [("POST", f"/channels/{second}/continue")]  # not answered, not played to
    shed = [r for r in caplog.records if r.getMessage() == "call.shed"]
    assert [(r.call_id, r.reason) for r in shed] == [(second, "setting_up")]  # type: ignore[attr-defined]
    starts = [r.call_id for r in caplog.records if r.getMessage() == "call.start"]  # type: ignore[attr-defined]
    assert starts == [first]
