"""The blocklist: numbers and prefixes a flow sends to a node of its own
(``blocklist:`` in the flow; entries managed by ``switchboard block`` and the API,
kept in PostgreSQL, read again live). See docs/flows.md."""

from .live import LiveBlocklist
from .model import ANONYMOUS, BadPattern, BlockSet, Entry, is_anonymous, read_pattern
from .store import BlocklistStore

__all__ = [
    "ANONYMOUS",
    "BadPattern",
    "BlockSet",
    "BlocklistStore",
    "Entry",
    "LiveBlocklist",
    "is_anonymous",
    "read_pattern",
]
