"""The agent router's housekeeping pass: each part at its own interval, a wrap-up
that ended reads the agents again at once, an outage logged once, not every pass."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import cast

import pytest

from switchboard.config import RoutingConfig
from switchboard.daemon.targets import TargetBook
from switchboard.db import Database
from switchboard.routing.directory import AgentDirectory
from switchboard.routing.repository import AgentRepository
from switchboard.routing.service import AgentRouter


class FakeRepository:
    def __init__(self) -> None:
        self.pool = object()
        self.calls: list[str] = []
        self.wrapped_up: list[str] = []
        self.down = False

    def _call(self, name: str) -> None:
        if self.down:
            raise ConnectionRefusedError("the database is down")
        self.calls.append(name)

    async def finish_wrap_up(self) -> list[str]:
        self._call("finish_wrap_up")
        done, self.wrapped_up = self.wrapped_up, []
        return done

    async def sites(self) -> dict[str, str]:
        self._call("sites")
        return {"msk": "office"}

    async def renew_daemon(self, call_ids: Sequence[str]) -> int:
        self._call("renew_daemon")
        return len(call_ids)

    async def sweep(self) -> int:
        self._call("sweep")
        return 0


class FakeDirectory(AgentDirectory):
    async def refresh(self, pool: object, *, full: bool = False) -> int:
        self.reads["changes"] += 1
        return 0


def housekeeper() -> tuple[AgentRouter, FakeRepository]:
    database = Database("postgresql://postgres@127.0.0.1:1/test", "nowhere")  # (never used)
    router = AgentRouter(
        database, TargetBook(), lambda *_: True, RoutingConfig(refresh_interval=60), "d"
    )
    repo = FakeRepository()
    router._repo = cast(AgentRepository, repo)
    router.directory = FakeDirectory()
    router.directory.loaded_at = 1.0  # (read at start)
    # (a part runs once its interval has passed since it last ran; at start: since 0)
    return router, repo


async def test_each_part_runs_at_its_own_interval() -> None:
    router, repo = housekeeper()
    await router._housekeep()
    assert repo.calls == ["finish_wrap_up", "sites", "renew_daemon", "sweep"]
    assert router.sites == {"msk": "office"}
    repo.calls.clear()
    await router._housekeep()  # a second later: only the wrap-ups
    assert repo.calls == ["finish_wrap_up"]
    assert router.directory.reads["changes"] == 1


async def test_a_wrap_up_that_ended_reads_the_agents_again_at_once() -> None:
    router, repo = housekeeper()
    await router._housekeep()
    repo.calls.clear()
    repo.wrapped_up = ["a101"]
    await router._housekeep()
    assert repo.calls == ["finish_wrap_up", "sites"]
    assert router.directory.reads["changes"] == 2
    assert router._wake.is_set()


async def test_an_outage_is_logged_once_and_its_end_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    router, repo = housekeeper()
    caplog.set_level(logging.INFO, logger="switchboard.routing")
    repo.down = True
    for _ in range(3):
        await router._housekeep()
    repo.down = False
    await router._housekeep()
    await router._housekeep()
    events = [r.getMessage() for r in caplog.records if r.name == "switchboard.routing"]
    assert events == ["routing.database_unavailable", "routing.database_back"]
    assert repo.calls[0] == "finish_wrap_up"
    assert "sweep" in repo.calls  # (never ran while down: runs once back)


async def test_without_a_database_nothing_is_done() -> None:
    router = AgentRouter(None, TargetBook(), lambda *_: True, RoutingConfig(), "d")
    await router._housekeep()
    assert router._repo is None
