"""Statistics over the call log: per agent, per queue and flow, per hour of day.

``model``: the frozen results; ``repository``: all the SQL (and the call log's
pages for the HTTP API); ``format``: tables and JSON; ``command``: ``switchboard stats``.
"""

from .model import (
    DEFAULT_SERVICE_LEVEL_S,
    AgentFigures,
    BadCursor,
    CallPage,
    CallRow,
    Cursor,
    FlowFigures,
    HourFigures,
    LegRow,
    Period,
    QueueFigures,
    Report,
)

__all__ = [
    "DEFAULT_SERVICE_LEVEL_S",
    "AgentFigures",
    "BadCursor",
    "CallPage",
    "CallRow",
    "Cursor",
    "FlowFigures",
    "HourFigures",
    "LegRow",
    "Period",
    "QueueFigures",
    "Report",
]
