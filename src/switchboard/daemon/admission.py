"""Admission: an overloaded daemon sheds new calls to the dialplan, never drops them.

Two signs of overload, each with a limit in the config (``admission:``, 0 turns it off):

- **event-loop lag**: a sampler sleeps ``SAMPLE_S`` again and again and measures how
  late it wakes up (the worst of the last second). When the loop is that late every
  call's events wait that long (a caller hears silence where a prompt should start),
  so a new call is better served by the dialplan's fallback than by us;
- **calls in set-up**: calls not yet connected to a person (greeting, menus, ringing,
  waiting in a queue). Above the limit a new caller is unlikely to reach a phone soon.

A refused StasisStart is handed back (``POST /channels/{id}/continue``): the shipped
dialplan then rings the fallback group, then voicemail (dialplan/extensions_switchboard.conf).
Each refusal logs ``call.shed`` (call id and reason) and counts
``switchboard_calls_shed_total{reason}``; the lag is the gauge
``switchboard_event_loop_lag_seconds``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from enum import StrEnum

from prometheus_client import CollectorRegistry, Counter, Gauge

from switchboard.config import AdmissionConfig
from switchboard.engine import CallState, Phase

log = logging.getLogger("switchboard.call")

SAMPLE_S = 0.1  # how often the sampler measures the loop's lag
WINDOW = 10  # the lag is the worst of the last WINDOW samples (1 s): one late wake-up
# after a long block is followed by punctual ones while the backlog is still there
SETTING_UP = frozenset({Phase.NEW, Phase.IVR, Phase.DIALING, Phase.SEEKING_AGENT, Phase.QUEUED})


class ShedReason(StrEnum):
    LOOP_LAG = "loop_lag"
    SETTING_UP = "setting_up"


class Admission:
    def __init__(
        self,
        limits: AdmissionConfig,
        registry: CollectorRegistry | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        window: int = WINDOW,
    ) -> None:
        self.limits = limits
        self.lag = 0.0  # the worst recent sample, seconds
        self._samples: deque[float] = deque(maxlen=window)
        self.shed = 0  # calls refused since the start
        self._clock = clock
        registry = registry or CollectorRegistry()
        self._shed = Counter(
            "switchboard_calls_shed",
            "New calls handed back to the dialplan because the daemon was overloaded",
            ["reason"],
            registry=registry,
        )
        self._lag = Gauge(
            "switchboard_event_loop_lag_seconds",
            "How late the event loop ran at its last sample",
            registry=registry,
        )

    def observe(self, lag: float) -> None:
        """One lag sample (seconds late; what ``run`` measures)."""
        self._samples.append(max(lag, 0.0))
        self.lag = max(self._samples)
        self._lag.set(self.lag)

    async def run(self, every: float = SAMPLE_S) -> None:
        """Measure the loop's lag every ``every`` seconds, until cancelled."""
        while True:
            before = self._clock()
            await asyncio.sleep(every)
            self.observe(self._clock() - before - every)

    def reason(self, calls: Iterable[CallState]) -> ShedReason | None:
        """Why a new call must be refused now (None: it is admitted)."""
        limits = self.limits
        if limits.max_loop_lag and self.lag > limits.max_loop_lag:
            return ShedReason.LOOP_LAG
        if limits.max_setting_up:
            setting_up = sum(1 for state in calls if state.phase in SETTING_UP)
            if setting_up >= limits.max_setting_up:
                return ShedReason.SETTING_UP
        return None

    def refuse(self, channel_id: str, calls: Iterable[CallState]) -> bool:
        """True (logged and counted) if the new call on ``channel_id`` must be shed."""
        reason = self.reason(calls)
        if reason is None:
            return False
        self.shed += 1
        self._shed.labels(reason=reason.value).inc()
        log.warning(
            "call.shed",
            extra={"call_id": channel_id, "reason": reason.value, "lag_s": round(self.lag, 3)},
        )
        return True
