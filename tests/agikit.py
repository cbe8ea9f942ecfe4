"""A FastAGI client that plays Asterisk's side, for tier-2 tests and the benchmark.

It connects, sends the environment as Asterisk 22 does, answers ``SET VARIABLE``
(``200 result=1``) and ``GET VARIABLE`` (from ``channel``), and can play a caller
who hangs up: a ``HANGUP`` line, then, as Asterisk 22 does (seen in the lab),
the usual answers (SET and GET VARIABLE still work on a dead channel), or ``511``
to every command (what other commands get).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from switchboard.agi.protocol import env_text

DEAD = "511 Command Not Permitted on a dead channel or intercept routine\n"


@dataclass
class AgiCall:
    variables: dict[str, str] = field(default_factory=dict)  # what the server set
    commands: list[str] = field(default_factory=list)  # every command line received


def environment(port: int, script: str, uniqueid: str, caller: str) -> dict[str, str]:
    return {
        "agi_network": "yes",
        "agi_network_script": script,
        "agi_request": f"agi://127.0.0.1:{port}/{script}",
        "agi_channel": f"PJSIP/caller-{uniqueid}",
        "agi_language": "en",
        "agi_type": "PJSIP",
        "agi_uniqueid": uniqueid,
        "agi_version": "22.10.0",
        "agi_callerid": caller or "unknown",
        "agi_calleridname": "unknown",
        "agi_context": "test",
        "agi_extension": "74951234590",
        "agi_priority": "2",
        "agi_enhanced": "0.0",
        "agi_accountcode": "",
        "agi_threadid": "1",
    }


def argument(text: str) -> str:
    """A quoted command argument, read as Asterisk reads it."""
    out, escaped = [], False
    for char in text:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char != '"':
            out.append(char)
    return "".join(out)


def answer(line: str, call: AgiCall, channel: Mapping[str, str]) -> str:
    words = line.split(" ", 3)
    if words[:2] == ["SET", "VARIABLE"] and len(words) == 4:
        call.variables[words[2]] = argument(words[3])
        return "200 result=1\n"
    if words[:2] == ["GET", "VARIABLE"] and len(words) == 3:
        value = channel.get(words[2])
        return "200 result=0\n" if value is None else f"200 result=1 ({value})\n"
    return "510 Invalid or unknown command\n"


async def agi_call(
    port: int,
    script: str,
    *,
    uniqueid: str = "1764500000.1",
    caller: str = "",
    channel: Mapping[str, str] | None = None,
    hang_up_after: int | None = None,
    dead_511: bool = False,
    within: float = 10.0,
) -> AgiCall:
    """One AGI session against the server on ``port``; returns once it closes.
    ``hang_up_after``: the caller hangs up after that many commands were answered
    (``dead_511``: every command is then refused with 511)."""
    call = AgiCall()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        async with asyncio.timeout(within):
            writer.write(env_text(environment(port, script, uniqueid, caller)).encode())
            while line := (await reader.readline()).decode():
                call.commands.append(line.rstrip("\n"))
                reply = answer(line.rstrip("\n"), call, channel or {})
                if hang_up_after is not None and len(call.commands) > hang_up_after:
                    reply = DEAD if dead_511 else reply
                    if len(call.commands) == hang_up_after + 1:
                        reply = "HANGUP\n" + reply
                writer.write(reply.encode())
                await writer.drain()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return call
