"""Tier 2: the real command, as a process, against the fake ARI: SIGTERM drains, exit 0."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

from tests.fake_ari import PASSWORD, USER, FakeAri


async def test_sigterm_drains_and_exits_0_with_json_logs(fake: FakeAri, tmp_path: Path) -> None:
    config = tmp_path / "switchboard.yaml"
    config.write_text(
        f"ari:\n  url: {fake.url}\n  username: {USER}\n  password: {PASSWORD}\n"
        "call:\n  greeting: sound:switchboard/greeting\n  agent_endpoint: PJSIP/agent100\n"
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
