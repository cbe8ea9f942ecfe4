"""Command line: ``switchboard run|check|trace|db|import|agent|block|stats|doctor|erase``."""

from __future__ import annotations

import argparse
import asyncio
import difflib
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import asyncpg

from switchboard import __version__, logs, trace
from switchboard.ari.client import AriClient, AriError
from switchboard.blocklist import command as block_command
from switchboard.config import Config, ConfigError, DatabaseConfig, load_config
from switchboard.crm import (
    AgentFile,
    Customer,
    RejectedImport,
    read_agents_csv,
    read_agents_yaml,
    read_customers,
    store,
)
from switchboard.flows import FlowError, FlowSet, PromptCatalog, compile_files
from switchboard.flows.model import AgentRoute, Queue, records
from switchboard.flows.registry import FlowRegistry
from switchboard.retention import command as erase_command
from switchboard.routing import agents_store
from switchboard.routing.repository import AGENT_ACTIONS, AgentRepository
from switchboard.stats import command as stats_command

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
    check = sub.add_parser("check", help="validate flow files (exit 2 on errors)")
    check.add_argument("files", nargs="+", metavar="FLOWFILE")
    check.add_argument(
        "--prompts",
        default="prompts",
        metavar="DIR",
        help="prompt sources, DIR/<lang>/<name>.txt (default: prompts)",
    )
    check.add_argument(
        "--live",
        metavar="CONFIG",
        help="also ask the Asterisk of this daemon config whether every endpoint and "
        "trunk the flows ring exists",
    )
    db = sub.add_parser("db", help="database schema: upgrade (idempotent) or status")
    db.add_argument("action", choices=["upgrade", "status"])
    db.add_argument("--config", required=True, metavar="PATH", help="daemon config (YAML)")
    imports = sub.add_parser(
        "import",
        help="import customers (CSV) or agents (YAML or CSV) into the database: "
        "all rows or none (exit 2 on errors); formats in docs/crm.md",
    )
    imports.add_argument("kind", choices=["customers", "agents"])
    imports.add_argument(
        "file", metavar="FILE", help="customers: a CSV file; agents: .yaml, .yml or .csv"
    )
    imports.add_argument("--config", required=True, metavar="PATH", help="daemon config (YAML)")
    agent = sub.add_parser(
        "agent",
        help="log an agent in or out, pause or unpause them (exit 2 for an unknown agent)",
    )
    agent.add_argument("action", choices=list(AGENT_ACTIONS))
    agent.add_argument("agent_id", metavar="AGENT_ID")
    agent.add_argument("--reason", default="", metavar="TEXT", help="why (pause only)")
    agent.add_argument("--config", required=True, metavar="PATH", help="daemon config (YAML)")
    doctor = sub.add_parser(
        "doctor",
        help="check a live setup: ARI, the app registered, dialplan, endpoints, database "
        "(exit 1 if anything fails)",
    )
    doctor.add_argument("--config", required=True, metavar="PATH", help="daemon config (YAML)")
    doctor.add_argument(
        "--timeout", type=float, default=5.0, metavar="SECONDS", help="per request (default 5)"
    )
    trace = sub.add_parser("trace", help="print a call's path from the daemon's JSON log")
    trace.add_argument("call_id", nargs="?", help="call id (default: list the calls in the log)")
    trace.add_argument("--log", required=True, metavar="FILE", help="the daemon's log file")
    block_command.add_parser(sub)
    stats_command.add_parser(sub)
    erase_command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run":
        return _run(args.config)
    if args.command == "check":
        return _check(args.files, args.prompts, args.live)
    if args.command == "trace":
        return _trace(args.log, args.call_id)
    if args.command == "db":
        return _db(args.action, args.config)
    if args.command == "import":
        return _import(args.kind, args.file, args.config)
    if args.command == "agent":
        return _agent(args.action, args.agent_id, args.reason, args.config)
    if args.command == "stats":
        return stats_command.run(args)
    if args.command == "block":
        config = _config_with_database(args.config)
        return block_command.run(args, config) if config is not None else EXIT_USAGE
    if args.command == "erase":
        config = _config_with_database(args.config)
        return erase_command.run(args, config) if config is not None else EXIT_USAGE
    if args.command == "doctor":
        from switchboard import doctor

        return doctor.main(args.config, args.timeout)
    return EXIT_USAGE  # pragma: no cover - argparse rejects unknown commands


def _run(path: str) -> int:
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(f"switchboard: {exc}", file=sys.stderr)
        return EXIT_USAGE
    logs.configure(config.daemon.log_level)
    try:
        flows = FlowRegistry(list(config.flows.files), config.flows.prompts)
    except FlowError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(
            f"switchboard: not starting: {len(exc.errors)} error(s) in the flows",
            file=sys.stderr,
        )
        return EXIT_USAGE
    unmet = unmet_needs(flows.current, config)
    for line in unmet:
        print(line, file=sys.stderr)
    if unmet:
        print(
            f"switchboard: not starting: {path}: the flows need config sections it lacks"
            " (deploy/switchboard.example.yaml documents them)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return asyncio.run(_serve(config, flows))


def unmet_needs(flows: FlowSet, config: Config) -> list[str]:
    """``file:line:col: ...`` for every node that needs a config section there is not:
    recording calls needs ``recording:`` (where they are kept); a queue's callback key
    needs ``dial_policy:`` (which numbers may be called back)."""
    lines = []
    for flow in flows.flows:
        for node in flow.nodes.values():
            if config.recording is None and records(node.kind):
                lines.append(
                    f"{node.pos}: node {node.id!r} records the calls it connects, but the"
                    " config has no recording: section (where recordings are kept)"
                )
            if (
                config.dial_policy is None
                and isinstance(node.kind, Queue)
                and node.kind.callback_key
            ):
                lines.append(
                    f"{node.pos}: node {node.id!r} offers callbacks, but the config has no"
                    " dial_policy: section (which numbers may be called back)"
                )
    return lines


def _check(files: list[str], prompts: str, live: str | None) -> int:
    try:
        flows, warnings = compile_files(files, PromptCatalog.scan(prompts))
    except FlowError as exc:
        for problem in exc.problems:
            print(problem)
        print(f"{len(exc.errors)} error(s)")
        return EXIT_USAGE
    for warning in warnings:
        print(warning)
    if live is not None:
        try:
            config = load_config(live)
            missing = asyncio.run(_missing_endpoints(flows, config))
            if config.database is not None:
                missing += asyncio.run(_missing_in_database(flows, config.database))
        except (ConfigError, AriError) as exc:
            print(f"switchboard: --live: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            print(f"switchboard: --live: database: {exc}", file=sys.stderr)
            return EXIT_USAGE
        for line in missing:
            print(line)
        if missing:
            print(f"{len(missing)} error(s)")
            return EXIT_USAGE
    numbers = sum(len(f.entry) for f in flows.flows)
    nodes = sum(len(f.nodes) for f in flows.flows)
    languages = ",".join(dict.fromkeys(lang for f in flows.flows for lang in f.languages))
    plural = "s" if len(flows.flows) != 1 else ""
    numbers_plural = "s" if numbers != 1 else ""
    print(
        f"ok: {len(flows.flows)} file{plural}, {numbers} number{numbers_plural}, {nodes} nodes, "
        f"languages {languages}, version {flows.version}"
    )
    return 0


async def _missing_endpoints(flows: FlowSet, config: Config) -> list[str]:
    """``file:line:col: ...`` for every endpoint a flow rings that Asterisk does not have."""
    import aiohttp

    from switchboard.daemon.targets import endpoint_name
    from switchboard.doctor import unknown_endpoints

    ari = config.ari
    async with aiohttp.ClientSession() as session:
        client = AriClient(session, ari.url, ari.username, ari.password)
        known = {endpoint_name(e) for e in await client.list_endpoints()}
    return unknown_endpoints(flows, known)


async def _missing_in_database(flows: FlowSet, database: DatabaseConfig) -> list[str]:
    """``file:line:col: ...`` for every skill, language or site an agents route needs
    that no agent in the database has (the route could only ever take on_fail)."""
    conn = await asyncpg.connect(
        database.url, timeout=10, server_settings={"search_path": database.schema}
    )
    try:
        skills, languages, sites = await agents_store.vocabulary(conn)
    finally:
        await conn.close()
    lines = []
    fix = "switchboard import agents (docs/crm.md)"
    for flow in flows.flows:
        for node in flow.nodes.values():
            agents = node.kind.agents if isinstance(node.kind, AgentRoute) else None
            if agents is None:
                continue
            where = f"{node.pos}: node {node.id!r}"
            for skill, _ in agents.skills:
                if skill not in skills:
                    lines.append(f"{where}: no agent in the database has skill {skill!r} ({fix})")
            if agents.language and agents.language not in languages:
                lines.append(
                    f"{where}: no agent in the database speaks {agents.language!r} ({fix})"
                )
            if agents.site and agents.site not in sites:
                hint = difflib.get_close_matches(agents.site, sorted(sites), n=1)
                also = f"did you mean {hint[0]!r}?" if hint else fix
                lines.append(f"{where}: site {agents.site!r} is not in the database ({also})")
    return lines


def _config_with_database(path: str) -> Config | None:
    """The config, if it loads and has a database section; else says why (None)."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(f"switchboard: {exc}", file=sys.stderr)
        return None
    if config.database is None:
        print(f"switchboard: {path}: no database section", file=sys.stderr)
        return None
    return config


def _db(action: str, path: str) -> int:
    config = _config_with_database(path)
    if config is None or config.database is None:
        return EXIT_USAGE
    try:
        return asyncio.run(_db_action(action, config.database.url, config.database.schema))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        print(f"switchboard: database: {exc}", file=sys.stderr)
        return 1


async def _db_action(action: str, url: str, schema: str) -> int:
    from switchboard import db

    pool = await db.create_pool(url, schema, max_size=1)
    try:
        if action == "upgrade":
            applied = await db.upgrade(pool)
            print(f"applied: {', '.join(applied)}" if applied else "schema is current")
            return 0
        left = await db.pending(pool)
        print(f"pending: {', '.join(left)}" if left else "schema is current")
        return 1 if left else 0
    finally:
        await pool.close()


AGENT_SUFFIXES = (".yaml", ".yml", ".csv")


class _Unreadable(Exception):
    """The import file cannot be opened or read (as opposed to the database)."""


def _import(kind: str, path: str, config_path: str) -> int:
    config = _config_with_database(config_path)
    if config is None or config.database is None:
        return EXIT_USAGE
    if kind == "agents" and Path(path).suffix.lower() not in AGENT_SUFFIXES:
        print(f"switchboard: {path}: an agents file is .yaml, .yml or .csv", file=sys.stderr)
        return EXIT_USAGE
    try:
        rows = _read_import(kind, path)
        summary = asyncio.run(_store_import(path, rows, config.database))
    except RejectedImport as exc:
        for problem in exc.problems:
            print(problem)
        print(f"{len(exc.problems)} error(s); nothing imported")
        return EXIT_USAGE
    except _Unreadable as exc:
        print(f"switchboard: {path}: cannot read: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        print(f"switchboard: database: {exc}", file=sys.stderr)
        return 1
    print(summary)
    return 0


def _read_import(kind: str, path: str) -> list[Customer] | AgentFile:
    try:
        with open(path, "rb") as source:
            if kind == "customers":
                return read_customers(path, source)
            if Path(path).suffix.lower() == ".csv":
                return read_agents_csv(path, source)
            return read_agents_yaml(path, source.read())
    except OSError as exc:
        raise _Unreadable(exc.strerror or str(exc)) from exc


async def _store_import(
    path: str, rows: list[Customer] | AgentFile, database: DatabaseConfig
) -> store.CustomersImported | store.AgentsImported:
    """Brings the schema up to date (as the daemon does), then imports in one transaction."""
    from switchboard import db

    pool = await db.create_pool(database.url, database.schema, max_size=1)
    try:
        await db.upgrade(pool)
    finally:
        await pool.close()
    conn = await store.connect(database.url, database.schema)
    try:
        if isinstance(rows, AgentFile):
            return await store.import_agents(conn, path, rows)
        return await store.import_customers(conn, path, rows)
    finally:
        await conn.close()


def _agent(action: str, agent_id: str, reason: str, config_path: str) -> int:
    if reason and action != "pause":
        print("switchboard: agent: --reason goes with pause only", file=sys.stderr)
        return EXIT_USAGE
    config = _config_with_database(config_path)
    if config is None or config.database is None:
        return EXIT_USAGE
    state = AGENT_ACTIONS[action]
    try:
        before = asyncio.run(_set_agent_state(config.database, agent_id, state, reason))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        print(f"switchboard: database: {exc}", file=sys.stderr)
        return 1
    if before is None:
        print(f"switchboard: agent: no agent {agent_id!r} in the database", file=sys.stderr)
        return EXIT_USAGE
    now = f"{state}: {reason}" if reason else state
    print(f"{agent_id}: {now} (was {before})")
    return 0


async def _set_agent_state(
    database: DatabaseConfig, agent_id: str, state: str, reason: str
) -> str | None:
    """Brings the schema up to date (as the daemon does), then sets the state."""
    from switchboard import db

    pool = await db.create_pool(database.url, database.schema, max_size=1)
    try:
        await db.upgrade(pool)
        return await AgentRepository(pool, "cli").set_state(agent_id, state, reason)
    finally:
        await pool.close()


def _trace(log_path: str, call_id: str | None) -> int:
    try:
        with open(log_path, encoding="utf-8", errors="replace") as log:
            records = list(trace.read_log(log))
    except OSError as exc:
        print(f"switchboard: {log_path}: cannot read log: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    if call_id is None:
        print("\n".join(trace.call_ids(records)))
        return 0
    lines = trace.format_call(records, call_id)
    if not lines:
        print(f"switchboard: no call {call_id} in {log_path}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


async def _serve(config: Config, flows: FlowRegistry) -> int:
    from switchboard.app import run_daemon

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, flows.request_reload)
    return await run_daemon(config, flows, stop)


if __name__ == "__main__":
    sys.exit(main())
