"""Reading the config file: its YAML (through :mod:`switchboard.safeyaml`), its
sections as mappings with positions, and :class:`ConfigError`, whose message names
the file, line and column."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import yaml

from switchboard import safeyaml
from switchboard.safeyaml import Problem

MAX_CONFIG_BYTES = 256 * 1024
# The config is the operator's own file: anchors and aliases are allowed, and it is
# read by the pure-Python parser (whose words its messages quote).
CONFIG_FILES = safeyaml.Rules(
    max_bytes=MAX_CONFIG_BYTES,
    too_big="config larger than {limit} bytes",
    empty="config is empty",
    not_utf8="not valid YAML: {problem}",
    bad_yaml="not valid YAML: {problem}",
    whole_file=True,
    loader=yaml.SafeLoader,
)
T = TypeVar("T")


class ConfigError(Exception):
    """The configuration is unreadable or wrong; the message is one line for the operator."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def read(path: str | Path) -> Section:
    """The config file's top level."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(Problem(name, 0, f"cannot read config: {exc.strerror or exc}")) from None
    node, problems = safeyaml.compose(name, raw, CONFIG_FILES)
    if node is None:
        raise ConfigError(problems[0])
    return Section(name, node, "config")


class Section:
    """A YAML mapping with its position, for exact error messages."""

    def __init__(self, path: str, node: yaml.Node, name: str) -> None:
        if not isinstance(node, yaml.MappingNode):
            raise err(path, node, f"{name} must be a mapping of keys to values")
        self.path, self.node, self.name = path, node, name
        entries, issues = safeyaml.entries(node)
        for issue in issues[:1]:  # the first, in file order
            if issue.first is None:
                raise err(path, issue.key, f"{name}: keys must be plain words")
            raise err(path, issue.key, f"{name}: duplicate key {issue.key.value!r}")
        self.items: dict[str, yaml.Node] = {key: value for key, (_, value) in entries.items()}

    def check_keys(self, allowed: set[str]) -> None:
        for key, value in self.items.items():
            if key not in allowed:
                known = ", ".join(sorted(allowed))
                raise err(self.path, value, f"{self.name}: unknown key {key!r} (known: {known})")

    def section(self, key: str) -> Section:
        if key not in self.items:
            raise err(self.path, self.node, f"missing section {key!r}")
        return Section(self.path, self.items[key], key)

    def scalar(self, key: str, convert: Callable[[str], T], default: T | None = None) -> T:
        node = self.items.get(key)
        if node is None:
            if default is None:
                raise err(self.path, self.node, f"{self.name}: missing key {key!r}")
            return default
        if not isinstance(node, yaml.ScalarNode) or node.value == "":
            raise err(self.path, node, f"{self.name}.{key}: expected a single value")
        try:
            return convert(node.value)
        except ValueError as exc:
            raise err(self.path, node, f"{self.name}.{key}: {exc}") from None


def err(path: str, node: yaml.Node, what: str) -> ConfigError:
    return ConfigError(Problem(path, safeyaml.line(node), what, col=safeyaml.column(node)))


def secret(sec: Section, key: str, default: str | None = None) -> str:
    """``key: value``, or ``key_env: NAME`` read from the environment."""
    env_key = f"{key}_env"
    if env_key in sec.items:
        var = sec.scalar(env_key, str)
        value = os.environ.get(var)
        if value is None:
            raise err(sec.path, sec.items[env_key], f"{sec.name}.{env_key}: ${var} is not set")
        return value
    return sec.scalar(key, str, default)


def words(
    sec: Section, key: str, convert: Callable[[str], str], *, required: bool = True
) -> tuple[str, ...]:
    """``key: [a, b]`` (or one value) -> each converted; an error names the item."""
    node = sec.items.get(key)
    if node is None:
        if required:
            raise err(sec.path, sec.node, f"{sec.name}: missing key {key!r}")
        return ()
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    converted = []
    for item in items:
        if not isinstance(item, yaml.ScalarNode) or item.value == "":
            raise err(sec.path, item, f"{sec.name}.{key}: expected a list of single values")
        try:
            converted.append(convert(str(item.value)))
        except ValueError as exc:
            raise err(sec.path, item, f"{sec.name}.{key}: {exc}") from None
    if required and not converted:
        raise err(sec.path, node, f"{sec.name}.{key}: list at least one")
    return tuple(converted)
