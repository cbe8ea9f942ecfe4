"""``switchboard doctor``: checks a live setup and says what is wrong and what to do.

Each check is a small function that returns a frozen :class:`Finding` (OK, FAIL
with a fix, or SKIP when an earlier failure makes it meaningless). The checks
that talk to Asterisk or PostgreSQL do the I/O and hand what they saw to a pure
function that judges it, so the judgement is tested without a network.

How the dialplan is checked: ARI has no dialplan resource, and
``GET /asterisk/variable`` reads variables only (a function such as
``DIALPLAN_EXISTS()`` there yields ""; checked on Asterisk 22). A channel
variable read does evaluate functions, so the doctor connects as its own ARI
application (``<app>-doctor``, never the daemon's), creates a Local channel that
is never dialled (``POST /channels/create``: no call, no dialplan runs), reads
``DIALPLAN_EXISTS(context)`` on it for each context and deletes it.
"""

from __future__ import annotations

import asyncio
import difflib
import enum
import errno
import ssl
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import aiohttp
import asyncpg
from yarl import URL

from switchboard import db
from switchboard.ari.client import AriClient, AriError, AriUnavailable, basic_auth_header, segment
from switchboard.config import AriConfig, Config, ConfigError, DatabaseConfig, load_config
from switchboard.daemon.targets import endpoint_name
from switchboard.flows import FlowError, FlowSet, PromptCatalog, compile_files

# The contexts of dialplan/extensions_switchboard.conf the daemon and its fallback rely on.
CONTEXTS = (
    "switchboard-inbound",
    "switchboard-stasis",
    "switchboard-fallback",
    "switchboard-voicemail",
)
# The [globals] the shipped dialplan reads (dialplan/README.md).
GLOBALS = (
    "SWITCHBOARD_APP",
    "SWITCHBOARD_FALLBACK_GROUP",
    "SWITCHBOARD_FALLBACK_RING_SECONDS",
    "SWITCHBOARD_FALLBACK_MAILBOX",
)
PROBE_SUFFIX = "-doctor"  # the doctor's own ARI application: <app>-doctor
PROBE_ENDPOINT = "Local/doctor@switchboard-doctor"  # created, never dialled
DEFAULT_TIMEOUT = 5.0


class Verdict(enum.Enum):
    OK = "OK"
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclass(frozen=True, slots=True)
class Finding:
    check: str  # what was checked: "ARI", "ARI app", "dialplan", ...
    verdict: Verdict
    found: str  # what the doctor saw
    fix: str = ""  # what the operator should do (FAIL and SKIP)


def ok(check: str, found: str) -> Finding:
    return Finding(check, Verdict.OK, found)


def fail(check: str, found: str, fix: str) -> Finding:
    return Finding(check, Verdict.FAIL, found, fix)


def skip(check: str, found: str, fix: str = "") -> Finding:
    return Finding(check, Verdict.SKIP, found, fix)


# -- the report ------------------------------------------------------------------------


def render(findings: Sequence[Finding]) -> list[str]:
    """One line per check (``FAIL`` ones followed by ``fix:``), then a summary."""
    width = max((len(f.check) for f in findings), default=0)
    lines = []
    for finding in findings:
        lines.append(f"{finding.verdict.value:<4}  {finding.check:<{width}}  {finding.found}")
        if finding.fix:
            lines.append(f"{'':<4}  {'':<{width}}  fix: {finding.fix}")
    counts = {v: sum(f.verdict is v for f in findings) for v in Verdict}
    summary = ", ".join(f"{n} {v.value}" for v, n in counts.items() if n)
    lines.append(f"doctor: {summary}")
    return lines


def exit_code(findings: Sequence[Finding]) -> int:
    """0 when nothing failed (skipped checks do not fail the run), else 1."""
    return 1 if any(f.verdict is Verdict.FAIL for f in findings) else 0


def main(config_path: str, timeout: float = DEFAULT_TIMEOUT) -> int:
    """The ``switchboard doctor --config PATH`` command: prints the report."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        findings = [
            fail("config", str(exc), "deploy/switchboard.example.yaml explains every option")
        ]
    else:
        findings = [ok("config", f"{config_path} loads"), *asyncio.run(examine(config, timeout))]
    for line in render(findings):
        print(line)
    sys.stdout.flush()
    return exit_code(findings)


async def examine(config: Config, request_timeout: float = DEFAULT_TIMEOUT) -> list[Finding]:
    """Every check against the live Asterisk and database of ``config``."""
    flows, flows_finding = load_flows(config)
    findings = [flows_finding]
    # The timeout also bounds the dialplan probe's websocket handshake.
    timeout = aiohttp.ClientTimeout(total=request_timeout)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        ari = config.ari
        client = AriClient(
            session, ari.url, ari.username, ari.password, request_timeout=request_timeout
        )
        reached = await check_ari(client, ari)
        findings.append(reached)
        if reached.verdict is Verdict.OK:
            findings.append(await check_app(client, ari.app))
            findings.append(await check_dialplan(session, client, ari))
            findings.append(await check_endpoints(client, flows))
        else:
            why = "not checked: ARI is not reachable (see above)"
            findings += [skip(name, why) for name in ("ARI app", "dialplan", "endpoints")]
    findings.append(await check_database(config.database, request_timeout))
    return findings


# -- flows -----------------------------------------------------------------------------


def load_flows(config: Config) -> tuple[FlowSet | None, Finding]:
    files = [str(f) for f in config.flows.files]
    try:
        flows, _ = compile_files(files, PromptCatalog.scan(config.flows.prompts))
    except FlowError as exc:
        errors = exc.errors
        return None, fail(
            "flows",
            f"{len(errors)} error(s), first: {errors[0] if errors else exc}",
            f"switchboard check {' '.join(files)} prints them all",
        )
    numbers = sum(len(f.entry) for f in flows.flows)
    return flows, ok("flows", f"{len(flows.flows)} file(s), {numbers} number(s) compile")


# -- ARI -------------------------------------------------------------------------------


async def check_ari(client: AriClient, ari: AriConfig) -> Finding:
    """ARI answers at the configured URL and accepts the user and password."""
    try:
        info = await client.request("GET", "/asterisk/info", {"only": "system"})
    except AriError as exc:
        return ari_failure(exc, ari)
    system = info.get("system", {}) if isinstance(info, dict) else {}
    version = system.get("version", "?") if isinstance(system, dict) else "?"
    return ok("ARI", f"{ari.url} accepts user {ari.username!r} (Asterisk {version})")


def ari_failure(exc: AriError, ari: AriConfig) -> Finding:
    """Why ARI could not be used, told apart: nothing listening, wrong credentials,
    a URL that is not ARI, TLS, a timeout."""
    user = ari.username
    if isinstance(exc, AriUnavailable):
        return _unreachable(exc.__cause__, ari.url)
    if exc.status == 401:
        return fail(
            "ARI",
            f"{ari.url} refused user {user!r} (401: wrong user name or password)",
            f"ari.conf needs [{user}] type=user with the password the config gives "
            "(ari.password or ari.password_env); then asterisk -rx 'module reload res_ari.so'",
        )
    if exc.status == 404:
        return fail(
            "ARI",
            f"{ari.url}/ari/asterisk/info is not found (404): this URL serves no ARI",
            "ari.url is Asterisk's HTTP server without /ari (e.g. http://host:8088, plus "
            "http.conf prefix= if set); check ari.conf [general] enabled=yes and "
            "asterisk -rx 'module show like res_ari'",
        )
    if exc.status == 403:
        return fail("ARI", f"{ari.url} forbids user {user!r} (403)", "check ari.conf for the user")
    if exc.status == 503:  # what Asterisk 22 answers while it is still starting
        return fail(
            "ARI",
            f"{ari.url} is not ready (503)",
            "Asterisk is starting or shutting down: run the doctor again in a few seconds",
        )
    return fail(
        "ARI",
        f"{ari.url} answered, but not as ARI does: HTTP {exc.status} {exc.body[:120]!r}",
        "ari.url must point at Asterisk's HTTP server (http.conf bindaddr:bindport)",
    )


def _unreachable(cause: BaseException | None, url: str) -> Finding:
    where = URL(url)
    host = f"{where.host}:{where.port}"
    if isinstance(cause, TimeoutError):
        return fail(
            "ARI",
            f"no answer from {host} in time",
            "a firewall dropping packets, or the wrong host in ari.url",
        )
    if isinstance(cause, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return fail(
            "ARI",
            f"TLS with {host} failed: {cause}",
            "https:// needs http.conf tlsenable=yes, tlsbindaddr and a certificate this "
            "machine trusts; or use http:// on a private network",
        )
    os_error = cause.os_error if isinstance(cause, aiohttp.ClientConnectorError) else None
    if isinstance(os_error, ConnectionRefusedError) or getattr(os_error, "errno", 0) == (
        errno.ECONNREFUSED
    ):
        return fail(
            "ARI",
            f"nothing listens at {host} (connection refused)",
            "start Asterisk; check http.conf enabled=yes and bindaddr/bindport match ari.url",
        )
    if isinstance(cause, aiohttp.ServerDisconnectedError | ssl.SSLError):
        return fail(
            "ARI",
            f"{host} closed the connection without an HTTP answer",
            "is it a TLS port (then ari.url starts with https://) or not Asterisk at all?",
        )
    return fail("ARI", f"cannot reach {host}: {cause}", "check the host and port in ari.url")


async def check_app(client: AriClient, app: str) -> Finding:
    """A daemon is connected as the ARI application (its websocket is open)."""
    try:
        raw = await client.request("GET", "/applications")
    except AriError as exc:
        return fail("ARI app", f"GET /applications failed: {exc}", "see the ARI check")
    names = [a["name"] for a in raw or [] if isinstance(a, dict) and isinstance(a.get("name"), str)]
    return app_finding(app, names)


def app_finding(app: str, registered: Sequence[str]) -> Finding:
    # A doctor's probe app stays listed for about a second after it disconnects.
    connected = [name for name in registered if not name.endswith(PROBE_SUFFIX)]
    if app in connected:
        return ok("ARI app", f"a daemon is connected as application {app!r}")
    others = ", ".join(sorted(connected)) or "none"
    hint = difflib.get_close_matches(app, connected, n=1)
    fix = (
        "start the daemon (systemctl start switchboard; journalctl -u switchboard says why "
        "it stopped); until then callers take the dialplan fallback"
    )
    if hint:
        fix = f"ari.app is {app!r} but {hint[0]!r} is connected: make them the same; or {fix}"
    return fail("ARI app", f"no daemon is connected as {app!r} (connected apps: {others})", fix)


# -- dialplan --------------------------------------------------------------------------


async def check_dialplan(
    session: aiohttp.ClientSession, client: AriClient, ari: AriConfig
) -> Finding:
    """The [globals] and the contexts of extensions_switchboard.conf are loaded."""
    try:
        values = {name: await _global(client, name) for name in GLOBALS}
        present = await _contexts_present(session, client, ari)
    except aiohttp.ClientError as exc:  # the websocket handshake (ARI REST already worked)
        return fail(
            "dialplan",
            f"could not open an ARI event websocket: {type(exc).__name__}: {exc}",
            "a proxy between here and Asterisk must pass websockets (Upgrade) to /ari/events",
        )
    except AriError as exc:
        if exc.status == 500 and "function" in exc.body.lower():
            return skip(
                "dialplan",
                "cannot ask Asterisk: DIALPLAN_EXISTS() is not available (func_dialplan.so)",
                "load func_dialplan.so, or check by hand: asterisk -rx 'dialplan show "
                "switchboard-inbound'",
            )
        why = " (is the ARI user read_only?)" if exc.status == 403 else ""
        return fail("dialplan", f"could not ask Asterisk: {exc}{why}", "see the ARI check")
    return dialplan_finding(ari.app, values, present)


async def _global(client: AriClient, name: str) -> str:
    raw = await client.request("GET", "/asterisk/variable", {"variable": name})
    return str(raw.get("value", "")) if isinstance(raw, dict) else ""


async def _contexts_present(
    session: aiohttp.ClientSession, client: AriClient, ari: AriConfig
) -> dict[str, bool]:
    """DIALPLAN_EXISTS(context) for each context, read on a channel that is never dialled."""
    events = URL(ari.url.replace("http", "ws", 1) + "/ari/events")
    params = {"app": ari.app + PROBE_SUFFIX, "subscribeAll": "false"}
    headers = {"Authorization": basic_auth_header(ari.username, ari.password)}
    async with session.ws_connect(events, params=params, headers=headers):
        created = await client.request(
            "POST", "/channels/create", {"endpoint": PROBE_ENDPOINT, "app": params["app"]}
        )
        if not isinstance(created, dict) or not isinstance(created.get("id"), str):
            raise AriError(502, f"no channel id in {created!r}", "POST", "/channels/create")
        channel = segment(created["id"])
        try:
            present = {}
            for context in CONTEXTS:
                raw = await client.request(
                    "GET",
                    f"/channels/{channel}/variable",
                    {"variable": f"DIALPLAN_EXISTS({context})"},
                )
                present[context] = isinstance(raw, dict) and raw.get("value") == "1"
            return present
        finally:
            try:
                await client.request("DELETE", f"/channels/{channel}")
            except AriError as exc:
                if exc.status != 404:  # 404: Asterisk has already hung it up
                    raise


def dialplan_finding(app: str, values: Mapping[str, str], present: Mapping[str, bool]) -> Finding:
    problems = [f"context [{c}] is missing" for c, found in present.items() if not found]
    if values.get("SWITCHBOARD_APP") != app:
        seen = values.get("SWITCHBOARD_APP") or "not set"
        problems.append(f"global SWITCHBOARD_APP is {seen}, the daemon's app is {app!r}")
    if not values.get("SWITCHBOARD_FALLBACK_MAILBOX"):
        problems.append("global SWITCHBOARD_FALLBACK_MAILBOX is not set")
    if not values.get("SWITCHBOARD_FALLBACK_RING_SECONDS", "").isdigit():
        problems.append("global SWITCHBOARD_FALLBACK_RING_SECONDS is not a number of seconds")
    if problems:
        return fail(
            "dialplan",
            "; ".join(problems),
            "add the SWITCHBOARD_* lines to [globals] of extensions.conf and "
            '#include "extensions_switchboard.conf" (deploy/asterisk-snippets/), then '
            "asterisk -rx 'dialplan reload'",
        )
    group = values.get("SWITCHBOARD_FALLBACK_GROUP") or "none: straight to voicemail"
    return ok(
        "dialplan",
        f"{len(present)} switchboard contexts and the globals are loaded (fallback group: {group})",
    )


# -- endpoints -------------------------------------------------------------------------


async def check_endpoints(client: AriClient, flows: FlowSet | None) -> Finding:
    """Every endpoint and trunk the flows ring exists in Asterisk."""
    if flows is None:
        return skip("endpoints", "not checked: the flows do not compile (see above)")
    try:
        known = {endpoint_name(e) for e in await client.list_endpoints()}
    except AriError as exc:
        return fail("endpoints", f"GET /endpoints failed: {exc}", "see the ARI check")
    missing = unknown_endpoints(flows, known)
    refs = {e for flow in flows.flows for e, _ in flow.endpoint_refs}
    if missing:
        return fail(
            "endpoints",
            f"{len(missing)} unknown to Asterisk, first: {missing[0]}",
            "add them to pjsip.conf (deploy/asterisk-snippets/pjsip.conf) and "
            "asterisk -rx 'module reload res_pjsip.so', or fix the flow",
        )
    return ok("endpoints", f"all {len(refs)} endpoint(s) the flows ring exist in Asterisk")


def unknown_endpoints(flows: FlowSet, known: set[str]) -> list[str]:
    """``file:line:col: ...`` for every endpoint a flow rings that Asterisk does not have."""
    lines = []
    for flow in flows.flows:
        for endpoint, pos in flow.endpoint_refs:
            if endpoint not in known:
                hint = difflib.get_close_matches(endpoint, sorted(known), n=1)
                also = f"did you mean {hint[0]}?" if hint else "add it to pjsip.conf"
                lines.append(f"{pos}: {endpoint} is not an endpoint in Asterisk ({also})")
    return lines


# -- database --------------------------------------------------------------------------


async def check_database(database: DatabaseConfig | None, request_timeout: float) -> Finding:
    """PostgreSQL answers and the schema has every migration of this version."""
    if database is None:
        return skip("database", "no database section: voicemail index, agents, call log are off")
    where = describe_database(database.url)
    try:
        pool = await asyncpg.create_pool(
            database.url,
            min_size=1,
            max_size=1,
            timeout=request_timeout,
            command_timeout=request_timeout,
            server_settings={"search_path": database.schema},
        )
    except db.DB_ERRORS as exc:
        return database_failure(exc, where)
    assert pool is not None
    try:
        pending = await db.pending(pool)
        applied = await _applied_versions(pool)
    except db.DB_ERRORS as exc:
        return database_failure(exc, where)
    finally:
        await pool.close()
    known = {m.version for m in db.migrations()}
    ahead = sorted(v for v in applied if v not in known)
    return schema_finding(database.schema, where, pending, ahead)


async def _applied_versions(pool: asyncpg.Pool) -> set[int]:
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"):
            return set()
        return {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}


def describe_database(url: str) -> str:
    """``user@host:port/name``, never the password."""
    try:
        parsed = URL(url)
    except ValueError:
        return "the configured database"
    name = parsed.path.lstrip("/") or parsed.user or "?"
    return f"{parsed.user or '?'}@{parsed.host or 'localhost'}:{parsed.port or 5432}/{name}"


def database_failure(exc: BaseException, where: str) -> Finding:
    fix_url = "check database.url (or the variable database.url_env names)"
    if isinstance(exc, asyncpg.InvalidPasswordError):
        return fail("database", f"{where}: wrong password", fix_url)
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):
        return fail(
            "database",
            f"{where}: PostgreSQL refused the user: {exc}",
            f"{fix_url}; create the role (createuser) or allow it in pg_hba.conf",
        )
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return fail("database", f"{where}: {exc}", f"createdb it, or {fix_url}")
    if isinstance(exc, TimeoutError):
        return fail("database", f"{where}: no answer in time", f"firewall or wrong host? {fix_url}")
    if isinstance(exc, OSError):
        return fail(
            "database",
            f"{where}: cannot connect ({exc.strerror or exc})",
            f"is PostgreSQL running and listening there? {fix_url}",
        )
    return fail("database", f"{where}: {type(exc).__name__}: {exc}", fix_url)


def schema_finding(
    schema: str, where: str, pending: Sequence[str], ahead: Sequence[int]
) -> Finding:
    if pending:
        return fail(
            "database",
            f"{where} schema {schema!r}: {len(pending)} migration(s) not applied: "
            f"{', '.join(pending)}",
            "switchboard db upgrade --config PATH (the daemon would apply them on its "
            "first database use, in the middle of a call)",
        )
    found = f"{where} schema {schema!r} is current ({len(db.migrations())} migrations)"
    if ahead:
        newer = ", ".join(f"{v:03d}" for v in ahead)
        found += f"; also has {newer} from a newer version (a rollback: see docs/deploy.md)"
    return ok("database", found)
