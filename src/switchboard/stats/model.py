"""What the statistics are: frozen results, and the period they cover."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

DEFAULT_SERVICE_LEVEL_S = 20.0  # answered within this many seconds of being offered


@dataclass(frozen=True, slots=True)
class Period:
    """Calls that arrived in [start, end), counted by hour in ``zone``."""

    start: datetime  # aware
    end: datetime  # aware
    zone: str  # IANA name: hours of day are local to it
    service_level_s: float = DEFAULT_SERVICE_LEVEL_S

    @classmethod
    def of_days(cls, first: date, after_last: date, zone: str, service_level_s: float) -> Period:
        """From local midnight of ``first`` to local midnight of ``after_last``."""
        tz = ZoneInfo(zone)
        return cls(
            datetime.combine(first, time(0), tz),
            datetime.combine(after_last, time(0), tz),
            zone,
            service_level_s,
        )


@dataclass(frozen=True, slots=True)
class AgentFigures:
    agent: str
    name: str  # from the agents table ("" if the agent is no longer there)
    handled: int  # calls the agent answered
    avg_talk_s: float | None  # over those calls
    rung: int  # times their phone rang for a call
    missed: int  # rang out or was refused (the customer's owner's short ring excepted)


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """The calls that waited for a person first at one route or queue node."""

    flow: str
    queue: str  # the node id
    offered: int
    answered: int  # by an agent or extension
    overflowed: int  # by an external number
    abandoned: int  # the caller hung up while waiting or while phones rang
    answered_within: int  # answered within the service level of being offered
    avg_wait_s: float | None  # offered to answered, hung up or sent on
    max_wait_s: float | None

    @property
    def service_level(self) -> float | None:
        return self.answered_within / self.offered if self.offered else None


@dataclass(frozen=True, slots=True)
class FlowFigures:
    flow: str
    received: int  # every call the flow answered
    offered: int  # ... of which were offered to a person (reached a route or queue)
    answered: int
    overflowed: int
    abandoned_in_ivr: int
    abandoned_in_queue: int
    voicemail: int
    answered_within: int
    avg_wait_s: float | None  # over the offered calls
    max_wait_s: float | None

    @property
    def abandoned(self) -> int:
        return self.abandoned_in_ivr + self.abandoned_in_queue

    @property
    def service_level(self) -> float | None:
        return self.answered_within / self.offered if self.offered else None


@dataclass(frozen=True, slots=True)
class HourFigures:
    hour: int  # 0-23, local time of the period's zone
    offered: int  # calls that arrived in that hour
    answered: int
    overflowed: int
    abandoned: int  # in the IVR or in a queue


@dataclass(frozen=True, slots=True)
class Report:
    period: Period
    agents: tuple[AgentFigures, ...]
    queues: tuple[QueueFigures, ...]
    flows: tuple[FlowFigures, ...]
    hours: tuple[HourFigures, ...]  # all 24, in order


def all_hours(found: tuple[HourFigures, ...] | list[HourFigures]) -> tuple[HourFigures, ...]:
    """The 24 hours of the day, those without calls as zeros."""
    by_hour = {h.hour: h for h in found}
    return tuple(by_hour.get(hour, HourFigures(hour, 0, 0, 0, 0)) for hour in range(24))


# -- the call log, page by page --------------------------------------------------------------
class BadCursor(ValueError):
    """The client sent a paging cursor we did not make (or that was damaged)."""


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page of the call log ended: the last call's start and id."""

    started_at: datetime
    call_id: str

    def encode(self) -> str:
        raw = f"{self.started_at.isoformat()}|{self.call_id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            stamp, call_id = raw.split("|", 1)
            started = datetime.fromisoformat(stamp)
        except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
            raise BadCursor(f"not a call log cursor: {text[:40]!r}") from exc
        if started.tzinfo is None or not call_id or not _storable(call_id):
            raise BadCursor(f"not a call log cursor: {text[:40]!r}")
        return cls(started, call_id)


def _storable(text: str) -> bool:
    """Could PostgreSQL take this as text? (not NUL, not a lone surrogate)"""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


@dataclass(frozen=True, slots=True)
class LegRow:
    seq: int
    target: str
    result: str
    ringing_at: datetime | None
    ended_at: datetime | None
    ring_s: float | None
    agent: str
    owner_ring: bool


@dataclass(frozen=True, slots=True)
class CallRow:
    id: str
    dialed: str
    caller: str
    customer: int | None
    flow: str
    flow_version: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime
    wait_s: float | None
    talk_s: float | None
    answered_by: str
    agent: str
    outcome: str
    category: str
    route_result: str
    path: tuple[str, ...]
    queue: str
    queued_at: datetime | None
    queue_wait_s: float | None
    recording: str | None  # recordings.id, if the conversation was recorded
    legs: tuple[LegRow, ...]


@dataclass(frozen=True, slots=True)
class CallPage:
    calls: tuple[CallRow, ...]  # newest first
    next_cursor: Cursor | None  # None: this was the last page
