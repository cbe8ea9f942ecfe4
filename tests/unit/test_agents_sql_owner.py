"""Routing owns every read and write of the agents: no SQL on the agents' tables
(agents, agent_skills, reservations, sites) in a string outside switchboard/routing/."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import switchboard

PACKAGE = Path(switchboard.__file__).resolve().parent
OWNER = PACKAGE / "routing"
TABLES = ("agents", "agent_skills", "reservations", "sites")
_NAMES = "|".join(TABLES)
# A table named where SQL names one (FROM, JOIN, INTO, UPDATE, TABLE), or asked
# about (to_regclass); "DELETE FROM", "LOCK TABLE", "INSERT INTO" are among them.
SQL_ON_AGENTS = re.compile(
    rf"\b(?:from|join|into|update|table)\s+(?:only\s+)?(?:{_NAMES})\b"
    rf"|to_regclass\(\s*'(?:{_NAMES})'\s*\)",
    re.IGNORECASE,
)
COPY_CALLS = {"copy_records_to_table", "copy_to_table", "copy_from_table"}


def sql_on_agents(source: str) -> list[tuple[int, str]]:
    """(line, text) of each string that reads or writes the agents' tables
    (docstrings are prose: not looked at)."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) in docstrings:
                continue
            if SQL_ON_AGENTS.search(node.value):
                found.append((node.lineno, node.value))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in COPY_CALLS
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value in TABLES
        ):
            found.append((node.lineno, f"{node.func.attr}({node.args[0].value!r})"))
    return found


def test_no_sql_on_agents_outside_routing() -> None:
    strays = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {text.strip()[:80]!r}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if OWNER not in path.parents
        for line, text in sql_on_agents(path.read_text(encoding="utf-8"))
    ]
    assert strays == [], "SQL on the agents' tables belongs in switchboard/routing/"


def test_the_check_sees_sql_on_agents() -> None:
    assert sql_on_agents(Path(OWNER / "agents_store.py").read_text(encoding="utf-8"))
    for sql in (
        "SELECT id FROM agents WHERE id = $1",
        "select c.* from customers c left join agents a on a.id = c.owner_agent",
        "INSERT INTO agent_skills VALUES ($1, $2, $3)",
        "UPDATE reservations SET expires_at = now()",
        "DELETE FROM sites",
        "LOCK TABLE agents IN SHARE MODE",
        "SELECT to_regclass('agents') IS NOT NULL",
    ):
        assert sql_on_agents(f"sql = {sql!r}"), sql
    assert sql_on_agents("await conn.copy_records_to_table('agent_skills', records=[])")
    f_string = 'sql = f"SELECT {x} FROM agents a WHERE {y}"'
    assert sql_on_agents(f_string)


def test_words_that_are_not_sql_pass() -> None:
    for text in (
        "import customers (CSV) or agents (YAML or CSV) into the database",
        "agents",
        "no agent in the database has skill",
        "calls, queues, agents, hours",
        "agents_touch",
        "SELECT * FROM agents_archive",
        "SELECT * FROM calls",
    ):
        assert not sql_on_agents(f"text = {text!r}"), text
    assert not sql_on_agents('def f() -> None:\n    """Calls from agents."""\n')
