"""Run the installed ``spec-kitty`` (or ``python -c``) in a subprocess under the stealth guard.

Given a home folder and an environment, when a command runs, then the test sees exactly what an
operator would (stdout, stderr, exit code) plus what the process did that it must not: every socket,
every process it started, every file it wrote under the guarded folders. The guard is the one the
project ships (``orchestrator/testing_guard/sitecustomize.py``, also behind the pytest plugin's
``stealth_guard`` fixture), so the suite tests the same file downstream suites use.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.testing_guard import DIRS_ENV, GUARD_DIR, MODULES_ENV, RECORD_ENV

SPEC_KITTY = Path(sys.executable).parent / "spec-kitty"

# Variables that would make a subprocess behave differently from an operator's fresh shell.
_SCRUBBED_PREFIXES = ("SPEC_KITTY_", "_SPEC_KITTY_", "PYTHON", "SK_GUARD_", "COV_CORE_", "COVERAGE_")
_KEPT = ("PYTHONDONTWRITEBYTECODE",)


@dataclass(frozen=True)
class Result:
    stdout: str
    stderr: str
    exit_code: int
    events: list[dict[str, Any]]
    modules: frozenset[str] = field(default_factory=frozenset)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("kind") == kind]

    def describe(self) -> str:
        """A readable dump for assertion messages."""
        return (f"exit={self.exit_code}\n--- stdout ---\n{self.stdout}--- stderr ---\n{self.stderr}"
                f"--- events ---\n" + "\n".join(json.dumps(e) for e in self.events))


def operator_env(*, home: Path, user_home: Path | None = None,
                 env_extra: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """A clean shell: no SPEC_KITTY_* variables, HOME and SPEC_KITTY_HOME in temp folders, 80 columns.

    ``env_extra`` values of ``None`` unset the variable.
    """
    env = {k: v for k, v in os.environ.items() if k in _KEPT or not k.startswith(_SCRUBBED_PREFIXES)}
    env.update(
        SPEC_KITTY_HOME=str(home),
        HOME=str(user_home if user_home is not None else home.parent),
        COLUMNS="80",
        LC_ALL="C.UTF-8",
        LANG="C.UTF-8",
        TERM="dumb",
        NO_COLOR="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
    )
    for key, value in (env_extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_guarded(argv: Sequence[str], *, home: Path, cwd: Path, env_extra: Mapping[str, str | None] | None = None,
                stdin: str | None = None, guard_dirs: Iterable[Path] | None = None,
                dump_modules: bool = False, user_home: Path | None = None, timeout: float = 60,
                extra_pythonpath: Sequence[Path] = ()) -> Result:
    """Run ``argv`` with the guard first on PYTHONPATH; it watches HOME, SPEC_KITTY_HOME and ``guard_dirs``."""
    env = operator_env(home=home, user_home=user_home, env_extra=env_extra)
    watched = [Path(env["HOME"]), home, *(guard_dirs or ())]
    with tempfile.TemporaryDirectory(prefix="sk-guard-") as scratch:
        record = Path(scratch) / "events.jsonl"
        modules_file = Path(scratch) / "modules.txt"
        for folder in watched:
            if record.resolve().is_relative_to(folder.resolve()):
                raise AssertionError(f"the guard record {record} must live outside guarded {folder}")
        env.update({
            "PYTHONPATH": os.pathsep.join(str(p) for p in (GUARD_DIR, *extra_pythonpath)),
            RECORD_ENV: str(record),
            DIRS_ENV: os.pathsep.join(str(p) for p in watched),
        })
        if dump_modules:
            env[MODULES_ENV] = str(modules_file)
        done = subprocess.run(
            list(argv), cwd=cwd, env=env, capture_output=True, timeout=timeout,
            input=stdin.encode("utf-8") if stdin is not None else None,
            stdin=subprocess.DEVNULL if stdin is None else None,
        )
        events = [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
        modules = frozenset(modules_file.read_text().split()) if dump_modules else frozenset()
    return Result(done.stdout.decode("utf-8"), done.stderr.decode("utf-8"), done.returncode, events, modules)


def run_cli(args: Sequence[str], *, home: Path, cwd: Path, env_extra: Mapping[str, str | None] | None = None,
            stdin: str | None = None, **kwargs: Any) -> Result:
    """Run the installed console script ``spec-kitty ARGS`` the way an operator would."""
    return run_guarded([str(SPEC_KITTY), *args], home=home, cwd=cwd, env_extra=env_extra, stdin=stdin, **kwargs)


def run_python(code: str, *, home: Path, cwd: Path, env_extra: Mapping[str, str | None] | None = None,
               **kwargs: Any) -> Result:
    """Run ``python -c CODE`` with the project's interpreter, under the same guard."""
    return run_guarded([sys.executable, "-c", code], home=home, cwd=cwd, env_extra=env_extra, **kwargs)


def assert_only_config_written(result: Result, home: Path) -> None:
    """The config writer may create the home folder and write config.toml (through a sibling temp file
    and a rename) and its lock file; nothing else, and no socket or process."""
    home = home.resolve()
    allowed = re.compile(
        rf"^{re.escape(str(home))}(/config\.toml|/\.config\.toml\.lock|/\.config\.toml\.[^/]+\.tmp)?$")
    assert {e["kind"] for e in result.events} <= {"write"}, result.describe()
    for event in result.events:
        for path in event["paths"]:
            assert allowed.match(path), f"unexpected write {event['event']} {path}"
