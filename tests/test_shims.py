"""Negative verification: the compatibility shims third-party callers import still work, and are shims.

Given a caller written against spec-kitty, when it imports the rollout gate from
``specify_cli.saas.rollout``, ``specify_cli.tracker.feature_flags`` or ``specify_cli.sync.feature_flags``,
then it gets the project's canonical objects (the very same ones), which read the env var fresh.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
import tomllib
from pathlib import Path

import pytest
from support.cli import run_python
from support.projects import REPO
from support.shell import Shell, parallel

from orchestrator.home import rollout

SHIMS = ("specify_cli.saas.rollout", "specify_cli.tracker.feature_flags", "specify_cli.sync.feature_flags")
MESSAGE = "Hosted SaaS sync is not enabled on this machine. Set `SPEC_KITTY_ENABLE_SAAS_SYNC=1` to opt in."
TRUTHY = ["1", "true", "yes", "y", "on", "TRUE", "Yes", "Y", "ON", " on ", "\ttrue\n", " 1 ", "yEs"]
FALSY = ["", " ", "0", "false", "no", "n", "off", "2", "10", "enabled", "tru", "yes please", "1.0", "o n", "ye s",
         "\u0131", "truE!"]


@pytest.mark.parametrize("value", [None, "0", " no ", "1", "true", " On "], ids=repr)
def test_quickstart_negative_verification_step_2_prints_the_flag_state(
        shell: Shell, value: str | None) -> None:
    """python -c "from specify_cli.<x>.feature_flags import is_saas_sync_enabled; print(...)"
    prints True or False matching the current env state, for every shim."""
    shell.flag(value)
    expected = "True\n" if value is not None and value.strip().casefold() in {"1", "true", "on"} else "False\n"
    commands = [f"from {module} import is_saas_sync_enabled; print(is_saas_sync_enabled())" for module in SHIMS]
    results = parallel(*(lambda code=code: run_python(code, home=shell.home, cwd=shell.cwd, env_extra=shell.env,
                                                      user_home=shell.user_home) for code in commands))
    for code, result in zip(commands, results, strict=True):
        assert (result.stdout, result.stderr, result.exit_code) == (expected, "", 0), code
        assert result.events == []


@pytest.mark.parametrize("module", SHIMS)
def test_each_shim_re_exports_the_canonical_objects(module: str) -> None:
    shim = importlib.import_module(module)
    assert shim.is_saas_sync_enabled is rollout.is_saas_sync_enabled
    assert shim.saas_sync_disabled_message is rollout.saas_sync_disabled_message
    assert shim.SAAS_SYNC_ENV_VAR == "SPEC_KITTY_ENABLE_SAAS_SYNC"
    assert shim.SAAS_SYNC_ENV_VAR is rollout.SAAS_SYNC_ENV_VAR
    assert shim.saas_sync_disabled_message() == MESSAGE
    assert sorted(shim.__all__) == ["SAAS_SYNC_ENV_VAR", "is_saas_sync_enabled", "saas_sync_disabled_message"]


def shim_package_modules() -> list[str]:
    """Every module under ``specify_cli/``, so a file added there is held to the same rule."""
    root = REPO / "specify_cli"
    return sorted(".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
                  for p in root.rglob("*.py"))


@pytest.mark.parametrize("module", shim_package_modules())
def test_every_module_of_the_shim_packages_contains_no_logic(module: str) -> None:
    """Only a docstring, imports and ``__all__``: no function, class, condition or call."""
    spec = importlib.util.find_spec(module)
    assert spec is not None
    assert spec.origin is not None
    tree = ast.parse(Path(spec.origin).read_text())
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            continue
        if isinstance(node, ast.ImportFrom | ast.Import):
            continue
        if (isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__all__"]
                and all(isinstance(e, ast.Constant) for e in getattr(node.value, "elts", [None]))):
            continue
        pytest.fail(f"{module} line {node.lineno}: {ast.dump(node)[:80]} is logic, not a re-export")


@pytest.mark.parametrize("value", TRUTHY, ids=repr)
def test_truthy_after_strip_and_casefold(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SPEC_KITTY_ENABLE_SAAS_SYNC", value)
    assert rollout.is_saas_sync_enabled() is True
    assert rollout.is_truthy(value) is True


@pytest.mark.parametrize("value", FALSY, ids=repr)
def test_anything_else_is_off(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SPEC_KITTY_ENABLE_SAAS_SYNC", value)
    assert rollout.is_saas_sync_enabled() is False
    assert rollout.is_truthy(value) is False


def test_unset_is_off_and_the_env_is_read_on_every_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPEC_KITTY_ENABLE_SAAS_SYNC", raising=False)
    assert rollout.is_saas_sync_enabled() is False
    monkeypatch.setenv("SPEC_KITTY_ENABLE_SAAS_SYNC", "yes")
    assert rollout.is_saas_sync_enabled() is True
    monkeypatch.setenv("SPEC_KITTY_ENABLE_SAAS_SYNC", "no")
    assert rollout.is_saas_sync_enabled() is False
    assert rollout.is_truthy(None) is False


def test_the_project_never_declares_or_vendors_spec_kitty_tracker() -> None:
    """C-002: the separately published tracker package is never declared, vendored or patched here."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = [*project.get("dependencies", []),
                *(dep for group in project.get("optional-dependencies", {}).values() for dep in group)]
    assert not [d for d in declared if d.replace("_", "-").lower().startswith("spec-kitty-tracker")]
    assert project["name"] != "spec-kitty-tracker"
    for candidate in ("spec_kitty_tracker", "spec-kitty-tracker", "specify_cli/tracker/vendor"):
        assert not (REPO / candidate).exists(), candidate
    assert "spec_kitty_tracker" not in sys.modules
