"""Tier 2: the real command, as a process, against the fake ARI: SIGTERM drains, exit 0."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

from tests.fake_ari import PASSWORD, USER, FakeAri
from tests.flowkit import SPINE

REPO = Path(__file__).resolve().parents[2]


async def test_sigterm_drains_and_exits_0_with_json_logs(fake: FakeAri, tmp_path: Path) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(SPINE)
    config = tmp_path / "switchboard.yaml"
    config.write_text(
        f"ari:\n  url: {fake.url}\n  username: {USER}\n  password: {PASSWORD}\n"
        f"flows:\n  files: [flow.yaml]\n  prompts: {REPO / 'prompts'}\n  watch_interval: 0\n"
        "daemon:\n  drain_timeout: 5\n"
    )
    fake.finish_playbacks = False
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "switchboard"),
        "run",
        "--config",
        str(config),
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await fake.wait_connected(within=15)
        caller = fake.new_channel()
        await fake.stasis_start(caller)
        await fake.wait_request("POST", rf"/channels/{caller}/play/.*")
        flow.write_text(SPINE.replace("timeout: 25", "timeout: 20"))
        proc.send_signal(signal.SIGHUP)  # reload: new calls get the new version
        await asyncio.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        await fake.wait_request("POST", rf"/channels/{caller}/continue")
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.stderr is not None
    lines = [json.loads(line) for line in (await proc.stderr.read()).decode().splitlines()]
    msgs = [line["msg"] for line in lines]
    assert "daemon.draining" in msgs
    assert msgs[-1] == "daemon.stopped"
    start = next(line for line in lines if line["msg"] == "call.start")
    assert (start["call_id"], start["dialed"]) == (caller, "74951234567")
    loaded = next(line for line in lines if line["msg"] == "flows.loaded")
    reloaded = next(line for line in lines if line["msg"] == "flows.reloaded")
    assert start["flows_version"] == loaded["version"] == reloaded["from"] != reloaded["to"]
