"""The blocklist the daemon matches callers against, read again live.

``run()`` polls the store's version every ``interval`` seconds and reads the whole
list only when it changed (a change by ``switchboard block`` on any host shows
within one interval; the API's own changes call ``refresh()`` at once). While the
database is away the last list read stays in force: a caller is never refused
because PostgreSQL is down, and a blocked number stays blocked.
"""

from __future__ import annotations

import logging

from switchboard.db import DB_ERRORS, Database
from switchboard.durable.periodic import periodic

from .model import BlockSet
from .store import BlocklistStore

log = logging.getLogger("switchboard.blocklist")
REFRESH_S = 2.0


class LiveBlocklist:
    def __init__(self, database: Database | None, interval: float = REFRESH_S) -> None:
        self.database = database
        self.interval = interval
        self.current = BlockSet()
        self._failing = False
        self._loaded = False

    async def refresh(self) -> bool:
        """Read the list if its version changed; False if the database failed (the
        list in force is kept)."""
        if self.database is None:
            return True
        try:
            store = BlocklistStore(await self.database.pool())
            if self._loaded and await store.version() == self.current.version:
                return True
            entries, version = await store.entries()
        except DB_ERRORS as exc:
            if not self._failing:
                log.warning("blocklist.read_failed", extra={
                    "error": repr(exc), "entries_kept": len(self.current)})  # fmt: skip
            self._failing = True
            return False
        if self._failing:
            log.info("blocklist.read_again", extra={"entries": len(entries)})
        self._failing = False
        if version != self.current.version or not self._loaded:
            self._loaded = True
            self.current = BlockSet.of(entries, version)
            log.info("blocklist.loaded", extra={"entries": len(self.current), "version": version})
        return True

    async def run(self) -> None:
        await periodic("blocklist", self.interval, self.refresh, first_after=0, logger=log)
