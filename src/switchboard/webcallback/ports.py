"""What web callbacks need of the daemon: agents to offer a request to, and a dialer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from switchboard.callbacks import Callback
from switchboard.callbacks.dialer import CallbackObserver
from switchboard.engine.commands import FindAgent, ReportAgent
from switchboard.engine.events import AgentFound
from switchboard.hours import Calendar


class CallbackDaemon(Protocol):
    """The running daemon as web callbacks use it (the daemon's ``Supervisor``)."""

    def taking_callbacks(self) -> bool: ...  # not draining, phones' states known
    def calendars(self) -> Mapping[str, Calendar]: ...  # the flows' calendars, by name
    async def find_agent(self, ask: FindAgent) -> AgentFound: ...
    def report_agent(self, cmd: ReportAgent) -> None: ...
    def agent_search_ended(self, key: str) -> None: ...  # whatever it holds is freed
    def dial_callback(
        self, callback: Callback, endpoint: str, observer: CallbackObserver
    ) -> None: ...
