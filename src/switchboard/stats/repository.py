"""The statistics' SQL, over the call log (``calls``, ``call_legs``; migrations 007-008).

Every query takes a [start, end) range of ``calls.started_at`` (when the call
arrived) and bound parameters only. Rows become the frozen figures of ``model``
here, where they enter.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from datetime import datetime

import asyncpg

from switchboard.routing import agents_store

from .model import (
    AgentFigures,
    CallPage,
    CallRow,
    Cursor,
    FlowFigures,
    HourFigures,
    LegRow,
    Period,
    QueueFigures,
    Report,
    all_hours,
)

MAX_PAGE = 500  # calls in one page of the call log

IN_PERIOD = "c.started_at >= $1 AND c.started_at < $2"
# The service level's "answered in time" (of ``calls c``; $3: the seconds).
ANSWERED_IN_TIME = (
    "c.category = 'answered' AND c.answered_at <= c.queued_at + make_interval(secs => $3)"
)

_AGENTS = f"""
WITH handled AS (
    SELECT c.agent, count(*) AS handled, avg(c.talk_s) AS avg_talk_s
    FROM calls c
    WHERE {IN_PERIOD} AND c.agent <> '' AND c.category = 'answered'
    GROUP BY c.agent
), rung AS (
    SELECT l.agent, count(*) AS rung,
           count(*) FILTER (WHERE l.result IN ('no_answer', 'busy') AND NOT l.owner_ring)
               AS missed
    FROM call_legs l JOIN calls c ON c.id = l.call_id
    WHERE {IN_PERIOD} AND l.agent <> ''
    GROUP BY l.agent
)
SELECT coalesce(h.agent, r.agent) AS agent,
       coalesce(h.handled, 0) AS handled, h.avg_talk_s,
       coalesce(r.rung, 0) AS rung, coalesce(r.missed, 0) AS missed
FROM handled h
FULL JOIN rung r ON r.agent = h.agent
ORDER BY 1
"""

_QUEUES = f"""
SELECT c.flow, c.queue,
       count(*) AS offered,
       count(*) FILTER (WHERE c.category = 'answered') AS answered,
       count(*) FILTER (WHERE c.category = 'overflowed') AS overflowed,
       count(*) FILTER (WHERE c.category = 'abandoned_in_queue') AS abandoned,
       count(*) FILTER (WHERE {ANSWERED_IN_TIME}) AS answered_within,
       avg(c.queue_wait_s) AS avg_wait_s, max(c.queue_wait_s) AS max_wait_s
FROM calls c
WHERE {IN_PERIOD} AND c.queue <> ''
GROUP BY c.flow, c.queue
ORDER BY c.flow, c.queue
"""

_FLOWS = f"""
SELECT c.flow,
       count(*) AS received,
       count(*) FILTER (WHERE c.queue <> '') AS offered,
       count(*) FILTER (WHERE c.category = 'answered') AS answered,
       count(*) FILTER (WHERE c.category = 'overflowed') AS overflowed,
       count(*) FILTER (WHERE c.category = 'abandoned_in_ivr') AS abandoned_in_ivr,
       count(*) FILTER (WHERE c.category = 'abandoned_in_queue') AS abandoned_in_queue,
       count(*) FILTER (WHERE c.category = 'voicemail') AS voicemail,
       count(*) FILTER (WHERE c.queue <> '' AND {ANSWERED_IN_TIME}) AS answered_within,
       avg(c.queue_wait_s) FILTER (WHERE c.queue <> '') AS avg_wait_s,
       max(c.queue_wait_s) FILTER (WHERE c.queue <> '') AS max_wait_s
FROM calls c
WHERE {IN_PERIOD}
GROUP BY c.flow
ORDER BY c.flow
"""

_HOURS = f"""
SELECT extract(hour FROM c.started_at AT TIME ZONE $3)::int AS hour,
       count(*) AS offered,
       count(*) FILTER (WHERE c.category = 'answered') AS answered,
       count(*) FILTER (WHERE c.category = 'overflowed') AS overflowed,
       count(*) FILTER (WHERE c.category IN ('abandoned_in_ivr', 'abandoned_in_queue'))
           AS abandoned
FROM calls c
WHERE {IN_PERIOD}
GROUP BY 1
ORDER BY 1
"""


async def agent_figures(pool: asyncpg.Pool, period: Period) -> tuple[AgentFigures, ...]:
    """Each agent's figures, by agent; their names are the agents' records' ("" for
    an agent no longer there)."""
    rows = await pool.fetch(_AGENTS, period.start, period.end)
    named = await agents_store.names(pool, (row["agent"] for row in rows))
    return tuple(AgentFigures(name=named.get(row["agent"], ""), **dict(row)) for row in rows)


async def queue_figures(pool: asyncpg.Pool, period: Period) -> tuple[QueueFigures, ...]:
    rows = await pool.fetch(_QUEUES, period.start, period.end, period.service_level_s)
    return tuple(QueueFigures(**dict(row)) for row in rows)


async def flow_figures(pool: asyncpg.Pool, period: Period) -> tuple[FlowFigures, ...]:
    rows = await pool.fetch(_FLOWS, period.start, period.end, period.service_level_s)
    return tuple(FlowFigures(**dict(row)) for row in rows)


async def hour_figures(pool: asyncpg.Pool, period: Period) -> tuple[HourFigures, ...]:
    """All 24 hours of the day (local to the period's zone), quiet ones as zeros."""
    rows = await pool.fetch(_HOURS, period.start, period.end, period.zone)
    return all_hours([HourFigures(**dict(row)) for row in rows])


async def report(pool: asyncpg.Pool, period: Period) -> Report:
    """Every figure of the period (the queries run side by side on the pool)."""
    agents, queues, flows, hours = await asyncio.gather(
        agent_figures(pool, period),
        queue_figures(pool, period),
        flow_figures(pool, period),
        hour_figures(pool, period),
    )
    return Report(period, agents, queues, flows, hours)


# -- the call log, newest first ---------------------------------------------------------------
_PAGE = """
SELECT id, dialed, caller, customer, flow, flow_version, started_at, answered_at, ended_at,
       wait_s, talk_s, answered_by, agent, outcome, category, route_result, path,
       queue, queued_at, queue_wait_s, recording
FROM calls c
WHERE c.started_at >= $1 AND c.started_at < $2
  AND ($3::timestamptz IS NULL OR (c.started_at, c.id) < ($3, $4))
ORDER BY c.started_at DESC, c.id DESC
LIMIT $5
"""
_LEGS = """
SELECT call_id, seq, target, result, ringing_at, ended_at, ring_s, agent, owner_ring
FROM call_legs
WHERE call_id = ANY($1::text[])
ORDER BY call_id, seq
"""


async def call_page(
    pool: asyncpg.Pool,
    start: datetime,
    end: datetime,
    limit: int,
    before_cursor: Cursor | None,
) -> CallPage:
    """Calls that arrived in [start, end), newest first, at most ``limit`` of them,
    each with its legs; ``before_cursor`` (the last page's ``next_cursor``) continues
    where that page ended. Keyset paging: calls logged meanwhile shift nothing."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"a page holds 1 to {MAX_PAGE} calls, not {limit}")
    after = (before_cursor.started_at, before_cursor.call_id) if before_cursor else (None, "")
    rows = await pool.fetch(_PAGE, start, end, *after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    legs = await _legs_of(pool, [row["id"] for row in rows])
    calls = tuple(_call_row(row, tuple(legs[row["id"]])) for row in rows)
    last = calls[-1] if calls and more else None
    return CallPage(calls, Cursor(last.started_at, last.id) if last else None)


async def _legs_of(pool: asyncpg.Pool, call_ids: list[str]) -> dict[str, list[LegRow]]:
    legs: dict[str, list[LegRow]] = defaultdict(list)
    if call_ids:
        for row in await pool.fetch(_LEGS, call_ids):
            fields = dict(row)
            legs[fields.pop("call_id")].append(LegRow(**fields))
    return legs


def _call_row(row: asyncpg.Record, legs: tuple[LegRow, ...]) -> CallRow:
    fields = dict(row)
    fields["path"] = tuple(json.loads(fields["path"]))
    return CallRow(**fields, legs=legs)
