"""PostgreSQL: the connection pool and the schema migrations.

Every table lives in one schema (``database.schema``, default ``switchboard``),
selected with ``search_path`` on each connection, so tests can use a schema of
their own. Migrations are the numbered ``migrations/NNN_name.sql`` files, applied
in order, each in its own transaction, under an advisory lock so two daemons
starting together do not race; ``schema_migrations`` records what ran.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from importlib import resources

import asyncpg

log = logging.getLogger("switchboard.db")
# What a database that is down, restarting or refusing raises: callers retry later.
DB_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)
# Any constant: serializes migrations across daemons sharing a database.
MIGRATION_LOCK = 0x5B0A_2D00_0001


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    found = []
    for entry in resources.files("switchboard.db").joinpath("migrations").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            found.append(Migration(int(name[:3]), name[:-4], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


async def create_pool(
    url: str, schema: str, *, max_size: int = 10, settings: dict[str, str] | None = None
) -> asyncpg.Pool:
    """A pool whose connections see ``schema`` first. The schema is created if missing.
    ``settings``: more server settings for its connections."""
    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(
        url,
        min_size=1,
        max_size=max_size,
        timeout=10,
        command_timeout=10,
        server_settings={"search_path": schema, **(settings or {})},
    )
    assert pool is not None
    return pool


async def upgrade(pool: asyncpg.Pool) -> list[str]:
    """Apply the migrations not yet applied; returns their names (idempotent)."""
    applied: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for migration in migrations():
                if migration.version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        migration.version,
                        migration.name,
                    )
                log.info("db.migrated", extra={"migration": migration.name})
                applied.append(migration.name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
    return applied


async def pending(pool: asyncpg.Pool) -> list[str]:
    """Migrations not applied yet (for health checks)."""
    async with pool.acquire() as conn:
        exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
        done = (
            {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            if exists
            else set()
        )
    return [m.name for m in migrations() if m.version not in done]


class Database:
    """The pool, made on first use (a database that is down when the daemon starts
    must not stop calls), with the schema brought up to date once."""

    def __init__(self, url: str, schema: str, settings: dict[str, str] | None = None) -> None:
        self.url = url
        self.schema = schema
        self.settings = settings
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()

    async def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._lock:
                if self._pool is None:
                    pool = await create_pool(self.url, self.schema, settings=self.settings)
                    try:
                        await upgrade(pool)
                    except BaseException:
                        await pool.close()
                        raise
                    self._pool = pool
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
