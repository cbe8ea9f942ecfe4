"""The running daemon: a supervisor of call tasks over the ARI adapters."""

from .supervisor import Supervisor

__all__ = ["Supervisor"]
