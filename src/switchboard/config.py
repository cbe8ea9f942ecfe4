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
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import yaml

MAX_CONFIG_BYTES = 256 * 1024
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


@dataclass(frozen=True, slots=True)
class Config:
    ari: AriConfig
    flows: FlowsConfig
    daemon: DaemonConfig


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
    top.check_keys({"ari", "flows", "daemon"})
    base = Path(path).resolve().parent
    return Config(
        ari=_ari(top.section("ari")), flows=_flows(top.section("flows"), base), daemon=_daemon(top)
    )


def _ari(sec: _Section) -> AriConfig:
    sec.check_keys({"url", "username", "password", "password_env", "app"})
    if "password_env" in sec.items:
        var = sec.scalar("password_env", str)
        password = os.environ.get(var)
        if password is None:
            raise _err(sec.path, sec.items["password_env"], f"ari.password_env: ${var} is not set")
    else:
        password = sec.scalar("password", str)
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


def _daemon(top: _Section) -> DaemonConfig:
    if "daemon" not in top.items:
        return DaemonConfig()
    sec = top.section("daemon")
    sec.check_keys({"drain_timeout", "stall_guard", "log_level"})
    return DaemonConfig(
        drain_timeout=sec.scalar("drain_timeout", _positive(float), 600.0),
        stall_guard=sec.scalar("stall_guard", _positive(float), 120.0),
        log_level=sec.scalar("log_level", _log_level, "info"),
    )
