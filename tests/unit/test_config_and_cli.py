"""Tier 1: the config file and the command line fail with one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from switchboard.cli import main
from switchboard.config import ConfigError, load_config
from tests.flowkit import SPINE

REPO = Path(__file__).resolve().parents[2]

GOOD = """\
ari:
  url: http://127.0.0.1:8088/
  username: switchboard
  password: secret
flows:
  files: [flows/main.yaml]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "switchboard.yaml"
    path.write_text(text)
    return path


def test_a_good_config_loads_with_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.ari.url == "http://127.0.0.1:8088"
    assert config.ari.app == "switchboard"
    assert config.flows.files == (tmp_path / "flows/main.yaml",)  # relative to the config
    assert config.flows.prompts == tmp_path / "prompts"
    assert config.flows.watch_interval == 1.0
    assert config.daemon.drain_timeout == 600.0
    assert config.daemon.stall_guard == 120.0


def test_password_can_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SB_ARI_PW", "from-env")
    text = GOOD.replace("  password: secret", "  password_env: SB_ARI_PW")
    assert load_config(write(tmp_path, text)).ari.password == "from-env"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("  password: secret\n", ""), ":2:3: ari: missing key 'password'"),
        (GOOD + "  colour: blue\n", ":7:11: flows: unknown key 'colour'"),
        (GOOD.replace("http://127", "ftp://127"), ":2:8: ari.url: must start with http://"),
        (GOOD + "  watch_interval: -4\n", ":7:19: flows.watch_interval: must be >= 0"),
        (GOOD + "  watch_interval: soon\n", ":7:19: flows.watch_interval: could not convert"),
        (
            GOOD.replace("  files: [flows/main.yaml]\n", "  prompts: p\n"),
            ":6:3: flows: missing key 'files'",
        ),
        (GOOD + "daemon:\n  log_level: loud\n", ":8:14: daemon.log_level: must be one of"),
        (GOOD + "daemon:\n  stall_guard: 0\n", ":8:16: daemon.stall_guard: must be a positive"),
        (GOOD + "ari: {}\n", ":7:1: config: duplicate key 'ari'"),
        ("ari: [\n", "not valid YAML"),
        ("", "config is empty"),
        ("- 1\n", ":1:1: config must be a mapping"),
        (
            GOOD.replace("  password: secret", "  password_env: SB_NOT_SET_ANYWHERE"),
            "ari.password_env: $SB_NOT_SET_ANYWHERE is not set",
        ),
    ],
)
def test_config_errors_name_file_line_and_what_is_wrong(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(str(path))
    assert message in str(caught.value)


def test_the_config_file_is_bounded_and_utf8_and_may_use_aliases(tmp_path: Path) -> None:
    path = tmp_path / "switchboard.yaml"
    path.write_bytes(GOOD.encode() + b"#" * (256 * 1024))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}: config larger than 262144 bytes"
    path.write_bytes(GOOD.encode() + b"# \xff\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == (
        f"{path}: not valid YAML: 'utf-8' codec can't decode byte 0xff in position "
        f"{len(GOOD) + 2}: invalid start byte"
    )
    # The operator's own file: an anchor and an alias are allowed, as they always were.
    aliased = GOOD.replace("  username: switchboard", "  username: &user switchboard")
    config = load_config(write(tmp_path, aliased + "  prompts: *user\n"))
    assert config.flows.prompts == tmp_path / "switchboard"


def test_run_with_a_missing_config_prints_one_line_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--config", str(tmp_path / "nope.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "nope.yaml: cannot read config: No such file or directory" in err


def test_run_with_an_unreadable_config_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--config", str(tmp_path)]) == 2  # a directory cannot be read
    assert "cannot read config" in capsys.readouterr().err


def test_help_is_printed_by_the_installed_command() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "switchboard"), "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 0
    assert "run" in result.stdout
    assert "Contact-center call router" in result.stdout


def test_run_refuses_to_start_on_a_broken_flow_with_the_checker_messages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("switchboard.logs.configure", lambda level: None)  # keep pytest's
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "main.yaml").write_text("languages: [en]\nentry: {}\nnodes: {}\n")
    assert main(["run", "--config", str(write(tmp_path, GOOD))]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (
        f"{tmp_path / 'flows' / 'main.yaml'}:2:8: entry is empty: map at least one dialed "
        "number to a node"
    )
    assert err[-1] == "switchboard: not starting: 1 error(s) in the flows"


VOICEMAIL = """\
database: {url: "postgresql://u@db/x", schema: calls}
voicemail:
  directory: vm
  from: "Office <pbx@example.com>"
  mailboxes:
    "100": {email: [office@example.com, boss@example.com], name: Office}
    "200": {email: night@example.com}
smtp: {host: mail.example.com, port: 587, starttls: true, username: pbx, password: pw}
"""


def test_voicemail_database_and_smtp_sections(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD + VOICEMAIL))
    assert config.database is not None
    assert (config.database.url, config.database.schema) == ("postgresql://u@db/x", "calls")
    assert config.voicemail is not None
    assert config.voicemail.directory == tmp_path / "vm"
    assert config.voicemail.mailboxes["100"].email == ("office@example.com", "boss@example.com")
    assert config.voicemail.mailboxes["200"].email == ("night@example.com",)
    assert (config.smtp.host, config.smtp.port, config.smtp.starttls) == (
        "mail.example.com",
        587,
        True,
    )
    assert load_config(write(tmp_path, GOOD)).voicemail is None  # the sections are optional


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("office@example.com, ", "office.example.com, "), "email: expected addresses with @"),
        (('"200"', '"2x0"'), "voicemail.mailboxes: '2x0' is not a mailbox number"),
        (("postgresql://u@db/x", "mysql://u@db/x"), "database.url: must start with postgresql://"),
        (("schema: calls", "schema: Calls;"), "is not a lower-case SQL name"),
        (("starttls: true", "starttls: maybe"), "smtp.starttls: expected true or false"),
    ],
)
def test_voicemail_section_mistakes(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in VOICEMAIL
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, GOOD + VOICEMAIL.replace(old, new)))


def test_the_clock_can_be_started_at_an_instant_for_tests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    timed = GOOD + 'daemon: {clock_start: "2026-11-28T12:00:00+03:00"}\n'
    start = load_config(write(tmp_path, timed)).daemon.clock_start
    assert start is not None
    assert start.isoformat() == "2026-11-28T12:00:00+03:00"
    monkeypatch.setenv("SWITCHBOARD_NOW", "2026-11-25T10:00:00+03:00")
    start = load_config(write(tmp_path, timed)).daemon.clock_start
    assert start is not None
    assert start.isoformat() == "2026-11-25T10:00:00+03:00"  # the environment wins
    monkeypatch.setenv("SWITCHBOARD_NOW", "2026-11-25 10:00")
    with pytest.raises(ConfigError, match=r"needs a UTC offset"):
        load_config(write(tmp_path, GOOD))
    monkeypatch.delenv("SWITCHBOARD_NOW")
    assert load_config(write(tmp_path, GOOD)).daemon.clock_start is None


def test_run_refuses_flows_that_record_without_a_recording_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Recordings nobody fetches would fill Asterisk's disk: the daemon does not start."""
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "main.yaml").write_text("record_calls: true\n" + SPINE)
    text = GOOD + f"  prompts: {REPO / 'prompts'}\n"
    assert main(["run", "--config", str(write(tmp_path, text))]) == 2
    err = capsys.readouterr().err
    assert "main.yaml:8:3: node 'agent' records the calls it connects" in err
    assert "no recording: section" in err


CALLBACK_QUEUE = """
languages: [en]
entry: {"74951234567": wait}
nodes:
  wait:
    kind: queue
    endpoints: [PJSIP/agent100]
    callback_key: "5"
    callback_prompt: goodbye
    callback_refused_prompt: callback_refused
    callback_trunk: carrier
    on_timeout: bye
  bye: {kind: hangup}
"""


def test_run_refuses_flows_that_offer_callbacks_without_a_dial_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without dial_policy: no number may be called back: a callback key that could only
    ever refuse is a configuration mistake, said before the first call."""
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "main.yaml").write_text(CALLBACK_QUEUE)
    text = GOOD + f"  prompts: {REPO / 'prompts'}\n"
    assert main(["run", "--config", str(write(tmp_path, text))]) == 2
    err = capsys.readouterr().err
    assert "main.yaml:5:3: node 'wait' offers callbacks" in err
    assert "no dial_policy: section" in err
