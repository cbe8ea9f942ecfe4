"""Tier 1: how `switchboard doctor` judges what it saw and prints it (pure functions)."""

from __future__ import annotations

import asyncpg
import pytest

from switchboard.ari.client import AriError
from switchboard.config import AriConfig
from switchboard.doctor import (
    Verdict,
    app_finding,
    ari_failure,
    database_failure,
    describe_database,
    exit_code,
    fail,
    ok,
    render,
    schema_finding,
    skip,
)

ARI = AriConfig(url="http://pbx.example:8088", username="switchboard", password="s3cret")


def test_the_report_aligns_checks_puts_fixes_under_failures_and_counts() -> None:
    findings = [
        ok("ARI", "reachable"),
        fail("ARI app", "no daemon", "start it"),
        skip("database", "no database section"),
    ]
    assert render(findings) == [
        "OK    ARI       reachable",
        "FAIL  ARI app   no daemon",
        "                fix: start it",
        "SKIP  database  no database section",
        "doctor: 1 OK, 1 FAIL, 1 SKIP",
    ]


@pytest.mark.parametrize(
    ("verdicts", "code"),
    [
        ((Verdict.OK, Verdict.OK), 0),
        ((Verdict.OK, Verdict.SKIP), 0),
        ((Verdict.OK, Verdict.FAIL, Verdict.SKIP), 1),
    ],
)
def test_only_a_failure_makes_the_exit_code_1(verdicts: tuple[Verdict, ...], code: int) -> None:
    findings = [
        ok("x", "")
        if v is Verdict.OK
        else fail("x", "", "")
        if v is Verdict.FAIL
        else skip("x", "")
        for v in verdicts
    ]
    assert exit_code(findings) == code


@pytest.mark.parametrize(
    ("status", "body", "says"),
    [
        (401, '{"message":"Authentication required"}', "refused user 'switchboard' (401"),
        (404, "<html>Not Found</html>", "is not found (404): this URL serves no ARI"),
        (403, "{}", "forbids user 'switchboard' (403)"),
        (503, "", "is not ready (503)"),
        (502, "invalid JSON from Asterisk", "answered, but not as ARI does: HTTP 502"),
    ],
)
def test_each_ari_refusal_is_told_apart(status: int, body: str, says: str) -> None:
    found = ari_failure(AriError(status, body, "GET", "/asterisk/info"), ARI)
    assert found.verdict is Verdict.FAIL
    assert says in found.found
    assert "s3cret" not in found.found + found.fix


def test_the_app_check_ignores_doctor_probes_and_hints_a_near_name() -> None:
    assert app_finding("switchboard", ["other", "switchboard"]).verdict is Verdict.OK
    lone = app_finding("switchboard", ["switchboard-doctor"])
    assert lone.found == "no daemon is connected as 'switchboard' (connected apps: none)"
    near = app_finding("switchboard", ["switchbaord"])
    assert near.fix.startswith("ari.app is 'switchboard' but 'switchbaord' is connected")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://sb:pw@db.example:6432/calls", "sb@db.example:6432/calls"),
        ("postgresql://sb@127.0.0.1/calls", "sb@127.0.0.1:5432/calls"),
        ("postgres:///calls", "?@localhost:5432/calls"),
    ],
)
def test_a_database_is_described_without_its_password(url: str, shown: str) -> None:
    assert describe_database(url) == shown


def test_a_schema_behind_fails_and_one_ahead_passes_with_a_note() -> None:
    behind = schema_finding("sb", "sb@h:5432/d", ["008_stats"], [])
    assert (behind.verdict, behind.found) == (
        Verdict.FAIL,
        "sb@h:5432/d schema 'sb': 1 migration(s) not applied: 008_stats",
    )
    ahead = schema_finding("sb", "sb@h:5432/d", [], [9, 10])
    assert ahead.verdict is Verdict.OK
    assert ahead.found.endswith(
        "also has 009, 010 from a newer version (a rollback: see docs/deploy.md)"
    )


def test_a_wrong_database_password_is_named_without_the_password() -> None:
    # The test PostgreSQL trusts every local user, so this one is told apart here.
    error = asyncpg.InvalidPasswordError('password authentication failed for user "sb"')
    found = database_failure(error, describe_database("postgresql://sb:hunter2@db:5432/calls"))
    assert (found.verdict, found.found) == (Verdict.FAIL, "sb@db:5432/calls: wrong password")
    assert found.fix.startswith("check database.url")
