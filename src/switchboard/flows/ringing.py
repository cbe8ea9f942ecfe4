"""The nodes that ring phones: ``route`` (extensions, external numbers, or agents the
router picks) and ``queue``, with their phones, trunks and strategies."""

from __future__ import annotations

import yaml

from switchboard.numbers import BadNumber, to_e164

from .model import AgentRoute, Agents, NodeKind, Queue, Route, Strategy, Target
from .reading import (
    ENDPOINT,
    NODE_ID,
    SITE,
    SKILL,
    TRUNK,
    NodeReader,
    flow_language,
    suggest,
)

MAX_RING_ALL = 20
RING_SECONDS_EXTENSIONS = 20  # the seed: "if nobody answers in 20 s"
# An external number rings longer by default: a carrier needs 4-16 s to set up a
# mobile leg before it even starts ringing (docs/flows.md).
RING_SECONDS_EXTERNAL = 30
MEMBER_SECONDS = 15  # linear, round_robin, longest_idle: each extension rings this long

# What a route with ``agents`` must not have: the router, not the author, picks whom to ring.
RING_FIELDS = (
    "endpoint",
    "endpoints",
    "number",
    "numbers",
    "trunk",
    "strategy",
    "timeout",
    "member_timeout",
    "confirm_prompt",
    "confirm_key",
    "confirm_timeout",
)
AGENTS_FIELDS = frozenset(
    {
        "skills",
        "language",
        "site",
        "owner_seconds",
        "ring_seconds",
        "max_wait",
        "widen_after",
        "any_after",
    }
)


def route(n: NodeReader) -> NodeKind:
    if "agents" in n.items:
        return _agents_route(n)
    targets = _endpoints(n) + _numbers(n)
    if not targets and not any(
        f in n.items for f in ("endpoint", "endpoints", "number", "numbers")
    ):
        n.reader.error(
            n.node,
            f"node {n.node_id!r} needs what to ring: endpoint or endpoints (extensions, "
            "e.g. PJSIP/100) and/or number or numbers (external, with trunk), "
            "or agents (the best free agent by skills and language)",
        )
    strategy = _strategy(n)
    _limit_ring_all(n, targets, strategy, "route")
    if strategy.sequential and "timeout" in n.items:
        n.reader.error(
            n.items["timeout"][0],
            f"node {n.node_id!r}: strategy {strategy.value} rings one phone at a time; "
            "use member_timeout (seconds each phone rings) instead of timeout",
        )
    if not strategy.sequential and "member_timeout" in n.items:
        n.reader.error(
            n.items["member_timeout"][0],
            f"node {n.node_id!r}: member_timeout is for linear, round_robin and "
            "longest_idle; ring_all rings every phone for timeout seconds",
        )
    external = any(t.external for t in targets)
    default_ring = RING_SECONDS_EXTERNAL if external else RING_SECONDS_EXTENSIONS
    confirm_prompt = n.optional_prompt("confirm_prompt")
    if confirm_prompt and not external:
        n.reader.error(
            n.items["confirm_prompt"][0],
            f"node {n.node_id!r}: confirm_prompt is for external numbers (a mobile's "
            "voicemail must not take the call); this route rings none",
        )
    return Route(
        targets=targets,
        on_fail=n.ref("on_fail"),
        timeout=n.number("timeout", 5, 600, int, default_ring),
        strategy=strategy,
        member_timeout=n.number(
            "member_timeout", 5, 600, int, RING_SECONDS_EXTERNAL if external else MEMBER_SECONDS
        ),
        confirm_prompt=confirm_prompt,
        confirm_key=n.key("confirm_key") or "1",
        confirm_timeout=n.number("confirm_timeout", 2, 60, float, 8.0),
        record=_record(n),
    )


def _agents_route(n: NodeReader) -> NodeKind:
    """A route whose phones the router picks: ``agents: {skills: {sales: 3}, ...}``."""
    for name in RING_FIELDS:
        if name in n.items:
            n.reader.error(
                n.items[name][0],
                f"node {n.node_id!r}: {name} cannot be used with agents (agents picks whom "
                "to ring; put the ring group or number in the node on_fail leads to)",
            )
    node = n.items["agents"][1]
    items = n.reader.mapping(node, n.what("agents"))
    n.reader.check_fields(items, AGENTS_FIELDS, n.what("agents"))
    inner = NodeReader(n.reader, n.node_id, node, items, n.languages, prefix="agents.")
    language = inner.items.get("language")
    agents = Agents(
        skills=_agent_skills(inner),
        language=flow_language(inner, language[1]) if language else "",
        site=inner.reader.text(items["site"][1], n.what("agents.site"), SITE)
        if "site" in items
        else "",
        owner_seconds=inner.number("owner_seconds", 0, 120, int, 15),
        ring_seconds=inner.number("ring_seconds", 5, 600, int, 20),
        max_wait=inner.number("max_wait", 0, 3600, int, 60),
        widen_after=inner.number("widen_after", 0, 3600, int, 30),
        any_after=inner.number("any_after", 0, 3600, int, 60),
    )
    if agents.any_after < agents.widen_after:
        written = "any_after" in items
        n.reader.error(
            items["any_after" if written else "widen_after"][1],
            f"{n.what('agents')}: any_after {agents.any_after}{'' if written else ' (the default)'}"
            f" is less than widen_after {agents.widen_after} (the wait widens to any "
            "proficiency first, then to any agent with the language: make any_after at least "
            "widen_after)",
        )
    return AgentRoute(agents=agents, on_fail=n.ref("on_fail"), record=_record(n))


def _record(n: NodeReader) -> bool:
    """``record: true|false``: record the calls this node connects; default the flow's
    ``record_calls``."""
    if "record" not in n.items:
        return n.reader.record_calls
    return n.reader.boolean(n.items["record"][1], n.what("record"))


def _agent_skills(n: NodeReader) -> tuple[tuple[str, int], ...]:
    """``{sales: 3, billing: 1}`` (minimum proficiency 1-5) or ``[sales, billing]`` (1)."""
    if "skills" not in n.items:
        return ()
    node = n.items["skills"][1]
    if isinstance(node, yaml.MappingNode):
        written: list[tuple[yaml.Node, yaml.Node | None]] = list(node.value)
    elif isinstance(node, yaml.SequenceNode):
        written = [(item, None) for item in node.value]
    else:
        n.reader.error(
            node,
            f"{n.what('skills')} must map each skill to its minimum proficiency, such as "
            "{sales: 3, billing: 1}, or list skills, such as [sales, billing]",
        )
        return ()
    skills: dict[str, int] = {}
    lines: dict[str, int] = {}
    for key, value in written:
        name = _skill(n, key)
        level = _proficiency(n, name, value)
        if name in lines:
            n.reader.error(
                key,
                f"{n.what('skills')}: {name!r} is given twice (first at line {lines[name]}; "
                "give each skill once)",
            )
        elif name:
            lines[name] = n.reader.pos(key).line
            if level is not None:
                skills[name] = level
    return tuple(skills.items())


def _proficiency(n: NodeReader, skill: str, node: yaml.Node | None) -> int | None:
    """The minimum proficiency written for a skill: 1-5; a listed skill (no value) is 1."""
    if node is None:
        return 1
    what = f"{n.what('skills')}: minimum proficiency of {skill or 'a skill'!r}"
    return n.reader.number(node, what, 1, 5, int)


def _skill(n: NodeReader, node: yaml.Node) -> str:
    """A skill a route asks for: one the flow declares in its top-level ``skills``."""
    name = n.reader.text(node, n.what("skills"), SKILL)
    declared = n.reader.skills
    if not name:
        return ""
    if declared is None:
        n.reader.error(
            node,
            f"{n.what('skills')}: skill {name!r} is not declared (declare the flow's skills "
            "at the top of the file, e.g. skills: [sales, support])",
        )
    elif name not in declared:
        hint = suggest(name, declared) or (
            f"add it to skills: at the top of the file; declared: {', '.join(declared) or '-'}"
        )
        n.reader.error(node, f"{n.what('skills')}: skill {name!r} is not declared ({hint})")
    return name


def queue(n: NodeReader) -> NodeKind:
    targets = _endpoints(n) + _numbers(n)
    if not targets and not any(
        f in n.items for f in ("endpoint", "endpoints", "number", "numbers")
    ):
        n.reader.error(
            n.node, f"node {n.node_id!r} needs the phones that serve the queue: endpoints"
        )
    strategy = _strategy(n)
    _limit_ring_all(n, targets, strategy, "queue")
    name = n.node_id
    if "name" in n.items:
        name = n.reader.text(n.items["name"][1], n.what("name"), NODE_ID) or name
    announce = n.number("announce_every", 0, 600, int, 0)
    position_prompt = n.optional_prompt("position_prompt")
    if announce and not position_prompt:
        n.reader.error(
            n.items["announce_every"][0],
            f"node {n.node_id!r}: announce_every needs position_prompt (said before the "
            "number, e.g. 'you are caller number')",
        )
    callback_key = n.key("callback_key")
    callback_prompt = n.optional_prompt("callback_prompt")
    callback_refused_prompt = n.optional_prompt("callback_refused_prompt")
    callback_trunk = _trunk(n, "callback_trunk")
    needed = (
        ("callback_prompt", callback_prompt,
         "what the caller hears before hanging up: that they will be called back"),
        ("callback_refused_prompt", callback_refused_prompt,
         "what the caller hears when their number cannot be called back: they keep their place"),
        ("callback_trunk", callback_trunk,
         "the PJSIP endpoint the caller is called back through, e.g. carrier"),
    )  # fmt: skip
    for field_name, value, what in needed if callback_key else ():
        if not value:
            n.reader.error(
                n.items["callback_key"][0],
                f"node {n.node_id!r}: callback_key needs {field_name} ({what})",
            )
    moh = "default"
    if "moh" in n.items:
        moh = n.reader.text(n.items["moh"][1], n.what("moh"), NODE_ID) or moh
    return Queue(
        name=name,
        targets=targets,
        on_timeout=n.ref("on_timeout"),
        strategy=strategy,
        ring_seconds=n.number("ring_seconds", 5, 600, int, MEMBER_SECONDS),
        max_wait=n.number("max_wait", 10, 3600, int, 120),
        moh=moh,
        announce_every=announce,
        position_prompt=position_prompt,
        callback_key=callback_key,
        callback_prompt=callback_prompt,
        callback_refused_prompt=callback_refused_prompt,
        callback_trunk=callback_trunk,
        record=_record(n),
    )


def _limit_ring_all(
    n: NodeReader, targets: tuple[Target, ...], strategy: Strategy, kind: str
) -> None:
    """Ringing every phone at once is capped (each is an INVITE and a channel at the
    same moment); a strategy that rings one phone at a time takes any number."""
    if strategy.sequential or len(targets) <= MAX_RING_ALL:
        return
    where = next((f for f in ("endpoints", "numbers") if f in n.items), "")
    n.reader.error(
        n.items[where][1] if where else n.node,
        f"{n.what(where or kind)}: {len(targets)} phones; ringing more than "
        f"{MAX_RING_ALL} at once overloads Asterisk (use strategy longest_idle, "
        "linear or round_robin, which ring one phone at a time)",
    )


def _strategy(n: NodeReader) -> Strategy:
    if "strategy" not in n.items:
        return Strategy.RING_ALL
    node = n.items["strategy"][1]
    text = n.reader.text(node, n.what("strategy"))
    try:
        return Strategy(text)
    except ValueError:
        known = ", ".join(s.value for s in Strategy)
        n.reader.error(node, f"{n.what('strategy')}: {text!r} is not a strategy ({known})")
        return Strategy.RING_ALL


def _listed(n: NodeReader, one: str, many: str, example: str) -> list[yaml.Node]:
    """``one: X`` or ``many: [X, Y]`` -> the value nodes (none if neither is written)."""
    if one in n.items and many in n.items:
        n.reader.error(n.node, f"node {n.node_id!r}: use {one} or {many}, not both")
        return []
    if one in n.items:
        return [n.items[one][1]]
    if many not in n.items:
        return []
    seq = n.items[many][1]
    if not isinstance(seq, yaml.SequenceNode) or not seq.value:
        n.reader.error(seq, f"{n.what(many)} must be a list such as {example}")
        return []
    return list(seq.value)


def _endpoints(n: NodeReader) -> tuple[Target, ...]:
    """``endpoint: PJSIP/100`` or ``endpoints: [...]``: extensions."""
    nodes = _listed(n, "endpoint", "endpoints", "[PJSIP/100, PJSIP/101]")
    endpoints = [n.reader.text(node, n.what("endpoint"), ENDPOINT) for node in nodes]
    for node, endpoint in zip(nodes, endpoints, strict=True):
        if endpoint:
            n.reader.endpoint_refs.append((endpoint, n.reader.pos(node)))
    return tuple(Target(e) for e in dict.fromkeys(e for e in endpoints if e))


def _trunk(n: NodeReader, field_name: str) -> str:
    """``carrier`` or ``PJSIP/carrier`` -> ``PJSIP/carrier`` (noted for check --live)."""
    if field_name not in n.items:
        return ""
    node = n.items[field_name][1]
    trunk = n.reader.text(node, n.what(field_name), TRUNK)
    if not trunk:
        return ""
    trunk = trunk if trunk.startswith("PJSIP/") else f"PJSIP/{trunk}"
    n.reader.endpoint_refs.append((trunk, n.reader.pos(node)))
    return trunk


def _numbers(n: NodeReader) -> tuple[Target, ...]:
    """``number: 8 (987) 123-45-67`` or ``numbers: [...]``, dialed through ``trunk``."""
    nodes = _listed(n, "number", "numbers", '["8 (987) 123-45-67"]')
    trunk = _trunk(n, "trunk")
    if "trunk" in n.items and not nodes:
        n.reader.error(n.items["trunk"][1], f"node {n.node_id!r}: trunk without number or numbers")
    elif "trunk" not in n.items and nodes:
        n.reader.error(
            n.node,
            f"node {n.node_id!r}: external numbers need trunk "
            "(the PJSIP endpoint of the carrier, e.g. trunk: carrier)",
        )
    numbers: list[str] = []
    for node in nodes:
        if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:str":
            n.reader.error(
                node, f'{n.what("number")}: write the number as a quoted string, e.g. "8 987 ..."'
            )
            continue
        try:
            numbers.append(to_e164(node.value))
        except BadNumber as exc:
            n.reader.error(node, f"{n.what('number')}: {exc}")
    if not trunk:
        return ()
    technology, _, trunk_name = trunk.partition("/")
    return tuple(
        Target(f"{technology}/{number}@{trunk_name}", number=number, trunk=trunk)
        for number in dict.fromkeys(numbers)
    )
