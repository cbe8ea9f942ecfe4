"""Lifespans for the composition root: a service starts on enter, flushes and stops on exit.

A daemon service is a worker task plus, for one that keeps something to write, a
flush: what the stop must still hand over (rows to PostgreSQL, agents to free),
within a timeout. ``lifespan`` makes one an async context manager; ``app.py``
enters them in one ``contextlib.AsyncExitStack``, so they stop in reverse order.

Workers go into a ``Workers`` pool (itself a context manager): entered before the
services that start into it, it cancels their workers together once every one of
them has flushed (a worker keeps running while the others flush, as it did when
the stop was written out by hand).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from switchboard.db import DB_ERRORS

log = logging.getLogger("switchboard.daemon")  # (the events are the daemon's)


class Workers:
    """Tasks that stop together: at exit each is cancelled, then all are awaited (what
    they raised is dropped: a worker logs its own failures)."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[Any]] = []

    def start(self, work: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any]:
        task = asyncio.create_task(work, name=name)
        self.tasks.append(task)
        return task

    def adopt(self, tasks: Iterable[asyncio.Task[Any]]) -> None:
        """Tasks started elsewhere (e.g. ``start_agi``), stopped with these."""
        self.tasks.extend(tasks)

    async def stop(self) -> None:
        """Cancel and await every task (a cancel of this wait itself is swallowed, as
        the hand-written stop did: what follows in the stack still runs)."""
        for task in self.tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self.tasks, return_exceptions=True)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


@dataclass(frozen=True, slots=True)
class Flush:
    """What a service hands over at its stop, within ``timeout_s``.

    With ``failed`` (a log event): a timeout or a database error is logged as that
    warning (``error``: its repr) and let go. Without: a timeout is let go silently
    (the service logs its own failures) and anything else propagates."""

    run: Callable[[], Awaitable[object]]
    timeout_s: float
    failed: str | None = None


async def flush(step: Flush) -> None:
    """``step.run`` within its timeout (see ``Flush``)."""
    if step.failed is None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(step.timeout_s):
                await step.run()
        return
    try:
        async with asyncio.timeout(step.timeout_s):
            await step.run()
    except (TimeoutError, *DB_ERRORS) as exc:
        log.warning(step.failed, extra={"error": repr(exc)})


@dataclass(frozen=True, slots=True)
class Service:
    """One service as its lifespan sees it: its worker (named ``name``) and its flush."""

    name: str
    run: Callable[[], Coroutine[Any, Any, Any]] | None = None
    flush: Flush | None = None


@contextlib.asynccontextmanager
async def lifespan(service: Service, workers: Workers | None = None) -> AsyncIterator[None]:
    """Enter: the worker starts. Exit (also on an error): the flush, then the worker is
    cancelled; with ``workers``, it is started there instead and cancelled when that
    pool exits (with the others)."""
    own = workers is None
    pool = Workers() if workers is None else workers
    if service.run is not None:
        pool.start(service.run(), name=service.name)
    try:
        yield
    finally:
        try:
            if service.flush is not None:
                await flush(service.flush)
        finally:  # (a flush that raised still stops the worker)
            if own:
                await pool.stop()
