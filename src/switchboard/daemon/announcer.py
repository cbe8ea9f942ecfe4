"""Live events for the pages (screen pop, wallboard): what a call's step changed.

A bug in what the pages are told must never reach the call: events are made
inside a guard that logs ``live.event_failed`` and publishes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from switchboard.engine import CallState
from switchboard.live import Kind, LiveEvent, LiveHub, call_changes, call_event

slog = logging.getLogger("switchboard.supervisor")


class Announcer:
    def __init__(self, live: LiveHub | None, clock: Callable[[], datetime]) -> None:
        self.live = live
        self._clock = clock

    def announce(self, before: CallState, after: CallState) -> None:
        """What a step changed that the pages show (phones ringing, phase, answer)."""
        if self.live is not None and after is not before:
            for event in self._safely(lambda: call_changes(before, after, self._clock())):
                self.publish(event)

    def announce_end(self, state: CallState) -> None:
        if self.live is not None:
            outcome = str(state.outcome or "failed")
            ended = self._safely(
                lambda: [call_event(Kind.ENDED, state, self._clock(), state.answered_by, outcome)]
            )
            for event in ended:
                self.publish(event)

    def publish(self, event: LiveEvent) -> None:
        if self.live is not None:
            self.live.publish(event)  # (never blocks nor raises)

    def _safely(self, make: Callable[[], Sequence[LiveEvent]]) -> Sequence[LiveEvent]:
        try:
            return make()
        except Exception:
            slog.exception("live.event_failed")
            return []
