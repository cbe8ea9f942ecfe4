"""Refused requests and connections, logged without letting a flood write the log.

The first refusal of an address in an interval is logged in full (at most
``detailed`` addresses an interval); the others are only counted, and once an
interval one summary line gives the counts, the most refused addresses first
(``api.refusals``). At most ``tracked`` addresses are counted by name in an
interval (the rest in the total only), so memory is bounded whatever the flood.
``RefusalLog`` is pure (the interval is ended by its caller); ``summarise`` is
the task that ends one every ``SUMMARY_INTERVAL_S``.
"""

from __future__ import annotations

import heapq
import logging
from dataclasses import dataclass

from switchboard.durable import periodic

log = logging.getLogger("switchboard.api")
SUMMARY_INTERVAL_S = 60.0


@dataclass(frozen=True, slots=True)
class RefusalSummary:
    refused: int  # refusals in the interval
    not_logged: int  # of them, those not logged in full
    addresses: int  # addresses counted by name
    top: tuple[tuple[str, int], ...]  # the most refused addresses, most first


class RefusalLog:
    """Counts of refusals per address in the current interval."""

    def __init__(self, tracked: int = 1000, detailed: int = 20, shown: int = 10) -> None:
        self.tracked, self.detailed, self.shown = tracked, detailed, shown
        self._counts: dict[str, int] = {}
        self._refused = self._logged = 0

    def note(self, address: str) -> bool:
        """Count a refusal; True if it should be logged in full (its address's first
        this interval, and fewer than ``detailed`` logged so far)."""
        self._refused += 1
        seen = self._counts.get(address)
        if seen is not None:
            self._counts[address] = seen + 1
            return False
        if len(self._counts) < self.tracked:
            self._counts[address] = 1
            if self._logged < self.detailed:
                self._logged += 1
                return True
        return False

    def summary(self) -> RefusalSummary | None:
        """End the interval: its counts, or None if every refusal was logged in full."""
        counts, refused, logged = self._counts, self._refused, self._logged
        self._counts, self._refused, self._logged = {}, 0, 0
        if refused == logged:
            return None
        top = heapq.nlargest(self.shown, counts.items(), key=lambda item: item[1])
        return RefusalSummary(refused, refused - logged, len(counts), tuple(top))


def log_summary(refusals: RefusalLog, what: str) -> None:
    """One ``api.refusals`` line for the interval just ended (none if nothing to add)."""
    summary = refusals.summary()
    if summary is not None:
        log.warning(
            "api.refusals",
            extra={
                "what": what,
                "refused": summary.refused,
                "not_logged": summary.not_logged,
                "addresses": summary.addresses,
                "top": dict(summary.top),
            },
        )


async def summarise(refusals: RefusalLog, what: str, every: float = SUMMARY_INTERVAL_S) -> None:
    """Log a summary every ``every`` seconds until cancelled (then the last one)."""
    try:
        await periodic("api.refusals", every, lambda: log_summary(refusals, what), logger=log)
    finally:
        log_summary(refusals, what)
