"""A queue callback request: who is to be called back, from which queue, how."""

from __future__ import annotations

from dataclasses import dataclass, replace

MAX_ATTEMPTS = 3  # calls to the customer before the request is marked failed
WEB_QUEUE = "@web"  # the queue of web callbacks (no flow's queue can be named so)


@dataclass(frozen=True, slots=True)
class Callback:
    id: str
    queue: str
    number: str
    dialed: str
    call_id: str
    requested_at: str  # ISO 8601: the caller's place in line
    endpoints: tuple[str, ...]
    strategy: str
    ring_seconds: int
    trunk: str
    attempts: int = 0
    customer_ring_seconds: int = 30

    @property
    def target(self) -> str:
        """What Asterisk dials to reach the customer: PJSIP/<number>@<trunk>."""
        technology, _, trunk = self.trunk.partition("/")
        return f"{technology}/{self.number}@{trunk}"


def next_attempt(callback: Callback) -> Callback:
    return replace(callback, attempts=callback.attempts + 1)
