"""Tier 1: the api: section of the config (listen address, tokens and their scopes)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from switchboard.config import ApiScope, ConfigError, load_config
from tests.unit.test_config_and_cli import GOOD, write

TOKEN = "0123456789abcdef0123"


def test_the_api_section_gives_address_and_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SB_WALL", "w" * 20)
    text = GOOD + (
        "api:\n  listen: 0.0.0.0:9000\n  tokens:\n"
        f"    - {{name: ops, token: {TOKEN}, scopes: [read, agents, admin]}}\n"
        "    - {name: wallboard, token_env: SB_WALL, scopes: [pages]}\n"
        f"    - {{name: qa, token: {TOKEN}-qa, scopes: audio}}\n"
    )
    api = load_config(write(tmp_path, text)).api
    assert api is not None
    assert (api.host, api.port) == ("0.0.0.0", 9000)
    assert [(t.name, t.token, t.scopes) for t in api.tokens] == [
        ("ops", TOKEN, frozenset({ApiScope.READ, ApiScope.AGENTS, ApiScope.ADMIN})),
        ("wallboard", "w" * 20, frozenset({ApiScope.PAGES})),
        ("qa", f"{TOKEN}-qa", frozenset({ApiScope.AUDIO})),
    ]
    assert TOKEN not in repr(api)  # secrets stay out of logs and tracebacks


def test_without_an_api_section_there_is_no_server(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, GOOD)).api is None


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("api:\n  listen: 8090\n", ":8:11: api.listen: expected host:port"),
        ("api:\n  listen: 127.0.0.1:99999\n", ":8:11: api.listen: expected host:port"),
        ("api:\n  listen: 127.0.0.1:8090\n", ":8:3: api.tokens: list at least one"),
        ("api:\n  tokens: []\n", ":8:11: api.tokens: list at least one"),
        (
            "api:\n  tokens:\n    - {name: a, token: short, scopes: [read]}\n",
            ":9:7: api.tokens[]: token 'a' is",
        ),
        (
            f"api:\n  tokens:\n    - {{name: a, token: {TOKEN}, scopes: [read]}}\n"
            f"    - {{name: a, token: {TOKEN}, scopes: [read]}}\n",
            ":10:7: api.tokens[]: name 'a' given twice",
        ),
        (
            f"api:\n  tokens:\n    - {{name: a, token: {TOKEN}}}\n",
            ":9:7: api.tokens[]: token 'a' has no scopes: add scopes: [...] with what it may "
            "do (any of: pages, read, audio, agents, admin)",
        ),
        (
            f"api:\n  tokens:\n    - {{name: a, token: {TOKEN}, scopes: [read, everything]}}\n",
            ":9:61: api.tokens[].scopes: unknown scope 'everything' "
            "(known: pages, read, audio, agents, admin)",
        ),
        (
            f"api:\n  tokens:\n    - {{name: a, token: {TOKEN}, scopes: []}}\n",
            ":9:54: api.tokens[].scopes: list at least one",
        ),
        (
            f"api:\n  tokens:\n    - {{name: a, token: {TOKEN}, scopes: [[read]]}}\n",
            ":9:55: api.tokens[].scopes: expected a list of single values",
        ),
        (f"api:\n  tokens:\n    - {{name: a, secret: {TOKEN}}}\n", "unknown key 'secret'"),
        ("api:\n  tokens:\n    - {name: a, token_env: SB_NOPE_NOT_SET}\n", "is not set"),
    ],
)
def test_api_config_errors_say_where_and_what(tmp_path: Path, section: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(write(tmp_path, GOOD + section))


API = f"api:\n  tokens: [{{name: ops, token: {TOKEN}, scopes: [read]}}]\n"


def test_the_edge_settings_have_safe_defaults_and_load(tmp_path: Path) -> None:
    default = load_config(write(tmp_path, GOOD + API)).api
    assert default is not None
    assert default.trusted_proxies == ()  # X-Forwarded-For is not read at all
    assert (default.header_timeout, default.body_timeout, default.keepalive_timeout) == (
        10.0,
        30.0,
        75.0,
    )
    assert (default.max_connections, default.max_connections_per_address) == (1000, 100)
    assert default.auth_failures.per_address == 20
    text = (
        GOOD
        + API
        + (
            "  trusted_proxies: [10.0.0.0/8, '::1']\n"
            "  header_timeout: 2\n  body_timeout: 5.5\n  keepalive_timeout: 20\n"
            "  max_connections: 300\n  max_connections_per_address: 8\n"
            "  auth_failures: {per_address: 5, window_seconds: 30}\n"
        )
    )
    api = load_config(write(tmp_path, text)).api
    assert api is not None
    assert [str(n) for n in api.trusted_proxies] == ["10.0.0.0/8", "::1/128"]
    assert (api.header_timeout, api.body_timeout, api.keepalive_timeout) == (2, 5.5, 20)
    assert (api.max_connections, api.max_connections_per_address) == (300, 8)
    assert (api.auth_failures.per_address, api.auth_failures.window_seconds) == (5, 30)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ("  trusted_proxies: [localhost]\n", ":9:21: api.trusted_proxies: 'localhost' is not"),
        ("  header_timeout: 0\n", ":9:19: api.header_timeout: must be a positive"),
        ("  max_connections_per_address: -1\n", ":9:32: api.max_connections_per_address"),
        ("  auth_failures: {per_address: 0}\n", ":9:32: api.auth_failures.per_address"),
        ("  auth_failures: {tries: 3}\n", "api.auth_failures: unknown key 'tries'"),
    ],
)
def test_edge_setting_errors_say_where_and_what(tmp_path: Path, lines: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, GOOD + API + lines))


def test_callbacks_trusted_proxies_is_an_error_that_says_where_it_moved(tmp_path: Path) -> None:
    text = (
        GOOD
        + API
        + (
            'database: {url: "postgresql://x@127.0.0.1/x"}\n'
            "dial_policy: {countries: [RU]}\n"
            "callbacks:\n  trunk: carrier\n  company_number: '+74951234567'\n"
            "  default_skill: sales\n  skills: [sales]\n"
            "  trusted_proxies: [127.0.0.1]\n"
        )
    )
    with pytest.raises(
        ConfigError, match=r":16:20: callbacks.trusted_proxies is now api.trusted_proxies"
    ):
        load_config(write(tmp_path, text))
