"""Tier 3 fixtures: one real Asterisk for the whole session (deploy/lab/lab.sh)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.lab import start_lab, stop_lab


@pytest.fixture(scope="session")
def lab() -> Iterator[None]:
    """Asterisk running with the repo's configs. Never skips: if the lab can't
    start, the LabError (with Asterisk's log tail) fails the tests."""
    start_lab()
    try:
        yield
    finally:
        stop_lab()
