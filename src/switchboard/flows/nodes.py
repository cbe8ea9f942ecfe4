"""A flow's ``nodes:``: each node's kind, its fields, and the builders of the kinds that
do not ring anyone (those are in :mod:`.ringing`)."""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType

import yaml

from .model import (
    MAX_CHOICES,
    MENU_KEYS,
    Choice,
    Goto,
    Handback,
    Hangup,
    HoursBranch,
    Language,
    Menu,
    Node,
    NodeKind,
    Play,
    SetVars,
    Voicemail,
)
from .reading import (
    MAILBOX,
    NODE_ID,
    VAR_NAME,
    FlowReader,
    NodeReader,
    describe,
    flow_language,
    suggest,
)
from .ringing import RING_FIELDS, queue, route

KIND_FIELDS: dict[str, frozenset[str]] = {
    "play": frozenset({"prompt", "prompts", "next", "interruptible"}),
    "menu": frozenset(
        {
            "prompt",
            "prompts",
            "choices",
            "on_fail",
            "timeout",
            "retries",
            "invalid_prompt",
            "timeout_prompt",
            "repeat_key",
            "back_key",
        }
    ),
    "language": frozenset({"language", "next"}),
    "set": frozenset({"vars", "next"}),
    "route": frozenset({*RING_FIELDS, "agents", "on_fail", "record"}),
    "queue": frozenset(
        {
            "name",
            "endpoint",
            "endpoints",
            "number",
            "numbers",
            "trunk",
            "strategy",
            "ring_seconds",
            "max_wait",
            "moh",
            "announce_every",
            "position_prompt",
            "callback_key",
            "callback_refused_prompt",
            "callback_prompt",
            "callback_trunk",
            "on_timeout",
            "record",
        }
    ),
    "goto": frozenset({"target"}),
    "hangup": frozenset({"prompt", "prompts"}),
    "voicemail": frozenset({"mailbox", "prompt", "prompts", "max_seconds", "max_silence"}),
    "handback": frozenset(),
    "hours": frozenset({"calendar", "open", "closed", "holiday"}),
}
OTHER_NAMES = {  # kinds authors coming from other systems reach for
    "ring_group": "route with endpoints (they ring at once)",
    "hunt_group": "route with endpoints and strategy: linear",
    "forward": "route with number and trunk",
}


def read_nodes(reader: FlowReader, node: yaml.Node, languages: tuple[str, ...]) -> dict[str, Node]:
    nodes: dict[str, Node] = {}
    for node_id, (key, value) in reader.mapping(node, "nodes").items():
        if not NODE_ID.fullmatch(node_id):
            reader.error(key, f"node id {node_id!r} is not valid ({describe(NODE_ID)})")
            continue
        kind = _node_kind(reader, node_id, value, languages)
        if kind is not None:
            nodes[node_id] = Node(node_id, kind, reader.pos(key))
        else:
            reader.broken.add(node_id)
    return nodes


def _node_kind(
    reader: FlowReader, node_id: str, node: yaml.Node, languages: tuple[str, ...]
) -> NodeKind | None:
    items = reader.mapping(node, f"node {node_id!r}")
    if not items:
        return None
    if "kind" not in items:
        known = ", ".join(KIND_FIELDS)
        reader.error(node, f"node {node_id!r} has no kind (add kind: one of {known})")
        return None
    kind_node = items["kind"][1]
    kind = reader.text(kind_node, f"node {node_id!r}: kind")
    if kind in OTHER_NAMES:
        reader.error(
            kind_node, f"node {node_id!r}: there is no kind {kind!r}; use {OTHER_NAMES[kind]}"
        )
        return None
    if kind not in KIND_FIELDS:
        hint = suggest(kind, KIND_FIELDS) or f"one of {', '.join(KIND_FIELDS)}"
        reader.error(kind_node, f"node {node_id!r}: unknown kind {kind!r} ({hint})")
        return None
    del items["kind"]
    reader.check_fields(items, KIND_FIELDS[kind], f"node {node_id!r} ({kind})")
    builder = _BUILDERS[kind]
    return builder(NodeReader(reader, node_id, node, items, languages))


def _play(n: NodeReader) -> NodeKind:
    prompts = n.reader.prompt_list(n.items, n.node_id)
    if not prompts:
        n.reader.error(n.node, f"node {n.node_id!r} (play) needs prompt or prompts")
    interruptible = "interruptible" in n.items and n.reader.boolean(
        n.items["interruptible"][1], n.what("interruptible")
    )
    return Play(prompts=prompts, next=n.ref("next"), interruptible=interruptible)


def _menu(n: NodeReader) -> NodeKind:
    prompts = n.reader.prompt_list(n.items, n.node_id)
    if not prompts:
        n.reader.error(n.node, f"node {n.node_id!r} (menu) needs prompt or prompts")
    choices = _choices(n)
    repeat_key, back_key = n.key("repeat_key"), n.key("back_key")
    for name, key in (("repeat_key", repeat_key), ("back_key", back_key)):
        if key and key in choices:
            n.reader.error(
                n.items[name][1],
                f"{n.what(name)} {key!r} is also a choice (pick a key the menu does not use)",
            )
    if repeat_key and repeat_key == back_key:
        n.reader.error(
            n.items["back_key"][1],
            f"{n.what('back_key')} is the same as repeat_key (give them different keys)",
        )
    return Menu(
        prompts=prompts,
        choices=MappingProxyType(choices),
        on_fail=n.ref("on_fail"),
        timeout=n.number("timeout", 1, 30, float, 5.0),
        retries=n.number("retries", 0, 5, int, 2),
        invalid_prompt=n.optional_prompt("invalid_prompt"),
        timeout_prompt=n.optional_prompt("timeout_prompt"),
        repeat_key=repeat_key,
        back_key=back_key,
    )


def _choices(n: NodeReader) -> dict[str, Choice]:
    node = n.required("choices")
    if node is None:
        return {}
    choices: dict[str, Choice] = {}
    for key, (key_node, value) in n.reader.mapping(node, n.what("choices")).items():
        if key not in MENU_KEYS:
            n.reader.error(
                key_node,
                f"{n.what('choices')}: {key!r} is not a phone key "
                "(use 1-9, 0, * or #; quote * and # in YAML)",
            )
            continue
        choices[key] = _choice(n, key, value)
    counted = [k for k, c in choices.items() if c.action == "goto"]
    if len(counted) > MAX_CHOICES:
        n.reader.error(
            node,
            f"menu {n.node_id!r} has {len(counted)} choices; the limit is "
            f"{MAX_CHOICES} because callers lose track past five "
            "(move some into a sub-menu)",
        )
    if not choices:
        n.reader.error(node, f"menu {n.node_id!r} has no choices (add at least one key)")
    return choices


def _choice(n: NodeReader, key: str, value: yaml.Node) -> Choice:
    if isinstance(value, yaml.ScalarNode):
        return Choice(target=n.reader.ref(value, n.node_id, f"choice {key}"))
    items = n.reader.mapping(value, f"{n.what('choice')} {key}")
    n.reader.check_fields(items, frozenset({"back", "repeat"}), f"{n.what('choice')} {key}")
    if "back" in items and "repeat" in items:
        n.reader.error(value, f"{n.what('choice')} {key}: back or repeat, not both")
    if "back" in items and n.reader.boolean(items["back"][1], f"choice {key}: back"):
        return Choice(action="back")
    if "repeat" in items and n.reader.boolean(items["repeat"][1], f"choice {key}: repeat"):
        return Choice(action="repeat")
    n.reader.error(
        value, f"{n.what('choice')} {key}: give a node id, {{back: true}} or {{repeat: true}}"
    )
    return Choice(action="repeat")


def _language(n: NodeReader) -> NodeKind:
    node = n.required("language")
    language = flow_language(n, node) if node is not None else ""
    return Language(language=language, next=n.ref("next"))


def _set(n: NodeReader) -> NodeKind:
    node = n.required("vars")
    values: dict[str, str] = {}
    if node is not None:
        for name, (key, value) in n.reader.mapping(node, n.what("vars")).items():
            if not VAR_NAME.fullmatch(name):
                n.reader.error(
                    key,
                    f"{n.what('vars')}: {name!r} is not a variable name ({describe(VAR_NAME)})",
                )
                continue
            values[name] = n.reader.text(value, f"{n.what('vars')}.{name}")
    return SetVars(vars=MappingProxyType(values), next=n.ref("next"))


def _goto(n: NodeReader) -> NodeKind:
    return Goto(target=n.ref("target"))


def _hangup(n: NodeReader) -> NodeKind:
    return Hangup(prompts=n.reader.prompt_list(n.items, n.node_id))


def _voicemail(n: NodeReader) -> NodeKind:
    node = n.required("mailbox")
    mailbox = n.reader.text(node, n.what("mailbox"), MAILBOX) if node is not None else ""
    return Voicemail(
        mailbox=mailbox,
        prompts=n.reader.prompt_list(n.items, n.node_id),
        max_seconds=n.number("max_seconds", 5, 3600, int, 180),
        max_silence=n.number("max_silence", 0, 60, int, 10),
    )


def _handback(n: NodeReader) -> NodeKind:
    return Handback()


def _hours(n: NodeReader) -> NodeKind:
    node = n.required("calendar")
    calendar = n.reader.text(node, n.what("calendar"), NODE_ID) if node is not None else ""
    if node is not None and calendar:
        n.reader.calendar_refs.append((calendar, n.reader.pos(node)))
    closed = n.ref("closed")
    holiday = n.ref("holiday") if "holiday" in n.items else closed
    return HoursBranch(calendar=calendar, open=n.ref("open"), closed=closed, holiday=holiday)


_BUILDERS: dict[str, Callable[[NodeReader], NodeKind]] = {
    "play": _play,
    "menu": _menu,
    "language": _language,
    "set": _set,
    "route": route,
    "queue": queue,
    "goto": _goto,
    "hangup": _hangup,
    "voicemail": _voicemail,
    "handback": _handback,
    "hours": _hours,
}
