"""What retention and erasure read and delete in PostgreSQL.

Every value is a bound parameter. Old rows are read in bounded batches, keyset-paged
by (time, id), so a first sweep over years of rows holds no lock for long and a row
that must stay (its file could not be deleted) is passed over, not read again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from switchboard.calllog import CALLBACK_VERSION

Key = tuple[datetime, str]  # (time, id): where the last batch ended
Conn = asyncpg.Pool | asyncpg.Connection | PoolConnectionProxy  # what runs a statement
OPEN = ("pending", "scheduled", "calling")  # callback requests not finished yet


@dataclass(frozen=True, slots=True)
class StoredAudio:
    """A voicemail's or a recording's row: the file it names."""

    id: str
    call_id: str
    file: str
    at: datetime  # voicemails.recorded_at, recordings.stored_at

    @property
    def key(self) -> Key:
        return (self.at, self.id)


def _audio(rows: list[asyncpg.Record]) -> list[StoredAudio]:
    return [StoredAudio(r["id"], r["call_id"], r["file"], r["at"]) for r in rows]


def _count(status: str) -> int:
    """``DELETE 12`` -> 12."""
    return int(status.rsplit(" ", 1)[-1])


# -- the sweeper ----------------------------------------------------------------------
_OLD_VOICEMAILS = """
SELECT id, call_id, file, recorded_at AS at FROM voicemails
WHERE recorded_at < $1
  AND ($2::timestamptz IS NULL OR (recorded_at, id) > ($2, $3::text))
  AND NOT id = ANY($4::text[])
  AND NOT (emailed_at IS NULL AND mailbox = ANY($5::text[]))
ORDER BY recorded_at, id
LIMIT $6
"""
_OLD_RECORDINGS = """
SELECT id, call_id, file, stored_at AS at FROM recordings
WHERE stored_at < $1
  AND ($2::timestamptz IS NULL OR (stored_at, id) > ($2, $3::text))
  AND NOT id = ANY($4::text[])
ORDER BY stored_at, id
LIMIT $5
"""
_OLD_CALLS = """
SELECT id FROM calls WHERE started_at < $1 ORDER BY started_at, id LIMIT $2
FOR UPDATE SKIP LOCKED
"""


async def old_voicemails(
    pool: asyncpg.Pool,
    before: datetime,
    after: Key | None,
    spooled: Sequence[str],
    emailing: Sequence[str],
    limit: int,
) -> list[StoredAudio]:
    """Voicemails recorded before ``before``, except those the keeper still works on
    (``spooled``) and those not yet emailed to a mailbox that emails (``emailing``)."""
    at, last = after if after is not None else (None, "")
    return _audio(
        await pool.fetch(_OLD_VOICEMAILS, before, at, last, list(spooled), list(emailing), limit)
    )


async def old_recordings(
    pool: asyncpg.Pool, before: datetime, after: Key | None, spooled: Sequence[str], limit: int
) -> list[StoredAudio]:
    """Recordings stored before ``before``, except those still in the keeper's spool."""
    at, last = after if after is not None else (None, "")
    return _audio(await pool.fetch(_OLD_RECORDINGS, before, at, last, list(spooled), limit))


async def delete_voicemails(conn: Conn, ids: Sequence[str]) -> int:
    return _count(await conn.execute("DELETE FROM voicemails WHERE id = ANY($1::text[])", ids))


async def delete_recordings(conn: Conn, gone: Sequence[StoredAudio]) -> int:
    """The rows, and the call log's links to them (a call kept longer than its
    recording no longer points at audio that is not there)."""
    ids, calls = [r.id for r in gone], [r.call_id for r in gone]
    await conn.execute(
        "UPDATE calls SET recording = NULL WHERE id = ANY($1::text[]) AND recording = ANY($2)",
        calls,
        ids,
    )
    return _count(await conn.execute("DELETE FROM recordings WHERE id = ANY($1::text[])", ids))


async def delete_old_calls(pool: asyncpg.Pool, before: datetime, limit: int) -> tuple[int, int]:
    """One batch of calls that started before ``before``, with their legs: (calls, legs)."""
    async with pool.acquire() as conn, conn.transaction():
        ids = [r["id"] for r in await conn.fetch(_OLD_CALLS, before, limit)]
        return await delete_calls(conn, ids)


async def delete_calls(conn: Conn, ids: Sequence[str]) -> tuple[int, int]:
    """The calls and their legs (in the caller's transaction): (calls, legs). The calls
    are locked first, in the sweeper's order, so an erasure and a sweep that meet on a
    call wait for each other instead of deadlocking over its legs."""
    if not ids:
        return 0, 0
    await conn.execute(
        "SELECT 1 FROM calls WHERE id = ANY($1::text[]) ORDER BY started_at, id FOR UPDATE", ids
    )
    legs = await conn.execute("DELETE FROM call_legs WHERE call_id = ANY($1::text[])", ids)
    calls = await conn.execute("DELETE FROM calls WHERE id = ANY($1::text[])", ids)
    return _count(calls), _count(legs)


# -- one caller's data ------------------------------------------------------------------
_CALLERS_CALLS = """
SELECT id FROM calls WHERE caller = ANY($1::text[])
UNION
SELECT l.call_id FROM call_legs l JOIN calls c ON c.id = l.call_id
WHERE l.target = $2 AND l.target LIKE '+%' AND c.flow_version = $3
"""


@dataclass(frozen=True, slots=True)
class CallersData:
    """One number's rows: its calls (and callback calls to it), and what they left."""

    calls: Mapping[str, int]  # call id -> how many legs
    recordings: tuple[StoredAudio, ...]
    voicemails: tuple[StoredAudio, ...]
    callbacks: tuple[str, ...]  # finished queue callback requests
    web_callbacks: tuple[str, ...]  # finished web callback requests
    open_callbacks: int  # requests of either kind not finished (the daemon works on them)
    customer: int | None  # the CRM's customer with this phone


async def callers_data(pool: asyncpg.Pool, forms: Sequence[str], e164: str) -> CallersData:
    """``forms``: the caller IDs that mean ``e164`` (policy.caller_forms)."""
    async with pool.acquire() as conn, conn.transaction(readonly=True, isolation="repeatable_read"):
        calls = [
            r["id"] for r in await conn.fetch(_CALLERS_CALLS, list(forms), e164, CALLBACK_VERSION)
        ]
        legs = await conn.fetch(
            "SELECT call_id, count(*) AS n FROM call_legs WHERE call_id = ANY($1::text[])"
            " GROUP BY call_id",
            calls,
        )
        recordings = await conn.fetch(
            "SELECT id, call_id, file, stored_at AS at FROM recordings"
            " WHERE call_id = ANY($1::text[]) ORDER BY id",
            calls,
        )
        voicemails = await conn.fetch(
            "SELECT id, call_id, file, recorded_at AS at FROM voicemails"
            " WHERE caller = ANY($1::text[]) OR call_id = ANY($2::text[]) ORDER BY id",
            list(forms),
            calls,
        )
        queued = await conn.fetch("SELECT id, status FROM callbacks WHERE number = $1", e164)
        web = await conn.fetch("SELECT id, status FROM web_callbacks WHERE number = $1", e164)
        customer = await conn.fetchval(
            "SELECT customer FROM customer_phones WHERE phone = $1", e164
        )
    counted = {r["call_id"]: int(r["n"]) for r in legs}
    return CallersData(
        calls={c: counted.get(c, 0) for c in sorted(calls)},
        recordings=tuple(_audio(recordings)),
        voicemails=tuple(_audio(voicemails)),
        callbacks=tuple(r["id"] for r in queued if r["status"] not in OPEN),
        web_callbacks=tuple(r["id"] for r in web if r["status"] not in OPEN),
        open_callbacks=sum(r["status"] in OPEN for r in [*queued, *web]),
        customer=customer,
    )


@dataclass(frozen=True, slots=True)
class Doomed:
    """What an erasure deletes: the rows whose files (if any) are gone."""

    calls: tuple[str, ...] = ()
    recordings: tuple[StoredAudio, ...] = ()
    voicemails: tuple[StoredAudio, ...] = ()
    callbacks: tuple[str, ...] = ()
    web_callbacks: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Deleted:
    calls: int = 0
    call_legs: int = 0
    recordings: int = 0
    voicemails: int = 0
    callbacks: int = 0
    web_callbacks: int = 0


async def delete_callers_data(pool: asyncpg.Pool, doomed: Doomed) -> Deleted:
    """All of it in one transaction."""
    async with pool.acquire() as conn, conn.transaction():
        calls, legs = await delete_calls(conn, doomed.calls)
        recordings = await delete_recordings(conn, doomed.recordings)
        voicemails = await delete_voicemails(conn, [v.id for v in doomed.voicemails])
        queued = await conn.execute("DELETE FROM callbacks WHERE id = ANY($1::text[])",
                                    doomed.callbacks)  # fmt: skip
        web = await conn.execute("DELETE FROM web_callbacks WHERE id = ANY($1::text[])",
                                 doomed.web_callbacks)  # fmt: skip
    return Deleted(calls, legs, recordings, voicemails, _count(queued), _count(web))
