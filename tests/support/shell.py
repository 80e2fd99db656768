"""An operator's shell for tests: a throwaway ``$HOME``, a current folder, and the guarded console script."""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from support.cli import SPEC_KITTY, Result, operator_env, popen_guarded, run_cli
from support.inprocess import Ran, invoke

if TYPE_CHECKING:
    from orchestrator.context import ClientFactory, Clock

FLAG = "SPEC_KITTY_ENABLE_SAAS_SYNC"


class Shell:
    """``HOME`` and ``~/.spec-kitty`` in a temp folder, a current directory, exported variables, and
    the installed ``spec-kitty`` run under the stealth guard."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path
        self._records = itertools.count(1)
        self.user_home = tmp_path / "operator"
        self.user_home.mkdir(parents=True)
        self.home = self.user_home / ".spec-kitty"
        self.cwd = tmp_path / "elsewhere"
        self.cwd.mkdir()
        self.env: dict[str, str | None] = {}

    def flag(self, value: str | None) -> Shell:
        """``export SPEC_KITTY_ENABLE_SAAS_SYNC=value`` (``None``: ``unset``)."""
        self.env[FLAG] = value
        return self

    def run(self, *args: str, cwd: Path | None = None, env: Mapping[str, str | None] | None = None,
            stdin: str | None = None, **kwargs: Any) -> Result:
        return run_cli(list(args), home=self.home, cwd=cwd or self.cwd, env_extra={**self.env, **(env or {})},
                       stdin=stdin, user_home=self.user_home, **kwargs)

    def popen(self, *args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
        """Start ``spec-kitty ARGS`` under the guard without waiting (races, kills)."""
        record = self.root / "guard-records" / f"popen-{next(self._records)}.jsonl"
        record.parent.mkdir(exist_ok=True)
        return popen_guarded([str(SPEC_KITTY), *args], home=self.home, cwd=cwd or self.cwd, record=record,
                             user_home=self.user_home, env_extra=self.env)

    def full_env(self) -> dict[str, str]:
        """The whole environment a command of this shell sees (for starting other programs in it)."""
        return operator_env(home=self.home, user_home=self.user_home, env_extra=self.env)

    def log_in_and_bind(self, host: str, repo: Path) -> None:
        """Scenario 2: ``auth login --host HOST`` then ``tracker bind`` in ``repo``, each ending in exit 0."""
        for args in (("auth", "login", "--host", host), ("tracker", "bind")):
            ran = self.run(*args, cwd=repo)
            assert ran.exit_code == 0, ran.describe()

    def later(self, *args: str, **kwargs: Any) -> Callable[[], Result]:
        """A command to run with ``parallel``."""
        return lambda: self.run(*args, **kwargs)


def parallel(*commands: Callable[[], Result]) -> list[Result]:
    """Run independent commands side by side (results in the given order): keeps the suite fast."""
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return list(pool.map(lambda command: command(), commands))


class InProcessShell(Shell):
    """The same shell, but ``run`` calls the console script's ``main`` in this process
    (``support.inprocess``): for tests that look only at output and exit code. ``clock`` and ``clients``
    (``orchestrator.context``) replace the real clock and SaaS client of every command it runs."""

    def __init__(self, tmp_path: Path, *, clock: Clock | None = None, clients: ClientFactory | None = None) -> None:
        super().__init__(tmp_path)
        self.clock = clock
        self.clients = clients

    def run(self, *args: str, cwd: Path | None = None, env: Mapping[str, str | None] | None = None,
            stdin: str | None = None, **kwargs: Any) -> Ran:  # type: ignore[override]
        if kwargs:
            raise TypeError(f"in-process runs record no guard events: {sorted(kwargs)} needs Shell")
        return invoke(list(args), home=self.home, cwd=cwd or self.cwd, env_extra={**self.env, **(env or {})},
                      stdin=stdin, user_home=self.user_home, clock=self.clock, clients=self.clients)
