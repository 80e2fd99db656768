"""The runtime imports none of the dev tools: the folder layout is the architecture.

Given every module of the runtime (``states``, ``orchestrator``, ``cli``, ``specify_cli``), when its
source is read, then no import (at module level or inside a function) and no module path written as a
string (``cli/main.py`` loads commands by name) points at the dev SaaS and diagram generator
(``devsaas``) or the test surface (``spec_kitty_testing``). A customer machine runs the runtime only.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ("states", "orchestrator", "cli", "specify_cli")
DEV_TOOLS = ("devsaas", "spec_kitty_testing")


def runtime_files() -> list[Path]:
    return sorted(path for package in RUNTIME for path in (ROOT / package).rglob("*.py"))


def named_modules(path: Path) -> Iterator[tuple[int, str]]:
    """Every module the file imports, plus every string that could be a module path, with its line."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def is_dev_tool(name: str) -> bool:
    return any(name == room or name.startswith(room + ".") for room in DEV_TOOLS)


def test_the_walk_sees_lazy_imports_and_module_paths_written_as_strings() -> None:
    """Guard against a vacuous pass: the walk finds a function-level import and cli/main's command table."""
    assert any(name == "orchestrator.svg" for _, name in named_modules(ROOT / "cli" / "hosted" / "explain.py"))
    assert any(name.startswith("cli.") for _, name in named_modules(ROOT / "cli" / "main.py"))
    assert is_dev_tool("devsaas.app")
    assert is_dev_tool("spec_kitty_testing")
    assert not is_dev_tool("devsaasy")


@pytest.mark.parametrize("path", runtime_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_runtime_module_imports_no_dev_tool(path: Path) -> None:
    offending = [f"{path.relative_to(ROOT)}:{line}: {name}" for line, name in named_modules(path) if is_dev_tool(name)]
    assert offending == []


# --- the graph: no circles, and imports point cli -> orchestrator -> states -----------------------------------
ALL = (*RUNTIME, *DEV_TOOLS)
LAYER = {"states": 0, "orchestrator": 1, "cli": 2}  # a module may import its own layer or one below


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for package in ALL for path in (ROOT / package).rglob("*.py")}


def owner(name: str) -> str | None:
    """The module a dotted import lands in (``a.b.C`` is module ``a.b`` when ``a.b.C`` is a class)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(path: Path) -> set[str]:
    """Every project module the file imports, at module level or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        found.update(target for target in map(owner, names) if target)
    return found


def graph() -> dict[str, set[str]]:
    """Module -> modules it imports; importing one's own parent package (its docstring) is no edge."""
    return {name: {t for t in imports_of(path) if t != name and not name.startswith(t + ".")}
            for name, path in MODULES.items()}


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_circle_finder_finds_a_planted_circle() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_back_through_others() -> None:
    assert circles(graph()) == []


def test_imports_point_from_cli_to_orchestrator_to_states() -> None:
    upward = sorted(f"{name} -> {target}" for name, targets in graph().items() for target in targets
                    if name.split(".")[0] in LAYER and target.split(".")[0] in LAYER
                    and LAYER[target.split(".")[0]] > LAYER[name.split(".")[0]])
    assert upward == []


@pytest.mark.parametrize("path", runtime_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_runtime_file_is_over_400_lines(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 400
