"""Run ``spec-kitty ARGS`` in this process: the console script's own ``main`` with a context built for the test.

Given a home folder, a current folder and an environment, when a command runs, then the test sees what an
operator would: stdout, stderr and the exit code, byte for byte (``cli.main.main`` is the console script's
entry point, so the last-resort error line and every exit code are the real ones). What it cannot see is
what the process did that it must not (sockets, processes, writes): tests about that run the installed
console script under the stealth guard (``support.cli.run_cli``), and so does every test that needs a
real process (a daemon, a signal, a terminal).

The process environment is the operator's for the duration of the command (``CliRunner.isolation``), as
is the current folder: the home folder's location and the rollout flag are read through the context, but
a few leaves still read ``os.environ`` (``SPEC_KITTY_HOME``, ``HOME``). The per-process caches a fresh
process starts without (the vetted home, the warned-about files) are emptied first.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from click.testing import CliRunner

from orchestrator.context import Context
from support.cli import operator_env

if TYPE_CHECKING:
    from orchestrator.context import ClientFactory, Clock

_ONE_AT_A_TIME = threading.Lock()  # the environment, current folder and stdout are the process's: one command at once


class Ran(NamedTuple):
    """What the operator saw: the same three fields as a guarded run's ``Result``."""

    stdout: str
    stderr: str
    exit_code: int

    def describe(self) -> str:
        return f"exit {self.exit_code}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"


def invoke(args: list[str], *, home: Path, cwd: Path, user_home: Path | None = None,
           env_extra: Mapping[str, str | None] | None = None, stdin: str | None = None,
           clock: Clock | None = None, clients: ClientFactory | None = None) -> Ran:
    """``spec-kitty ARGS`` as the console script runs it, in this process, for the operator ``operator_env``
    describes; ``clock`` and ``clients`` replace the real clock and SaaS client when given. Commands started
    side by side (``support.shell.parallel``) run one after the other."""
    with _ONE_AT_A_TIME:
        return _invoke(args, home=home, cwd=cwd, user_home=user_home, env_extra=env_extra, stdin=stdin,
                       clock=clock, clients=clients)


def _invoke(args: list[str], *, home: Path, cwd: Path, user_home: Path | None,
            env_extra: Mapping[str, str | None] | None, stdin: str | None,
            clock: Clock | None, clients: ClientFactory | None) -> Ran:
    from cli.main import main
    from orchestrator.home import config, paths

    env = operator_env(home=home, user_home=user_home, env_extra=env_extra)
    context = Context(env=env, cwd=cwd, clock=clock, clients=clients)
    overlay: dict[str, str | None] = {key: None for key in os.environ if key not in env}
    overlay.update(env)
    paths._vetted.clear()
    config._warned.clear()
    runner = CliRunner()
    before = os.getcwd()
    with runner.isolation(input=stdin, env=overlay) as (out, err, _):
        os.chdir(cwd)
        code = 0
        try:
            main(args, context=context)
        except SystemExit as ended:
            code = _exit_code(ended.code)
        finally:
            os.chdir(before)
        return Ran(out.getvalue().decode("utf-8", "replace"), err.getvalue().decode("utf-8", "replace"), code)


def _exit_code(code: Any) -> int:
    """``sys.exit``'s argument as the shell would report it."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    return 1
