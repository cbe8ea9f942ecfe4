"""switchboard.lifespan: start on enter; at exit flush within a timeout, then cancel."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from switchboard.lifespan import Flush, Service, Workers, flush, lifespan


def warnings(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [
        (r.getMessage(), r.__dict__["error"])
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name == "switchboard.daemon"
    ]


class Worker:
    """A service's side: a worker that runs until cancelled, and a flush."""

    def __init__(self, name: str, journal: list[str], flush_s: float = 0.0) -> None:
        self.name = name
        self.journal = journal
        self.flush_s = flush_s
        self.running = asyncio.Event()

    async def run(self) -> None:
        self.journal.append(f"{self.name}.run")
        self.running.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.journal.append(f"{self.name}.cancelled")
            raise

    async def flush(self) -> None:
        await asyncio.sleep(self.flush_s)
        self.journal.append(f"{self.name}.flush")

    def service(self, timeout_s: float = 1.0, failed: str | None = None) -> Service:
        return Service(self.name, self.run, Flush(self.flush, timeout_s, failed))


async def test_starts_on_enter_and_flushes_before_it_cancels() -> None:
    journal: list[str] = []
    worker = Worker("spool", journal)
    async with lifespan(worker.service()):
        await worker.running.wait()
        journal.append("serving")
    assert journal == ["spool.run", "serving", "spool.flush", "spool.cancelled"]


async def test_in_a_stack_services_stop_in_reverse_order() -> None:
    journal: list[str] = []
    first, second = Worker("first", journal), Worker("second", journal)
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(lifespan(first.service()))
        await stack.enter_async_context(lifespan(second.service()))
        await asyncio.wait_for(second.running.wait(), 1)
    assert journal[2:] == ["second.flush", "second.cancelled", "first.flush", "first.cancelled"]


async def test_with_a_pool_workers_are_cancelled_after_every_flush() -> None:
    journal: list[str] = []
    first, second = Worker("first", journal), Worker("second", journal)
    async with contextlib.AsyncExitStack() as stack:
        workers = await stack.enter_async_context(Workers())
        await stack.enter_async_context(lifespan(first.service(), workers))
        await stack.enter_async_context(lifespan(second.service(), workers))
        await asyncio.wait_for(second.running.wait(), 1)
        assert len(workers.tasks) == 2
    assert journal[2:4] == ["second.flush", "first.flush"]
    assert sorted(journal[4:]) == ["first.cancelled", "second.cancelled"]
    assert all(task.done() for task in workers.tasks)


async def test_a_service_without_worker_or_flush_is_fine() -> None:
    journal: list[str] = []
    flushing = Worker("flushing", journal)
    async with (
        lifespan(Service("nothing")),
        lifespan(Service("flush only", flush=Flush(flushing.flush, 1))),
    ):
        pass
    assert journal == ["flushing.flush"]


async def test_a_flush_past_its_timeout_is_logged_as_its_event(
    caplog: pytest.LogCaptureFixture,
) -> None:
    journal: list[str] = []
    slow = Worker("slow", journal, flush_s=10)
    async with asyncio.timeout(2), lifespan(slow.service(0.05, "slow.flush_failed")):
        await slow.running.wait()
    assert journal == ["slow.run", "slow.cancelled"]  # the flush did not finish
    assert warnings(caplog) == [("slow.flush_failed", "TimeoutError()")]


async def test_a_flush_past_its_timeout_without_event_is_let_go_silently(
    caplog: pytest.LogCaptureFixture,
) -> None:
    journal: list[str] = []
    slow = Worker("slow", journal, flush_s=10)
    async with asyncio.timeout(2), lifespan(slow.service(0.05)):
        await slow.running.wait()
    assert journal == ["slow.run", "slow.cancelled"]
    assert warnings(caplog) == []


async def test_a_database_error_is_logged_with_an_event_and_raised_without(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def refused() -> None:
        raise ConnectionRefusedError("PostgreSQL away")

    await flush(Flush(refused, 1, "calllog.flush_failed"))
    assert warnings(caplog) == [
        ("calllog.flush_failed", "ConnectionRefusedError('PostgreSQL away')")
    ]
    with pytest.raises(ConnectionRefusedError):
        await flush(Flush(refused, 1))


async def test_another_error_in_a_flush_propagates_and_the_worker_is_still_cancelled() -> None:
    journal: list[str] = []
    worker = Worker("buggy", journal)

    async def broken() -> None:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        async with lifespan(Service("buggy", worker.run, Flush(broken, 1, "buggy.flush_failed"))):
            await worker.running.wait()
    assert journal == ["buggy.run", "buggy.cancelled"]


async def test_an_error_in_the_block_still_flushes_and_cancels() -> None:
    journal: list[str] = []
    worker = Worker("spool", journal)

    async def serve() -> None:
        async with lifespan(worker.service()):
            await worker.running.wait()
            raise RuntimeError("serve failed")

    with pytest.raises(RuntimeError, match="serve failed"):
        await serve()
    assert journal == ["spool.run", "spool.flush", "spool.cancelled"]


async def test_workers_are_awaited_and_their_errors_dropped() -> None:
    async def fails() -> None:
        raise RuntimeError("worker failed")

    async def finishes() -> int:
        return 1

    async with Workers() as workers:
        failing = workers.start(fails(), name="failing")
        done = workers.start(finishes())
        blocked = workers.start(asyncio.Event().wait(), name="blocked")
        adopted = asyncio.create_task(asyncio.Event().wait())
        workers.adopt([adopted])
        await asyncio.sleep(0)
    assert failing.get_name() == "failing"
    assert isinstance(failing.exception(), RuntimeError)
    assert done.result() == 1
    assert blocked.cancelled()
    assert adopted.cancelled()


async def test_a_cancelled_block_still_flushes_and_cancels_its_worker() -> None:
    journal: list[str] = []
    worker = Worker("spool", journal)

    async def serve() -> None:
        async with lifespan(worker.service()):
            await asyncio.Event().wait()

    serving = asyncio.create_task(serve())
    await asyncio.wait_for(worker.running.wait(), 1)
    serving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await serving
    assert journal == ["spool.run", "spool.flush", "spool.cancelled"]
