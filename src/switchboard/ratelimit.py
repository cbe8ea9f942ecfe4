"""Rate limits per key: an address, a number (pure: the clock is handed in).

``RateLimiter`` is a token bucket per key (a number, an address) holding at most
``tracked`` keys: the least recently seen key is forgotten first, so a flood of
new keys costs a bounded amount of memory and each check is O(1). Forgetting a
key can only let that key in again sooner than its window says; the per-key
limit is an abuse brake, not an accounting.

Used by the web callbacks (per address), the dial policy (per number) and the API's
failed-token limit (per address). Keys for addresses: ``api.clients.address_key``.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float  # when ``tokens`` was counted


class RateLimiter:
    """``allowed`` requests per ``window_s`` per key, in bursts of up to ``allowed``."""

    def __init__(
        self, allowed: int, window_s: float, tracked: int, clock: Callable[[], float]
    ) -> None:
        self.allowed = allowed
        self.rate = allowed / window_s  # tokens back per second
        self.tracked = tracked
        self.clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str) -> float:
        """0.0 if a request of ``key`` may go ahead (one token taken); else the seconds
        until it may (nothing taken)."""
        now = self.clock()
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            bucket = _Bucket(float(self.allowed), now)
        else:
            refill = (now - bucket.at) * self.rate
            bucket.tokens = min(float(self.allowed), bucket.tokens + refill)
            bucket.at = now
        self._buckets[key] = bucket  # now the most recently seen
        while len(self._buckets) > self.tracked:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    def refund(self, key: str) -> None:
        """Give back the token a request of ``key`` took (it was not served after all)."""
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.tokens = min(float(self.allowed), bucket.tokens + 1.0)

    def check(self, key: str) -> float:
        """Like ``take`` but takes nothing: the seconds to wait (0.0: it may go)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return 0.0
        tokens = min(float(self.allowed), bucket.tokens + (self.clock() - bucket.at) * self.rate)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate


def retry_after(seconds: float) -> str:
    """A ``Retry-After`` value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
