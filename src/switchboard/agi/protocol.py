"""The FastAGI protocol, without I/O: what Asterisk sends and what we answer.

A FastAGI session (``AGI(agi://host:port/script?key=value)`` in the dialplan):

1. Asterisk connects and sends its environment, one ``agi_name: value`` line each
   (``agi_request``, ``agi_channel``, ``agi_uniqueid``, ``agi_callerid``, ...),
   ending with an empty line;
2. we send commands, one line each (``SET VARIABLE NAME "value"``), and Asterisk
   answers each with one line: ``200 result=1``, ``200 result=1 (value)``,
   ``510 Invalid or unknown command``, ``511 Command Not Permitted on a dead
   channel or intercept routine`` (the caller hung up), or a ``520-`` usage text
   that ends with a ``520 End of proper usage.`` line;
3. when the channel hangs up, Asterisk sends a ``HANGUP`` line once, before the
   next answer, and lets the session finish. Asterisk 22 (seen in the lab) still
   answers ``SET VARIABLE`` and ``GET VARIABLE`` with 200 after it; commands that
   need a live channel get 511. A session run by a hangup handler gets no
   ``HANGUP`` line: the channel is already gone, its variables still readable;
4. we close the connection; the dialplan goes on at the next priority.

Everything here is pure: the server (``server.py``) feeds it lines.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import parse_qs, urlsplit

from switchboard.text import one_line

MAX_LINE = 8192  # bytes in one line from Asterisk (agi_request holds the whole URL)
MAX_ENV_LINES = 200  # the environment has ~25 lines, plus agi_arg_N (at most 128)
MAX_PARAMS = 32  # key=value pairs in the script's query string
HANGUP = "HANGUP"
NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


class AgiProtocolError(Exception):
    """Asterisk (or whatever connected) broke the protocol: the peer's fault."""


@dataclass(frozen=True, slots=True)
class AgiRequest:
    """One session's environment, parsed: the script asked for and its parameters."""

    script: str  # "route" for agi://host:4573/route?skill=sales
    params: MappingProxyType[str, tuple[str, ...]]  # every value of each key, in order
    uniqueid: str  # the channel's unique id (also its ARI channel id)
    channel: str  # PJSIP/caller-00000001
    caller: str  # the caller ID number (agi_callerid, one line: text.one_line), "" if unknown
    language: str  # the channel's language (agi_language)
    env: MappingProxyType[str, str] = field(compare=False)  # everything Asterisk sent

    def param(self, key: str, default: str = "") -> str:
        """The last value given for ``key`` (``default`` if none)."""
        values = self.params.get(key)
        return values[-1] if values else default


@dataclass(frozen=True, slots=True)
class Reply:
    """Asterisk's answer to one command: ``200 result=1 (value)``."""

    code: int
    result: str = ""  # what follows result=
    data: str = ""  # what is in the parentheses
    text: str = ""  # the whole line, for messages

    @property
    def ok(self) -> bool:
        return self.code == 200

    @property
    def dead(self) -> bool:
        """The channel is gone (511): only a few commands still work."""
        return self.code == 511


def parse_env_line(line: str) -> tuple[str, str]:
    """``agi_channel: PJSIP/caller-00000001`` -> (``agi_channel``, ``PJSIP/...``)."""
    name, sep, value = line.partition(":")
    if not sep or not name.startswith("agi_") or not set(name) <= NAME_CHARS:
        raise AgiProtocolError(f"not an AGI environment line: {line[:80]!r}")
    return name, value.strip()


def parse_environment(lines: list[str]) -> AgiRequest:
    """The environment lines (without the empty line that ends them)."""
    env: dict[str, str] = {}
    for line in lines:
        name, value = parse_env_line(line)
        env[name] = value
    url = env.get("agi_network_script") or _script_of(env.get("agi_request", ""))
    split = urlsplit(url)
    try:
        query = parse_qs(split.query, keep_blank_values=True, max_num_fields=MAX_PARAMS)
    except ValueError:
        raise AgiProtocolError(f"more than {MAX_PARAMS} parameters in {url[:80]!r}") from None
    caller = one_line(env.get("agi_callerid", ""))  # the calling side's to set: made safe
    return AgiRequest(
        script=split.path.strip("/"),
        params=MappingProxyType({k: tuple(v) for k, v in query.items()}),
        uniqueid=env.get("agi_uniqueid", ""),
        channel=env.get("agi_channel", ""),
        caller="" if caller.lower() == "unknown" else caller,
        language=env.get("agi_language", ""),
        env=MappingProxyType(env),
    )


def _script_of(request: str) -> str:
    """``agi://127.0.0.1:4573/route?skill=x`` -> ``route?skill=x``."""
    if "://" not in request:
        return request
    return urlsplit(request)._replace(scheme="", netloc="").geturl().lstrip("/")


def parse_reply(line: str) -> Reply:
    """One answer line: ``200 result=1 (value)``, ``510 ...``, ``511 ...``, ``520-...``."""
    head = line[:3]
    if len(line) < 3 or not head.isdigit() or (len(line) > 3 and line[3] not in " -"):
        raise AgiProtocolError(f"not an AGI reply: {line[:80]!r}")
    code = int(head)
    rest = line[4:]
    if not rest.startswith("result="):
        return Reply(code, text=line)
    result, _, data = rest[len("result=") :].partition(" ")
    data = data.strip()
    if data.startswith("(") and data.endswith(")"):
        data = data[1:-1]
    return Reply(code, result, data, line)


def is_usage_start(line: str) -> bool:
    """A ``520-`` line: the usage text follows until ``520 End of proper usage.``."""
    return line.startswith("520-")


def quote(value: str) -> str:
    """One command argument, as Asterisk's parser reads it: in double quotes, with
    backslash and double quote escaped. Line breaks (which would end the command)
    and NULs become spaces."""
    flat = value.replace("\r", " ").replace("\n", " ").replace("\0", " ")
    return '"' + flat.replace("\\", "\\\\").replace('"', '\\"') + '"'


def variable_name(name: str) -> str:
    if not name or not set(name) <= NAME_CHARS:
        raise ValueError(f"{name!r} is not a channel variable name (letters, digits, _)")
    return name


def set_variable(name: str, value: str) -> str:
    return f"SET VARIABLE {variable_name(name)} {quote(value)}\n"


def get_variable(name: str) -> str:
    return f"GET VARIABLE {variable_name(name)}\n"


def env_text(env: Mapping[str, str]) -> str:
    """An environment as Asterisk sends it (for tests and tools)."""
    return "".join(f"{k}: {v}\n" for k, v in env.items()) + "\n"
