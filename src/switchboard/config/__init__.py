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
      journal_directory: /var/lib/switchboard/journal   # calls in progress (default: here)
      journal: true             # false: no journal (a killed daemon loses its calls' history)
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
    admission:                  # optional: when an overloaded daemon sheds new calls to
      max_loop_lag: 0.5         # the dialplan: event loop late by more than this (s), or
      max_setting_up: 1000      # this many calls not yet connected (0 turns a limit off)
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

from pathlib import Path

from . import callbacks, sections
from .model import (
    AdmissionConfig,
    AgiConfig,
    ApiConfig,
    ApiScope,
    ApiToken,
    AriConfig,
    AuthFailureLimits,
    CallbacksConfig,
    CallsConfig,
    Config,
    DaemonConfig,
    DatabaseConfig,
    DialPolicy,
    FlowsConfig,
    Mailbox,
    Network,
    RateLimits,
    RecordingConfig,
    RoutingConfig,
    SmtpConfig,
    VoicemailConfig,
)
from .reading import ConfigError
from .reading import read as _read
from .sections import NOW_ENV
from .values import parse_instant

# The config's top-level sections (each parsed by its own function in .sections or
# .callbacks).
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
    "admission",
}


def load_config(path: str | Path) -> Config:
    """The config file at ``path``, or :class:`ConfigError` naming where it is wrong."""
    top = _read(path)
    top.check_keys(SECTIONS)
    base = Path(path).resolve().parent
    return Config(
        ari=sections.ari(top.section("ari")),
        flows=sections.flows(top.section("flows"), base),
        daemon=sections.daemon(top, base),
        database=sections.database(top.section("database")) if "database" in top.items else None,
        voicemail=sections.voicemail(top, base) if "voicemail" in top.items else None,
        smtp=sections.smtp(top.section("smtp")) if "smtp" in top.items else SmtpConfig(),
        routing=sections.routing(top.section("routing"))
        if "routing" in top.items
        else RoutingConfig(),
        api=sections.api(top.section("api")) if "api" in top.items else None,
        agi=sections.agi(top.section("agi")) if "agi" in top.items else None,
        recording=sections.recording(top, base) if "recording" in top.items else None,
        callbacks=callbacks.callbacks(top) if "callbacks" in top.items else None,
        dial_policy=callbacks.dial_policy(top.section("dial_policy"))
        if "dial_policy" in top.items
        else None,
        calls=sections.calls(top) if "calls" in top.items else CallsConfig(),
        admission=sections.admission(top.section("admission"))
        if "admission" in top.items
        else AdmissionConfig(),
    )


__all__ = [
    "NOW_ENV",
    "SECTIONS",
    "AdmissionConfig",
    "AgiConfig",
    "ApiConfig",
    "ApiScope",
    "ApiToken",
    "AriConfig",
    "AuthFailureLimits",
    "CallbacksConfig",
    "CallsConfig",
    "Config",
    "ConfigError",
    "DaemonConfig",
    "DatabaseConfig",
    "DialPolicy",
    "FlowsConfig",
    "Mailbox",
    "Network",
    "RateLimits",
    "RecordingConfig",
    "RoutingConfig",
    "SmtpConfig",
    "VoicemailConfig",
    "load_config",
    "parse_instant",
]
