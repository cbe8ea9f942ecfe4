"""Retention and erasure: how long calls, voicemails and recordings are kept
(``keep_days``: the daemon's sweeper deletes what is older), and erasing one
caller's data on request (``switchboard erase``, ``POST /privacy/erase``).

``policy`` is pure (cutoffs, the forms a number is stored in, masking); ``store``
holds the SQL; ``audio`` deletes files; ``spools`` reads what is not in PostgreSQL
yet; ``sweeper`` and ``erase`` put them together; ``command`` is the CLI.
"""

from .erase import CallerEraser, Erasure
from .sweeper import Sweeper, Swept, build_sweeper

__all__ = ["CallerEraser", "Erasure", "Sweeper", "Swept", "build_sweeper"]
