"""What must outlive the process, and what runs on its own schedule.

``Spool`` keeps items as fsync'd files and sets aside those it cannot read;
``Outbox`` is a spool and the worker that delivers its items (``Retry`` in a while,
``Rejected`` set aside), waiting as ``Backoff`` says; ``periodic`` runs a tick loop
(one shape for every worker that wakes on a timer).
"""

from switchboard.durable.backoff import MAX_BACKOFF_S, Backoff
from switchboard.durable.outbox import Outbox, Rejected, Retry, nothing, wake_loop
from switchboard.durable.periodic import periodic
from switchboard.durable.spool import Spool, write_atomically

__all__ = [
    "MAX_BACKOFF_S",
    "Backoff",
    "Outbox",
    "Rejected",
    "Retry",
    "Spool",
    "nothing",
    "periodic",
    "wake_loop",
    "write_atomically",
]
