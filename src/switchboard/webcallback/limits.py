"""Rate limits for public requests, and who the client is (pure: the clock is handed in).

``RateLimiter`` is a token bucket per key (a number, an address) holding at most
``tracked`` keys: the least recently seen key is forgotten first, so a flood of
new keys costs a bounded amount of memory and each check is O(1). Forgetting a
key can only let that key in again sooner than its window says; the per-key
limit is an abuse brake, not an accounting.
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict
from collections.abc import Callable, Iterable
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


def client_address(peer: str | None, forwarded_for: str, trusted: Iterable[str]) -> str:
    """The client's address. ``X-Forwarded-For`` is believed only when the peer is a
    trusted proxy, and then only up to the first address (from the right, the
    proxies' side) that is not itself a trusted proxy: what a client writes into
    the header can never make it look like someone else."""
    networks = [ipaddress.ip_network(n) for n in trusted]
    address = _address(peer)
    if address is None:
        return peer or ""
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()] if forwarded_for else []
    while _in(address, networks) and hops:
        forwarded = _address(hops.pop())
        if forwarded is None:
            break  # garbage from the client side: the last good address stands
        address = forwarded
    return str(address)


def _address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None


def _in(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> bool:
    return any(address.version == n.version and address in n for n in networks)


def address_key(address: str) -> str:
    """The rate-limit key of an address: IPv6 by its /64 (one subscriber's network)."""
    parsed = _address(address)
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(
        parsed.ipv4_mapped if isinstance(parsed, ipaddress.IPv6Address) else parsed or address
    )
