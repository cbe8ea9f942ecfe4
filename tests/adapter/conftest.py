"""Tier 2 fixtures: an in-process fake ARI per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fake_ari import FakeAri


@pytest.fixture
async def fake() -> AsyncIterator[FakeAri]:
    server = FakeAri()
    await server.start()
    yield server
    await server.stop()
