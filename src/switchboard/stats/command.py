"""``switchboard stats``: the figures of a range of days, as tables or JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg

from switchboard import db
from switchboard.config import ConfigError, DatabaseConfig, load_config

from . import repository
from .format import format_report, report_json
from .model import DEFAULT_SERVICE_LEVEL_S, Period, Report

EXIT_USAGE = 2
EXIT_DATABASE = 1


class StatsUsageError(Exception):
    """The operator's arguments are wrong; the message is one line."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    stats = sub.add_parser(
        "stats",
        help="call statistics of a range of days: flows, queues, agents, hours (docs/stats.md)",
    )
    stats.add_argument("--config", required=True, metavar="PATH", help="daemon config (YAML)")
    stats.add_argument(
        "--from", dest="first", required=True, metavar="YYYY-MM-DD", help="the first day counted"
    )
    stats.add_argument(
        "--to",
        dest="after_last",
        required=True,
        metavar="YYYY-MM-DD",
        help="the first day NOT counted (--from 2026-11-01 --to 2026-11-02: one day)",
    )
    stats.add_argument(
        "--tz",
        default="UTC",
        metavar="ZONE",
        help="days and hours in this time zone, e.g. Europe/Moscow (default UTC)",
    )
    stats.add_argument(
        "--service-level",
        default=str(DEFAULT_SERVICE_LEVEL_S),
        metavar="SECONDS",
        help="answered within this many seconds of being offered (default 20)",
    )
    stats.add_argument("--json", action="store_true", help="print JSON instead of tables")


def parse_period(first: str, after_last: str, zone: str, service_level: str) -> Period:
    """The command's arguments as a period; StatsUsageError says what is wrong."""
    start, end = _day("--from", first), _day("--to", after_last)
    if end <= start:
        raise StatsUsageError(
            f"--to {after_last} must be after --from {first} (--to is not counted)"
        )
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise StatsUsageError(
            f"--tz {zone!r} is not a time zone (e.g. Europe/Moscow, UTC)"
        ) from None
    try:
        level = float(service_level)
    except ValueError:
        level = math.nan
    if not math.isfinite(level) or level <= 0:
        raise StatsUsageError(
            f"--service-level {service_level!r} is not a number of seconds above 0"
        )
    return Period.of_days(start, end, zone, level)


def _day(option: str, text: str) -> date:
    try:
        if len(text) == len("YYYY-MM-DD"):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise StatsUsageError(f"{option} {text!r} is not a date (YYYY-MM-DD)")


def run(args: argparse.Namespace) -> int:
    try:
        period = parse_period(args.first, args.after_last, args.tz, args.service_level)
        database = _database(args.config)
    except StatsUsageError as exc:
        print(f"switchboard: stats: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        found = asyncio.run(_report(database, period))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        print(f"switchboard: database: {exc}", file=sys.stderr)
        return EXIT_DATABASE
    except StaleSchema as exc:
        print(f"switchboard: stats: {exc}", file=sys.stderr)
        return EXIT_DATABASE
    if args.json:
        print(json.dumps(report_json(found), indent=2))
    else:
        print(format_report(found), end="")
    return 0


def _database(path: str) -> DatabaseConfig:
    try:
        config = load_config(path)
    except ConfigError as exc:
        raise StatsUsageError(str(exc)) from None
    if config.database is None:
        raise StatsUsageError(f"{path}: no database section (the call log is in PostgreSQL)")
    return config.database


class StaleSchema(Exception):
    """The database has not been upgraded to this version's call log."""


async def _report(database: DatabaseConfig, period: Period) -> Report:
    """Read-only: a schema that is not current is reported, not upgraded."""
    pool = await db.create_pool(database.url, database.schema, max_size=4)
    try:
        left = await db.pending(pool)
        if left:
            raise StaleSchema(
                f"the database schema is not current (pending: {', '.join(left)}):"
                " run switchboard db upgrade"
            )
        return await repository.report(pool, period)
    finally:
        await pool.close()
