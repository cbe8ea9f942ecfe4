"""What must outlive the process, and what runs on its own schedule.

``periodic`` runs a tick loop (one shape for every worker that wakes on a timer).
"""

from switchboard.durable.periodic import periodic

__all__ = ["periodic"]
