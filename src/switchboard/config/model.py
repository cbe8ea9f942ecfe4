"""The daemon's configuration as frozen dataclasses (``load_config`` fills them)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType


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
    journal_directory: Path | None = None  # None: <state_directory>/journal
    journal: bool = True  # keep calls in progress on disk (calljournal); off: for measuring

    @property
    def journal_path(self) -> Path:
        """Where the journal of calls in progress is kept (next to the call log's spool)."""
        return self.journal_directory or self.state_directory / "journal"


@dataclass(frozen=True, slots=True)
class AdmissionConfig:
    """When an overloaded daemon sheds new calls to the dialplan (daemon/admission.py);
    0 turns a limit off."""

    max_loop_lag: float = 0.5  # seconds the event loop may run late
    max_setting_up: int = 1000  # calls not yet connected to a person


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
    admission: AdmissionConfig = AdmissionConfig()
