"""One tick loop for every worker that wakes on a timer.

``periodic(name, every, fn)`` calls ``fn`` (plain or async) every ``every`` seconds
until cancelled. An exception from one tick is logged (``<name>.tick_failed`` unless
``failed_event`` names it) and the next tick tries again: a bug in one pass never ends
the worker. ``CancelledError`` is not caught, so cancelling the task stops the loop.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("switchboard.periodic")


async def periodic(
    name: str,
    every: float,
    fn: Callable[[], Awaitable[object] | object],
    *,
    first_after: float | None = None,
    failed_event: str = "",
    logger: logging.Logger | None = None,
) -> None:
    """Wait ``first_after`` (default ``every``), call ``fn``, wait ``every``, again..."""
    where = logger or log
    event = failed_event or f"{name}.tick_failed"
    await asyncio.sleep(every if first_after is None else first_after)
    while True:
        try:
            result = fn()
            if inspect.isawaitable(result):
                await result
        except Exception:  # keep ticking whatever went wrong this time
            where.exception(event, extra={"worker": name})
        await asyncio.sleep(every)
