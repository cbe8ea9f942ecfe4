"""Statistics as text tables and as JSON (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from .model import AgentFigures, FlowFigures, HourFigures, QueueFigures, Report

NONE = "-"


def format_report(report: Report) -> str:
    period = report.period
    head = (
        f"Calls that arrived from {period.start:%Y-%m-%d %H:%M} to {period.end:%Y-%m-%d %H:%M}"
        f" ({period.zone}); service level: answered within {seconds(period.service_level_s)}"
    )
    sections = [
        head,
        _section("Flows", _flow_table(report.flows)),
        _section("Queues (where callers first waited for a person)", _queue_table(report.queues)),
        _section("Agents", _agent_table(report.agents)),
        _section(f"Hours of the day ({period.zone})", _hour_table(report.hours)),
    ]
    return "\n\n".join(sections) + "\n"


def _section(title: str, lines: list[str]) -> str:
    return "\n".join([title, *(lines or ["  (no calls)"])])


def _flow_table(flows: Sequence[FlowFigures]) -> list[str]:
    headers = ("flow", "received", "offered", "answered", "overflowed", "aband. IVR",
               "aband. queue", "voicemail", "service level", "avg wait", "max wait")  # fmt: skip
    rows = [
        (f.flow, f.received, f.offered, f.answered, f.overflowed, f.abandoned_in_ivr,
         f.abandoned_in_queue, f.voicemail, percent(f.service_level), seconds(f.avg_wait_s),
         seconds(f.max_wait_s))
        for f in flows
    ]  # fmt: skip
    return table(headers, rows) if rows else []


def _queue_table(queues: Sequence[QueueFigures]) -> list[str]:
    headers = ("flow", "queue", "offered", "answered", "overflowed", "abandoned",
               "service level", "avg wait", "max wait")  # fmt: skip
    rows = [
        (q.flow, q.queue, q.offered, q.answered, q.overflowed, q.abandoned,
         percent(q.service_level), seconds(q.avg_wait_s), seconds(q.max_wait_s))
        for q in queues
    ]  # fmt: skip
    return table(headers, rows) if rows else []


def _agent_table(agents: Sequence[AgentFigures]) -> list[str]:
    headers = ("agent", "name", "handled", "avg talk", "rung", "missed")
    rows = [(a.agent, a.name, a.handled, seconds(a.avg_talk_s), a.rung, a.missed) for a in agents]
    return table(headers, rows) if rows else []


def _hour_table(hours: Sequence[HourFigures]) -> list[str]:
    headers = ("hour", "offered", "answered", "overflowed", "abandoned")
    rows = [
        (f"{h.hour:02d}:00", h.offered, h.answered, h.overflowed, h.abandoned)
        for h in hours
        if h.offered
    ]
    return table(headers, rows) if rows else []


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """Columns as wide as their widest cell; text left, numbers right."""
    cells = [[str(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    numeric = [all(_is_number(row[i]) for row in rows) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if right else v.ljust(w)
            for v, w, right in zip(values, widths, numeric, strict=True)
        ]
        return "  " + "  ".join(parts).rstrip()

    return [line(headers), *(line(r) for r in cells)]


def _is_number(value: object) -> bool:
    if isinstance(value, int | float):
        return True
    return isinstance(value, str) and (value == NONE or value[:1].isdigit())


def percent(fraction: float | None) -> str:
    return NONE if fraction is None else f"{fraction * 100:.1f}%"


def seconds(value: float | None) -> str:
    return NONE if value is None else f"{value:.1f} s"


def report_json(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data: times ISO 8601, seconds and fractions as numbers
    (null where there is nothing to average)."""
    period = report.period
    return {
        "period": {
            "from": period.start.isoformat(),
            "to": period.end.isoformat(),
            "zone": period.zone,
            "service_level_s": period.service_level_s,
        },
        "flows": [
            _rounded({**asdict(f), "abandoned": f.abandoned, "service_level": f.service_level})
            for f in report.flows
        ],
        "queues": [
            _rounded({**asdict(q), "service_level": q.service_level}) for q in report.queues
        ],
        "agents": [_rounded(asdict(a)) for a in report.agents],
        "hours": [asdict(h) for h in report.hours],
    }


def _rounded(values: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in values.items()}
