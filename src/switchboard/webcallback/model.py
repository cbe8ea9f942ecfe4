"""A web callback request as the daemon keeps it, and when it is due (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from switchboard.hours import Calendar, is_open, next_change

MAX_CALENDAR_STEPS = 800  # next_change hops looked through for an opening (> a year)


class Status(StrEnum):
    PENDING = "pending"  # due: waiting for a free agent with the skill
    SCHEDULED = "scheduled"  # waiting for its time (opening hours, preferred time, retry)
    CALLING = "calling"  # an agent is rung, or the call to the customer is under way
    DONE = "done"  # the customer answered
    FAILED = "failed"  # no answer after the last attempt (or it can never be called)


OPEN = frozenset({Status.PENDING, Status.SCHEDULED, Status.CALLING})


@dataclass(frozen=True, slots=True)
class WebCallback:
    id: str  # >= 128 random bits, URL-safe: the visitor's key to its status
    number: str  # E.164
    name: str
    skill: str
    client_ip: str
    requested_at: datetime
    not_before: datetime | None = None  # the visitor's preferred time
    status: Status = Status.PENDING
    attempts: int = 0  # calls to the customer so far
    retry_at: datetime | None = None  # after an unanswered attempt
    next_attempt_at: datetime | None = None  # for the status page (None: now)
    last_result: str = ""
    agent: str = ""
    source: str = "web"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def public(self) -> dict[str, object]:
        """What ``GET /callbacks/{id}`` shows (the number and name stay private)."""
        nxt = self.next_attempt_at
        return {
            "id": self.id,
            "status": str(self.status),
            "attempts": self.attempts,
            "next_attempt_at": nxt.isoformat() if nxt and self.is_open else None,
            "requested_at": self.requested_at.isoformat(),
        }


def next_opening(calendar: Calendar, at: datetime) -> datetime | None:
    """``at`` if the calendar is open then, else the next instant it opens; None if it
    does not open within the calendar's horizon."""
    moment: datetime | None = at
    for _ in range(MAX_CALENDAR_STEPS):
        if moment is None or is_open(calendar, moment):
            return moment
        moment = next_change(calendar, moment)
    return None


def due_at(callback: WebCallback, calendar: Calendar | None, now: datetime) -> datetime | None:
    """When the next attempt may start: not before now, the preferred time or the retry
    time, and at an instant the calendar is open. None: never (a calendar that never
    opens again)."""
    start = max(t for t in (now, callback.not_before, callback.retry_at) if t is not None)
    return start if calendar is None else next_opening(calendar, start)
