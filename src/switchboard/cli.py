"""Command line: ``switchboard run --config PATH`` (and, later, check, trace ...)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

from switchboard import __version__, logs
from switchboard.config import Config, ConfigError, load_config

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="switchboard",
        description="Contact-center call router for Asterisk (ARI application).",
    )
    parser.add_argument("--version", action="version", version=f"switchboard {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run the daemon (owns the Stasis application)")
    run.add_argument("--config", required=True, metavar="PATH", help="daemon config (YAML)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run":
        return _run(args.config)
    return EXIT_USAGE  # pragma: no cover - argparse rejects unknown commands


def _run(path: str) -> int:
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(f"switchboard: {exc}", file=sys.stderr)
        return EXIT_USAGE
    logs.configure(config.daemon.log_level)
    return asyncio.run(_serve(config))


async def _serve(config: Config) -> int:
    from switchboard.app import run_daemon

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return await run_daemon(config, stop)


if __name__ == "__main__":
    sys.exit(main())
