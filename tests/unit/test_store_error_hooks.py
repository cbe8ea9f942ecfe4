"""The stores take their database error hook (metrics) at construction."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

from switchboard.callbacks import CallbackStore
from switchboard.calllog import CallLog, CallRecord
from switchboard.db import Database
from switchboard.webcallback import WebCallbackStore


class Away:
    """A database that does not answer."""

    async def pool(self) -> None:
        raise OSError("connection refused")


def _away() -> Database:
    return cast(Database, Away())


class Count:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> None:
        self.n += 1


async def test_the_callback_stores_count_a_failed_load(tmp_path: Path) -> None:
    queue, web = Count(), Count()
    assert await CallbackStore(tmp_path / "q", _away(), on_db_error=queue).pending() == []
    store = WebCallbackStore(tmp_path / "w", _away(), on_db_error=web)
    assert await store.open_requests() == ([], False)
    assert (queue.n, web.n) == (1, 1)


async def test_the_call_log_worker_counts_each_retry(tmp_path: Path) -> None:
    errors = Count()
    log = CallLog(tmp_path / "calls", _away(), retry_s=0.01, on_db_error=errors)
    await log.record(
        CallRecord(
            "c1", "100", "+3210", None, "main", "v1", "2026-01-01T10:00:00+00:00", "",
            "2026-01-01T10:01:00+00:00", "", "", "abandoned", "", ("start",), (),
        )
    )  # fmt: skip
    worker = asyncio.create_task(log.run())
    try:
        for _ in range(100):
            if errors.n >= 2:
                break
            await asyncio.sleep(0.01)
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    assert errors.n >= 2  # every retry, though the outage is logged once
    assert [p.suffix for p in (tmp_path / "calls").iterdir()] == [".json"]  # still spooled
