"""Tier 1: the blocklist's entries and matching (pure), and a flow's blocklist: section."""

from __future__ import annotations

import re

import pytest

from switchboard.blocklist import ANONYMOUS, BadPattern, BlockSet, Entry, is_anonymous, read_pattern
from switchboard.flows import Flow, FlowError, compile_flow
from switchboard.flows.model import BlocklistRule
from tests.flowkit import CATALOG

BLOCKED = BlockSet.of([Entry("+79161234567"), Entry("+7495*"), Entry("+1*")], version=3)


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("+79161234567", "+79161234567"),
        ("8 (916) 123-45-67", "+79161234567"),
        ("9161234567", "+79161234567"),
        ("+7 495*", "+7495*"),
        ("+1*", "+1*"),
    ],
)
def test_entries_are_kept_in_e164_and_prefixes_in_international_form(
    written: str, stored: str
) -> None:
    assert read_pattern(written) == stored


@pytest.mark.parametrize(
    ("written", "says"),
    [
        ("8495*", "not a prefix: write + then"),
        ("+*", "not a prefix"),
        ("+0495*", "not a prefix"),
        ("+7x*", "not a prefix"),
        ("+79161234567890123*", "not a prefix"),
        ("anonymous", "holds 'a'"),
        ("123", "has 3 digits"),
        ("", "the number is empty"),
    ],
)
def test_a_pattern_that_is_neither_a_number_nor_a_prefix_is_refused_with_why(
    written: str, says: str
) -> None:
    with pytest.raises(BadPattern, match=re.escape(says)):
        read_pattern(written)


@pytest.mark.parametrize(
    ("caller", "matched"),
    [
        ("+79161234567", "+79161234567"),
        ("89161234567", "+79161234567"),  # (the national form of the same number)
        ("+74951112233", "+7495*"),
        ("84951112233", "+7495*"),
        ("+12125551234", "+1*"),
        ("+79161234568", ""),
        ("+74961112233", ""),
        ("1001", ""),  # an extension: digits, not a number, never matched
        ("+7495' OR 1=1", ""),  # (attacker's text: not a number)
    ],
)
def test_a_caller_is_matched_after_reading_their_number_as_e164(caller: str, matched: str) -> None:
    assert BLOCKED.match(caller, anonymous=False) == matched


@pytest.mark.parametrize("caller", ["", "anonymous", "Restricted", "<script>", "unknown"])
def test_a_caller_without_a_digit_is_anonymous_and_blocked_only_if_the_flow_says(
    caller: str,
) -> None:
    assert is_anonymous(caller)
    assert BLOCKED.match(caller, anonymous=True) == ANONYMOUS
    assert BLOCKED.match(caller, anonymous=False) == ""
    assert BlockSet().match(caller, anonymous=True) == ANONYMOUS


def test_an_empty_list_blocks_nobody_with_a_number() -> None:
    assert BlockSet().match("+79161234567", anonymous=True) == ""
    assert len(BLOCKED) == 3


FLOW = """\
languages: [en]
blocklist: {{node: {node}{more}}}
entry: {{"74951234567": welcome}}
nodes:
  welcome: {{kind: play, prompt: greeting, next: bye}}
  blocked: {{kind: play, prompt: goodbye, next: bye}}
  bye: {{kind: hangup}}
"""


def compiled(node: str = "blocked", more: str = "") -> tuple[Flow, list[str]]:
    flow, warnings = compile_flow("flow.yaml", FLOW.format(node=node, more=more).encode(), CATALOG)
    return flow, [str(w) for w in warnings]


def test_a_flows_blocklist_names_the_node_blocked_callers_go_to_which_counts_as_reached() -> None:
    flow, warnings = compiled(more=", anonymous: true")
    assert flow.blocklist == BlocklistRule("blocked", anonymous=True)
    assert warnings == []  # ("blocked" is reached from the blocklist, not from an entry)
    assert compiled()[0].blocklist == BlocklistRule("blocked", anonymous=False)
    plain, problems = compile_flow("flow.yaml", FLOW.replace(
        "blocklist: {{node: {node}{more}}}\n", "").format().encode(), CATALOG)  # fmt: skip
    assert plain.blocklist is None
    assert [str(w) for w in problems] == [
        "flow.yaml:5:3: warning: node 'blocked' is not reachable from any entry (link it from a "
        "menu or remove it)"
    ]


@pytest.mark.parametrize(
    ("node", "more", "says"),
    [
        ("nowhere", "", "flow.yaml:2:19: blocklist: node goes to 'nowhere', which does not exist"),
        ("blocked", ", anonymus: true", "flow.yaml:2:28: blocklist: unknown field 'anonymus'"),
        ("blocked", ", anonymous: maybe", "flow.yaml:2:39: blocklist: anonymous must be true or"),
    ],
)
def test_a_wrong_blocklist_section_says_file_line_and_what(node: str, more: str, says: str) -> None:
    with pytest.raises(FlowError) as caught:
        compiled(node, more)
    assert says in str(caught.value)
