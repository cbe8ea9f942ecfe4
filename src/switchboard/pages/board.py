"""The pages' picture of calls in progress, kept from live events (pure, in memory).

``CallBoard.apply(event, now)`` is called inline by the hub for every event (it
must stay quick: dictionaries only). It answers two questions: which call does
an agent's screen show (``screen``), and who is waiting for a person
(``waiting``). ``now`` is monotonic seconds: waits are measured here, whatever
the daemon's clock says.

The ``*_message`` functions turn that picture into the JSON the pages' scripts
read (plain data: the scripts put it in the page as text, never as HTML).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from switchboard.engine import Phase
from switchboard.live import WAITING_PHASES, CallEvent, Kind, LiveEvent
from switchboard.routing.rank import Customer

# Which side of the card a phone's call is on.
RINGING, TALKING = "ringing", "talking"


@dataclass(frozen=True, slots=True)
class Waiting:
    calls: int
    longest_s: float


class CallBoard:
    def __init__(self) -> None:
        self.calls: dict[str, CallEvent] = {}  # in progress: the latest event of each
        self.by_phone: dict[str, CallEvent] = {}  # endpoint -> the call it rings or talks on
        self.by_agent: dict[str, CallEvent] = {}  # agent -> the call offered to them
        self.waiting_since: dict[str, float] = {}  # call id -> when it began to wait

    def apply(self, event: LiveEvent, now: float) -> None:
        if not isinstance(event, CallEvent):
            return
        if event.kind is Kind.ENDED:
            self._end(event.call_id)
            return
        self.calls[event.call_id] = event
        if event.phase in WAITING_PHASES:
            self.waiting_since.setdefault(event.call_id, now)
        else:
            self.waiting_since.pop(event.call_id, None)
        if event.kind in (Kind.OFFERED, Kind.CONNECTED):
            self.by_phone[event.endpoint] = event
            if event.agent:
                self.by_agent[event.agent] = event
        elif event.kind is Kind.WITHDRAWN:
            _forget(self.by_phone, event.endpoint, event.call_id)
            _forget(self.by_agent, event.agent, event.call_id)

    def _end(self, call_id: str) -> None:
        self.calls.pop(call_id, None)
        self.waiting_since.pop(call_id, None)
        for shown in (self.by_phone, self.by_agent):
            for key in [k for k, e in shown.items() if e.call_id == call_id]:
                del shown[key]

    def screen(self, agent: str, endpoints: Iterable[str]) -> CallEvent | None:
        """The call an agent's screen shows: the one they talk on, else the one
        ringing for them (by agent, or on one of their phones)."""
        shown = [self.by_agent.get(agent), *(self.by_phone.get(e) for e in endpoints)]
        found = [e for e in shown if e is not None]
        talking = [e for e in found if e.kind is Kind.CONNECTED]
        return next(iter(talking or found), None)

    def waiting(self, now: float) -> Waiting:
        since = self.waiting_since.values()
        return Waiting(len(since), max((now - s for s in since), default=0.0))

    @property
    def talking(self) -> int:
        return sum(1 for e in self.calls.values() if e.phase is Phase.CONNECTED)


def _forget(shown: dict[str, CallEvent], key: str, call_id: str) -> None:
    if key and key in shown and shown[key].call_id == call_id:
        del shown[key]


# -- what the scripts read -------------------------------------------------------------
def customer_data(customer: Customer | None) -> dict[str, object] | None:
    if customer is None:
        return None
    return {
        "id": customer.id,
        "known": customer.known,
        "name": customer.name,
        "segment": customer.segment.value,
        "language": customer.language,
        "products": list(customer.products),
        "owner": customer.owner_agent,
    }


def screen_message(event: CallEvent | None) -> dict[str, object]:
    """The call on an agent's screen, or ``{"type": "idle"}``."""
    if event is None:
        return {"type": "idle"}
    return {
        "type": "call",
        "state": TALKING if event.kind is Kind.CONNECTED else RINGING,
        "call_id": event.call_id,
        "caller": event.caller,
        "dialed": event.dialed,
        "flow": event.flow,
        "endpoint": event.endpoint,
        "path": [{"node": s.node, "key": s.key} for s in event.path],
        "customer": customer_data(event.customer),
    }


def screen_key(message: dict[str, object]) -> tuple[object, ...]:
    """What makes two screen messages the same for the agent (no need to resend)."""
    customer = message.get("customer")
    return (message["type"], message.get("call_id"), message.get("state"), repr(customer))


def wait_text(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def since_text(at: datetime | None, now: datetime) -> str:
    """'3 d ago', '5 h ago', '12 min ago' (the card's last contacts)."""
    if at is None:
        return ""
    seconds = max(0, int((now - at).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"
