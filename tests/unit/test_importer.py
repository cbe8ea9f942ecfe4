"""Tier 1: import files are read and validated into rows, or rejected with every
problem as FILE:LINE: field: why (how to fix). No database here."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from switchboard.cli import main
from switchboard.crm import (
    Agent,
    AgentFile,
    Customer,
    RejectedImport,
    Site,
    read_agents_csv,
    read_agents_yaml,
    read_customers,
)
from switchboard.crm.importer import agent_conflicts, customer_conflicts

COLUMNS = (
    "name,phones,segment,language,products,owner_agent,lifetime_value,churn_score,"
    "first_contact,last_contact,notes"
)


def customers(text: str | bytes) -> list[Customer]:
    raw = text.encode() if isinstance(text, str) else text
    return read_customers("c.csv", io.BytesIO(raw))


def rejected(text: str | bytes) -> list[str]:
    with pytest.raises(RejectedImport) as caught:
        customers(text)
    return [str(p) for p in caught.value.problems]


# -- customers: good files ------------------------------------------------------------------
def test_every_column_is_parsed_and_phones_become_e164() -> None:
    notes = "x" * 500
    given = (
        f"{COLUMNS}\n"
        '"\'; DROP TABLE customers; --",8 (987) 123-45-67; +373 60 123 456,vip,ro,'
        f"mortgage; card,a101,1250.50,0.25,2026-01-31,2026-02-01T10:30:00+03:00,{notes}\n"
    )
    assert customers(given) == [
        Customer(
            line=2,
            phones=("+79871234567", "+37360123456"),
            name="'; DROP TABLE customers; --",
            segment="vip",
            language="ro",
            products=("mortgage", "card"),
            owner_agent="a101",
            lifetime_value=Decimal("1250.50"),
            churn_score=0.25,
            first_contact=datetime(2026, 1, 31, tzinfo=UTC),
            last_contact=datetime(2026, 2, 1, 7, 30, tzinfo=UTC),
            notes=notes,
        )
    ]


def test_only_phones_is_required_and_empty_cells_are_defaults() -> None:
    assert customers("phones,name,segment\n9871234567,,\n") == [
        Customer(line=2, phones=("+79871234567",))
    ]


def test_quoted_values_may_hold_commas_quotes_and_line_breaks_and_lines_stay_true() -> None:
    given = (
        '\ufeffname,phones,notes\n\n"Smith, John",89870000001,"said ""call me""\nlater"\n'
        "Ann,89870000002,\n"
    )
    rows = customers(given)
    assert [(c.line, c.name, c.notes) for c in rows] == [
        (3, "Smith, John", 'said "call me"\nlater'),
        (5, "Ann", ""),
    ]


def test_a_header_only_file_is_no_customers() -> None:
    assert customers("phones\n") == []


# -- customers: bad values, one message each ------------------------------------------------
@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        (
            "phones",
            "abc",
            "phones: 'abc' holds 'a'; a number is digits, with an optional leading + "
            "(spaces, dashes, dots and parentheses are allowed)",
        ),
        ("phones", " ; ", "phones: no phone number (one or more, separated by ;)"),
        (
            "segment",
            "gold",
            "segment: 'gold' is not a segment (use vip, regular, new or occasional)",
        ),
        (
            "language",
            "EN",
            "language: 'EN' is not a language code (2-3 lower-case letters: en, ru, ro)",
        ),
        (
            "owner_agent",
            "a 1",
            "owner_agent: 'a 1' is not a valid id (1-64 letters, digits, _, . or -, such as a101)",
        ),
        (
            "lifetime_value",
            "-5",
            "lifetime_value: '-5' is not an amount (a number >= 0 with a dot and at most "
            "2 decimals, such as 1250.50)",
        ),
        (
            "lifetime_value",
            "1.234",
            "lifetime_value: '1.234' is not an amount (a number >= 0 with a dot and at most "
            "2 decimals, such as 1250.50)",
        ),
        (
            "churn_score",
            "high",
            "churn_score: 'high' is not a number (a score from 0 to 1, such as 0.25)",
        ),
        (
            "churn_score",
            "1.5",
            "churn_score: '1.5' is out of range (a score from 0 to 1, such as 0.25)",
        ),
        (
            "churn_score",
            "nan",
            "churn_score: 'nan' is out of range (a score from 0 to 1, such as 0.25)",
        ),
        (
            "first_contact",
            "31.01.2026",
            "first_contact: '31.01.2026' is not an ISO date (write 2026-01-31, "
            "2026-01-31 14:30 or 2026-01-31T14:30:00+03:00)",
        ),
        (
            "name",
            "a\x00b",
            "name: holds a NUL character, which the database cannot store (remove it)",
        ),
    ],
)
def test_a_bad_value_is_its_line_its_column_and_how_to_fix_it(
    column: str, value: str, message: str
) -> None:
    given = f"phones,{column}\n89870000001,\n89870000002,{value}\n"
    if column == "phones":
        given = f"phones\n89870000001\n{value}\n"
    assert rejected(given) == [f"c.csv:3: {message}"]


def test_a_phone_twice_in_the_file_or_on_one_line_is_an_error() -> None:
    given = "phones\n89871234567\n+7 987 000-00-00\n8 987 123 45 67\n89870000001;9870000001\n"
    assert rejected(given) == [
        "c.csv:4: phones: +79871234567 is on line 2 too (a phone belongs to one customer; "
        "remove one of them)",
        "c.csv:5: phones: +79870000001 is written twice on this line (keep one)",
    ]


def test_every_problem_of_every_row_is_reported_in_file_order() -> None:
    given = "name,phones,segment\nA,abc,gold\nB,89870000001,vip\nC,,\n"
    assert rejected(given) == [
        "c.csv:2: phones: 'abc' holds 'a'; a number is digits, with an optional leading + "
        "(spaces, dashes, dots and parentheses are allowed)",
        "c.csv:2: segment: 'gold' is not a segment (use vip, regular, new or occasional)",
        "c.csv:4: phones: no phone number (one or more, separated by ;)",
    ]


# -- customers: the file itself -------------------------------------------------------------
def test_unknown_missing_duplicate_and_nameless_columns_are_named() -> None:
    assert rejected("phone,name,notes,notes,\n") == [
        "c.csv:1: header: unknown column 'phone' (did you mean 'phones'?)",
        "c.csv:1: header: column 'notes' is there twice (keep one)",
        "c.csv:1: header: column 5 has no name (name it, or delete it)",
        "c.csv:1: header: no 'phones' column (it is required; see docs/crm.md)",
    ]


def test_an_empty_file_says_what_the_first_line_is() -> None:
    assert rejected("\n\n") == [
        f"c.csv:1: header: the file is empty (the first line names the columns: {COLUMNS})"
    ]


def test_a_row_with_too_many_values_and_an_unclosed_quote() -> None:
    assert rejected('name,phones\nSmith, John,89870000001\n"Ann,89870000002\n') == [
        "c.csv:2: row: 3 values for 2 columns "
        '(a value holding a comma must be in double quotes: "Smith, John")',
        "c.csv:3: file: not valid CSV from this line: unexpected end of data "
        "(a value holding a comma, quote or line break is written in double quotes, "
        'with quotes inside doubled: "say ""hi""")',
    ]


def test_a_line_that_is_not_utf8_is_named() -> None:
    assert rejected(b"name,phones\nAnn,89870000001\nB\xe9a,89870000002\n") == [
        "c.csv:3: file: not UTF-8 text (invalid continuation byte; save the file as UTF-8)"
    ]


# -- customers: what the database knows -----------------------------------------------------
def test_unknown_owners_and_phones_of_other_customers_are_conflicts() -> None:
    rows = customers("phones,owner_agent\n89870000001,a101\n89870000002;89870000003,a999\n")
    problems = customer_conflicts("c.csv", rows, {"a101"}, {"+79870000003": 42})
    assert [str(p) for p in problems] == [
        "c.csv:3: owner_agent: 'a999' is not an agent in the database (import the agents "
        "first, or leave it empty)",
        "c.csv:3: phones: +79870000003 already belongs to customer 42 in the database "
        "(remove it here, or from customer 42 first)",
    ]
    assert customer_conflicts("c.csv", rows, {"a101", "a999"}, {}) == []


# -- agents ---------------------------------------------------------------------------------
AGENTS_YAML = b"""\
sites:
  msk: {name: Moscow, zone: Europe/Moscow, calendar: office}
agents:
  - id: a101
    name: Anna Petrova
    site: msk
    endpoints: [PJSIP/101]
    languages: [ru, en]
    level: senior
    max_calls: 1
    wrap_up_s: 10
    skills: {sales: 4, support: 2}
  - {id: b.2, name: Boris, endpoints: PJSIP/102}
"""


def agents_yaml(raw: bytes) -> list[str]:
    with pytest.raises(RejectedImport) as caught:
        read_agents_yaml("a.yaml", raw)
    return [str(p) for p in caught.value.problems]


def test_a_yaml_agents_file_gives_sites_and_agents() -> None:
    assert read_agents_yaml("a.yaml", AGENTS_YAML) == AgentFile(
        sites=(Site("msk", "Moscow", "Europe/Moscow", "office", line=2),),
        agents=(
            Agent(
                id="a101",
                name="Anna Petrova",
                site="msk",
                endpoints=("PJSIP/101",),
                languages=("ru", "en"),
                level="senior",
                max_calls=1,
                wrap_up_s=10,
                skills=(("sales", 4), ("support", 2)),
                line=4,
            ),
            Agent("b.2", "Boris", None, ("PJSIP/102",), (), "regular", 1, 10, (), line=13),
        ),
    )


def test_a_csv_agents_file_gives_the_same_agents() -> None:
    given = (
        b"id,name,site,endpoints,languages,level,max_calls,wrap_up_s,skills\n"
        b"a101,Anna Petrova,msk,PJSIP/101,ru;en,senior,1,10,sales:4;support:2\n"
        b"b.2,Boris,,PJSIP/102,,,,,\n"
    )
    parsed = read_agents_csv("a.csv", io.BytesIO(given))
    expected = read_agents_yaml("a.yaml", AGENTS_YAML).agents
    assert parsed.sites == ()
    assert [a.line for a in parsed.agents] == [2, 3]
    assert [replace(a, line=0) for a in parsed.agents] == [replace(a, line=0) for a in expected]


def test_each_bad_agent_value_is_reported_on_its_own_line() -> None:
    given = b"""\
sites:
  msk: {name: Moscow, zone: Europe/Moskow, calendr: office}
  spb: {zone: Europe/Moscow}
agents:
  - id: a 101
    endpoints: [SIP, PJSIP/1]
    languages: [ru, English]
    level: boss
    max_calls: 0
    wrap_up_s: soon
    skills: {Sales: 4, support: 9, chat: }
    skils: 1
"""
    assert agents_yaml(given) == [
        "a.yaml:2: calendr: unknown field 'calendr' (did you mean 'calendar'?)",
        "a.yaml:2: zone: 'Europe/Moskow' is not an IANA time zone (did you mean 'Europe/Moscow'?)",
        "a.yaml:3: name: missing for site spb (such as Moscow)",
        "a.yaml:5: id: 'a 101' is not a valid id (1-64 letters, digits, _, . or -, such as a101)",
        "a.yaml:5: name: missing (the agent's name as supervisors see it)",
        "a.yaml:6: endpoints: 'SIP' is not an endpoint (TECH/resource, such as PJSIP/101)",
        "a.yaml:7: languages: 'English' is not a language code (2-3 lower-case letters: "
        "en, ru, ro)",
        "a.yaml:8: level: 'boss' is not a level (use trainee, regular or senior)",
        "a.yaml:9: max_calls: 0 is out of range (use 1 to 100)",
        "a.yaml:10: wrap_up_s: 'soon' is not a whole number (use 0 to 3600)",
        "a.yaml:11: skills: chat: no proficiency (1 to 5, such as sales: 4)",
        "a.yaml:11: skills: 'Sales' is not a skill name (a lower-case letter, then up to 39 "
        "lower-case letters, digits or _, such as sales)",
        "a.yaml:11: skills: support: proficiency 9 is out of range (use 1 to 5)",
        "a.yaml:12: skils: unknown field 'skils' (did you mean 'skills'?)",
    ]


def test_an_agent_id_twice_and_an_agent_without_endpoints() -> None:
    given = b"""\
agents:
  - {id: a1, name: A, endpoints: [PJSIP/1]}
  - {id: a2, name: B}
  - {id: a1, name: C, endpoints: [PJSIP/3]}
"""
    assert agents_yaml(given) == [
        "a.yaml:3: endpoints: missing (the phones to ring, such as PJSIP/101)",
        "a.yaml:4: id: 'a1' is on line 2 too (keep one)",
    ]


def test_yaml_anchors_and_aliases_are_refused_where_they_are() -> None:
    given = b"""\
agents:
  - {id: a1, name: &n Anna, endpoints: [PJSIP/1]}
  - {id: a2, name: *n, endpoints: [PJSIP/2]}
"""
    message = "YAML anchors and aliases (&name, *name) are not allowed (write the values out)"
    assert agents_yaml(given) == [f"a.yaml:2: file: {message}", f"a.yaml:3: file: {message}"]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"", "a.yaml:1: file: the file is empty (see docs/crm.md for an example)"),
        (b"agents: [\n", "a.yaml:2: file: not valid YAML: did not find expected node content"),
        (
            b"- a101\n",
            "a.yaml:1: file: must be a mapping with sites: and agents: (see docs/crm.md)",
        ),
        (
            b"sites: {}\n",
            "a.yaml:1: agents: missing (the list of agents; see docs/crm.md)",
        ),
        (
            b"agents: {a101: x}\n",
            "a.yaml:1: agents: must be a list (one '- id: ...' item per agent)",
        ),
        (
            b"agents: []\nsite: {}\n",
            "a.yaml:2: site: unknown key 'site' (did you mean 'sites'?)",
        ),
        (
            b"agents: " + b"[" * 20 + b"]" * 20 + b"\n",
            "a.yaml:1: file: nested deeper than 16 levels (flatten it)",
        ),
        (
            b"agents:\n  - \xff\n",
            "a.yaml:2: file: not UTF-8 text (invalid start byte; save the file as UTF-8)",
        ),
    ],
)
def test_a_yaml_file_that_is_not_an_agents_file(raw: bytes, problem: str) -> None:
    assert agents_yaml(raw) == [problem]


def test_csv_skills_are_name_colon_proficiency() -> None:
    given = b"id,name,endpoints,skills\na1,Ann,PJSIP/1,sales;chat:2;chat:3\n"
    with pytest.raises(RejectedImport) as caught:
        read_agents_csv("a.csv", io.BytesIO(given))
    assert [str(p) for p in caught.value.problems] == [
        "a.csv:2: skills: 'sales' is not skill:proficiency (sales:4;support:2)",
        "a.csv:2: skills: 'chat' is there twice (keep one)",
    ]


def test_sites_must_exist_and_max_calls_must_cover_the_calls_in_progress() -> None:
    agents = read_agents_yaml(
        "a.yaml",
        b"sites: {msk: {name: Moscow, zone: Europe/Moscow}}\n"
        b"agents:\n"
        b"  - {id: a1, name: A, site: msk, endpoints: [PJSIP/1]}\n"
        b"  - {id: a2, name: B, site: spb, endpoints: [PJSIP/2]}\n"
        b"  - {id: a3, name: C, site: ekb, endpoints: [PJSIP/3], max_calls: 2}\n",
    )
    problems = agent_conflicts("a.yaml", agents, {"ekb"}, {"a1": 2, "a3": 2})
    assert [str(p) for p in problems] == [
        "a.yaml:3: max_calls: a1 has 2 calls now, more than 1 (import again when they end)",
        "a.yaml:4: site: 'spb' is neither in this file's sites nor in the database "
        "(define it under sites: in a YAML agents file)",
    ]


# -- the command line, before any database --------------------------------------------------
NO_DATABASE = (
    "ari: {url: http://127.0.0.1:8088, username: u, password: p}\n"
    "flows: {files: [flow.yaml]}\n"
    'database: {url: "postgresql://postgres@127.0.0.1:1/test"}\n'
)


def test_a_bad_file_is_reported_without_asking_the_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sb.yaml").write_text(NO_DATABASE)
    (tmp_path / "c.csv").write_text("phones,segment\nabc,vip\n89870000001,gold\n")
    code = main(
        ["import", "customers", str(tmp_path / "c.csv"), "--config", str(tmp_path / "sb.yaml")]
    )
    assert code == 2
    assert capsys.readouterr().out.replace(f"{tmp_path}/", "").splitlines() == [
        "c.csv:2: phones: 'abc' holds 'a'; a number is digits, with an optional leading + "
        "(spaces, dashes, dots and parentheses are allowed)",
        "c.csv:3: segment: 'gold' is not a segment (use vip, regular, new or occasional)",
        "2 error(s); nothing imported",
    ]


@pytest.mark.parametrize(
    ("file", "error"),
    [
        ("agents.txt", "switchboard: agents.txt: an agents file is .yaml, .yml or .csv"),
        ("missing.yaml", "switchboard: missing.yaml: cannot read: No such file or directory"),
    ],
)
def test_an_agents_file_that_cannot_be_read_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], file: str, error: str
) -> None:
    (tmp_path / "sb.yaml").write_text(NO_DATABASE)
    (tmp_path / "agents.txt").write_text("agents: []\n")
    code = main(["import", "agents", str(tmp_path / file), "--config", str(tmp_path / "sb.yaml")])
    assert code == 2
    assert capsys.readouterr().err.replace(f"{tmp_path}/", "") == error + "\n"
