"""Our own thin ARI client: REST on aiohttp, typed events, a reconnecting websocket."""

from .client import AriClient, AriError, AriUnavailable
from .stream import ApplicationTakenOver, Backoff, EventStream

__all__ = [
    "ApplicationTakenOver",
    "AriClient",
    "AriError",
    "AriUnavailable",
    "Backoff",
    "EventStream",
]
