"""What FastAGI needs of the daemon: the agent router's decisions and reports."""

from __future__ import annotations

from typing import Protocol

from switchboard.engine.commands import FindAgent
from switchboard.engine.events import AgentFound

from .holds import AgentReports


class AgentRouting(AgentReports, Protocol):
    """The agent router as the AGI scripts use it (the daemon's ``AgentRouter``)."""

    async def find(self, ask: FindAgent) -> AgentFound: ...
