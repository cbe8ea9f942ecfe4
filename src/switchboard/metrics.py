"""The daemon's Prometheus metrics, in a registry of its own (no global registry).

Built once by the composition root (``app.py``) and handed to the parts that
count: the supervisor (calls ended by outcome, time to answer), the agent router
(decision latency, database errors) and the stores that write to PostgreSQL
(call log, callbacks, voicemail: database errors). Values that already live
elsewhere (calls in progress, ARI reconnects) are read when Prometheus scrapes.
``GET /metrics`` serves ``exposition()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from switchboard.dialpolicy import REASONS
from switchboard.engine import Outcome

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Where a database error can be caught (the label of switchboard_db_errors_total).
DB_COMPONENTS = (
    "calllog", "routing", "callbacks", "webcallbacks", "voicemail", "recording", "api",
    "retention",
)  # fmt: skip
# A caller's wait, start to answer: seconds (service level is "within 20 s").
WAIT_BUCKETS = (1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 120.0, 300.0, 600.0)
# A routing decision (CRM lookup, ranking, reservation): bounded by decision_timeout.
DECISION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.8, 1.0, 2.5)


def _zero() -> int:
    return 0


class _ReadAtScrape(Collector):
    """Values owned by other objects, read when Prometheus asks."""

    def __init__(self) -> None:
        self.calls_in_progress: Callable[[], int] = _zero
        self.ari_reconnects: Callable[[], int] = _zero

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "switchboard_calls_in_progress",
            "Calls the daemon is running now",
            value=self.calls_in_progress(),
        )
        yield CounterMetricFamily(
            "switchboard_ari_reconnects",
            "Times the ARI event websocket was connected again (or tried to be)",
            value=self.ari_reconnects(),
        )


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._live = _ReadAtScrape()
        self.registry.register(self._live)
        self.calls = Counter(
            "switchboard_calls",
            "Calls ended, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.wait = Histogram(
            "switchboard_call_wait_seconds",
            "Seconds from a call's start to its answer (answered calls)",
            buckets=WAIT_BUCKETS,
            registry=self.registry,
        )
        self.decisions = Histogram(
            "switchboard_routing_decision_seconds",
            "Seconds the agent router took to answer a call's FindAgent",
            buckets=DECISION_BUCKETS,
            registry=self.registry,
        )
        self.db_errors = Counter(
            "switchboard_db_errors",
            "PostgreSQL errors caught (the work is retried or the call takes its fallback)",
            ["component"],
            registry=self.registry,
        )
        self.blocked = Counter(
            "switchboard_calls_blocked",
            "Callers sent to their flow's blocklist node, by what matched"
            " (number, prefix, anonymous)",
            ["match"],
            registry=self.registry,
        )
        for match in ("number", "prefix", "anonymous"):
            self.blocked.labels(match)
        self.callbacks_refused = Counter(
            "switchboard_callbacks_refused",
            "Callback requests refused (the dial policy, the per-number limit), by kind"
            " (queue, web) and reason",
            ["kind", "reason"],
            registry=self.registry,
        )
        for kind in ("queue", "web"):
            for reason in REASONS:
                self.callbacks_refused.labels(kind, reason)
        for outcome in Outcome:  # every series from the start: rate() sees the first call
            self.calls.labels(outcome.value)
        for component in DB_COMPONENTS:
            self.db_errors.labels(component)

    def read_at_scrape(
        self, *, calls_in_progress: Callable[[], int], ari_reconnects: Callable[[], int]
    ) -> None:
        self._live.calls_in_progress = calls_in_progress
        self._live.ari_reconnects = ari_reconnects

    def call_ended(self, outcome: str) -> None:
        self.calls.labels(outcome).inc()

    def call_blocked(self, match: str) -> None:
        self.blocked.labels(match).inc()

    def call_answered(self, waited_s: float) -> None:
        self.wait.observe(max(waited_s, 0.0))

    def routing_decision(self, seconds: float) -> None:
        self.decisions.observe(seconds)

    def callback_refused(self, kind: str, reason: str) -> None:
        self.callbacks_refused.labels(kind, reason).inc()

    def db_error(self, component: str) -> None:
        self.db_errors.labels(component).inc()

    def db_error_hook(self, component: str) -> Callable[[], None]:
        """For a store's ``on_db_error``: counts under ``component``."""
        return lambda: self.db_error(component)

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)
