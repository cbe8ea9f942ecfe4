"""Checks of a whole compiled flow: references, calendars, prompts, silent loops and
unreachable nodes."""

from __future__ import annotations

from .model import Flow, all_exits, silent_exits
from .prompts import PromptCatalog
from .reading import FlowReader, problem_at, suggest


# -- whole-graph checks --------------------------------------------------------------------
def check_graph(reader: FlowReader, flow: Flow | None, catalog: PromptCatalog) -> None:
    if flow is None:
        return
    known = flow.nodes
    for ref in reader.refs:
        if ref.target not in known and ref.target not in reader.broken:
            hint = suggest(ref.target, known) or "add the node or fix the name"
            top = ref.source in ("entry", "blocklist") and ref.source not in known
            where = ref.source if top else f"node {ref.source!r}"
            reader.problems.append(
                problem_at(
                    ref.pos,
                    f"{where}: {ref.field} goes to {ref.target!r}, which does not exist ({hint})",
                )
            )
    for calendar, pos in reader.calendar_refs:
        if calendar not in flow.calendars:
            defined = ", ".join(flow.calendars) or "none defined"
            reader.problems.append(
                problem_at(
                    pos,
                    f"calendar {calendar!r} is not defined (define it under calendars:; "
                    f"known: {defined})",
                )
            )
    _check_prompts(reader, flow, catalog)
    _check_silent_loops(reader, flow)
    _check_reachable(reader, flow)


def _check_prompts(reader: FlowReader, flow: Flow, catalog: PromptCatalog) -> None:
    for name, pos in reader.prompts:
        missing = [lang for lang in flow.languages if not catalog.has(lang, name)]
        if missing:
            files = ", ".join(str(catalog.source(lang, name)) for lang in missing)
            reader.problems.append(
                problem_at(pos, f"prompt {name!r} is missing in {', '.join(missing)} (add {files})")
            )


def _check_silent_loops(reader: FlowReader, flow: Flow) -> None:
    """A caller who presses nothing must always reach a hangup, voicemail or handback:
    the silent edges (next, target, on_fail) must not loop. Iterative depth-first
    search, so a very long flow cannot exhaust the stack."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = known to get out
    reported: set[frozenset[str]] = set()
    for start in flow.nodes:
        if start in state:
            continue
        path: list[str] = [start]
        todo: list[list[str]] = [_silent_next(flow, start)]
        state[start] = 1
        while todo:
            if not todo[-1]:
                state[path.pop()] = 2
                todo.pop()
                continue
            nxt = todo[-1].pop()
            if state.get(nxt) == 1:
                loop = path[path.index(nxt) :]
                if frozenset(loop) not in reported:
                    reported.add(frozenset(loop))
                    _report_loop(reader, flow, loop)
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                todo.append(_silent_next(flow, nxt))


def _silent_next(flow: Flow, node_id: str) -> list[str]:
    return [n for n in silent_exits(flow.nodes[node_id].kind) if n in flow.nodes]


def _report_loop(reader: FlowReader, flow: Flow, loop: list[str]) -> None:
    shown = " -> ".join([*loop, loop[0]])
    reader.problems.append(
        problem_at(
            flow.nodes[loop[0]].pos,
            f"a caller who presses nothing loops forever: {shown} (via next/target/on_fail); "
            "make one of these lead to a route, voicemail, hangup or handback",
        )
    )


def _check_reachable(reader: FlowReader, flow: Flow) -> None:
    seen: set[str] = set()
    roots = [*flow.entry.values(), *([flow.blocklist.node] if flow.blocklist else [])]
    todo = [n for n in roots if n in flow.nodes]
    while todo:
        node_id = todo.pop()
        if node_id in seen:
            continue
        seen.add(node_id)
        todo += [n for n in all_exits(flow.nodes[node_id].kind) if n in flow.nodes]
    for node_id, node in flow.nodes.items():
        if node_id not in seen:
            reader.problems.append(
                problem_at(
                    node.pos,
                    f"node {node_id!r} is not reachable from any entry "
                    "(link it from a menu or remove it)",
                    warning=True,
                )
            )
