"""Tier 3 fixtures: one real Asterisk for the whole session (deploy/lab/lab.sh)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from labkit.daemon import REPO, DaemonProcess
from labkit.lab import start_lab, stop_lab


@pytest.fixture(scope="session")
def lab() -> Iterator[None]:
    """Asterisk running with the repo's configs. Never skips: if the lab can't
    start, the LabError (with Asterisk's log tail) fails the tests."""
    start_lab()
    try:
        yield
    finally:
        stop_lab()


@pytest.fixture
def daemon(lab: None, request: pytest.FixtureRequest) -> Iterator[DaemonProcess]:
    """`switchboard run` with the lab config, its log in artifacts/daemon/<test>.log;
    the test fails if the daemon does not drain and exit 0 at the end."""
    log = REPO / "artifacts" / "daemon" / f"{request.node.name}.log"
    process = DaemonProcess(log)
    process.start()
    try:
        yield process
    finally:
        assert process.stop() == 0, f"daemon did not drain and exit 0, see {log}"
