"""Tier 1: the API and the pages import each other one way only (pages -> api), and no
import cycle, through any package of switchboard, passes through one of their modules;
``api.context`` imports neither package.

The graph is read from the source (``ast``), every import statement counted, those
inside functions and under ``TYPE_CHECKING`` too: a cycle hidden in a function is
still a cycle.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import switchboard

SRC = Path(switchboard.__file__).parent
PACKAGES = ("switchboard.api", "switchboard.pages")


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    """Every module of switchboard, by name."""
    return {module_name(path): path for path in sorted(SRC.rglob("*.py"))}


def ours(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in PACKAGES)


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ``known`` that the module ``name`` imports (and, for a module of
    another package, that package's ``__init__``, which importing it runs)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets.add(base)
            targets.update(f"{base}.{alias.name}" for alias in node.names)
    edges = set()
    for target in targets:
        parts = target.split(".")
        for end in range(2, len(parts) + 1):  # the module and the packages it runs
            prefix = ".".join(parts[:end])
            if prefix in known and prefix != name and not name.startswith(prefix + "."):
                edges.add(prefix)
    return edges


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imported(name, path, set(found)) for name, path in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, round (strongly connected
    components of more than one module), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:  # (Tarjan's algorithm)
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while (member := stack.pop()) != node:
                group.append(member)
            if group:
                found.append(sorted([node, *group]))

    for start in sorted(edges):
        if start not in index:
            visit(start)
    return sorted(found)


def cycle(edges: dict[str, set[str]]) -> list[str]:
    """One import cycle (its modules, the first repeated at the end), or []."""
    state: dict[str, str] = {}
    trail: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = "open"
        trail.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                return [*trail[trail.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        trail.pop()
        state[node] = "done"
        return []

    for start in sorted(edges):
        if start not in state and (found := visit(start)):
            return found
    return []


def test_the_graph_sees_the_pages_importing_the_api() -> None:
    edges = graph()
    assert "switchboard.api.context" in edges["switchboard.pages"]
    assert "switchboard.api" in edges["switchboard.pages"]  # (its __init__ runs first)
    assert "switchboard.api.context" in edges["switchboard.api.server"]


def test_no_import_cycle_passes_through_the_api_or_the_pages() -> None:
    assert [group for group in cycles(graph()) if any(map(ours, group))] == []


def test_no_import_cycle_among_the_api_and_pages_modules() -> None:
    edges = graph()
    mine = {name: {t for t in targets if ours(t)} for name, targets in edges.items() if ours(name)}
    assert cycle(mine) == []


def test_the_api_never_imports_the_pages() -> None:
    crossing = sorted(
        f"{name} -> {target}"
        for name, targets in graph().items()
        for target in targets
        if name.startswith("switchboard.api") and target.startswith("switchboard.pages")
    )
    assert crossing == []


def test_the_context_imports_nothing_of_the_api_or_the_pages() -> None:
    assert set(filter(ours, graph()["switchboard.api.context"])) == set()


def test_the_cycle_finders_find_them() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "e"}, "e": {"d"}, "f": {"a"}}
    assert cycle(edges) == ["a", "b", "c", "a"]
    assert cycles(edges) == [["a", "b", "c"], ["d", "e"]]
    assert cycle({"a": {"b"}, "b": set()}) == []
    assert cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("name", sorted(filter(ours, modules())))
def test_each_module_imports(name: str) -> None:
    importlib.import_module(name)
