"""Tier 1: the flow checker names file, line, column, what is wrong and how to fix it."""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path

import pytest

from switchboard.cli import main
from switchboard.flows import FlowError, PromptCatalog, compile_files, compile_flow
from switchboard.flows.model import Menu, Play, Route, Strategy, Target
from switchboard.hours import Hours
from tests.flowkit import CATALOG

GOOD = """\
languages: [en, ru]
entry:
  "74951234567": welcome
nodes:
  welcome:
    kind: play
    prompt: greeting
    next: main
  main:
    kind: menu
    prompt: main_menu
    choices:
      "1": sales
      "2": bye
    on_fail: bye
  sales:
    kind: route
    endpoint: PJSIP/agent101
    on_fail: bye
  bye:
    kind: hangup
    prompt: goodbye
"""


def problems(text: str) -> list[str]:
    with pytest.raises(FlowError) as caught:
        compile_flow("f.yaml", textwrap.dedent(text).encode(), CATALOG)
    return [str(p) for p in caught.value.problems]


def test_a_good_flow_compiles_to_frozen_nodes() -> None:
    flow, warnings = compile_flow("f.yaml", GOOD.encode(), CATALOG)
    assert warnings == []
    assert flow.entry == {"74951234567": "welcome"}
    assert flow.nodes["welcome"].kind == Play(prompts=("greeting",), next="main")
    menu = flow.nodes["main"].kind
    assert isinstance(menu, Menu)
    assert (menu.timeout, menu.retries, sorted(menu.choices)) == (5.0, 2, ["1", "2"])
    assert str(flow.nodes["main"].pos) == "f.yaml:9:3"
    assert len(flow.version) == 12


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("kind: play\n", "kind: plya\n"),
            "f.yaml:6:11: node 'welcome': unknown kind 'plya' (did you mean 'play'?)",
        ),
        (
            ("    prompt: greeting\n", "    prompt: greeting\n    colour: red\n"),
            "f.yaml:8:5: node 'welcome' (play): unknown field 'colour' (allowed: interruptible, "
            "next, prompt, prompts)",
        ),
        (
            ("    next: main\n", "    next: mian\n"),
            "f.yaml:8:11: node 'welcome': next goes to 'mian', which does not exist "
            "(did you mean 'main'?)",
        ),
        (
            ('      "2": bye\n', '      "2": bye\n      "1": main\n'),
            "f.yaml:15:7: node 'main': choices: duplicate key '1' (first at line 13)",
        ),
        (
            ('      "2": bye\n', '      "2": bye\n      x: bye\n'),
            "f.yaml:15:7: node 'main': choices: 'x' is not a phone key (use 1-9, 0, * or #; "
            "quote * and # in YAML)",
        ),
        (
            ("    on_fail: bye\n  sales", "    timeout: 60\n    on_fail: bye\n  sales"),
            "f.yaml:15:14: node 'main': timeout is 60, out of range (use 1 to 30)",
        ),
        (
            ("    on_fail: bye\n  sales", "    retries: 9\n    on_fail: bye\n  sales"),
            "f.yaml:15:14: node 'main': retries is 9, out of range (use 0 to 5)",
        ),
        (
            ("    prompt: goodbye\n", "    prompt: goodbye\n  bye:\n    kind: hangup\n"),
            "f.yaml:23:3: nodes: duplicate key 'bye' (first at line 20)",
        ),
        (
            ("    prompt: main_menu\n", "    prompt: main_menus\n"),
            "f.yaml:11:13: prompt 'main_menus' is missing in en, ru "
            "(add prompts/en/main_menus.txt, prompts/ru/main_menus.txt)",
        ),
        (
            ("languages: [en, ru]", "languages: [en, ru, de]"),
            "f.yaml:7:13: prompt 'greeting' is missing in de (add prompts/de/greeting.txt)",
        ),
        (
            ("    on_fail: bye\n  sales", "    on_fail: main\n  sales"),
            "f.yaml:9:3: a caller who presses nothing loops forever: main -> main (via "
            "next/target/on_fail); make one of these lead to a route, voicemail, hangup or "
            "handback",
        ),
        (
            ('  "74951234567": welcome\n', '  "74951234567": welcome\n  "8 800": welcome\n'),
            "f.yaml:4:3: entry: '8 800' is not a phone number (digits with an optional leading +)",
        ),
        (
            ("    endpoint: PJSIP/agent101\n", ""),
            "f.yaml:17:5: node 'sales' needs what to ring: endpoint or endpoints (extensions, "
            "e.g. PJSIP/100) and/or number or numbers (external, with trunk), or agents (the "
            "best free agent by skills and language)",
        ),
        (
            (
                "    kind: hangup\n    prompt: goodbye\n",
                "    kind: voicemail\n    mailbox: sales\n",
            ),
            "f.yaml:22:14: node 'bye': mailbox: 'sales' is not valid "
            "(expected a mailbox number such as 100 (digits))",
        ),
        (
            ("    kind: route\n", "    kind: ring_group\n"),
            "f.yaml:17:11: node 'sales': there is no kind 'ring_group'; use route with "
            "endpoints (they ring at once)",
        ),
    ],
)
def test_each_mistake_is_reported_exactly(change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in GOOD
    found = problems(GOOD.replace(old, new, 1))
    assert message in found, found


def test_more_than_five_choices_is_an_error_that_says_why() -> None:
    six = GOOD.replace('      "2": bye\n', "".join(f'      "{k}": bye\n' for k in "23456"))
    assert problems(six) == [
        "f.yaml:13:7: menu 'main' has 6 choices; the limit is 5 because callers lose track "
        "past five (move some into a sub-menu)"
    ]


def test_navigation_keys_do_not_count_towards_the_five() -> None:
    five = GOOD.replace('      "2": bye\n', "".join(f'      "{k}": bye\n' for k in "2345"))
    text = five + "  extra:\n    kind: goto\n    target: main\n"
    text = text.replace('      "5": bye\n', '      "5": bye\n      "9": {back: true}\n')
    text = text.replace(
        "    on_fail: bye\n  sales", '    repeat_key: "*"\n    on_fail: bye\n  sales'
    )
    flow, warnings = compile_flow("f.yaml", text.encode(), CATALOG)
    assert len(flow.nodes["main"].kind.choices) == 6  # type: ignore[union-attr]
    assert [str(w) for w in warnings] == [
        "f.yaml:28:3: warning: node 'extra' is not reachable from any entry (link it from a "
        "menu or remove it)"
    ]


def test_all_errors_are_reported_at_once_in_file_order() -> None:
    text = GOOD.replace("next: main", "next: nowhere").replace("prompt: goodbye", "prompt: nope")
    found = problems(text)
    assert [line.split(":")[1] for line in found] == ["8", "9", "16", "20", "22"]
    assert ["warning" in line for line in found] == [False, True, True, True, False]


def test_anchors_and_aliases_are_refused_before_any_expansion() -> None:
    laughs = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(1, 9):
        laughs += f"{chr(97 + i)}: &{chr(97 + i)} [{', '.join(['*' + chr(96 + i)] * 9)}]\n"
    found = problems(laughs)
    assert found[0] == (
        "f.yaml:1:4: YAML anchors and aliases (&name, *name) are not allowed in flows (write the "
        "node out, or use a goto node)"
    )


def test_files_over_the_size_limit_are_refused() -> None:
    huge = GOOD + "#" * (1024 * 1024)
    assert problems(huge) == [
        f"f.yaml:1:1: file is {len(huge)} bytes; flows are limited to 1048576 (split it)"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "f.yaml:1:1: the file is empty (see docs/flows.md for an example)"),
        ("nodes: [\n", "f.yaml:2:1: not valid YAML: "),  # then libyaml's or PyYAML's words
        ("- a\n", "f.yaml:1:1: a flow file must be a mapping (key: value lines)"),
        ("languages: [en]\n", "f.yaml:1:1: missing 'entry' (see docs/flows.md)"),
    ],
)
def test_broken_files_get_one_clear_line(text: str, message: str) -> None:
    assert any(p.startswith(message) for p in problems(text)), problems(text)


def test_a_number_may_belong_to_one_file_only(tmp_path: Path) -> None:
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text(GOOD)
    with pytest.raises(FlowError) as caught:
        compile_files([tmp_path / "a.yaml", tmp_path / "b.yaml"], CATALOG)
    assert [str(p) for p in caught.value.problems] == [
        f"{tmp_path / 'b.yaml'}:3:3: number 74951234567 is also an entry of "
        f"{tmp_path / 'a.yaml'} (a number may belong to one flow only)"
    ]


def write_prompts(root: Path) -> None:
    for lang in ("en", "ru"):
        for name in ("greeting", "main_menu", "goodbye"):
            (root / lang).mkdir(parents=True, exist_ok=True)
            (root / lang / f"{name}.txt").write_text(name)


def test_check_command_summary_and_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_prompts(tmp_path / "prompts")
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(GOOD)
    bad.write_text(GOOD.replace("next: main", "next: nowhere"))
    prompts = str(tmp_path / "prompts")
    assert main(["check", str(good), "--prompts", prompts]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok: 1 file, 1 number, 4 nodes, languages en,ru, version ")
    assert out.count("\n") == 1
    assert main(["check", str(bad), "--prompts", prompts]) == 2
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{bad}:8:11: node 'welcome': next goes to 'nowhere'")
    assert lines[-1] == "1 error(s)"


def test_prompt_catalog_reads_sources(tmp_path: Path) -> None:
    write_prompts(tmp_path)
    catalog = PromptCatalog.scan(tmp_path)
    assert catalog.has("ru", "main_menu")
    assert not catalog.has("de", "main_menu")
    assert catalog.source("de", "x") == tmp_path / "de" / "x.txt"


def test_a_node_with_a_bad_kind_is_reported_once_not_at_every_reference() -> None:
    found = problems(GOOD.replace("    kind: route\n", "    kind: rout\n"))
    assert found == ["f.yaml:17:11: node 'sales': unknown kind 'rout' (did you mean 'route'?)"]


def test_deep_nesting_is_refused_before_it_can_exhaust_the_stack() -> None:
    # libyaml stops at its own limit while scanning; the pure-Python parser at ours.
    found = problems("a: " + "[" * 5000)
    assert len(found) == 1
    assert found[0] in (
        "f.yaml:1:35: nested deeper than 32 levels (flows need far fewer)",
        "f.yaml:1:1003: not valid YAML: exceeded maximum nesting depth",
    )
    assert problems("a: " + "[" * 40 + "]" * 40) == [
        "f.yaml:1:35: nested deeper than 32 levels (flows need far fewer)"
    ]


def test_a_thousand_chained_nodes_are_checked_without_recursion() -> None:
    chain = "".join(f"  p{i}: {{kind: goto, target: p{i + 1}}}\n" for i in range(2000))
    text = (
        'languages: [en]\nentry: {"100": p0}\nnodes:\n'
        + chain
        + "  p2000: {kind: goto, target: p0}\n"
    )
    found = problems(text)
    assert len(found) == 1
    assert "a caller who presses nothing loops forever: p0 -> p1 -> " in found[0]


HOURS = """\
languages: [en]
calendars:
  office:
    zone: Europe/Moscow
    weekly:
      mon-fri: "09:00-18:00"
      sat: [ "10:00-12:00", "13:00-15:00" ]
    holidays: [2026-01-01]
    exceptions:
      "2026-12-31": "09:00-14:00"
      "2026-06-12": closed
entry:
  "74951234567": when
nodes:
  when: {kind: hours, calendar: office, open: hello, closed: bye, holiday: bye}
  hello: {kind: play, prompt: greeting, next: bye}
  bye: {kind: hangup}
"""


def test_calendars_compile_with_weekly_hours_holidays_and_exceptions() -> None:
    flow, _ = compile_flow("f.yaml", HOURS.encode(), CATALOG)
    office = flow.calendars["office"]
    assert office.zone == "Europe/Moscow"
    assert [len(day) for day in office.weekly] == [1, 1, 1, 1, 1, 2, 0]
    assert office.holidays == frozenset({date(2026, 1, 1)})
    assert office.hours_on(date(2026, 12, 31)) == (Hours.parse("09:00-14:00"),)
    assert office.hours_on(date(2026, 6, 12)) == ()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("zone: Europe/Moscow", "zone: Europe/Moskva"),
            "f.yaml:4:11: calendar 'office': unknown time zone 'Europe/Moskva' (use an IANA name "
            "such as Europe/Moscow)",
        ),
        (
            ("mon-fri:", "mon-fry:"),
            "f.yaml:6:7: calendar 'office': 'mon-fry' is not a day or range of days (use mon..sun, "
            "e.g. mon-fri)",
        ),
        (
            ('"09:00-18:00"', '"18:00-09:00"'),
            "f.yaml:6:16: calendar 'office': '18:00-09:00': the end must be after the start "
            "(write hours as 09:00-18:00, or closed)",
        ),
        (
            ("[2026-01-01]", "[2026-13-01]"),
            "f.yaml:8:16: calendar 'office': '2026-13-01' is not a date (write it as 2026-01-01)",
        ),
        (
            ("calendar: office", "calendar: ofice"),
            "f.yaml:15:33: calendar 'ofice' is not defined (define it under calendars:; known: "
            "office)",
        ),
        (
            ('[ "10:00-12:00", "13:00-15:00" ]', '[ "10:00-13:30", "13:00-15:00" ]'),
            "f.yaml:4:5: calendar 'office', Saturday: hours 10:00-13:30 and 13:00-15:00 overlap "
            "(make the ranges of a day follow each other)",
        ),
        (
            ("mon-fri:", "sat-mon:"),
            "f.yaml:6:7: calendar 'office': 'sat-mon' runs backwards (write the week from mon "
            "to sun, e.g. mon-sat or two keys)",
        ),
        (
            ("      sat:", "      fri:"),
            "f.yaml:7:7: calendar 'office': fri is in both 'mon-fri' and 'fri' "
            "(give each day once)",
        ),
        (
            ('[ "10:00-12:00", "13:00-15:00" ]', '[ closed, "13:00-15:00" ]'),
            "f.yaml:7:14: calendar 'office': closed cannot be mixed with hours (use one or the "
            "other)",
        ),
    ],
)
def test_calendar_mistakes_are_reported_exactly(change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in HOURS
    assert message in problems(HOURS.replace(old, new, 1))


def test_route_endpoints_one_or_a_group_not_both_and_not_too_many() -> None:
    group = GOOD.replace("    endpoint: PJSIP/agent101\n", "    endpoints: [PJSIP/a, PJSIP/b]\n")
    flow, _ = compile_flow("f.yaml", group.encode(), CATALOG)
    assert flow.nodes["sales"].kind == Route(
        targets=(Target("PJSIP/a"), Target("PJSIP/b")), on_fail="bye"
    )
    both = GOOD.replace("    endpoint: PJSIP/agent101\n",
                        "    endpoint: PJSIP/agent101\n    endpoints: [PJSIP/b]\n")  # fmt: skip
    assert problems(both) == ["f.yaml:17:5: node 'sales': use endpoint or endpoints, not both"]
    many = ", ".join(f"PJSIP/a{i}" for i in range(21))
    crowd = GOOD.replace("    endpoint: PJSIP/agent101\n", f"    endpoints: [{many}]\n")
    assert problems(crowd) == [
        "f.yaml:18:16: node 'sales': endpoints: 21 phones; ringing more than 20 at once "
        "overloads Asterisk (use strategy longest_idle, linear or round_robin, which ring "
        "one phone at a time)"
    ]


@pytest.mark.parametrize("strategy", ["longest_idle", "linear", "round_robin"])
def test_a_route_ringing_one_phone_at_a_time_takes_any_number_of_phones(strategy: str) -> None:
    many = ", ".join(f"PJSIP/a{i}" for i in range(600))
    crowd = GOOD.replace(
        "    endpoint: PJSIP/agent101\n",
        f"    endpoints: [{many}]\n    strategy: {strategy}\n",
    )
    flow, _ = compile_flow("f.yaml", crowd.encode(), CATALOG)
    kind = flow.nodes["sales"].kind
    assert isinstance(kind, Route)
    assert len(kind.targets) == 600
    assert kind.strategy.value == strategy


OVERFLOW = """\
languages: [en]
entry:
  "100": office
nodes:
  office:
    kind: route
    endpoints: [PJSIP/100, PJSIP/101]
    on_fail: mobile
  mobile:
    kind: route
    number: "8 (987) 123-45-67"
    trunk: carrier
    confirm_prompt: thanks
    on_fail: bye
  bye: {kind: hangup}
"""


def test_external_numbers_are_normalized_and_dialed_through_the_trunk() -> None:
    compiled, _ = compile_flow("f.yaml", OVERFLOW.encode(), CATALOG)
    office, mobile = compiled.nodes["office"].kind, compiled.nodes["mobile"].kind
    assert isinstance(office, Route)
    assert isinstance(mobile, Route)
    assert (office.timeout, office.strategy) == (20, Strategy.RING_ALL)  # the seed's 20 s
    assert mobile.targets == (
        Target("PJSIP/+79871234567@carrier", number="+79871234567", trunk="PJSIP/carrier"),
    )
    assert mobile.timeout == 30  # an external number rings longer: the carrier's set-up time
    assert mobile.confirm_prompt == "thanks"
    assert [ep for ep, _ in compiled.endpoint_refs] == ["PJSIP/100", "PJSIP/101", "PJSIP/carrier"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('"8 (987) 123-45-67"', '"8 (987) 123-45"'),
            "f.yaml:11:13: node 'mobile': number: '8 (987) 123-45' has 9 digits; write "
            "8XXXXXXXXXX, a 10-digit national number, or +<country code><number>",
        ),
        (
            ('"8 (987) 123-45-67"', '"8 987 CALL-NOW"'),
            "f.yaml:11:13: node 'mobile': number: '8 987 CALL-NOW' holds 'C'; a number is "
            "digits, with an optional leading + (spaces, dashes, dots and parentheses are "
            "allowed)",
        ),
        (
            ('"8 (987) 123-45-67"', "89871234567"),
            "f.yaml:11:13: node 'mobile': number: write the number as a quoted string, "
            'e.g. "8 987 ..."',
        ),
        (
            ("    trunk: carrier\n", ""),
            "f.yaml:10:5: node 'mobile': external numbers need trunk (the PJSIP endpoint of the "
            "carrier, e.g. trunk: carrier)",
        ),
        (
            ("    trunk: carrier\n", "    trunk: car rier\n"),
            "f.yaml:12:12: node 'mobile': trunk: 'car rier' is not valid (expected the "
            "trunk's PJSIP endpoint name: letters, digits, _, . or -)",
        ),
        (
            ("    on_fail: mobile\n", "    on_fail: mobile\n    strategy: hunt\n"),
            "f.yaml:9:15: node 'office': strategy: 'hunt' is not a strategy (ring_all, linear, "
            "round_robin, longest_idle)",
        ),
        (
            (
                "    on_fail: mobile\n",
                "    on_fail: mobile\n    strategy: linear\n    timeout: 9\n",
            ),
            "f.yaml:10:5: node 'office': strategy linear rings one phone at a time; use "
            "member_timeout (seconds each phone rings) instead of timeout",
        ),
        (
            ("    on_fail: mobile\n", "    on_fail: mobile\n    member_timeout: 9\n"),
            "f.yaml:9:5: node 'office': member_timeout is for linear, round_robin and "
            "longest_idle; ring_all rings every phone for timeout seconds",
        ),
        (
            ("    on_fail: mobile\n", "    on_fail: mobile\n    confirm_prompt: thanks\n"),
            "f.yaml:9:5: node 'office': confirm_prompt is for external numbers (a mobile's "
            "voicemail must not take the call); this route rings none",
        ),
        (
            ("    confirm_prompt: thanks\n", "    confirm_prompt: accept\n"),
            "f.yaml:13:21: prompt 'accept' is missing in en (add prompts/en/accept.txt)",
        ),
    ],
)
def test_route_mistakes_are_reported_exactly(change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in OVERFLOW
    assert message in problems(OVERFLOW.replace(old, new, 1))


def test_holiday_ranges_expand_and_must_run_forward() -> None:
    ranged = HOURS.replace("[2026-01-01]", "[2027-01-01..2027-01-08]")
    assert ranged != HOURS
    compiled, _ = compile_flow("f.yaml", ranged.encode(), CATALOG)
    holidays = compiled.calendars["office"].holidays
    assert len(holidays) == 8
    backwards = HOURS.replace("[2026-01-01]", "[2027-01-08..2027-01-01]")
    assert problems(backwards) == [
        "f.yaml:8:16: calendar 'office': holiday range '2027-01-08..2027-01-01' must run "
        "forward and span at most 31 days"
    ]


CALENDARS = """\
# The company's hours, written once for every flow.
calendars:
  office:
    zone: Europe/Moscow
    weekly: {mon-fri: "09:00-18:00"}
    holidays: [2027-01-01..2027-01-08]
"""
USES_OFFICE = """\
languages: [en]
entry: {"NUMBER": when}
nodes:
  when: {kind: hours, calendar: office, open: hello, closed: bye}
  hello: {kind: play, prompt: greeting, next: bye}
  bye: {kind: hangup}
"""


def test_a_calendar_file_is_shared_by_every_flow(tmp_path: Path) -> None:
    (tmp_path / "calendars.yaml").write_text(CALENDARS)
    (tmp_path / "a.yaml").write_text(USES_OFFICE.replace("NUMBER", "100"))
    (tmp_path / "b.yaml").write_text(USES_OFFICE.replace("NUMBER", "200"))
    files = [tmp_path / n for n in ("calendars.yaml", "a.yaml", "b.yaml")]
    flows, _ = compile_files(files, CATALOG)
    assert [f.calendars["office"].zone for f in flows.flows] == ["Europe/Moscow"] * 2
    assert len(flows.flows[0].calendars["office"].holidays) == 8
    (tmp_path / "calendars.yaml").write_text(CALENDARS.replace("18:00", "17:00"))
    assert compile_files(files, CATALOG)[0].version != flows.version  # the hours changed


def test_a_calendar_defined_twice_is_an_error_where_the_second_one_is(tmp_path: Path) -> None:
    (tmp_path / "calendars.yaml").write_text(CALENDARS)
    own = USES_OFFICE.replace("NUMBER", "100") + CALENDARS.split("\n", 1)[1]
    (tmp_path / "a.yaml").write_text(own)
    with pytest.raises(FlowError) as caught:
        compile_files([tmp_path / "calendars.yaml", tmp_path / "a.yaml"], CATALOG)
    assert [str(p) for p in caught.value.problems] == [
        f"{tmp_path / 'a.yaml'}:8:3: calendar 'office' is also defined at "
        f"{tmp_path / 'calendars.yaml'}:3:3 (rename one of them)"
    ]
