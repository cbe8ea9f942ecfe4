"""The daemon's configuration file, parsed once into frozen dataclasses.

Every error names the file, line and column and says how to fix it.

    ari:
      url: http://127.0.0.1:8088
      username: switchboard
      password: secret          # or password_env: NAME_OF_ENV_VAR
      app: switchboard
    flows:
      files: [flows/main.yaml]  # relative paths are relative to this file
      prompts: prompts          # prompt sources, prompts/<lang>/<name>.txt
      watch_interval: 1         # seconds between checks for changed files; 0: SIGHUP only
    daemon:
      drain_timeout: 600
      stall_guard: 120
      log_level: info
      clock_start: "2026-11-25T12:00:00+03:00"   # tests and demos only: the clock's start
      state_directory: /var/lib/switchboard      # spools that must survive a restart
    database:                   # optional; voicemail rows (and later the call log)
      url: postgresql://switchboard@127.0.0.1/switchboard   # or url_env: NAME
      schema: switchboard
    voicemail:
      directory: /var/lib/switchboard/voicemail   # audio files and the work spool
      from: "Switchboard <switchboard@example.com>"
      retry_seconds: 30         # first retry of a failed step; doubles up to 10 min
      keep_days: 90             # optional: messages older are deleted (absent: kept for ever)
      mailboxes:
        "100": {email: [office@example.com], name: Office}
    recording:                  # optional; where recorded calls are kept (flows: record_calls)
      directory: /var/lib/switchboard/recordings  # YYYY/MM/<name>.wav and the work spool
      retry_seconds: 10         # first retry of a failed download; doubles up to 10 min
      keep_days: 30             # optional: recordings older are deleted (absent: kept for ever)
    calls:                      # optional: the call log's retention (needs database:)
      keep_days: 365            # calls (and their legs) older are deleted (absent: kept for ever)
    smtp:
      host: 127.0.0.1
      port: 25
      starttls: false
      username: ""               # optional; password or password_env
      timeout: 20
    api:                        # optional: the HTTP API and pages
      listen: 127.0.0.1:8090
      tokens:                   # bearer tokens (at least 16 characters each)
        - {name: ops, token_env: SWITCHBOARD_API_TOKEN, scopes: [read, agents, admin]}
        - {name: wallboard, token_env: SWITCHBOARD_WALLBOARD_TOKEN, scopes: [pages]}
                                # scopes (required): what the token may do, of pages,
                                # read, audio, agents, admin; none implies another
      max_body_bytes: 65536     # larger request bodies get 413
      trusted_proxies: []       # reverse proxies whose X-Forwarded-For is believed
      header_timeout: 10        # s from a request's first byte to the end of its head
      body_timeout: 30          # s from the end of the head to the end of the body (408)
      keepalive_timeout: 75     # s a connection may wait for its next request
      max_connections: 1000     # at once (lowered to the open-files limit less a reserve)
      max_connections_per_address: 100   # from one address (IPv6: /64); proxies exempt
      auth_failures: {per_address: 20, window_seconds: 60}   # wrong tokens, then 429
    agi:                         # optional: the FastAGI server (docs/agi.md)
      listen: 127.0.0.1:4573
      trunk: carrier             # route's fallback=NUMBER is dialled through it
      session_timeout: 10
      max_sessions: 500
      hold_limit: 14400          # s an agent handed out by route is held at most
      check_interval: 15         # s between checks that held channels still exist
      max_holds: 10000           # channels route remembers at most (the FastAGI port is open)
    dial_policy:                # which numbers are dialled on someone's behalf (callbacks)
      countries: [RU]           # only valid fixed-line/mobile numbers of these regions
      default_country: RU       # for numbers without +<country code> (caller IDs, forms)
      per_number: 3             # callback requests per number per window, queue and web
      window_seconds: 3600
    callbacks:                  # optional: web callbacks (POST /callbacks); docs/callbacks.md
      trunk: carrier            # the customer is called through this PJSIP endpoint
      company_number: "+74951234567"   # the caller ID the customer sees
      calendar: office          # a calendar of the flows (omit: any time)
      default_skill: sales
      skills: [sales, support]  # what a request may ask for
      agent_ring_seconds: 20
      customer_ring_seconds: 30
      rate_limits: {per_ip: 10, window_seconds: 3600}
      # (the client's address behind a proxy: api.trusted_proxies)
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

import yaml

MAX_CONFIG_BYTES = 256 * 1024
# The config's top-level sections (each parsed by its own function below).
SECTIONS = {
    "ari",
    "flows",
    "daemon",
    "database",
    "voicemail",
    "smtp",
    "routing",
    "api",
    "agi",
    "recording",
    "callbacks",
    "dial_policy",
    "calls",
}
NOW_ENV = "SWITCHBOARD_NOW"  # tests and demos: the instant the daemon's clock starts at
T = TypeVar("T")


class ConfigError(Exception):
    """The configuration is unreadable or wrong; the message is one line for the operator."""


@dataclass(frozen=True, slots=True)
class AriConfig:
    url: str
    username: str
    password: str
    app: str = "switchboard"


@dataclass(frozen=True, slots=True)
class FlowsConfig:
    files: tuple[Path, ...]
    prompts: Path
    watch_interval: float = 1.0


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    drain_timeout: float = 600.0
    stall_guard: float = 120.0  # seconds a call may hear nothing from Asterisk
    log_level: str = "info"
    clock_start: datetime | None = None  # None: the system clock
    state_directory: Path = Path("/var/lib/switchboard")  # spools (callback requests)


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    url: str
    schema: str = "switchboard"


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    """Routes to agents (``agents:`` in a flow): the policy's knobs."""

    missed_penalty: float = 10.0  # seconds an agent who let a call ring out is not offered
    auto_pause_after: int = 3  # missed calls in a row that pause the agent (0: never)
    decision_timeout: float = 0.8  # a decision slower than this (database down): on_fail
    refresh_interval: float = 2.0  # seconds between reads of the agents into memory


@dataclass(frozen=True, slots=True)
class AgiConfig:
    """The FastAGI server for sites that keep their own dialplan (docs/agi.md)."""

    host: str = "127.0.0.1"
    port: int = 4573
    session_timeout: float = 10.0  # a session longer than this is closed
    max_sessions: int = 500  # at once; more are closed at once (AGISTATUS=FAILURE)
    trunk: str = ""  # the carrier's endpoint for route's fallback=NUMBER (PJSIP/carrier)
    hold_limit: float = 14400.0  # s an agent handed out by route is held at most
    check_interval: float = 15.0  # s between checks that held calls' channels still exist
    max_holds: int = 10_000  # channels route remembers at most (those without an agent go)

    @property
    def listen(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Mailbox:
    email: tuple[str, ...] = ()
    name: str = ""


@dataclass(frozen=True, slots=True)
class VoicemailConfig:
    directory: Path
    sender: str = "Switchboard <switchboard@localhost>"
    retry_seconds: float = 30.0
    mailboxes: MappingProxyType[str, Mailbox] = field(default_factory=lambda: MappingProxyType({}))
    keep_days: int | None = None  # messages older are deleted; None: kept for ever


@dataclass(frozen=True, slots=True)
class RecordingConfig:
    directory: Path
    retry_seconds: float = 10.0
    keep_days: int | None = None  # recordings older are deleted; None: kept for ever


@dataclass(frozen=True, slots=True)
class CallsConfig:
    """The call log (``calls:``): how long its rows are kept."""

    keep_days: int | None = None  # calls (by when they started) older are deleted


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str = "127.0.0.1"
    port: int = 25
    starttls: bool = False
    username: str = ""
    password: str = ""
    timeout: float = 20.0


class ApiScope(StrEnum):
    """What a token may do (``api.tokens[].scopes``); every private route needs exactly
    one, and no scope implies another (docs/api.md)."""

    PAGES = "pages"  # the screen pop and wallboard pages and their live websocket
    READ = "read"  # calls, queues, agents, the call log, statistics, metrics, voicemails
    AUDIO = "audio"  # recordings' and voicemails' audio
    AGENTS = "agents"  # agents' login, logout, pause, unpause; voicemails marked heard
    ADMIN = "admin"  # the flows' reload and other administration


@dataclass(frozen=True, slots=True)
class ApiToken:
    name: str  # who uses it (logged with each request), never the secret
    token: str = field(repr=False)
    scopes: frozenset[ApiScope]


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class AuthFailureLimits:
    """Wrong tokens allowed per client address (a token bucket); then 429 until it refills."""

    per_address: int = 20
    window_seconds: float = 60.0
    tracked: int = 10_000  # addresses remembered (the memory bound)


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """The HTTP API and pages (``api:``); no section, no server."""

    host: str = "127.0.0.1"
    port: int = 8090
    tokens: tuple[ApiToken, ...] = ()
    max_body_bytes: int = 64 * 1024
    trusted_proxies: tuple[Network, ...] = ()  # whose X-Forwarded-For is believed
    header_timeout: float = 10.0  # a request's first byte to the end of its head
    body_timeout: float = 30.0  # the end of the head to the end of the body
    keepalive_timeout: float = 75.0  # a connection waiting for its (next) request
    max_connections: int = 1000  # at once, all clients
    max_connections_per_address: int = 100  # at once from one address (not proxies)
    auth_failures: AuthFailureLimits = AuthFailureLimits()


@dataclass(frozen=True, slots=True)
class DialPolicy:
    """Which numbers Switchboard dials on someone's behalf (``dial_policy:``): queue
    callbacks, web callbacks. A number must be valid, of one of ``countries``, and a
    fixed line or a mobile (no premium-rate, shared-cost, satellite ... numbers)."""

    countries: tuple[str, ...]  # ISO 3166 regions whose numbers may be called
    default_country: str = ""  # for numbers written without +<country code>
    per_number: int = 3  # callback requests per number per window (queue and web together)
    window_seconds: float = 3600.0
    tracked: int = 10_000  # numbers remembered by the limit (the memory bound)


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Web callback requests allowed per window per client address."""

    per_ip: int = 10
    window_seconds: float = 3600.0
    tracked: int = 10_000  # addresses remembered (the memory bound)


@dataclass(frozen=True, slots=True)
class CallbacksConfig:
    """Web callbacks (``callbacks:``): POST /callbacks and the form page."""

    trunk: str  # PJSIP/<endpoint>: the customer is called through it
    company_number: str  # the caller ID the customer sees
    default_skill: str
    skills: tuple[str, ...]  # what a request may ask for (the default among them)
    calendar: str = ""  # a calendar of the flows; "": any time
    agent_ring_seconds: int = 20
    customer_ring_seconds: int = 30
    retry_seconds: float = 60.0  # the customer did not answer: the next attempt after
    max_pending: int = 1000  # open requests at once; more: 503
    max_days_ahead: int = 14  # preferred_time at most this far ahead
    rate_limits: RateLimits = RateLimits()
    frame_ancestors: tuple[str, ...] = ("*",)  # sites that may embed the form (CSP)


@dataclass(frozen=True, slots=True)
class Config:
    ari: AriConfig
    flows: FlowsConfig
    daemon: DaemonConfig
    database: DatabaseConfig | None = None
    voicemail: VoicemailConfig | None = None
    smtp: SmtpConfig = SmtpConfig()
    routing: RoutingConfig = RoutingConfig()
    api: ApiConfig | None = None
    agi: AgiConfig | None = None  # no section: no FastAGI server
    recording: RecordingConfig | None = None
    callbacks: CallbacksConfig | None = None
    dial_policy: DialPolicy | None = None  # no section: no number is called back
    calls: CallsConfig = CallsConfig()


class _Section:
    """A YAML mapping with its position, for exact error messages."""

    def __init__(self, path: str, node: yaml.Node, name: str) -> None:
        if not isinstance(node, yaml.MappingNode):
            raise _err(path, node, f"{name} must be a mapping of keys to values")
        self.path, self.node, self.name = path, node, name
        self.items: dict[str, yaml.Node] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                raise _err(path, key, f"{name}: keys must be plain words")
            if key.value in self.items:
                raise _err(path, key, f"{name}: duplicate key {key.value!r}")
            self.items[key.value] = value

    def check_keys(self, allowed: set[str]) -> None:
        for key, value in self.items.items():
            if key not in allowed:
                known = ", ".join(sorted(allowed))
                raise _err(self.path, value, f"{self.name}: unknown key {key!r} (known: {known})")

    def section(self, key: str) -> _Section:
        if key not in self.items:
            raise _err(self.path, self.node, f"missing section {key!r}")
        return _Section(self.path, self.items[key], key)

    def scalar(self, key: str, convert: Callable[[str], T], default: T | None = None) -> T:
        node = self.items.get(key)
        if node is None:
            if default is None:
                raise _err(self.path, self.node, f"{self.name}: missing key {key!r}")
            return default
        if not isinstance(node, yaml.ScalarNode) or node.value == "":
            raise _err(self.path, node, f"{self.name}.{key}: expected a single value")
        try:
            return convert(node.value)
        except ValueError as exc:
            raise _err(self.path, node, f"{self.name}.{key}: {exc}") from None


def _err(path: str, node: yaml.Node, what: str) -> ConfigError:
    mark = node.start_mark
    return ConfigError(f"{path}:{mark.line + 1}:{mark.column + 1}: {what}")


def _positive(kind: Callable[[str], T]) -> Callable[[str], T]:
    def convert(text: str) -> T:
        value = kind(text)
        if not float(value) > 0:  # type: ignore[arg-type]
            raise ValueError(f"must be a positive number, got {text!r}")
        return value

    return convert


def _url(text: str) -> str:
    if not text.startswith(("http://", "https://")):
        raise ValueError(f"must start with http:// or https://, got {text!r}")
    return text.rstrip("/")


def _log_level(text: str) -> str:
    if text.lower() not in ("debug", "info", "warning", "error"):
        raise ValueError("must be one of debug, info, warning, error")
    return text.lower()


def load_config(path: str | Path) -> Config:
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read config: {exc.strerror or exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{name}: config larger than {MAX_CONFIG_BYTES} bytes")
    try:
        node = yaml.compose(raw.decode("utf-8"), Loader=yaml.SafeLoader)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name}: not valid YAML: {' '.join(str(exc).split())}") from None
    if node is None:
        raise ConfigError(f"{name}: config is empty")
    top = _Section(name, node, "config")
    top.check_keys(SECTIONS)
    base = Path(path).resolve().parent
    return Config(
        ari=_ari(top.section("ari")),
        flows=_flows(top.section("flows"), base),
        daemon=_daemon(top, base),
        database=_database(top.section("database")) if "database" in top.items else None,
        voicemail=_voicemail(top, base) if "voicemail" in top.items else None,
        smtp=_smtp(top.section("smtp")) if "smtp" in top.items else SmtpConfig(),
        routing=_routing(top.section("routing")) if "routing" in top.items else RoutingConfig(),
        api=_api(top.section("api")) if "api" in top.items else None,
        agi=_agi(top.section("agi")) if "agi" in top.items else None,
        recording=_recording(top, base) if "recording" in top.items else None,
        callbacks=_callbacks(top) if "callbacks" in top.items else None,
        dial_policy=_dial_policy(top.section("dial_policy"))
        if "dial_policy" in top.items
        else None,
        calls=_calls(top) if "calls" in top.items else CallsConfig(),
    )


def _agi(sec: _Section) -> AgiConfig:
    sec.check_keys(
        {
            "listen",
            "session_timeout",
            "max_sessions",
            "trunk",
            "hold_limit",
            "check_interval",
            "max_holds",
        }
    )
    host, port = sec.scalar("listen", _listen, ("127.0.0.1", 4573))
    trunk = sec.scalar("trunk", str, "") if "trunk" in sec.items else ""
    if trunk and not trunk.startswith("PJSIP/"):
        trunk = f"PJSIP/{trunk}"
    return AgiConfig(
        host=host,
        port=port,
        session_timeout=sec.scalar("session_timeout", _positive(float), 10.0),
        max_sessions=sec.scalar("max_sessions", _positive(int), 500),
        trunk=trunk,
        hold_limit=sec.scalar("hold_limit", _positive(float), 14400.0),
        check_interval=sec.scalar("check_interval", _positive(float), 15.0),
        max_holds=sec.scalar("max_holds", _positive(int), 10_000),
    )


def _recording(top: _Section, base: Path) -> RecordingConfig:
    sec = top.section("recording")
    sec.check_keys({"directory", "retry_seconds", "keep_days"})
    return RecordingConfig(
        directory=base / sec.scalar("directory", str),
        retry_seconds=sec.scalar("retry_seconds", _positive(float), 10.0),
        keep_days=_keep_days(sec, top),
    )


MAX_KEEP_DAYS = 36_600  # a hundred years: more is a typo


def _days(text: str) -> int:
    days = int(text) if text.isdigit() and text.isascii() else 0
    if not 1 <= days <= MAX_KEEP_DAYS:
        raise ValueError(
            f"expected a whole number of days from 1 to {MAX_KEEP_DAYS}, got {text!r} "
            "(omit the key to keep for ever)"
        )
    return days


def _keep_days(sec: _Section, top: _Section) -> int | None:
    """``keep_days``: what is older is deleted by the daemon's sweeper; absent: kept for
    ever. The sweeper finds what to delete in PostgreSQL, so it needs a database."""
    if "keep_days" not in sec.items:
        return None
    if "database" not in top.items:
        raise _err(sec.path, sec.items["keep_days"], f"{sec.name}.keep_days: needs a database: "
                   "section (what to delete is found in PostgreSQL)")  # fmt: skip
    return sec.scalar("keep_days", _days)


def _calls(top: _Section) -> CallsConfig:
    sec = top.section("calls")
    sec.check_keys({"keep_days"})
    keep_days = _keep_days(sec, top)
    if keep_days is not None and "recording" in top.items:
        # A recording is found through its call (an erasure, the call log's link): one
        # kept longer than its call would be kept for ever, out of anyone's reach.
        recording = top.section("recording")
        kept = recording.scalar("keep_days", _days) if "keep_days" in recording.items else None
        if kept is None or kept > keep_days:
            raise _err(sec.path, sec.items["keep_days"], f"calls.keep_days: recording.keep_days "
                       f"must be set and at most {keep_days} too (a recording outliving its "
                       "call could no longer be found or erased)")  # fmt: skip
    return CallsConfig(keep_days=keep_days)


def _routing(sec: _Section) -> RoutingConfig:
    sec.check_keys({"missed_penalty", "auto_pause_after", "decision_timeout", "refresh_interval"})
    timeout = sec.scalar("decision_timeout", _positive(float), 0.8)
    if timeout > 5:
        raise _err(
            sec.path,
            sec.items["decision_timeout"],
            "routing.decision_timeout: at most 5 seconds (the caller hears ringing meanwhile)",
        )
    pause_after = sec.scalar("auto_pause_after", int, 3)
    if pause_after < 0:
        raise _err(sec.path, sec.items["auto_pause_after"], "routing.auto_pause_after: >= 0")
    return RoutingConfig(
        missed_penalty=sec.scalar("missed_penalty", float, 10.0),
        auto_pause_after=pause_after,
        decision_timeout=timeout,
        refresh_interval=sec.scalar("refresh_interval", _positive(float), 2.0),
    )


def _secret(sec: _Section, key: str, default: str | None = None) -> str:
    """``key: value``, or ``key_env: NAME`` read from the environment."""
    env_key = f"{key}_env"
    if env_key in sec.items:
        var = sec.scalar(env_key, str)
        value = os.environ.get(var)
        if value is None:
            raise _err(sec.path, sec.items[env_key], f"{sec.name}.{env_key}: ${var} is not set")
        return value
    return sec.scalar(key, str, default)


def _ari(sec: _Section) -> AriConfig:
    sec.check_keys({"url", "username", "password", "password_env", "app"})
    password = _secret(sec, "password")
    return AriConfig(
        url=sec.scalar("url", _url),
        username=sec.scalar("username", str),
        password=password,
        app=sec.scalar("app", str, "switchboard"),
    )


def _flows(sec: _Section, base: Path) -> FlowsConfig:
    sec.check_keys({"files", "prompts", "watch_interval"})
    node = sec.items.get("files")
    if node is None:
        raise _err(sec.path, sec.node, "flows: missing key 'files'")
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    if not items or not all(isinstance(i, yaml.ScalarNode) and i.value for i in items):
        raise _err(sec.path, node, "flows.files: expected a file name or a list of them")
    interval = sec.scalar("watch_interval", float, 1.0)
    if interval < 0:
        raise _err(sec.path, sec.items["watch_interval"], "flows.watch_interval: must be >= 0")
    return FlowsConfig(
        files=tuple(base / str(i.value) for i in items),
        prompts=base / sec.scalar("prompts", str, "prompts"),
        watch_interval=interval,
    )


def _daemon(top: _Section, base: Path) -> DaemonConfig:
    daemon = _daemon_section(top, base)
    text = os.environ.get(NOW_ENV)
    if text:
        try:
            daemon = replace(daemon, clock_start=parse_instant(text))
        except ValueError as exc:
            raise ConfigError(f"${NOW_ENV}: {exc}") from None
    return daemon


def _daemon_section(top: _Section, base: Path) -> DaemonConfig:
    if "daemon" not in top.items:
        return DaemonConfig()
    sec = top.section("daemon")
    sec.check_keys({"drain_timeout", "stall_guard", "log_level", "clock_start", "state_directory"})
    state = Path(sec.scalar("state_directory", str, "/var/lib/switchboard"))
    return DaemonConfig(
        state_directory=base / state,
        drain_timeout=sec.scalar("drain_timeout", _positive(float), 600.0),
        stall_guard=sec.scalar("stall_guard", _positive(float), 120.0),
        log_level=sec.scalar("log_level", _log_level, "info"),
        clock_start=sec.scalar("clock_start", parse_instant)
        if "clock_start" in sec.items
        else None,
    )


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant with its UTC offset: 2026-11-25T12:00:00+03:00."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO 8601 time such as 2026-11-25T12:00:00+03:00"
        ) from None
    if at.tzinfo is None:
        raise ValueError(f"{text!r} needs a UTC offset, e.g. 2026-11-25T12:00:00+03:00")
    return at


def _database(sec: _Section) -> DatabaseConfig:
    sec.check_keys({"url", "url_env", "schema"})
    url = _secret(sec, "url")
    if not url.startswith(("postgresql://", "postgres://")):
        raise _err(sec.path, sec.node, "database.url: must start with postgresql://")
    return DatabaseConfig(url=url, schema=sec.scalar("schema", _identifier, "switchboard"))


def _identifier(text: str) -> str:
    if not text.isidentifier() or not text.isascii() or text != text.lower():
        raise ValueError(f"{text!r} is not a lower-case SQL name (letters, digits, _)")
    return text


def _voicemail(top: _Section, base: Path) -> VoicemailConfig:
    sec = top.section("voicemail")
    sec.check_keys({"directory", "from", "retry_seconds", "mailboxes", "keep_days"})
    mailboxes: dict[str, Mailbox] = {}
    if "mailboxes" in sec.items:
        boxes = _Section(sec.path, sec.items["mailboxes"], "voicemail.mailboxes")
        for number, node in boxes.items.items():
            if not number.isdigit():
                raise _err(
                    sec.path, node, f"voicemail.mailboxes: {number!r} is not a mailbox number"
                )
            box = _Section(sec.path, node, f"voicemail.mailboxes.{number}")
            box.check_keys({"email", "name"})
            emails = box.items.get("email")
            listed = emails.value if isinstance(emails, yaml.SequenceNode) else [emails]
            addresses = []
            for item in listed:
                if not isinstance(item, yaml.ScalarNode) or "@" not in str(item.value):
                    where = item if isinstance(item, yaml.Node) else node
                    raise _err(sec.path, where, f"{box.name}.email: expected addresses with @")
                addresses.append(str(item.value))
            mailboxes[number] = Mailbox(tuple(addresses), box.scalar("name", str, ""))
    return VoicemailConfig(
        directory=base / sec.scalar("directory", str),
        sender=sec.scalar("from", str, "Switchboard <switchboard@localhost>"),
        retry_seconds=sec.scalar("retry_seconds", _positive(float), 30.0),
        mailboxes=MappingProxyType(mailboxes),
        keep_days=_keep_days(sec, top),
    )


def _smtp(sec: _Section) -> SmtpConfig:
    sec.check_keys({"host", "port", "starttls", "username", "password", "password_env", "timeout"})
    return SmtpConfig(
        host=sec.scalar("host", str, "127.0.0.1"),
        port=sec.scalar("port", _positive(int), 25),
        starttls=sec.scalar("starttls", _boolean, False),
        username=sec.scalar("username", str, "") if "username" in sec.items else "",
        password=_secret(sec, "password", "")
        if {"password", "password_env"} & sec.items.keys()
        else "",
        timeout=sec.scalar("timeout", _positive(float), 20.0),
    )


def _boolean(text: str) -> bool:
    if text.lower() in ("true", "yes", "on"):
        return True
    if text.lower() in ("false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


MIN_TOKEN_CHARS = 16


def _listen(text: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:8090`` for IPv6) -> (host, port)."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected host:port such as 127.0.0.1:8090, got {text!r}")
    return host, int(port)


API_KEYS = {
    "listen", "tokens", "max_body_bytes", "trusted_proxies", "header_timeout", "body_timeout",
    "keepalive_timeout", "max_connections", "max_connections_per_address", "auth_failures",
}  # fmt: skip


def _api(sec: _Section) -> ApiConfig:
    sec.check_keys(API_KEYS)
    host, port = sec.scalar("listen", _listen, ("127.0.0.1", 8090))
    return ApiConfig(
        host=host,
        port=port,
        tokens=_api_tokens(sec),
        max_body_bytes=sec.scalar("max_body_bytes", _positive(int), 64 * 1024),
        trusted_proxies=tuple(
            ipaddress.ip_network(n)
            for n in _words(sec, "trusted_proxies", _network, required=False)
        ),
        header_timeout=sec.scalar("header_timeout", _positive(float), 10.0),
        body_timeout=sec.scalar("body_timeout", _positive(float), 30.0),
        keepalive_timeout=sec.scalar("keepalive_timeout", _positive(float), 75.0),
        max_connections=sec.scalar("max_connections", _positive(int), 1000),
        max_connections_per_address=sec.scalar("max_connections_per_address", _positive(int), 100),
        auth_failures=_auth_failures(
            _Section(sec.path, sec.items["auth_failures"], "api.auth_failures")
        )
        if "auth_failures" in sec.items
        else AuthFailureLimits(),
    )


def _api_tokens(sec: _Section) -> tuple[ApiToken, ...]:
    node = sec.items.get("tokens")
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        where = node if node is not None else sec.node
        raise _err(
            sec.path, where, "api.tokens: list at least one {name: ..., token_env: ..., "
            "scopes: [...]} (every route but /health needs a token)"
        )  # fmt: skip
    tokens: list[ApiToken] = []
    for item in node.value:
        entry = _Section(sec.path, item, "api.tokens[]")
        entry.check_keys({"name", "token", "token_env", "scopes"})
        name = entry.scalar("name", str)
        token = ApiToken(name, _secret(entry, "token"), _scopes(entry, name))
        if len(token.token) < MIN_TOKEN_CHARS:
            raise _err(
                sec.path, item, f"api.tokens[]: token {token.name!r} is shorter than "
                f"{MIN_TOKEN_CHARS} characters (make one with: openssl rand -hex 32)"
            )  # fmt: skip
        if any(t.name == token.name for t in tokens):
            raise _err(sec.path, item, f"api.tokens[]: name {token.name!r} given twice")
        tokens.append(token)
    return tuple(tokens)


def _auth_failures(sec: _Section) -> AuthFailureLimits:
    sec.check_keys({"per_address", "window_seconds", "tracked"})
    return AuthFailureLimits(
        per_address=sec.scalar("per_address", _positive(int), 20),
        window_seconds=sec.scalar("window_seconds", _positive(float), 60.0),
        tracked=sec.scalar("tracked", _positive(int), 10_000),
    )


def _scopes(entry: _Section, name: str) -> frozenset[ApiScope]:
    """``scopes: [read, audio]``: required, so that no token has every right unsaid."""
    values = [scope.value for scope in ApiScope]
    known = ", ".join(values)
    if "scopes" not in entry.items:
        raise _err(entry.path, entry.node, f"api.tokens[]: token {name!r} has no scopes: "
                   f"add scopes: [...] with what it may do (any of: {known})")  # fmt: skip

    def scope(text: str) -> str:
        if text not in values:
            raise ValueError(f"unknown scope {text!r} (known: {known})")
        return text

    return frozenset(ApiScope(word) for word in _words(entry, "scopes", scope))


# -- web callbacks ----------------------------------------------------------------------
CALLBACK_KEYS = {
    "trunk", "company_number", "calendar", "default_skill", "skills",
    "agent_ring_seconds", "customer_ring_seconds", "retry_seconds",
    "max_pending", "max_days_ahead", "rate_limits", "frame_ancestors",
}  # fmt: skip
# Keys that moved, with why: the old key is an error that says where it went.
NUMBER_POLICY = "one number policy for queue and web callbacks; docs/security.md"
CLIENT_ADDRESS = "one setting for every route that needs the client's address"
MOVED_KEYS = {
    "countries": ("dial_policy.countries", NUMBER_POLICY),
    "default_country": ("dial_policy.default_country", NUMBER_POLICY),
    "per_number": ("dial_policy.per_number", NUMBER_POLICY),
    "trusted_proxies": ("api.trusted_proxies", CLIENT_ADDRESS),
}


def _moved(sec: _Section) -> None:
    for key, value in sec.items.items():
        if key in MOVED_KEYS:
            where, why = MOVED_KEYS[key]
            raise _err(sec.path, value, f"{sec.name}.{key} is now {where} ({why}): move it there")


def _dial_policy(sec: _Section) -> DialPolicy:
    sec.check_keys({"countries", "default_country", "per_number", "window_seconds", "tracked"})
    return DialPolicy(
        countries=_words(sec, "countries", _region),
        default_country=sec.scalar("default_country", _region, "")
        if "default_country" in sec.items
        else "",
        per_number=sec.scalar("per_number", _positive(int), 3),
        window_seconds=sec.scalar("window_seconds", _positive(float), 3600.0),
        tracked=sec.scalar("tracked", _positive(int), 10_000),
    )


def _callbacks(top: _Section) -> CallbacksConfig:
    sec = top.section("callbacks")
    _moved(sec)
    sec.check_keys(CALLBACK_KEYS)
    for needed, why in NEEDED_BY_CALLBACKS.items():
        if needed not in top.items:
            raise _err(sec.path, sec.node, f"callbacks: needs a {needed}: section too ({why})")
    skills = _words(sec, "skills", _identifier)
    default_skill = sec.scalar("default_skill", _identifier)
    if default_skill not in skills:
        what = f"callbacks.default_skill: {default_skill!r} is not in callbacks.skills"
        raise _err(sec.path, sec.items["default_skill"], what)
    return CallbacksConfig(
        trunk=sec.scalar("trunk", _trunk),
        company_number=sec.scalar("company_number", _dialable),
        default_skill=default_skill,
        skills=skills,
        calendar=sec.scalar("calendar", str, "") if "calendar" in sec.items else "",
        agent_ring_seconds=sec.scalar("agent_ring_seconds", _positive(int), 20),
        customer_ring_seconds=sec.scalar("customer_ring_seconds", _positive(int), 30),
        retry_seconds=sec.scalar("retry_seconds", _positive(float), 60.0),
        max_pending=sec.scalar("max_pending", _positive(int), 1000),
        max_days_ahead=sec.scalar("max_days_ahead", _positive(int), 14),
        rate_limits=_rate_limits(
            _Section(sec.path, sec.items["rate_limits"], "callbacks.rate_limits")
        )
        if "rate_limits" in sec.items
        else RateLimits(),
        frame_ancestors=_words(sec, "frame_ancestors", _frame_source, required=False) or ("*",),
    )


NEEDED_BY_CALLBACKS = {
    "api": "requests arrive through the API",
    "database": "requests are kept in PostgreSQL",
    "dial_policy": "which numbers may be called",
}


def _rate_limits(sec: _Section) -> RateLimits:
    _moved(sec)
    sec.check_keys({"per_ip", "window_seconds", "tracked"})
    return RateLimits(
        per_ip=sec.scalar("per_ip", _positive(int), 10),
        window_seconds=sec.scalar("window_seconds", _positive(float), 3600.0),
        tracked=sec.scalar("tracked", _positive(int), 10_000),
    )


def _words(
    sec: _Section, key: str, convert: Callable[[str], str], *, required: bool = True
) -> tuple[str, ...]:
    """``key: [a, b]`` (or one value) -> each converted; an error names the item."""
    node = sec.items.get(key)
    if node is None:
        if required:
            raise _err(sec.path, sec.node, f"{sec.name}: missing key {key!r}")
        return ()
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    words = []
    for item in items:
        if not isinstance(item, yaml.ScalarNode) or item.value == "":
            raise _err(sec.path, item, f"{sec.name}.{key}: expected a list of single values")
        try:
            words.append(convert(str(item.value)))
        except ValueError as exc:
            raise _err(sec.path, item, f"{sec.name}.{key}: {exc}") from None
    if required and not words:
        raise _err(sec.path, node, f"{sec.name}.{key}: list at least one")
    return tuple(words)


def _trunk(text: str) -> str:
    """``carrier`` or ``PJSIP/carrier`` -> ``PJSIP/carrier``."""
    name = text.removeprefix("PJSIP/")
    if not name or not all(c.isascii() and (c.isalnum() or c in "_.-") for c in name):
        raise ValueError(f"{text!r} is not a PJSIP endpoint name (letters, digits, _ . -)")
    return f"PJSIP/{name}"


def _dialable(text: str) -> str:
    digits = text.removeprefix("+")
    if not digits.isdigit() or not 3 <= len(digits) <= 15:
        raise ValueError(f"{text!r} is not a phone number such as +74951234567")
    return text


def _region(text: str) -> str:
    import phonenumbers

    if text.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"{text!r} is not an ISO 3166 country code such as RU or DE")
    return text.upper()


def _network(text: str) -> str:
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise ValueError(f"{text!r} is not an address or network such as 10.0.0.0/8") from None


def _frame_source(text: str) -> str:
    if text != "*" and text != "'self'" and not text.startswith(("https://", "http://")):
        raise ValueError(f"{text!r}: expected *, 'self' or an origin such as https://example.com")
    if any(c in text for c in ' ;,"\n'):
        raise ValueError(f"{text!r}: an origin has no spaces, quotes, commas or semicolons")
    return text
