"""durable.Outbox: delivers spooled items oldest first, retries after a delay, sets
aside what is rejected, calls its error hook."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from switchboard.durable import Backoff, Outbox, Rejected, Retry, Spool

log = logging.getLogger("test.outbox")


class Away(Exception):
    """The store is away (stands for the database errors)."""


class Target:
    """Where items go: fails while ``failing`` holds an error, refuses ``refused``."""

    def __init__(self) -> None:
        self.got: list[str] = []
        self.failing: Exception | None = None
        self.refused: set[str] = set()
        self.errors = 0
        self.gone: list[str | None] = []

    async def deliver(self, item: str) -> None:
        if item in self.refused:
            raise Rejected(f"{item} refused")
        if self.failing is not None:
            raise self.failing
        self.got.append(item)

    def on_error(self) -> None:
        self.errors += 1


def _outbox(tmp_path: Path, target: Target, **kwargs: object) -> Outbox[str]:
    return Outbox(
        Spool(tmp_path / "spool", log, "thing"),
        lambda raw: str(json.loads(raw)),
        target.deliver,
        backoff=Backoff.steady(0.05),
        on_error=target.on_error,
        retry_on=(Away,),
        after=target.gone.append,
        **kwargs,  # type: ignore[arg-type]
    )


def _files(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "spool").iterdir())


async def test_flush_delivers_oldest_first_and_removes_each(tmp_path: Path) -> None:
    target = Target()
    outbox = _outbox(tmp_path, target)
    for name in ("2", "1", "3"):
        await outbox.add(name, json.dumps(f"item{name}").encode())
    assert await outbox.flush() == 3
    assert target.got == ["item1", "item2", "item3"]
    assert target.gone == ["item1", "item2", "item3"]
    assert _files(tmp_path) == []
    assert await outbox.flush() == 0  # nothing twice


async def test_a_retry_ends_the_pass_and_keeps_the_rest_spooled(tmp_path: Path) -> None:
    target = Target()
    outbox = _outbox(tmp_path, target)
    for name in ("1", "2"):
        await outbox.add(name, json.dumps(name).encode())
    target.failing = Retry(7.0, "not now")
    with pytest.raises(Retry):
        await outbox.flush()
    assert _files(tmp_path) == ["1.json", "2.json"]
    assert await outbox._pass() == 7.0  # the delay deliver asked for
    assert target.errors == 1  # the hook, once per retry


async def test_a_store_error_is_a_retry_after_the_backoff_delay(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = Target()
    outbox = _outbox(tmp_path, target)
    await outbox.add("1", b'"1"')
    target.failing = Away("database away")
    assert await outbox._pass() == 0.05
    assert await outbox._pass() == 0.05
    assert target.errors == 2
    retries = [r for r in caplog.records if r.getMessage() == "thing.store_retry"]
    assert [r.error for r in retries] == ["database away"] * 2  # type: ignore[attr-defined]
    target.failing = None
    assert await outbox._pass() is None  # done: wait to be woken
    assert target.got == ["1"]


async def test_with_a_back_event_an_outage_is_logged_once_and_its_end(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = Target()
    outbox = _outbox(tmp_path, target, back_event="thing.database_back")
    await outbox.add("1", b'"1"')
    target.failing = Away("database away")
    await outbox._pass()
    await outbox._pass()
    target.failing = None
    await outbox._pass()
    await outbox._pass()
    messages = [r.getMessage() for r in caplog.records if r.name == "test.outbox"]
    assert messages == ["thing.store_retry", "thing.database_back"]
    assert target.errors == 2  # the hook counts every failure, logged or not


async def test_a_rejected_item_is_set_aside_and_the_others_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = Target()
    outbox = _outbox(tmp_path, target)
    for name in ("1", "2", "3"):
        await outbox.add(name, json.dumps(name).encode())
    target.refused = {"2"}
    assert await outbox.flush() == 2
    assert target.got == ["1", "3"]
    assert target.gone == ["1", None, "3"]
    assert _files(tmp_path) == ["2.rejected"]  # kept for the operator, not retried
    [record] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert record.getMessage() == "thing.rejected"
    assert record.error == "2 refused"  # type: ignore[attr-defined]


async def test_a_bad_file_is_set_aside_and_counts_as_gone(tmp_path: Path) -> None:
    target = Target()
    outbox = _outbox(tmp_path, target)
    await outbox.add("1", b"{not json")
    await outbox.add("2", b'"2"')
    assert await outbox.flush() == 1
    assert target.gone == [None, "2"]
    assert _files(tmp_path) == ["1.bad"]


async def test_an_unexpected_error_is_logged_and_retried_later(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = Target()
    outbox = _outbox(tmp_path, target)
    await outbox.add("1", b'"1"')
    target.failing = RuntimeError("a bug")
    assert await outbox._pass() == pytest.approx(0.5)  # backoff.crashed
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        "thing.store_failed"
    ]
    assert target.errors == 0  # not the store being away
    assert _files(tmp_path) == ["1.json"]


async def test_an_inactive_outbox_keeps_everything_spooled(tmp_path: Path) -> None:
    target = Target()
    outbox = _outbox(tmp_path, target, active=False)
    await outbox.add("1", b'"1"')
    assert await outbox.flush() == 0
    assert _files(tmp_path) == ["1.json"]


async def test_then_runs_after_the_spooled_items(tmp_path: Path) -> None:
    target = Target()
    order: list[str] = []

    async def then() -> None:
        order.append(f"then after {target.got}")

    outbox = _outbox(tmp_path, target, then=then)
    await outbox.add("1", b'"1"')
    await outbox.flush()
    assert order == ["then after ['1']"]


async def test_the_worker_is_woken_by_add_and_retries_after_the_delay(tmp_path: Path) -> None:
    target = Target()
    outbox = _outbox(tmp_path, target)
    worker = asyncio.create_task(outbox.run())
    try:
        await outbox.add("1", b'"1"')
        await asyncio.sleep(0.05)
        assert target.got == ["1"]  # woken at once
        target.failing = Away("down")
        await outbox.add("2", b'"2"')
        await asyncio.sleep(0.02)
        target.failing = None  # back: nobody wakes the worker, its retry delay does
        for _ in range(50):
            if target.got == ["1", "2"]:
                break
            await asyncio.sleep(0.01)
        assert target.got == ["1", "2"]
        assert target.errors >= 1
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
