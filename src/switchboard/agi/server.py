"""The FastAGI server: asyncio streams, one task per session, everything bounded.

- The environment is read with a line limit (``MAX_LINE``), a line count limit
  (``MAX_ENV_LINES``) and a time limit; the whole session with
  ``agi.session_timeout``; each answer of Asterisk with ``REPLY_TIMEOUT_S``.
- ``HANGUP`` lines are noted (``AgiSession.hung_up``) wherever they come; a
  ``511`` answer means the same. The handler finishes quickly (it never waits on
  a dead channel) and the connection is closed.
- More than ``agi.max_sessions`` at once: the newest is closed at once (Asterisk
  sets ``AGISTATUS=FAILURE`` and the dialplan goes on with the variables unset).
- A handler that crashes is logged; its channel is given ``SWITCHBOARD_ERROR`` if
  still possible, and the connection is closed: the dialplan always goes on.
- The port cannot be bound (in use): logged, and tried again every
  ``BIND_RETRY_S``; the daemon's ARI calls are not affected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from switchboard.config import AgiConfig

from .protocol import (
    HANGUP,
    MAX_ENV_LINES,
    MAX_LINE,
    AgiProtocolError,
    AgiRequest,
    Reply,
    get_variable,
    is_usage_start,
    parse_environment,
    parse_reply,
    set_variable,
)

log = logging.getLogger("switchboard.agi")
ENV_TIMEOUT_S = 5.0  # Asterisk sends its environment at once
REPLY_TIMEOUT_S = 5.0  # and answers SET/GET VARIABLE at once
MAX_USAGE_LINES = 50
BIND_RETRY_S = 5.0
ERROR_VARIABLE = "SWITCHBOARD_ERROR"


class AgiSession:
    """One connection from Asterisk, after its environment: send commands, read
    answers (``HANGUP`` lines skipped and noted)."""

    def __init__(
        self, request: AgiRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.request = request
        self._reader = reader
        self._writer = writer
        self.hung_up = False  # Asterisk said HANGUP, or answered 511

    async def command(self, line: str) -> Reply:
        self._writer.write(line.encode("utf-8"))
        await self._writer.drain()
        async with asyncio.timeout(REPLY_TIMEOUT_S):
            while True:
                text = await read_line(self._reader)
                if text == HANGUP:
                    self.hung_up = True
                    continue
                reply = parse_reply(text)
                if is_usage_start(text):
                    await self._skip_usage()
                if reply.dead:
                    self.hung_up = True
                return reply

    async def _skip_usage(self) -> None:
        for _ in range(MAX_USAGE_LINES):
            if (await read_line(self._reader)).startswith("520 "):
                return
        raise AgiProtocolError(f"a 520 usage text longer than {MAX_USAGE_LINES} lines")

    async def set_variables(self, values: dict[str, str]) -> bool:
        """Set each variable; False (and the rest not sent) once the channel is gone."""
        for name, value in values.items():
            if self.hung_up:
                return False
            reply = await self.command(set_variable(name, value))
            if not reply.ok:
                if not reply.dead:
                    log.warning(
                        "agi.set_variable_refused",
                        extra={"channel": self.request.channel, "reply": reply.text},
                    )
                return False
        return not self.hung_up

    async def get_variable(self, name: str) -> str:
        """The variable's value; "" if unset or the channel is gone."""
        reply = await self.command(get_variable(name))
        return reply.data if reply.ok and reply.result == "1" else ""


async def read_line(reader: asyncio.StreamReader) -> str:
    """One line, at most ``MAX_LINE`` bytes (the stream's limit), without its end."""
    try:
        raw = await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        raise AgiProtocolError(f"a line longer than {MAX_LINE} bytes") from None
    except asyncio.IncompleteReadError:
        raise ConnectionResetError("Asterisk closed the AGI connection") from None
    return raw.decode("utf-8", errors="replace").rstrip("\r\n")


async def read_environment(reader: asyncio.StreamReader) -> AgiRequest:
    lines: list[str] = []
    async with asyncio.timeout(ENV_TIMEOUT_S):
        while (line := await read_line(reader)) != "":
            if len(lines) >= MAX_ENV_LINES:
                raise AgiProtocolError(f"more than {MAX_ENV_LINES} environment lines")
            lines.append(line)
    return parse_environment(lines)


Handler = Callable[[AgiSession], Awaitable[None]]


class AgiServer:
    def __init__(self, config: AgiConfig, handler: Handler) -> None:
        self.config = config
        self.handler = handler
        self.sessions: set[asyncio.Task[None]] = set()
        self.refused = 0  # connections closed because max_sessions were running
        self.port = config.port  # the bound port (the configured one, or the OS's for 0)
        self.listening = asyncio.Event()

    async def run(self) -> None:
        """Listen until cancelled (retrying the bind); then close every session."""
        server = await self._bind()
        try:
            await server.serve_forever()
        finally:
            server.close()  # no new sessions; those running are cut (the dialplan goes on)
            for task in list(self.sessions):
                task.cancel()
            await asyncio.gather(*self.sessions, return_exceptions=True)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await server.wait_closed()

    async def _bind(self) -> asyncio.Server:
        while True:
            try:
                server = await asyncio.start_server(
                    self._connected, self.config.host, self.config.port, limit=MAX_LINE
                )
            except OSError as exc:
                log.error(
                    "agi.listen_failed",
                    extra={
                        "listen": self.config.listen,
                        "error": str(exc),
                        "retry_s": BIND_RETRY_S,
                    },
                )
                await asyncio.sleep(BIND_RETRY_S)
                continue
            self.port = server.sockets[0].getsockname()[1]
            log.info("agi.listening", extra={"host": self.config.host, "port": self.port})
            self.listening.set()
            return server

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self.sessions) >= self.config.max_sessions:
            self.refused += 1
            if self.refused == 1 or self.refused % 100 == 0:
                log.error(
                    "agi.too_many_sessions",
                    extra={"max_sessions": self.config.max_sessions, "refused": self.refused},
                )
            await _close(writer)
            return
        self.sessions.add(task)
        try:
            await self._session(reader, writer)
        finally:
            self.sessions.discard(task)
            await _close(writer)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session: AgiSession | None = None
        try:
            async with asyncio.timeout(self.config.session_timeout):
                request = await read_environment(reader)
                session = AgiSession(request, reader, writer)
                await self.handler(session)
        except AgiProtocolError as exc:
            log.warning("agi.bad_peer", extra={"error": str(exc), **_who(session)})
        except TimeoutError:
            log.warning(
                "agi.session_timeout",
                extra={"limit_s": self.config.session_timeout, **_who(session)},
            )
        except (ConnectionError, OSError) as exc:
            log.info("agi.connection_lost", extra={"error": str(exc), **_who(session)})
        except Exception as exc:
            log.exception("agi.session_crashed", extra=_who(session))
            if session is not None and not session.hung_up:
                await _say_error(session, f"internal error: {type(exc).__name__}")


def _who(session: AgiSession | None) -> dict[str, str]:
    if session is None:
        return {}
    request = session.request
    return {"channel": request.channel, "uniqueid": request.uniqueid, "script": request.script}


async def _say_error(session: AgiSession, text: str) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(REPLY_TIMEOUT_S):
            await session.command(set_variable(ERROR_VARIABLE, text))


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        async with asyncio.timeout(1.0):
            await writer.wait_closed()
