"""``switchboard block add|remove|list``: the blocklist in the daemon's database.
A running daemon reads a change within ``live.REFRESH_S`` (docs/flows.md)."""

from __future__ import annotations

import argparse
import asyncio
import sys

import asyncpg

from switchboard.config import Config

from .model import BadPattern, read_pattern, read_reason
from .store import BlocklistStore

EXIT_USAGE = 2


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    block = sub.add_parser(
        "block",
        help="the blocklist: add or remove a number or a prefix (+7495*), or list them "
        "(a flow's blocklist: section says where blocked callers go)",
    )
    block.add_argument("action", choices=["add", "remove", "list"])
    block.add_argument(
        "pattern", nargs="?", metavar="PATTERN", help="+79161234567, 8 916 123-45-67 or +7495*"
    )
    block.add_argument("--reason", default="", metavar="TEXT", help="why (add only)")
    block.add_argument("--config", required=True, metavar="PATH", help="daemon config (YAML)")


def run(args: argparse.Namespace, config: Config) -> int:
    if (args.action == "list") != (args.pattern is None):
        need = "takes no PATTERN" if args.action == "list" else "needs a PATTERN"
        print(f"switchboard: block {args.action} {need}", file=sys.stderr)
        return EXIT_USAGE
    if args.reason and args.action != "add":
        print("switchboard: block: --reason goes with add only", file=sys.stderr)
        return EXIT_USAGE
    try:
        pattern = read_pattern(args.pattern) if args.pattern is not None else ""
        reason = read_reason(args.reason)
    except BadPattern as exc:
        print(f"switchboard: block: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return asyncio.run(_run(config, args.action, pattern, reason))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        print(f"switchboard: database: {exc}", file=sys.stderr)
        return 1


async def _run(config: Config, action: str, pattern: str, reason: str) -> int:
    from switchboard import db

    assert config.database is not None
    pool = await db.create_pool(config.database.url, config.database.schema, max_size=1)
    try:
        await db.upgrade(pool)
        store = BlocklistStore(pool)
        if action == "add":
            new = await store.add(pattern, reason, "cli")
            print(f"{pattern}: blocked" + ("" if new else " (already; reason updated)"))
        elif action == "remove":
            if not await store.remove(pattern):
                print(f"switchboard: block: {pattern} is not on the blocklist", file=sys.stderr)
                return EXIT_USAGE
            print(f"{pattern}: removed")
        else:
            after = ""
            while rows := await store.listed(after, 1000):
                for row in rows:
                    when = row.added_at.strftime("%Y-%m-%d %H:%M")
                    print(f"{row.pattern}\t{when}\t{row.added_by}\t{row.reason}")
                after = rows[-1].pattern
        return 0
    finally:
        await pool.close()
