"""Tier 1: the FastAGI protocol and the scripts' parameters, without I/O."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switchboard.agi.handlers import hours_variables, route_variables
from switchboard.agi.params import (
    DIAL_STRING_CHARS,
    BadParams,
    RouteAsk,
    done_status,
    fallback_target,
    hours_ask,
    release_result,
    route_ask,
)
from switchboard.agi.protocol import (
    AgiProtocolError,
    AgiRequest,
    Reply,
    env_text,
    get_variable,
    parse_environment,
    parse_reply,
    quote,
    set_variable,
)
from switchboard.config import AgiConfig, ConfigError, load_config
from switchboard.engine.events import AgentFound
from switchboard.hours import Calendar, Hours
from switchboard.routing.rank import UNKNOWN, Customer, Segment

# What Asterisk 22 sent in the lab for AGI(agi://127.0.0.1:4573/route?skill=sales)
ENV = {
    "agi_network": "yes",
    "agi_network_script": "route?skill=sales:3&language=ru",
    "agi_request": "agi://127.0.0.1:4573/route?skill=sales:3&language=ru",
    "agi_channel": "PJSIP/caller-00000002",
    "agi_language": "en",
    "agi_type": "PJSIP",
    "agi_uniqueid": "1764500000.7",
    "agi_version": "22.10.0",
    "agi_callerid": "79161234567",
    "agi_calleridname": "unknown",
    "agi_context": "switchboard-agi-example",
    "agi_extension": "74951234590",
    "agi_priority": "3",
    "agi_enhanced": "0.0",
    "agi_accountcode": "",
    "agi_threadid": "140113456",
}


def request(url: str, **env: str) -> AgiRequest:
    return parse_environment([f"{k}: {v}" for k, v in {"agi_request": url, **env}.items()])


def test_the_environment_gives_the_script_its_parameters_and_the_channel() -> None:
    lines = env_text(ENV).splitlines()[:-1]  # without the empty line that ends it
    parsed = parse_environment(lines)
    assert parsed.script == "route"
    assert dict(parsed.params) == {"skill": ("sales:3",), "language": ("ru",)}
    assert (parsed.uniqueid, parsed.channel) == ("1764500000.7", "PJSIP/caller-00000002")
    assert (parsed.caller, parsed.language) == ("79161234567", "en")
    assert parsed.env["agi_extension"] == "74951234590"


def test_the_script_comes_from_the_request_url_when_network_script_is_missing() -> None:
    parsed = request("agi://127.0.0.1:4573/hours?calendar=main", agi_callerid="unknown")
    assert (parsed.script, parsed.param("calendar")) == ("hours", "main")
    assert parsed.caller == ""  # Asterisk's "unknown": no caller ID


def test_the_agi_caller_id_is_made_one_line() -> None:
    parsed = request("agi://h/route?skill=sales", agi_callerid="+79161234567\r\x1b[2J\u202e")
    assert parsed.caller == "+79161234567\ufffd[2J\ufffd"


@pytest.mark.parametrize(
    "line",
    ["agi_channel PJSIP/x", "channel: PJSIP/x", "agi_chan nel: x", "HANGUP", "200 result=1"],
)
def test_lines_that_are_not_environment_lines_are_the_peers_fault(line: str) -> None:
    with pytest.raises(AgiProtocolError, match="not an AGI environment line"):
        parse_environment([line])


def test_too_many_parameters_are_refused() -> None:
    url = "agi://h/route?" + "&".join(f"k{i}=v" for i in range(40))
    with pytest.raises(AgiProtocolError, match="more than 32 parameters"):
        request(url)


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("200 result=1", Reply(200, "1", "", "200 result=1")),
        ("200 result=0", Reply(200, "0", "", "200 result=0")),
        ("200 result=1 (NOANSWER)", Reply(200, "1", "NOANSWER", "200 result=1 (NOANSWER)")),
        ("200 result=1 (a (b) c)", Reply(200, "1", "a (b) c", "200 result=1 (a (b) c)")),
        ("510 Invalid or unknown command", Reply(510, text="510 Invalid or unknown command")),
        (
            "511 Command Not Permitted on a dead channel or intercept routine",
            Reply(511, text="511 Command Not Permitted on a dead channel or intercept routine"),
        ),
        ("520-Invalid command syntax.", Reply(520, text="520-Invalid command syntax.")),
    ],
)
def test_replies_are_parsed(line: str, reply: Reply) -> None:
    assert parse_reply(line) == reply


def test_a_dead_channels_reply_is_known_as_such() -> None:
    assert parse_reply("511 Command Not Permitted on a dead channel").dead
    assert not parse_reply("200 result=1").dead


@pytest.mark.parametrize("line", ["", "20", "abc result=1", "2000 result=1", "HANGUP"])
def test_lines_that_are_not_replies_are_the_peers_fault(line: str) -> None:
    with pytest.raises(AgiProtocolError, match="not an AGI reply"):
        parse_reply(line)


def asterisk_reads(argument: str) -> str:
    """One argument as Asterisk's parse_args() reads it (res_agi.c): quotes group,
    a backslash takes the next character as it is."""
    out, escaped, quoted = [], False, False
    for char in argument:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        else:
            out.append(char)
    assert not quoted
    assert not escaped
    return "".join(out)


@given(st.text())
def test_any_value_is_one_argument_that_asterisk_reads_back(value: str) -> None:
    quoted = quote(value)
    assert not {"\n", "\r", "\0"} & set(quoted)
    expected = value.replace("\r", " ").replace("\n", " ").replace("\0", " ")
    assert asterisk_reads(quoted) == expected


def test_commands_are_one_line_with_a_checked_variable_name() -> None:
    assert set_variable("SWITCHBOARD_TARGET", 'PJSIP/1"02') == (
        'SET VARIABLE SWITCHBOARD_TARGET "PJSIP/1\\"02"\n'
    )
    assert get_variable("DIALSTATUS") == "GET VARIABLE DIALSTATUS\n"
    with pytest.raises(ValueError, match="not a channel variable name"):
        set_variable("X Y", "1")


# -- parameters ----------------------------------------------------------------------------


def test_route_parameters_are_parsed_with_defaults() -> None:
    ask = route_ask(request("agi://h/route?skill=sales"))
    assert ask == RouteAsk((("sales", 1),), "", "", True, "")
    full = route_ask(
        request("agi://h/route?skill=sales:3&skill=billing&language=ru&site=msk&owner=no"
                "&fallback=8%20(916)%20000-00-01"),
        "PJSIP/carrier",
    )  # fmt: skip
    assert full == RouteAsk(
        (("sales", 3), ("billing", 1)), "ru", "msk", False, "PJSIP/+79160000001@carrier"
    )
    several = route_ask(request("agi://h/route?skill=sales:2+support:4"))  # + is a space
    assert several.skills == (("sales", 2), ("support", 4))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("route", "route needs skill=NAME"),
        ("route?skill=Sales", "a skill is a lower-case name"),
        ("route?skill=sales:9", "minimum proficiency is 1 to 5"),
        ("route?skill=sales&skill=sales:2", "given twice"),
        ("route?skill=sales&skils=x", "unknown parameter 'skils' for route"),
        ("route?skill=sales&language=russian", "language='russian'"),
        ("route?skill=sales&site=a%20b", "site='a b'"),
        ("route?skill=sales&owner=maybe", "owner='maybe'"),
        ("route?skill=sales&fallback=12", "fallback: '12' has 2 digits"),
        ("route?skill=sales&fallback=%2B79160000001", "no trunk is set"),
        ("route?skill=sales&fallback=PJSIP/1;x", "not a Dial string"),
        ("route?skill=sales&fallback=89160000001&trunk=a%20b", "trunk='a b'"),
    ],
)
def test_bad_route_parameters_say_which_and_what_is_expected(url: str, message: str) -> None:
    with pytest.raises(BadParams, match=message.replace("(", r"\(")):
        route_ask(request(f"agi://h/{url}"))


def test_a_fallback_is_a_number_through_the_trunk_or_a_dial_string() -> None:
    assert fallback_target("+74951112233", "carrier") == "PJSIP/+74951112233@carrier"
    assert fallback_target("PJSIP/100&PJSIP/101", "") == "PJSIP/100&PJSIP/101"
    assert fallback_target("", "carrier") == ""


def test_hours_and_done_parameters() -> None:
    assert hours_ask(request("agi://h/hours?calendar=main")).calendar == "main"
    with pytest.raises(BadParams, match="hours needs calendar=NAME"):
        hours_ask(request("agi://h/hours"))
    assert done_status(request("agi://h/done?status=noanswer")) == "NOANSWER"
    assert done_status(request("agi://h/done?status=")) == ""  # ${DIALSTATUS} empty
    with pytest.raises(BadParams, match="DIALSTATUS"):
        done_status(request("agi://h/done?status=1;2"))


@pytest.mark.parametrize(
    ("status", "result"),
    [
        ("ANSWER", "talked"),
        ("NOANSWER", "missed"),
        ("BUSY", "cancelled"),
        ("CANCEL", "cancelled"),
        ("CHANUNAVAIL", "cancelled"),
        ("CONGESTION", "cancelled"),
        ("", "cancelled"),
    ],
)
def test_dial_status_says_what_became_of_the_agents_offer(status: str, result: str) -> None:
    assert release_result(status) == result


# -- what the scripts set -------------------------------------------------------------------


def test_route_sets_every_variable_even_when_empty() -> None:
    vip = Customer(id=7, segment=Segment.VIP)
    agent = AgentFound("r", "a102", ("PJSIP/102", "PJSIP/112"), customer=vip)
    assert route_variables(agent, "PJSIP/+7@carrier") == {
        "SWITCHBOARD_TARGET": "PJSIP/102&PJSIP/112",
        "SWITCHBOARD_AGENT": "a102",
        "SWITCHBOARD_CUSTOMER": "7",
        "SWITCHBOARD_SEGMENT": "vip",
        "SWITCHBOARD_RESULT": "agent",
        "SWITCHBOARD_ERROR": "",
    }
    nobody = route_variables(AgentFound("r", customer=UNKNOWN), "PJSIP/+7@carrier")
    assert (nobody["SWITCHBOARD_TARGET"], nobody["SWITCHBOARD_RESULT"]) == (
        "PJSIP/+7@carrier",
        "fallback",
    )
    assert (nobody["SWITCHBOARD_CUSTOMER"], nobody["SWITCHBOARD_SEGMENT"]) == ("", "new")
    down = route_variables(AgentFound("r", error="database down"), "")
    assert down["SWITCHBOARD_ERROR"] == "routing unavailable: database down"
    assert (down["SWITCHBOARD_TARGET"], down["SWITCHBOARD_RESULT"]) == ("", "none")


MOSCOW = Calendar(
    name="main",
    zone="Europe/Moscow",
    weekly=((Hours.parse("09:00-18:00"),),) * 5 + ((), ()),
)


@pytest.mark.parametrize(
    ("at", "open_", "state", "change"),
    [
        (datetime(2026, 11, 30, 9, 0, tzinfo=UTC), "1", "open", "2026-11-30T18:00:00+03:00"),
        (datetime(2026, 11, 30, 16, 0, tzinfo=UTC), "0", "closed", "2026-12-01T09:00:00+03:00"),
        (datetime(2026, 12, 5, 12, 0, tzinfo=UTC), "0", "closed", "2026-12-07T09:00:00+03:00"),
    ],
)
def test_hours_tell_whether_open_and_when_that_changes(
    at: datetime, open_: str, state: str, change: str
) -> None:
    assert hours_variables(MOSCOW, at) == {
        "SWITCHBOARD_OPEN": open_,
        "SWITCHBOARD_HOURS": state,
        "SWITCHBOARD_NEXT_CHANGE": change,
        "SWITCHBOARD_ERROR": "",
    }


# -- the config section ---------------------------------------------------------------------

CONFIG = """\
ari: {url: "http://127.0.0.1:8088", username: s, password: s}
flows: {files: [main.yaml]}
"""


def test_the_agi_section_is_optional_and_has_defaults(tmp_path: Path) -> None:
    path = tmp_path / "switchboard.yaml"
    path.write_text(CONFIG)
    assert load_config(path).agi is None  # no section: no server
    path.write_text(CONFIG + "agi: {listen: '[::1]:4600', trunk: carrier, max_sessions: 20}\n")
    agi = load_config(path).agi
    assert agi == AgiConfig(host="::1", port=4600, trunk="PJSIP/carrier", max_sessions=20)
    assert agi.listen == "[::1]:4600"
    path.write_text(CONFIG + "agi: {}\n")
    assert load_config(path).agi == AgiConfig()  # 127.0.0.1:4573
    path.write_text(CONFIG + "agi: {max_holds: 50}\n")
    assert load_config(path).agi == AgiConfig(max_holds=50)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("agi: {listen: 4573}", ":3:15: agi.listen: expected host:port such as 127.0.0.1:8090"),
        ("agi: {listen: 'h:99999'}", ":3:15: agi.listen: expected host:port"),
        ("agi: {session_timeout: 0}", ":3:24: agi.session_timeout: must be a positive number"),
        ("agi: {port: 4573}", ":3:13: agi: unknown key 'port'"),
        ("agi: {max_holds: 0}", ":3:18: agi.max_holds: must be a positive number"),
    ],
)
def test_agi_section_mistakes_name_the_line_and_column(
    tmp_path: Path, section: str, message: str
) -> None:
    path = tmp_path / "switchboard.yaml"
    path.write_text(CONFIG + section + "\n")
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(path)


# -- whatever a peer sends ------------------------------------------------------------------


@given(st.lists(st.text(max_size=200), max_size=30))
def test_any_environment_is_a_request_or_the_peers_fault(lines: list[str]) -> None:
    try:
        parsed = parse_environment(lines)
    except AgiProtocolError:
        return
    assert isinstance(parsed.script, str)
    assert all(isinstance(v, tuple) for v in parsed.params.values())


@given(st.text(max_size=200))
def test_any_reply_line_is_a_reply_or_the_peers_fault(line: str) -> None:
    try:
        reply = parse_reply(line)
    except AgiProtocolError:
        return
    assert 0 <= reply.code <= 999


@given(st.text(max_size=300))
def test_any_route_query_is_an_ask_or_a_bad_parameter(query: str) -> None:
    try:
        parsed = parse_environment([f"agi_network_script: route?{query}"])
    except AgiProtocolError:
        return
    try:
        ask = route_ask(parsed, "PJSIP/carrier")
    except BadParams:
        return
    assert ask.skills
    assert all(1 <= least <= 5 for _, least in ask.skills)
    assert set(ask.fallback) <= DIAL_STRING_CHARS  # nothing that could break Dial()
