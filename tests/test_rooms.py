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
    assert is_dev_tool("devsaas.app") and is_dev_tool("spec_kitty_testing") and not is_dev_tool("devsaasy")


@pytest.mark.parametrize("path", runtime_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_runtime_module_imports_no_dev_tool(path: Path) -> None:
    offending = [f"{path.relative_to(ROOT)}:{line}: {name}" for line, name in named_modules(path) if is_dev_tool(name)]
    assert offending == []
