"""``switchboard erase --number N --config FILE [--dry-run]``: one caller's data."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys

from switchboard import logs
from switchboard.config import Config
from switchboard.db import DB_ERRORS, Database
from switchboard.numbers import BadNumber

from .erase import CallerEraser, Erasure

EXIT_INCOMPLETE = 1  # something is left (or the database is away): erase again later
EXIT_USAGE = 2


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    erase = sub.add_parser(
        "erase",
        help="erase one caller's data on request (privacy law): their calls, recordings, "
        "voicemails and callback requests (docs/deploy.md); exit 1 if something is left",
    )
    erase.add_argument(
        "--number", required=True, metavar="NUMBER", help="e.g. +79161234567 or 8 916 123-45-67"
    )
    erase.add_argument("--config", required=True, metavar="PATH", help="daemon config (YAML)")
    erase.add_argument(
        "--dry-run", action="store_true", help="count what would be erased; erase nothing"
    )


def run(args: argparse.Namespace, config: Config) -> int:
    """``config`` has a database section (the CLI checked it, as for its other commands)."""
    if not logging.getLogger().handlers:  # the audit line (a test runner catches it itself)
        logs.configure("info")
    try:
        erasure = asyncio.run(_erase(config, args.number, args.dry_run))
    except BadNumber as exc:
        print(f"switchboard: erase: --number: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DB_ERRORS as exc:
        print(f"switchboard: database: {exc}", file=sys.stderr)
        return EXIT_INCOMPLETE
    print("\n".join(describe(erasure)))
    return 0 if erasure.complete else EXIT_INCOMPLETE


async def _erase(config: Config, number: str, dry_run: bool) -> Erasure:
    assert config.database is not None
    database = Database(config.database.url, config.database.schema)
    try:
        eraser = CallerEraser.of(config, database)
        return await eraser.erase(number, by=operator(), via="cli", dry_run=dry_run)
    finally:
        await database.close()


def operator() -> str:
    """Who runs the command: the login name, and who became it through sudo."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no such user in the password database
        user = f"uid {os.getuid()}"
    sudo = os.environ.get("SUDO_USER")
    return f"{sudo} (sudo as {user})" if sudo and sudo != user else user


def _counted(count: int, one: str, many: str = "") -> str:
    return f"{count} {one if count == 1 else many or one + 's'}"


def describe(erasure: Erasure) -> list[str]:
    """The command's report, for a person."""
    d = erasure.deleted
    verb = "would erase" if erasure.dry_run else "erased"
    lines = [
        f"{erasure.number}: {verb} {_counted(d.calls, 'call')} ({_counted(d.call_legs, 'leg')}),"
        f" {_counted(d.recordings, 'recording')}, {_counted(d.voicemails, 'voicemail')},"
        f" {_counted(d.callbacks, 'queue callback')}, {_counted(d.web_callbacks, 'web callback')};"
        f" {_counted(erasure.files, 'file')} {'to delete' if erasure.dry_run else 'deleted'}"
    ]
    if erasure.files_kept:
        lines.append(f"kept: {_counted(erasure.files_kept, 'file')} that cannot be deleted, "
                     "and their rows (the log says why)")  # fmt: skip
    if erasure.open_callbacks:
        lines.append(f"kept: {_counted(erasure.open_callbacks, 'callback request')} not finished"
                     " (the daemon is calling)")  # fmt: skip
    spooled = [_counted(n, kind.rstrip("s").replace("_", " ")) for kind, n in
               erasure.spooled.counts().items() if n]  # fmt: skip
    if spooled:
        lines.append(
            f"kept: still in the daemon's spools, not in PostgreSQL yet: {', '.join(spooled)}"
        )
    if not erasure.complete:
        lines.append("erase again once the daemon has finished with them")
    if erasure.crm_customer is not None:
        lines.append(f"not erased: the CRM's customer {erasure.crm_customer} with this number"
                     " (the company's record: docs/deploy.md)")  # fmt: skip
    return lines
