"""Run the installed ``spec-kitty`` (or ``python -c``) in a subprocess under the stealth guard.

Given a home folder and an environment, when a command runs, then the test sees exactly what an
operator would (stdout, stderr, exit code) plus what the process did that it must not: every socket,
every process it started, every file it wrote under the guarded folders. The guard is the one the
project ships (``spec_kitty_testing/guard/sitecustomize.py``, also behind the pytest plugin's
``stealth_guard`` fixture), so the suite tests the same file downstream suites use.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from spec_kitty_testing.guard import runner
from spec_kitty_testing.guard.runner import Guarded

__all__ = ["SPEC_KITTY", "Result", "operator_env", "popen_guarded", "run_cli", "run_guarded",
           "run_python"]

SPEC_KITTY = Path(sys.executable).parent / "spec-kitty"

# Variables that would make a subprocess behave differently from an operator's fresh shell.
_SCRUBBED_PREFIXES = ("SPEC_KITTY_", "_SPEC_KITTY_", "PYTHON", "SK_GUARD_", "COV_CORE_", "COVERAGE_")
_KEPT = ("PYTHONDONTWRITEBYTECODE",)


Result = Guarded  # what a guarded run returns: stdout, stderr, exit_code, events, modules


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
        return runner.run_guarded(argv, env=env, cwd=cwd, record=Path(scratch) / "events.jsonl", watch=watched,
                                  stdin=stdin, timeout=timeout, pythonpath=extra_pythonpath,
                                  modules=Path(scratch) / "modules.txt" if dump_modules else None)


def popen_guarded(argv: Sequence[str], *, home: Path, cwd: Path, record: Path, user_home: Path | None = None,
                  env_extra: Mapping[str, str | None] | None = None) -> subprocess.Popen[str]:
    """Start ``argv`` under the guard without waiting; its events land in ``record``."""
    env = operator_env(home=home, user_home=user_home, env_extra=env_extra)
    return runner.popen_guarded(argv, env=env, cwd=cwd, record=record, watch=[Path(env["HOME"]), home])


def run_cli(args: Sequence[str], *, home: Path, cwd: Path, env_extra: Mapping[str, str | None] | None = None,
            stdin: str | None = None, **kwargs: Any) -> Result:
    """Run the installed console script ``spec-kitty ARGS`` the way an operator would."""
    return run_guarded([str(SPEC_KITTY), *args], home=home, cwd=cwd, env_extra=env_extra, stdin=stdin, **kwargs)


def run_python(code: str, *, home: Path, cwd: Path, env_extra: Mapping[str, str | None] | None = None,
               **kwargs: Any) -> Result:
    """Run ``python -c CODE`` with the project's interpreter, under the same guard."""
    return run_guarded([sys.executable, "-c", code], home=home, cwd=cwd, env_extra=env_extra, **kwargs)


def ok(ran: Result) -> Result:
    """The command succeeded (exit 0); every step of a walkthrough checks this, not only the last."""
    assert ran.exit_code == 0, ran.describe()
    return ran


def stored_token(home: Path) -> str:
    """The one session's access token (auth.json keeps one session per host)."""
    import json

    (session,) = json.loads((home / "auth.json").read_text())["sessions"].values()
    return str(session["access_token"])


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


def run_on_terminal(args: Sequence[str], *, cwd: Path, env: Mapping[str, str], stderr_too: bool = False,
                    timeout: float = 120) -> tuple[str, int]:
    """Run ``args`` with a pseudo-terminal as stdout (and stderr, if asked), as an operator's shell does;
    return what the terminal showed and the exit code. Not under the guard: the guard's recorder needs
    pipes, and what a terminal changes (colour, the progress bar) is all these tests look at."""
    import pty

    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(list(args), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=follower,
                                stderr=follower if stderr_too else subprocess.DEVNULL)
    finally:
        os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace"), proc.wait(timeout=timeout)
