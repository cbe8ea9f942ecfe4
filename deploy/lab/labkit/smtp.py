"""A local SMTP sink (aiosmtpd) in the test's event loop: the mails it received,
and a switch to refuse them (a mail server that is down or failing)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session


class SmtpSink:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse = False  # answer 451 (try again later) to every message
        self.port = 0
        self._server: asyncio.Server | None = None
        self._arrived = asyncio.Condition()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse:
            return "451 4.3.0 mail system busy, try again later"
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        async with self._arrived:
            self.messages.append(parsed)
            self._arrived.notify_all()
        return "250 OK"

    async def start(self, port: int = 0) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self, hostname="sink.test"), "127.0.0.1", port
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def wait_for(self, count: int, within: float = 10.0) -> list[EmailMessage]:
        async with asyncio.timeout(within), self._arrived:
            await self._arrived.wait_for(lambda: len(self.messages) >= count)
        return self.messages


@asynccontextmanager
async def smtp_sink(port: int = 0) -> AsyncIterator[SmtpSink]:
    sink = SmtpSink()
    await sink.start(port)
    try:
        yield sink
    finally:
        await sink.stop()


def attachments(message: EmailMessage) -> list[tuple[str, str, bytes]]:
    """(filename, content type, bytes) of each attachment."""
    found: list[tuple[str, str, Any]] = []
    for part in message.iter_attachments():
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        found.append((part.get_filename() or "", part.get_content_type(), payload))
    return found


class ThreadedSmtpSink:
    """The same sink on its own thread (aiosmtpd's Controller), for the blocking
    tier-3 tests and the demo: the daemon runs as another process and mails here."""

    def __init__(self, port: int) -> None:
        from aiosmtpd.controller import Controller

        self.port = port
        self._sink = SmtpSink()
        self._controller = Controller(self._sink, hostname="127.0.0.1", port=port)

    @property
    def messages(self) -> list[EmailMessage]:
        return list(self._sink.messages)

    def start(self) -> ThreadedSmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def wait_for(self, count: int, within: float = 20.0) -> list[EmailMessage]:
        deadline = time.monotonic() + within
        while len(self._sink.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(self._sink.messages)} mail(s), not {count}, in {within} s"
                )
            time.sleep(0.1)
        return self.messages
