"""The blocklist in PostgreSQL (migration 012): entries, and the version every
change bumps (the daemons poll it: ``live``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from .model import Entry


@dataclass(frozen=True, slots=True)
class StoredEntry:
    pattern: str
    reason: str
    added_by: str
    added_at: datetime


class BlocklistStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def version(self) -> int:
        return int(await self.pool.fetchval("SELECT version FROM blocklist_version"))

    async def entries(self) -> tuple[list[Entry], int]:
        """Every entry and the version they are, read in one transaction."""
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            version = int(await conn.fetchval("SELECT version FROM blocklist_version"))
            rows = await conn.fetch("SELECT pattern, reason FROM blocklist")
        return [Entry(r["pattern"], r["reason"]) for r in rows], version

    async def listed(self, after: str = "", limit: int = 1000) -> list[StoredEntry]:
        """Entries by pattern, ``limit`` of them after ``after`` (keyset-paged)."""
        rows = await self.pool.fetch(
            "SELECT pattern, reason, added_by, added_at FROM blocklist"
            " WHERE pattern > $1 ORDER BY pattern LIMIT $2",
            after,
            limit,
        )
        return [StoredEntry(**dict(r)) for r in rows]

    async def add(self, pattern: str, reason: str, added_by: str) -> bool:
        """Adds the entry or changes its reason; True if it is new."""
        new = await self.pool.fetchval(
            "INSERT INTO blocklist (pattern, reason, added_by) VALUES ($1, $2, $3)"
            " ON CONFLICT (pattern) DO UPDATE SET reason = EXCLUDED.reason,"
            " added_by = EXCLUDED.added_by RETURNING (xmax = 0)",
            pattern,
            reason,
            added_by,
        )
        return bool(new)

    async def remove(self, pattern: str) -> bool:
        """True if there was such an entry."""
        done = await self.pool.execute("DELETE FROM blocklist WHERE pattern = $1", pattern)
        return bool(done != "DELETE 0")
