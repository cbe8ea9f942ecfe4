"""The composition root's stack (app.serve): the services start in dependency order and
stop in reverse, in the order written in ``app.start``. Fakes for the services: it is
the order under test (the adapter tier runs the real daemon)."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any, cast

import pytest

from switchboard.app import HANDBACK_GRACE_S, PortInUse, Services, serve
from switchboard.ari.stream import ApplicationTakenOver

DRAIN_S = 3.0
WORKERS = [  # cancelled together, after every flush
    "stream", "flows", "callbacks", "queues", "endpoints", "admission", "retention",
    "recordings", "voicemail", "web-callbacks-store", "call-log", "routing",
]  # fmt: skip
FLUSHES = ["routing", "call-log", "web-callbacks-store", "voicemail", "recordings"]


class Journal(list[str]):
    """What happened, in order; ``wait_for`` an entry."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Event()

    def append(self, entry: str) -> None:
        super().append(entry)
        self.changed.set()

    async def wait_for(self, entry: str) -> None:
        while entry not in self:
            self.changed.clear()
            await self.changed.wait()


class Fake:
    """Any service: what is done to it goes to the journal as ``name.what``."""

    host, port = "127.0.0.1", 8080  # (the API)

    def __init__(self, name: str, journal: list[str], fails: BaseException | None = None) -> None:
        self.name = name
        self.journal = journal
        self.fails = fails

    def note(self, what: str) -> None:
        self.journal.append(f"{self.name}.{what}")

    async def run(self) -> None:
        self.note("run")
        if self.fails is not None:
            raise self.fails
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.note("cancelled")
            raise

    async def watch(self, interval: float) -> None:  # (flows)
        await self.run()

    async def flush(self) -> None:
        self.note("flush")

    async def close(self) -> None:
        self.note("close")

    async def start(self) -> None:  # (the API)
        self.note("start")
        if self.fails is not None:
            raise self.fails

    async def stop(self) -> None:
        self.note("stop")

    def release_all(self) -> None:
        self.note("release_all")


class FakeSupervisor:
    calls_in_progress = 0

    def __init__(self, journal: list[str]) -> None:
        self.journal = journal
        self.watch_endpoints = Fake("endpoints", journal).run
        self.admission = Fake("admission", journal)  # (its sampler: run)
        self.drained: list[float] = []

    async def drain(self, seconds: float) -> int:
        self.journal.append("drain")
        self.drained.append(seconds)
        return 0


def services(
    journal: list[str],
    *,
    everything: bool = True,
    stream_fails: BaseException | None = None,
    api_fails: BaseException | None = None,
) -> Services:
    def fake(name: str) -> Any:
        return Fake(name, journal) if everything else None

    web_callbacks: Any = None
    if everything:
        web_callbacks = Fake("web-callbacks", journal)
        web_callbacks.store = Fake("web-callbacks-store", journal)
    flows: Any = Fake("flows", journal)
    flows.current = SimpleNamespace(version="1")
    config = SimpleNamespace(
        ari=SimpleNamespace(app="switchboard", url="http://ari"),
        flows=SimpleNamespace(watch_interval=1.0 if everything else 0.0),
        daemon=SimpleNamespace(drain_timeout=DRAIN_S),
    )
    parts = SimpleNamespace(agents=Fake("routing", journal), queues=Fake("queues", journal))
    return Services(
        cast(Any, config),
        flows,
        cast(Any, FakeSupervisor(journal)),
        cast(Any, parts),
        cast(Any, Fake("stream", journal, stream_fails)),
        cast(Any, Fake("callbacks", journal)),
        cast(Any, Fake("call-log", journal)),
        database=fake("database"),
        api=cast(Any, Fake("api", journal, api_fails)) if everything else None,
        voicemail=fake("voicemail"),
        recorder=fake("recordings"),
        sweeper=fake("retention"),
        web_callbacks=web_callbacks,
        agi=(lambda: [asyncio.create_task(Fake("agi", journal).run())]) if everything else None,
    )


async def serve_until_stopped(built: Services, journal: Journal, started: str) -> int:
    stop = asyncio.Event()
    serving = asyncio.create_task(serve(built, stop))
    await asyncio.wait_for(journal.wait_for(started), 2)
    stop.set()
    return await asyncio.wait_for(serving, 2)


async def test_services_stop_in_reverse_of_their_start_after_the_calls_drained() -> None:
    journal = Journal()
    built = services(journal)
    assert await serve_until_stopped(built, journal, "web-callbacks.run") == 0
    start = journal[: journal.index("drain")]
    assert start[0] == "api.start"  # listening before any worker runs
    assert set(start[1:]) == {f"{name}.run" for name in [*WORKERS, "agi", "web-callbacks"]}
    stop = journal[journal.index("drain") :]
    assert stop[0] == "drain"  # 0. the calls (serve)
    assert set(stop[1:3]) == {"agi.cancelled", "web-callbacks.cancelled"}  # 1. dispatchers
    assert stop[3] == "web-callbacks.release_all"  # 2.
    assert stop[4:9] == [f"{name}.flush" for name in FLUSHES]  # 3.
    assert set(stop[9:-3]) == {f"{name}.cancelled" for name in WORKERS}  # 4.
    assert len(stop[9:-3]) == len(WORKERS)
    assert stop[-3:] == ["api.stop", "database.close", "routing.close"]  # 5.-7.
    assert cast(Any, built.supervisor).drained == [DRAIN_S]


async def test_without_the_optional_services_the_same_order_holds() -> None:
    journal = Journal()
    assert (
        await serve_until_stopped(services(journal, everything=False), journal, "routing.run") == 0
    )
    stop = journal[journal.index("drain") :]
    assert stop[:3] == ["drain", "routing.flush", "call-log.flush"]
    assert set(stop[3:-1]) == {
        f"{name}.cancelled"
        for name in [
            "stream",
            "callbacks",
            "queues",
            "endpoints",
            "admission",
            "call-log",
            "routing",
        ]
    }
    assert stop[-1] == "routing.close"


async def test_a_port_in_use_starts_nothing_and_closes_what_was_opened(
    caplog: pytest.LogCaptureFixture,
) -> None:
    journal = Journal()
    built = services(journal, api_fails=OSError("address already in use"))
    with pytest.raises(PortInUse):
        await serve(built, asyncio.Event())
    assert journal == ["api.start", "database.close", "routing.close"]
    failed = [r for r in caplog.records if r.getMessage() == "api.listen_failed"]
    assert [r.levelno for r in failed] == [logging.ERROR]


async def test_a_failed_stream_hands_the_calls_back_and_stops_with_1() -> None:
    journal = Journal()
    built = services(journal, stream_fails=ConnectionResetError("ARI away"))
    assert await asyncio.wait_for(serve(built, asyncio.Event()), 2) == 1
    assert cast(Any, built.supervisor).drained == [HANDBACK_GRACE_S]
    assert journal[-3:] == ["api.stop", "database.close", "routing.close"]


async def test_the_app_taken_over_stops_with_1_without_draining() -> None:
    journal = Journal()
    built = services(journal, stream_fails=ApplicationTakenOver("another client"))
    assert await asyncio.wait_for(serve(built, asyncio.Event()), 2) == 1
    assert "drain" not in journal
    assert journal.index("routing.flush") < journal.index("routing.close")
