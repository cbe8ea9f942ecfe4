"""An outbox: a spool and the worker that delivers its items, oldest first.

``add`` spools an item (fsync'd) and wakes the worker; the worker's pass
``deliver``s every spooled item and removes its file. ``deliver`` raises
:class:`Retry` (or an error of ``retry_on``, e.g. the database being away: a retry
after the backoff policy's delay) to end the pass, leaving that item and those
after it spooled; it raises :class:`Rejected` when this item's content is refused,
which sets the file aside (``.rejected``) and goes on with the others. Any other
error is logged (``<prefix>.store_failed``) and retried after ``backoff.crashed``.
Every retry calls ``on_error`` (the metrics hook) once. ``wake_loop`` is the loop
itself, also used by the job spool (``switchboard.jobspool``). At the stop, the
composition root bounds one last ``flush`` (``switchboard.lifespan.Flush``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Generic, TypeVar

from switchboard.db import DB_ERRORS

from .backoff import Backoff
from .spool import REJECTED, Spool

T = TypeVar("T")


def nothing() -> None:
    """The hook that does nothing (no metrics to count into)."""


class Retry(Exception):
    """Not now: try again in ``delay`` seconds (the message says why)."""

    def __init__(self, delay: float, error: str = "") -> None:
        super().__init__(error)
        self.delay = delay


class Rejected(Exception):
    """This item can never be delivered (its content is refused): set it aside."""


async def wake_loop(wake: asyncio.Event, one_pass: Callable[[], Awaitable[float | None]]) -> None:
    """Run ``one_pass`` now, then whenever woken or when the wait it returned is up
    (None: only when woken). Until cancelled."""
    while True:
        wake.clear()
        timeout = await one_pass()
        with contextlib.suppress(TimeoutError):  # (asyncio.timeout: see QueueManager.run)
            async with asyncio.timeout(timeout):
                await wake.wait()


class Outbox(Generic[T]):
    """``spool``'s items, parsed by ``parse`` and handed to ``deliver``.

    ``active`` False: nowhere to deliver to (no database); items stay spooled.
    ``after(item)`` is called once an item's file is gone (None: it was bad or
    rejected). ``back_event``: log the retry once per outage and this event
    (info) when a pass succeeds again; without it every retry is logged."""

    def __init__(
        self,
        spool: Spool,
        parse: Callable[[bytes], T],
        deliver: Callable[[T], Awaitable[None]],
        *,
        backoff: Backoff,
        on_error: Callable[[], None] = nothing,
        retry_on: tuple[type[Exception], ...] = DB_ERRORS,
        after: Callable[[T | None], None] | None = None,
        then: Callable[[], Awaitable[None]] | None = None,
        active: bool = True,
        back_event: str = "",
    ) -> None:
        self.spool = spool
        self.backoff = backoff
        self._parse = parse
        self._deliver = deliver
        self._on_error = on_error
        self._retry_on = retry_on
        self._after = after
        self._then = then
        self.active = active
        self._back_event = back_event
        self._failing = False
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def add(self, name: str, data: bytes) -> Path:
        """On disk (fsync'd) when this returns; the worker is woken."""
        path = await asyncio.to_thread(self.spool.write, name, data)
        self._wake.set()
        return path

    async def flush(self) -> int:
        """Deliver every spooled item (then ``then``); how many were delivered. Raises
        what ``deliver`` raises to end a pass: what is not delivered stays spooled."""
        if not self.active:
            return 0
        delivered = 0
        for path in await asyncio.to_thread(self.spool.paths):
            item = await asyncio.to_thread(self.spool.read, path, self._parse)
            if item is not None:
                try:
                    await self._deliver(item)
                    delivered += 1
                except Rejected as exc:  # this item, not the store: the others go on
                    await asyncio.to_thread(self.spool.set_aside, path, REJECTED, "rejected", exc)
                    item = None
            await asyncio.to_thread(self.spool.remove, path)  # (set aside: gone already)
            if self._after is not None:
                self._after(item)
        if self._then is not None:
            await self._then()
        return delivered

    async def run(self) -> None:
        """The worker: a pass now, on every ``add``/``wake``, and after each retry delay."""
        await wake_loop(self._wake, self._pass)

    async def _pass(self) -> float | None:
        log, prefix = self.spool.log, self.spool.prefix
        try:
            await self.flush()
        except Retry as retry:
            return self._retry(retry.delay, str(retry))
        except self._retry_on as exc:
            return self._retry(self.backoff.delay(), str(exc))
        except Exception:  # keep the worker alive: the items stay in the spool
            log.exception(f"{prefix}.store_failed")
            return self.backoff.crashed
        if self._failing and self._back_event:
            log.info(self._back_event)
        self._failing = False
        return None

    def _retry(self, delay: float, error: str) -> float:
        self._on_error()
        if not (self._failing and self._back_event):
            self.spool.log.warning(f"{self.spool.prefix}.store_retry", extra={"error": error})
        self._failing = True
        return delay
