"""How long to wait before trying again: one policy for every durable worker.

The n-th failure in a row waits ``first * 2 ** (n - 1)`` seconds, never more than
``most``; an unexpected error (a bug, a full disk) waits ``crashed``. ``first`` =
``most`` gives a steady wait (the database stores: retry every few seconds).
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_BACKOFF_S = 600.0


@dataclass(frozen=True, slots=True)
class Backoff:
    first: float
    most: float = MAX_BACKOFF_S
    crashed: float = MAX_BACKOFF_S

    @classmethod
    def steady(cls, every: float) -> Backoff:
        """Every ``every`` seconds while the store is away; ten times that after a bug."""
        return cls(every, every, every * 10)

    def delay(self, attempt: int = 1) -> float:
        """The wait after the ``attempt``-th failure in a row (1: the first)."""
        return min(self.most, self.first * (1 << (attempt - 1)))
