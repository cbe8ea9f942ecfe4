"""Tier 1: route nodes with `agents:` (skills, language, the customer's owner) and the
top-level `skills:` list compile to `Agents`, and every mistake names file:line:col."""

from __future__ import annotations

import pytest

from switchboard.crm import values as crm_values
from switchboard.flows import FlowError, compile_flow
from switchboard.flows import reading as flow_reading
from switchboard.flows.model import AgentRoute, Agents, Route, Target
from tests.flowkit import CATALOG

AGENTS = """\
languages: [en, ru]
skills: [sales, support, billing]
entry:
  "74951234567": sales
nodes:
  sales:
    kind: route
    agents:
      skills: {sales: 3, billing: 1}
      language: ru
      owner_seconds: 10
      ring_seconds: 25
      max_wait: 90
      widen_after: 20
      any_after: 45
    on_fail: ringgroup
  ringgroup:
    kind: route
    endpoints: [PJSIP/100, PJSIP/101]
    on_fail: bye
  bye: {kind: hangup}
"""
ALL_FIELDS = (
    "      language: ru\n      owner_seconds: 10\n      ring_seconds: 25\n"
    "      max_wait: 90\n      widen_after: 20\n      any_after: 45\n"
)
BLOCK = "    agents:\n      skills: {sales: 3, billing: 1}\n" + ALL_FIELDS


def problems(text: str) -> list[str]:
    with pytest.raises(FlowError) as caught:
        compile_flow("f.yaml", text.encode(), CATALOG)
    return [str(p) for p in caught.value.problems]


def changed(old: str, new: str) -> str:
    assert old in AGENTS
    return AGENTS.replace(old, new, 1)


def test_an_agents_route_compiles_to_agents_and_rings_no_listed_phone() -> None:
    flow, warnings = compile_flow("f.yaml", AGENTS.encode(), CATALOG)
    assert warnings == []  # 'support' is declared and unused: that is fine
    assert flow.skills == ("sales", "support", "billing")
    assert flow.nodes["sales"].kind == AgentRoute(
        agents=Agents(
            skills=(("sales", 3), ("billing", 1)),
            language="ru",
            owner_seconds=10,
            ring_seconds=25,
            max_wait=90,
            widen_after=20,
            any_after=45,
        ),
        on_fail="ringgroup",
    )
    assert flow.nodes["ringgroup"].kind == Route(
        targets=(Target("PJSIP/100"), Target("PJSIP/101")), on_fail="bye"
    )
    assert [ep for ep, _ in flow.endpoint_refs] == ["PJSIP/100", "PJSIP/101"]


@pytest.mark.parametrize(
    ("block", "skills"),
    [
        ("    agents:\n      skills: [sales, billing]\n", (("sales", 1), ("billing", 1))),
        ("    agents:\n      skills:\n        - billing\n", (("billing", 1),)),
        ("    agents:\n      skills: {support: 5}\n", (("support", 5),)),
        ("    agents:\n      skills: {}\n", ()),
        ("    agents:\n      skills: []\n", ()),
        ("    agents: {}\n", ()),
    ],
)
def test_skills_as_a_list_mean_proficiency_one_and_unwritten_fields_take_defaults(
    block: str, skills: tuple[tuple[str, int], ...]
) -> None:
    flow, _ = compile_flow("f.yaml", changed(BLOCK, block).encode(), CATALOG)
    route = flow.nodes["sales"].kind
    assert isinstance(route, AgentRoute)
    assert route.agents == Agents(skills=skills)
    assert route.agents == Agents(skills, "", "", 15, 20, 60, 30, 60)  # the documented defaults


def test_a_flow_without_skills_may_still_route_to_any_agent() -> None:
    text = changed("skills: [sales, support, billing]\n", "").replace(BLOCK, "    agents: {}\n")
    flow, _ = compile_flow("f.yaml", text.encode(), CATALOG)
    assert flow.skills == ()
    assert isinstance(flow.nodes["sales"].kind, AgentRoute)
    assert flow.nodes["sales"].kind.agents == Agents()


RING_WITH_AGENTS = (
    "node 'sales': {field} cannot be used with agents (agents picks whom to ring; "
    "put the ring group or number in the node on_fail leads to)"
)


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("endpoint: PJSIP/100", "f.yaml:16:5: " + RING_WITH_AGENTS.format(field="endpoint")),
        ("endpoints: [PJSIP/100]", "f.yaml:16:5: " + RING_WITH_AGENTS.format(field="endpoints")),
        ('number: "89871234567"', "f.yaml:16:5: " + RING_WITH_AGENTS.format(field="number")),
        ("trunk: carrier", "f.yaml:16:5: " + RING_WITH_AGENTS.format(field="trunk")),
        ("strategy: linear", "f.yaml:16:5: " + RING_WITH_AGENTS.format(field="strategy")),
        ("timeout: 20", "f.yaml:16:5: " + RING_WITH_AGENTS.format(field="timeout")),
        ("member_timeout: 9", "f.yaml:16:5: " + RING_WITH_AGENTS.format(field="member_timeout")),
        ("confirm_key: '1'", "f.yaml:16:5: " + RING_WITH_AGENTS.format(field="confirm_key")),
    ],
)
def test_agents_and_listed_phones_in_one_route_are_refused_at_the_phone_field(
    written: str, message: str
) -> None:
    found = problems(
        changed("    on_fail: ringgroup\n", f"    {written}\n    on_fail: ringgroup\n")
    )
    assert found == [message]


def test_a_route_with_neither_agents_nor_phones_says_agents_is_a_way_too() -> None:
    assert problems(changed(BLOCK, "")) == [
        "f.yaml:7:5: node 'sales' needs what to ring: endpoint or endpoints (extensions, "
        "e.g. PJSIP/100) and/or number or numbers (external, with trunk), or agents (the best "
        "free agent by skills and language)"
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("      ring_seconds: 25\n", "      ring_secs: 25\n"),
            "f.yaml:12:7: node 'sales': agents: unknown field 'ring_secs' "
            "(did you mean 'ring_seconds'?)",
        ),
        (
            ("      ring_seconds: 25\n", "      colour: red\n"),
            "f.yaml:12:7: node 'sales': agents: unknown field 'colour' (allowed: any_after, "
            "language, max_wait, owner_seconds, ring_seconds, site, skills, widen_after)",
        ),
        (
            ("{sales: 3, billing: 1}", "{sales: 3, biling: 1}"),
            "f.yaml:9:26: node 'sales': agents.skills: skill 'biling' is not declared "
            "(did you mean 'billing'?)",
        ),
        (
            ("{sales: 3, billing: 1}", "[sales, marketing]"),
            "f.yaml:9:23: node 'sales': agents.skills: skill 'marketing' is not declared "
            "(add it to skills: at the top of the file; declared: sales, support, billing)",
        ),
        (
            ("skills: [sales, support, billing]\nentry", "entry"),
            "f.yaml:8:16: node 'sales': agents.skills: skill 'sales' is not declared (declare "
            "the flow's skills at the top of the file, e.g. skills: [sales, support])",
        ),
        (
            ("{sales: 3, billing: 1}", "{sales: 6}"),
            "f.yaml:9:23: node 'sales': agents.skills: minimum proficiency of 'sales' is 6, "
            "out of range (use 1 to 5)",
        ),
        (
            ("{sales: 3, billing: 1}", "{sales: 0}"),
            "f.yaml:9:23: node 'sales': agents.skills: minimum proficiency of 'sales' is 0, "
            "out of range (use 1 to 5)",
        ),
        (
            ("{sales: 3, billing: 1}", "{sales: 2.5}"),
            "f.yaml:9:23: node 'sales': agents.skills: minimum proficiency of 'sales': '2.5' is "
            "not a number (use 1 to 5)",
        ),
        (
            ("{sales: 3, billing: 1}", "{sales: 3, sales: 1}"),
            "f.yaml:9:26: node 'sales': agents.skills: 'sales' is given twice (first at line 9; "
            "give each skill once)",
        ),
        (
            ("{sales: 3, billing: 1}", "[sales, billing, sales]"),
            "f.yaml:9:32: node 'sales': agents.skills: 'sales' is given twice (first at line 9; "
            "give each skill once)",
        ),
        (
            ("{sales: 3, billing: 1}", "{Sales: 3}"),
            "f.yaml:9:16: node 'sales': agents.skills: 'Sales' is not valid (expected a skill "
            "name: a lower-case letter, then up to 39 lower-case letters, digits or _, such as "
            "sales)",
        ),
        (
            ("{sales: 3, billing: 1}", "sales"),
            "f.yaml:9:15: node 'sales': agents.skills must map each skill to its minimum "
            "proficiency, such as {sales: 3, billing: 1}, or list skills, such as "
            "[sales, billing]",
        ),
        (
            ("skills: [sales, support, billing]", "skills: sales"),
            "f.yaml:2:9: skills must be a list of skill names such as [sales, support]",
        ),
        (
            ("skills: [sales, support, billing]", "skills: []"),
            "f.yaml:2:9: skills must be a list of skill names such as [sales, support]",
        ),
        (
            ("skills: [sales, support, billing]", "skills: [sales, support, billing, 2fa]"),
            "f.yaml:2:35: skills: '2fa' is not valid (expected a skill name: a lower-case "
            "letter, then up to 39 lower-case letters, digits or _, such as sales)",
        ),
        (
            ("skills: [sales, support, billing]", "skills: [sales, support, billing, sales]"),
            "f.yaml:2:35: skills: 'sales' is listed twice (first at line 2; list it once)",
        ),
        (
            ("language: ru", "language: Russian"),
            "f.yaml:10:17: node 'sales': agents.language: 'Russian' is not valid (expected a "
            "language code such as en, ru or pt_BR)",
        ),
        (
            ("language: ru", "language: ro"),
            "f.yaml:10:17: node 'sales': agents.language 'ro' is not one of the flow's "
            "languages (en, ru); add it there with its prompts",
        ),
        (
            ("owner_seconds: 10", "owner_seconds: 121"),
            "f.yaml:11:22: node 'sales': agents.owner_seconds is 121, out of range (use 0 to 120)",
        ),
        (
            ("ring_seconds: 25", "ring_seconds: 4"),
            "f.yaml:12:21: node 'sales': agents.ring_seconds is 4, out of range (use 5 to 600)",
        ),
        (
            ("max_wait: 90", "max_wait: 3601"),
            "f.yaml:13:17: node 'sales': agents.max_wait is 3601, out of range (use 0 to 3600)",
        ),
        (
            ("max_wait: 90", "max_wait: soon"),
            "f.yaml:13:17: node 'sales': agents.max_wait: 'soon' is not a number (use 0 to 3600)",
        ),
        (
            ("any_after: 45", "any_after: 10"),
            "f.yaml:15:18: node 'sales': agents: any_after 10 is less than widen_after 20 (the "
            "wait widens to any proficiency first, then to any agent with the language: make "
            "any_after at least widen_after)",
        ),
        (
            ("      widen_after: 20\n      any_after: 45\n", "      widen_after: 90\n"),
            "f.yaml:14:20: node 'sales': agents: any_after 60 (the default) is less than "
            "widen_after 90 (the wait widens to any proficiency first, then to any agent with "
            "the language: make any_after at least widen_after)",
        ),
    ],
)
def test_each_agents_mistake_is_reported_exactly(change: tuple[str, str], message: str) -> None:
    found = problems(changed(*change))
    assert message in found, found


def test_zero_seconds_are_allowed_where_zero_means_skip_that_step() -> None:
    zeros = "      owner_seconds: 0\n      max_wait: 0\n      widen_after: 0\n      any_after: 0\n"
    flow, _ = compile_flow("f.yaml", changed(ALL_FIELDS, zeros).encode(), CATALOG)
    route = flow.nodes["sales"].kind
    assert isinstance(route, AgentRoute)
    assert route.agents == Agents(
        skills=(("sales", 3), ("billing", 1)),
        owner_seconds=0,
        max_wait=0,
        widen_after=0,
        any_after=0,
    )


def test_an_agents_route_is_still_checked_for_loops_and_missing_nodes() -> None:
    loop = problems(changed("    on_fail: ringgroup\n", "    on_fail: sales\n"))
    assert loop[0] == (
        "f.yaml:6:3: a caller who presses nothing loops forever: sales -> sales (via "
        "next/target/on_fail); make one of these lead to a route, voicemail, hangup or handback"
    )
    missing = problems(changed("    on_fail: ringgroup\n", "    on_fail: ringgrup\n"))
    assert missing[0] == (
        "f.yaml:16:14: node 'sales': on_fail goes to 'ringgrup', which does not exist "
        "(did you mean 'ringgroup'?)"
    )


def test_skill_names_follow_the_rule_agents_are_imported_with() -> None:
    assert flow_reading.SKILL.pattern == crm_values.SKILL.pattern


def test_a_home_site_is_kept_and_a_bad_site_id_is_reported() -> None:
    flow, _ = compile_flow("f.yaml", changed(BLOCK, BLOCK + "      site: msk\n").encode(), CATALOG)
    route = flow.nodes["sales"].kind
    assert isinstance(route, AgentRoute)
    assert route.agents is not None
    assert route.agents.site == "msk"
    found = problems(changed(BLOCK, BLOCK + "      site: Moscow office\n"))
    assert len(found) == 1
    assert "agents.site" in found[0]
    assert "Moscow office" in found[0]
