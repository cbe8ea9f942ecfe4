"""Tier 1: the one hardened YAML reader (flows, agent import files, the config).

Each hardening case once, with rules of its own; the words each caller uses are
pinned by that caller's tests (test_flow_compiler, test_importer, test_config_and_cli).
"""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from switchboard import safeyaml
from switchboard.config.reading import CONFIG_FILES
from switchboard.crm.agentsyaml import AGENT_FILES
from switchboard.flows.reading import FLOW_FILES
from switchboard.safeyaml import Problem, Rules

RULES = Rules(
    max_bytes=100,
    too_big="{size} > {limit}",
    empty="empty",
    not_utf8="bad byte: {reason} at {start}",
    max_depth=3,
    too_deep="deeper than {limit}",
    no_aliases="no aliases",
)


def messages(raw: bytes, rules: Rules = RULES) -> list[str]:
    node, problems = safeyaml.compose("f.yaml", raw, rules)
    assert (node is None) == bool(problems)
    return [str(p) for p in problems]


def test_a_good_file_gives_its_root_node_with_positions() -> None:
    node, problems = safeyaml.compose("f.yaml", b"a: 1\nb:\n  c: [x, y]\n", RULES)
    assert problems == []
    assert isinstance(node, yaml.MappingNode)
    items, issues = safeyaml.entries(node)
    assert issues == []
    assert [(name, safeyaml.line(k), safeyaml.column(v)) for name, (k, v) in items.items()] == [
        ("a", 1, 4),
        ("b", 2, 3),
    ]


def test_values_are_composed_never_constructed() -> None:
    node, _ = safeyaml.compose("f.yaml", b"a: !!python/object/apply:os.system [ls]\n", RULES)
    assert isinstance(node, yaml.MappingNode)
    value = node.value[0][1]
    assert isinstance(value, yaml.SequenceNode)
    assert value.tag == "tag:yaml.org,2002:python/object/apply:os.system"


def test_the_size_limit_is_checked_before_anything_is_decoded() -> None:
    assert messages(b"\xff" * 101) == ["f.yaml:1:1: 101 > 100"]
    assert messages(b"a: 1\n" * 20) == []  # exactly the limit


def test_text_must_be_utf8() -> None:
    raw = b"a: 1\nb: \xff\n"
    assert messages(raw) == ["f.yaml:1:1: bad byte: invalid start byte at 8"]
    on_its_line = dataclasses.replace(RULES, bad_byte_line=True, columns=False)
    assert messages(raw, on_its_line) == ["f.yaml:2: bad byte: invalid start byte at 8"]


def test_a_byte_order_mark_is_skipped_where_the_rules_say() -> None:
    sig = dataclasses.replace(RULES, encoding="utf-8-sig")
    node, problems = safeyaml.compose("f.yaml", b"\xef\xbb\xbfa: 1\n", sig)
    assert problems == []
    assert isinstance(node, yaml.MappingNode)
    assert node.value[0][0].value == "a"


def test_anchors_and_aliases_are_refused_where_they_are_before_any_expansion() -> None:
    laughs = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(1, 9):
        laughs += f"{chr(97 + i)}: &{chr(97 + i)} [{', '.join(['*' + chr(96 + i)] * 9)}]\n"
    roomy = dataclasses.replace(RULES, max_bytes=10_000)
    found = messages(laughs.encode(), roomy)
    assert found[:3] == [
        "f.yaml:1:4: no aliases",
        "f.yaml:2:4: no aliases",
        "f.yaml:2:8: no aliases",
    ]
    assert len(found) == 9 + 8 * 9  # every anchor and every alias, none expanded


def test_anchors_and_aliases_are_allowed_when_the_rules_have_no_refusal() -> None:
    allowed = dataclasses.replace(RULES, no_aliases=None)
    node, problems = safeyaml.compose("f.yaml", b"a: &x 1\nb: *x\n", allowed)
    assert problems == []
    assert isinstance(node, yaml.MappingNode)
    assert node.value[0][1] is node.value[1][1]  # one node, named twice: nothing copied


def test_nesting_is_bounded_before_the_composer_recurses() -> None:
    assert messages(b"a: [[[]]]\n") == ["f.yaml:1:6: deeper than 3"]
    assert messages(b"a: [[]]\n") == []
    anchored = b"x: &x 1\na: [[[]]]\n"
    assert messages(anchored) == ["f.yaml:2:6: deeper than 3"]  # that problem alone
    with_the_rest = dataclasses.replace(RULES, deep_alone=False)
    assert messages(anchored, with_the_rest) == [
        "f.yaml:1:4: no aliases",
        "f.yaml:2:6: deeper than 3",
    ]


def test_a_syntax_error_is_reported_at_its_mark() -> None:
    assert messages(b"a: b: c\n") == [
        "f.yaml:1:5: not valid YAML: mapping values are not allowed in this context"
    ]


def test_an_empty_file_is_one_problem() -> None:
    assert messages(b"") == ["f.yaml:1:1: empty"]
    assert messages(b"# only a comment\n") == ["f.yaml:1:1: empty"]


def test_whole_file_rules_name_the_file_and_the_parser_words_on_one_line() -> None:
    whole = dataclasses.replace(
        RULES, whole_file=True, not_utf8="{problem}", loader=yaml.SafeLoader
    )
    assert messages(b"a: b: c\n", whole) == [
        'f.yaml: not valid YAML: mapping values are not allowed here in "<unicode string>", '
        "line 1, column 5: a: b: c ^"
    ]
    assert messages(b"\xff", whole) == [
        "f.yaml: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"
    ]
    assert messages(b"", whole) == ["f.yaml: empty"]


def test_the_rules_field_names_what_whole_file_problems_are_about() -> None:
    import_file = dataclasses.replace(RULES, columns=False, field="file")
    assert messages(b"", import_file) == ["f.yaml:1: file: empty"]


def test_duplicate_and_non_plain_keys_are_issues_in_file_order() -> None:
    node = yaml.compose("a: 1\n? [x]\n: 2\na: 3\nb: 4\n", Loader=safeyaml.FAST_LOADER)
    assert isinstance(node, yaml.MappingNode)
    items, issues = safeyaml.entries(node)
    assert list(items) == ["a", "b"]
    assert [(safeyaml.line(i.key), i.first and safeyaml.line(i.first)) for i in issues] == [
        (2, None),
        (4, 1),
    ]


@pytest.mark.parametrize(
    ("problem", "shown"),
    [
        (Problem("f.yaml", 3, "bad", col=7), "f.yaml:3:7: bad"),
        (Problem("f.yaml", 3, "bad", col=7, warning=True), "f.yaml:3:7: warning: bad"),
        (Problem("a.csv", 3, "bad", field="phones"), "a.csv:3: phones: bad"),
        (Problem("c.yaml", 0, "config is empty"), "c.yaml: config is empty"),
    ],
)
def test_a_problem_shows_what_it_knows(problem: Problem, shown: str) -> None:
    assert str(problem) == shown


@pytest.mark.parametrize("rules", [FLOW_FILES, AGENT_FILES, CONFIG_FILES])
def test_every_caller_refuses_an_oversized_file_and_an_empty_one(rules: Rules) -> None:
    assert messages(b"#" * (rules.max_bytes + 1), rules)
    assert messages(b"", rules)


def test_where_the_callers_differ() -> None:
    # Flows and agent files are untrusted: no aliases, bounded nesting. The config is
    # the operator's own and keeps what it always allowed.
    assert FLOW_FILES.no_aliases
    assert AGENT_FILES.no_aliases
    assert CONFIG_FILES.no_aliases is None
    assert CONFIG_FILES.max_depth is None
    assert (FLOW_FILES.max_depth, AGENT_FILES.max_depth) == (32, 16)
    assert (FLOW_FILES.max_bytes, AGENT_FILES.max_bytes, CONFIG_FILES.max_bytes) == (
        1024 * 1024,
        16 * 1024 * 1024,
        256 * 1024,
    )
