"""YAML agents files -> sites and agents as written (``sites:`` and ``agents:``).

The YAML is read by :mod:`switchboard.safeyaml` under :data:`AGENT_FILES`; every
problem is ``FILE:LINE: field: why``.
"""

from __future__ import annotations

import yaml

from switchboard import safeyaml

from . import values
from .rows import (
    AGENT_COLUMNS,
    AGENT_FIELDS,
    SITE_FIELDS,
    Cell,
    Check,
    RawAgent,
    RejectedImport,
    Site,
)

MAX_YAML_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 16  # YAML nesting; an agents file needs 4
AGENT_FILES = safeyaml.Rules(
    max_bytes=MAX_YAML_BYTES,
    too_big="{size} bytes; the limit is {limit} (split it)",
    empty="the file is empty (see docs/crm.md for an example)",
    not_utf8="not UTF-8 text ({reason}; save the file as UTF-8)",
    max_depth=MAX_DEPTH,
    too_deep="nested deeper than {limit} levels (flatten it)",
    no_aliases="YAML anchors and aliases (&name, *name) are not allowed (write the values out)",
    encoding="utf-8-sig",
    columns=False,
    bad_byte_line=True,
    deep_alone=False,
    field="file",
)


def read(check: Check, raw: bytes) -> tuple[list[Site], list[RawAgent]]:
    """The sites and the agents as written; :class:`RejectedImport` when there is no
    agents list to read."""
    root, problems = safeyaml.compose(check.file, raw, AGENT_FILES)
    check.problems += problems
    if root is None:
        raise RejectedImport(check.problems)
    if not isinstance(root, yaml.MappingNode):
        check.add(
            safeyaml.line(root),
            "file",
            "must be a mapping with sites: and agents: (see docs/crm.md)",
        )
        raise RejectedImport(check.problems)
    top = _mapping(check, root, "file")
    for key, (key_node, _) in top.items():
        if key not in ("sites", "agents"):
            check.unknown(safeyaml.line(key_node), key, "key", key, ("sites", "agents"))
    sites = _yaml_sites(check, top["sites"][1]) if "sites" in top else []
    if "agents" not in top:
        check.add(safeyaml.line(root), "agents", "missing (the list of agents; see docs/crm.md)")
        raise RejectedImport(check.problems)
    return sites, _yaml_agents(check, top["agents"][1])


def _mapping(check: Check, node: yaml.Node, what: str) -> safeyaml.Entries:
    """Key -> (key node, value node); a duplicate key is a problem."""
    if not isinstance(node, yaml.MappingNode):
        check.add(safeyaml.line(node), what, "must be a mapping (key: value lines)")
        return {}
    items, issues = safeyaml.entries(node)
    for issue in issues:
        if issue.first is None:
            check.add(safeyaml.line(issue.key), what, "a key must be a plain value")
        else:
            first = safeyaml.line(issue.first)
            message = f"{issue.key.value!r} is there twice (first on line {first})"
            check.add(safeyaml.line(issue.key), what, message)
    return items


def _scalar(check: Check, node: yaml.Node, what: str) -> Cell | None:
    """A single value; None when it is empty or null (as if it were not written)."""
    if not isinstance(node, yaml.ScalarNode):
        check.add(safeyaml.line(node), what, "must be a single value")
        return None
    if node.tag == safeyaml.NULL_TAG or not node.value:
        return None
    return Cell(str(node.value), safeyaml.line(node))


def _sequence(check: Check, node: yaml.Node, what: str) -> list[Cell]:
    """A list of single values; one value alone is a list of one."""
    if isinstance(node, yaml.SequenceNode):
        cells = (_scalar(check, item, what) for item in node.value)
        return [cell for cell in cells if cell is not None]
    cell = _scalar(check, node, what)
    return [] if cell is None else [cell]


def _yaml_sites(check: Check, node: yaml.Node) -> list[Site]:
    sites = []
    for site_id, (key, value) in _mapping(check, node, "sites").items():
        line = safeyaml.line(key)
        before = len(check.problems)
        items = _mapping(check, value, "sites")
        for name, (name_node, _) in items.items():
            if name not in SITE_FIELDS:
                check.unknown(safeyaml.line(name_node), name, "field", name, sorted(SITE_FIELDS))
        cells = {name: _scalar(check, v, name) for name, (_, v) in items.items()}
        for name, how in (("name", "such as Moscow"), ("zone", "an IANA zone: Europe/Moscow")):
            if cells.get(name) is None:
                check.add(line, name, f"missing for site {site_id} ({how})")
        site = Site(
            id=check.value(line, "sites", site_id, values.identifier, ""),
            name=check.cell(cells.get("name"), "name", values.free_text, ""),
            zone=check.cell(cells.get("zone"), "zone", values.zone, ""),
            calendar=check.cell(cells.get("calendar"), "calendar", values.calendar, ""),
            line=line,
        )
        if len(check.problems) == before:
            sites.append(site)
    return sites


def _yaml_agents(check: Check, node: yaml.Node) -> list[RawAgent]:
    if not isinstance(node, yaml.SequenceNode):
        check.add(safeyaml.line(node), "agents", "must be a list (one '- id: ...' item per agent)")
        return []
    raws = []
    for item in node.value:
        raw = RawAgent(safeyaml.line(item))
        for name, (key, value) in _mapping(check, item, "agent").items():
            if name not in AGENT_FIELDS:
                check.unknown(safeyaml.line(key), name, "field", name, AGENT_COLUMNS)
            elif name == "endpoints":
                raw.endpoints = _sequence(check, value, name)
            elif name == "languages":
                raw.languages = _sequence(check, value, name)
            elif name == "skills":
                raw.skills = _yaml_skills(check, value)
            elif (cell := _scalar(check, value, name)) is not None:
                raw.fields[name] = cell
        raws.append(raw)
    return raws


def _yaml_skills(check: Check, node: yaml.Node) -> list[tuple[Cell, Cell]]:
    if isinstance(node, yaml.ScalarNode) and node.tag == safeyaml.NULL_TAG:
        return []
    skills = []
    for name, (key, value) in _mapping(check, node, "skills").items():
        proficiency = _scalar(check, value, "skills")
        if proficiency is None:
            check.add(
                safeyaml.line(key), "skills", f"{name}: no proficiency (1 to 5, such as sales: 4)"
            )
            continue
        skills.append((Cell(name, safeyaml.line(key)), proficiency))
    return skills
