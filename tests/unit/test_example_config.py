"""Tier 1: deploy/switchboard.example.yaml loads, and documents every option the config knows.

The keys the config accepts are learned from load_config itself: for each section,
an unknown key is slipped in and the error's "(known: ...)" list is read. So an
option added to config.py later fails this test until the example documents it
(as an active key, or as a commented-out "#key: value" line).
"""

from __future__ import annotations

import configparser
import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from switchboard.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "deploy" / "switchboard.example.yaml"
UNIT = REPO / "deploy" / "systemd" / "switchboard.service"
# What the example's *_env keys name (deploy/switchboard.env.example).
ENV = {
    "SWITCHBOARD_ARI_PASSWORD": "ari-secret",
    "SWITCHBOARD_DATABASE_URL": "postgresql://switchboard:db-secret@127.0.0.1:5432/switchboard",
    "SWITCHBOARD_SMTP_PASSWORD": "smtp-secret",
    "SWITCHBOARD_API_TOKEN": "api-token-0123456789abcdef",
    "SWITCHBOARD_WALLBOARD_TOKEN": "wallboard-token-0123456789abcdef",
}
PROBE = "zz_not_an_option"
KNOWN = re.compile(rf": ([\w.-]+): unknown key '{PROBE}' \(known: ([^)]*)\)$")
# A commented-out option: '#' straight before the key (prose comments have '# ').
COMMENTED_KEY = re.compile(r"^(\s*)#(?=[\"']?[\w-]+[\"']?:(\s|$))", re.MULTILINE)
# Seconds the daemon may still spend after drain_timeout (app.py: agent, call-log
# and voicemail flushes).
AFTER_DRAIN_S = 20


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SWITCHBOARD_NOW", raising=False)


def active_tree() -> dict[str, Any]:
    tree = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    assert isinstance(tree, dict)
    return tree


def documented_tree() -> dict[str, Any]:
    """The example with every commented-out option switched on."""
    text = COMMENTED_KEY.sub(r"\1", EXAMPLE.read_text(encoding="utf-8"))
    tree = yaml.safe_load(text)
    assert isinstance(tree, dict)
    return tree


def test_the_example_loads_with_its_environment(tmp_path: Path) -> None:
    config = load_config(EXAMPLE)
    assert config.ari.password == ENV["SWITCHBOARD_ARI_PASSWORD"]
    assert config.database is not None
    assert config.database.url == ENV["SWITCHBOARD_DATABASE_URL"]
    assert config.flows.files == (EXAMPLE.parent / "flows" / "main.yaml",)
    assert config.daemon.state_directory == Path("/var/lib/switchboard")
    assert config.daemon.clock_start is None  # a production example never sets the clock
    assert config.voicemail is not None
    assert "100" in config.voicemail.mailboxes


def known_keys(tmp_path: Path, path: tuple[str, ...]) -> set[str] | None:
    """The keys load_config accepts at ``path`` (None: a mapping of free names such
    as voicemail.mailboxes, or a section that takes any key)."""
    tree = copy.deepcopy(active_tree())
    documented = documented_tree()
    node: dict[str, Any] = tree
    for key in path:  # a section only commented out in the example: switch it on
        if not isinstance(node.get(key), dict):
            node[key] = copy.deepcopy(documented[key])
        node, documented = node[key], documented[key]
    node[PROBE] = 1
    probe = tmp_path / "probe.yaml"
    probe.write_text(yaml.safe_dump(tree), encoding="utf-8")
    try:
        load_config(probe)
    except ConfigError as exc:
        match = KNOWN.search(str(exc))
        if match is None:
            return None
        return {k.strip() for k in match.group(2).split(",")}
    return None


def undocumented(tmp_path: Path, path: tuple[str, ...], documented: dict[str, Any]) -> list[str]:
    """Each option config.py accepts at ``path`` (and below) that the example lacks."""
    known = known_keys(tmp_path, path)
    where = ".".join(path) or "the top level"
    if known is None:  # free names: look inside each entry the example gives
        return [
            problem
            for name, value in documented.items()
            if isinstance(value, dict)
            for problem in undocumented(tmp_path, (*path, name), value)
        ]
    problems = [
        f"{EXAMPLE.name} does not document {'.'.join((*path, key))} "
        f"(config.py accepts it in {where}): add it, with a comment saying what it does"
        for key in sorted(known - documented.keys())
    ]
    problems += [
        f"{EXAMPLE.name} documents {'.'.join((*path, key))}, which config.py does not "
        f"know in {where} (known: {', '.join(sorted(known))})"
        for key in sorted(documented.keys() - known)
    ]
    for key in sorted(known & documented.keys()):
        if isinstance(documented[key], dict):
            problems += undocumented(tmp_path, (*path, key), documented[key])
    return problems


def test_every_option_config_py_knows_is_documented_in_the_example(tmp_path: Path) -> None:
    problems = undocumented(tmp_path, (), documented_tree())
    assert not problems, "\n".join(problems)


def test_the_walk_notices_an_option_the_example_lacks(tmp_path: Path) -> None:
    documented = documented_tree()
    del documented["daemon"]["stall_guard"]
    del documented["smtp"]["password_env"]
    assert undocumented(tmp_path, (), documented) == [
        f"{EXAMPLE.name} does not document daemon.stall_guard (config.py accepts it in "
        "daemon): add it, with a comment saying what it does",
        f"{EXAMPLE.name} does not document smtp.password_env (config.py accepts it in "
        "smtp): add it, with a comment saying what it does",
    ]


def test_the_walk_reaches_options_inside_free_named_mappings(tmp_path: Path) -> None:
    documented = documented_tree()
    del documented["voicemail"]["mailboxes"]["100"]["name"]
    documented["voicemail"]["mailboxes"]["100"]["nmae"] = "Office"
    assert undocumented(tmp_path, (), documented) == [
        f"{EXAMPLE.name} does not document voicemail.mailboxes.100.name (config.py accepts "
        "it in voicemail.mailboxes.100): add it, with a comment saying what it does",
        f"{EXAMPLE.name} documents voicemail.mailboxes.100.nmae, which config.py does not "
        "know in voicemail.mailboxes.100 (known: email, name)",
    ]


def test_systemd_waits_longer_than_the_drain_before_killing() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(UNIT, encoding="utf-8")
    stop_timeout = float(unit["Service"]["TimeoutStopSec"])
    drain = load_config(EXAMPLE).daemon.drain_timeout
    assert stop_timeout > drain + AFTER_DRAIN_S, (
        f"{UNIT.name}: TimeoutStopSec={stop_timeout:g} must exceed the example's "
        f"daemon.drain_timeout ({drain:g}) + {AFTER_DRAIN_S} s of flushing"
    )
