"""Queue callbacks: a caller leaves the queue keeping their place, an agent calls back.

``model`` is the request (``Callback``) and its limits; ``store`` makes it durable
(a spool on local disk, then PostgreSQL).
"""

from .model import MAX_ATTEMPTS, WEB_QUEUE, Callback, next_attempt
from .store import CallbackStore

__all__ = ["MAX_ATTEMPTS", "WEB_QUEUE", "Callback", "CallbackStore", "next_attempt"]
