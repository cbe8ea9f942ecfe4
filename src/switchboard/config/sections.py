"""The config's sections but web callbacks (:mod:`.callbacks`): each section's
mapping -> its dataclass."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import yaml

from switchboard.safeyaml import Problem

from . import values
from .model import (
    AdmissionConfig,
    AgiConfig,
    ApiConfig,
    ApiScope,
    ApiToken,
    AriConfig,
    AuthFailureLimits,
    CallsConfig,
    DaemonConfig,
    DatabaseConfig,
    FlowsConfig,
    Mailbox,
    RecordingConfig,
    RoutingConfig,
    SmtpConfig,
    VoicemailConfig,
)
from .reading import ConfigError, Section, err, secret, words

NOW_ENV = "SWITCHBOARD_NOW"  # tests and demos: the instant the daemon's clock starts at


def agi(sec: Section) -> AgiConfig:
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
    host, port = sec.scalar("listen", values.listen, ("127.0.0.1", 4573))
    trunk = sec.scalar("trunk", str, "") if "trunk" in sec.items else ""
    if trunk and not trunk.startswith("PJSIP/"):
        trunk = f"PJSIP/{trunk}"
    return AgiConfig(
        host=host,
        port=port,
        session_timeout=sec.scalar("session_timeout", values.positive(float), 10.0),
        max_sessions=sec.scalar("max_sessions", values.positive(int), 500),
        trunk=trunk,
        hold_limit=sec.scalar("hold_limit", values.positive(float), 14400.0),
        check_interval=sec.scalar("check_interval", values.positive(float), 15.0),
        max_holds=sec.scalar("max_holds", values.positive(int), 10_000),
    )


def recording(top: Section, base: Path) -> RecordingConfig:
    sec = top.section("recording")
    sec.check_keys({"directory", "retry_seconds", "keep_days"})
    return RecordingConfig(
        directory=base / sec.scalar("directory", str),
        retry_seconds=sec.scalar("retry_seconds", values.positive(float), 10.0),
        keep_days=keep_days(sec, top),
    )


def keep_days(sec: Section, top: Section) -> int | None:
    """``keep_days``: what is older is deleted by the daemon's sweeper; absent: kept for
    ever. The sweeper finds what to delete in PostgreSQL, so it needs a database."""
    if "keep_days" not in sec.items:
        return None
    if "database" not in top.items:
        raise err(sec.path, sec.items["keep_days"], f"{sec.name}.keep_days: needs a database: "
                   "section (what to delete is found in PostgreSQL)")  # fmt: skip
    return sec.scalar("keep_days", values.days)


def calls(top: Section) -> CallsConfig:
    sec = top.section("calls")
    sec.check_keys({"keep_days"})
    days = keep_days(sec, top)
    if days is not None and "recording" in top.items:
        # A recording is found through its call (an erasure, the call log's link): one
        # kept longer than its call would be kept for ever, out of anyone's reach.
        recording = top.section("recording")
        kept = (
            recording.scalar("keep_days", values.days) if "keep_days" in recording.items else None
        )
        if kept is None or kept > days:
            raise err(sec.path, sec.items["keep_days"], f"calls.keep_days: recording.keep_days "
                       f"must be set and at most {days} too (a recording outliving its "
                       "call could no longer be found or erased)")  # fmt: skip
    return CallsConfig(keep_days=days)


def routing(sec: Section) -> RoutingConfig:
    sec.check_keys({"missed_penalty", "auto_pause_after", "decision_timeout", "refresh_interval"})
    timeout = sec.scalar("decision_timeout", values.positive(float), 0.8)
    if timeout > 5:
        raise err(
            sec.path,
            sec.items["decision_timeout"],
            "routing.decision_timeout: at most 5 seconds (the caller hears ringing meanwhile)",
        )
    pause_after = sec.scalar("auto_pause_after", int, 3)
    if pause_after < 0:
        raise err(sec.path, sec.items["auto_pause_after"], "routing.auto_pause_after: >= 0")
    return RoutingConfig(
        missed_penalty=sec.scalar("missed_penalty", float, 10.0),
        auto_pause_after=pause_after,
        decision_timeout=timeout,
        refresh_interval=sec.scalar("refresh_interval", values.positive(float), 2.0),
    )


def ari(sec: Section) -> AriConfig:
    sec.check_keys({"url", "username", "password", "password_env", "app"})
    password = secret(sec, "password")
    return AriConfig(
        url=sec.scalar("url", values.url),
        username=sec.scalar("username", str),
        password=password,
        app=sec.scalar("app", str, "switchboard"),
    )


def flows(sec: Section, base: Path) -> FlowsConfig:
    sec.check_keys({"files", "prompts", "watch_interval"})
    node = sec.items.get("files")
    if node is None:
        raise err(sec.path, sec.node, "flows: missing key 'files'")
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    if not items or not all(isinstance(i, yaml.ScalarNode) and i.value for i in items):
        raise err(sec.path, node, "flows.files: expected a file name or a list of them")
    interval = sec.scalar("watch_interval", float, 1.0)
    if interval < 0:
        raise err(sec.path, sec.items["watch_interval"], "flows.watch_interval: must be >= 0")
    return FlowsConfig(
        files=tuple(base / str(i.value) for i in items),
        prompts=base / sec.scalar("prompts", str, "prompts"),
        watch_interval=interval,
    )


def daemon(top: Section, base: Path) -> DaemonConfig:
    daemon = _daemon_section(top, base)
    text = os.environ.get(NOW_ENV)
    if text:
        try:
            daemon = replace(daemon, clock_start=values.parse_instant(text))
        except ValueError as exc:
            raise ConfigError(Problem(f"${NOW_ENV}", 0, str(exc))) from None
    return daemon


def _daemon_section(top: Section, base: Path) -> DaemonConfig:
    if "daemon" not in top.items:
        return DaemonConfig()
    sec = top.section("daemon")
    sec.check_keys({"drain_timeout", "stall_guard", "log_level", "clock_start", "state_directory",
                    "journal_directory", "journal"})  # fmt: skip
    state = Path(sec.scalar("state_directory", str, "/var/lib/switchboard"))
    journal = sec.scalar("journal_directory", str, "")
    return DaemonConfig(
        state_directory=base / state,
        journal_directory=base / journal if journal else None,
        journal=sec.scalar("journal", values.boolean, True),
        drain_timeout=sec.scalar("drain_timeout", values.positive(float), 600.0),
        stall_guard=sec.scalar("stall_guard", values.positive(float), 120.0),
        log_level=sec.scalar("log_level", values.log_level, "info"),
        clock_start=sec.scalar("clock_start", values.parse_instant)
        if "clock_start" in sec.items
        else None,
    )


def admission(sec: Section) -> AdmissionConfig:
    sec.check_keys({"max_loop_lag", "max_setting_up"})
    lag = sec.scalar("max_loop_lag", float, 0.5)
    setting_up = sec.scalar("max_setting_up", int, 1000)
    if lag < 0 or setting_up < 0:
        node = sec.items["max_loop_lag" if lag < 0 else "max_setting_up"]
        raise err(sec.path, node, "admission: limits must be >= 0 (0 turns one off)")
    return AdmissionConfig(max_loop_lag=lag, max_setting_up=setting_up)


def database(sec: Section) -> DatabaseConfig:
    sec.check_keys({"url", "url_env", "schema"})
    url = secret(sec, "url")
    if not url.startswith(("postgresql://", "postgres://")):
        raise err(sec.path, sec.node, "database.url: must start with postgresql://")
    return DatabaseConfig(url=url, schema=sec.scalar("schema", values.identifier, "switchboard"))


def voicemail(top: Section, base: Path) -> VoicemailConfig:
    sec = top.section("voicemail")
    sec.check_keys({"directory", "from", "retry_seconds", "mailboxes", "keep_days"})
    mailboxes: dict[str, Mailbox] = {}
    if "mailboxes" in sec.items:
        boxes = Section(sec.path, sec.items["mailboxes"], "voicemail.mailboxes")
        for number, node in boxes.items.items():
            if not number.isdigit():
                raise err(
                    sec.path, node, f"voicemail.mailboxes: {number!r} is not a mailbox number"
                )
            box = Section(sec.path, node, f"voicemail.mailboxes.{number}")
            box.check_keys({"email", "name"})
            emails = box.items.get("email")
            listed = emails.value if isinstance(emails, yaml.SequenceNode) else [emails]
            addresses = []
            for item in listed:
                if not isinstance(item, yaml.ScalarNode) or "@" not in str(item.value):
                    where = item if isinstance(item, yaml.Node) else node
                    raise err(sec.path, where, f"{box.name}.email: expected addresses with @")
                addresses.append(str(item.value))
            mailboxes[number] = Mailbox(tuple(addresses), box.scalar("name", str, ""))
    return VoicemailConfig(
        directory=base / sec.scalar("directory", str),
        sender=sec.scalar("from", str, "Switchboard <switchboard@localhost>"),
        retry_seconds=sec.scalar("retry_seconds", values.positive(float), 30.0),
        mailboxes=MappingProxyType(mailboxes),
        keep_days=keep_days(sec, top),
    )


def smtp(sec: Section) -> SmtpConfig:
    sec.check_keys({"host", "port", "starttls", "username", "password", "password_env", "timeout"})
    return SmtpConfig(
        host=sec.scalar("host", str, "127.0.0.1"),
        port=sec.scalar("port", values.positive(int), 25),
        starttls=sec.scalar("starttls", values.boolean, False),
        username=sec.scalar("username", str, "") if "username" in sec.items else "",
        password=secret(sec, "password", "")
        if {"password", "password_env"} & sec.items.keys()
        else "",
        timeout=sec.scalar("timeout", values.positive(float), 20.0),
    )


MIN_TOKEN_CHARS = 16
API_KEYS = {
    "listen", "tokens", "max_body_bytes", "trusted_proxies", "header_timeout", "body_timeout",
    "keepalive_timeout", "max_connections", "max_connections_per_address", "auth_failures",
}  # fmt: skip


def api(sec: Section) -> ApiConfig:
    sec.check_keys(API_KEYS)
    host, port = sec.scalar("listen", values.listen, ("127.0.0.1", 8090))
    return ApiConfig(
        host=host,
        port=port,
        tokens=_api_tokens(sec),
        max_body_bytes=sec.scalar("max_body_bytes", values.positive(int), 64 * 1024),
        trusted_proxies=tuple(
            ipaddress.ip_network(n)
            for n in words(sec, "trusted_proxies", values.network, required=False)
        ),
        header_timeout=sec.scalar("header_timeout", values.positive(float), 10.0),
        body_timeout=sec.scalar("body_timeout", values.positive(float), 30.0),
        keepalive_timeout=sec.scalar("keepalive_timeout", values.positive(float), 75.0),
        max_connections=sec.scalar("max_connections", values.positive(int), 1000),
        max_connections_per_address=sec.scalar(
            "max_connections_per_address", values.positive(int), 100
        ),
        auth_failures=_auth_failures(
            Section(sec.path, sec.items["auth_failures"], "api.auth_failures")
        )
        if "auth_failures" in sec.items
        else AuthFailureLimits(),
    )


def _api_tokens(sec: Section) -> tuple[ApiToken, ...]:
    node = sec.items.get("tokens")
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        where = node if node is not None else sec.node
        raise err(
            sec.path, where, "api.tokens: list at least one {name: ..., token_env: ..., "
            "scopes: [...]} (every route but /health needs a token)"
        )  # fmt: skip
    tokens: list[ApiToken] = []
    for item in node.value:
        entry = Section(sec.path, item, "api.tokens[]")
        entry.check_keys({"name", "token", "token_env", "scopes"})
        name = entry.scalar("name", str)
        token = ApiToken(name, secret(entry, "token"), _scopes(entry, name))
        if len(token.token) < MIN_TOKEN_CHARS:
            raise err(
                sec.path, item, f"api.tokens[]: token {token.name!r} is shorter than "
                f"{MIN_TOKEN_CHARS} characters (make one with: openssl rand -hex 32)"
            )  # fmt: skip
        if any(t.name == token.name for t in tokens):
            raise err(sec.path, item, f"api.tokens[]: name {token.name!r} given twice")
        tokens.append(token)
    return tuple(tokens)


def _auth_failures(sec: Section) -> AuthFailureLimits:
    sec.check_keys({"per_address", "window_seconds", "tracked"})
    return AuthFailureLimits(
        per_address=sec.scalar("per_address", values.positive(int), 20),
        window_seconds=sec.scalar("window_seconds", values.positive(float), 60.0),
        tracked=sec.scalar("tracked", values.positive(int), 10_000),
    )


def _scopes(entry: Section, name: str) -> frozenset[ApiScope]:
    """``scopes: [read, audio]``: required, so that no token has every right unsaid."""
    values = [scope.value for scope in ApiScope]
    known = ", ".join(values)
    if "scopes" not in entry.items:
        raise err(entry.path, entry.node, f"api.tokens[]: token {name!r} has no scopes: "
                   f"add scopes: [...] with what it may do (any of: {known})")  # fmt: skip

    def scope(text: str) -> str:
        if text not in values:
            raise ValueError(f"unknown scope {text!r} (known: {known})")
        return text

    return frozenset(ApiScope(word) for word in words(entry, "scopes", scope))


# -- web callbacks ----------------------------------------------------------------------
