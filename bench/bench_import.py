"""Benchmark: importing a generated customers CSV (``switchboard import customers``).

Writes N customers (every column filled, one phone in three has a second one) to a
temporary file, then times the two halves separately against a fresh schema of the
PostgreSQL at DATABASE_URL: reading and validating the file (pure Python), and the
one transaction that checks and writes it (COPY). The schema is dropped afterwards.

    .venv/bin/python bench/bench_import.py --rows 100000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from switchboard import db
from switchboard.crm import Customer, read_agents_yaml, read_customers, store
from tests.pgkit import DATABASE_URL, fresh_schema

HEADER = (
    "name,phones,segment,language,products,owner_agent,lifetime_value,churn_score,"
    "first_contact,last_contact,notes\n"
)
AGENTS = b"""
sites: {msk: {name: Moscow, zone: Europe/Moscow}}
agents: [{id: a101, name: Anna, site: msk, endpoints: [PJSIP/101]}]
"""
SEGMENTS = ("vip", "regular", "new", "occasional")


def write_customers(path: Path, rows: int) -> None:
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write(HEADER)
        for i in range(rows):
            phones = f"8 (9{i:09d})" if i % 3 else f"+7 9{i:09d};+3736{i:07d}"
            out.write(
                f'"Customer {i}, Ltd",{phones},{SEGMENTS[i % 4]},ru,mortgage;card,'
                f"{'a101' if i % 10 == 0 else ''},{i % 100000}.50,0.{i % 10},"
                f"2025-01-{1 + i % 28:02d},2026-01-31T10:00:00+03:00,called about the card\n"
            )


def read_file(path: Path) -> tuple[list[Customer], float]:
    start = time.perf_counter()
    with open(path, "rb") as source:
        customers = read_customers(str(path), source)
    return customers, time.perf_counter() - start


async def write(file: str, customers: list[Customer]) -> tuple[store.CustomersImported, float]:
    async with fresh_schema("bench") as schema:
        pool = await db.create_pool(DATABASE_URL, schema, max_size=1)
        try:
            await db.upgrade(pool)
        finally:
            await pool.close()
        conn = await store.connect(DATABASE_URL, schema)
        try:
            await store.import_agents(conn, "agents.yaml", read_agents_yaml("agents.yaml", AGENTS))
            start = time.perf_counter()
            result = await store.import_customers(conn, file, customers)
            return result, time.perf_counter() - start
        finally:
            await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "customers.csv"
        write_customers(path, args.rows)
        print(f"{args.rows} rows, {path.stat().st_size / 1e6:.1f} MB")
        customers, read = read_file(path)
        result, written = asyncio.run(write(str(path), customers))
    print(f"{result}: read and validated in {read:.2f} s, written in {written:.2f} s")
    print(f"total {read + written:.2f} s, {len(customers) / (read + written):,.0f} customers/s")


if __name__ == "__main__":
    main()
