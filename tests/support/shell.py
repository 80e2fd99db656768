"""An operator's shell for tests: a throwaway ``$HOME``, a current folder, and the guarded console script."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from support.cli import Result, run_cli

FLAG = "SPEC_KITTY_ENABLE_SAAS_SYNC"


class Shell:
    """``HOME`` and ``~/.spec-kitty`` in a temp folder, a current directory, exported variables, and
    the installed ``spec-kitty`` run under the stealth guard."""

    def __init__(self, tmp_path: Path) -> None:
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

    def later(self, *args: str, **kwargs: Any) -> Callable[[], Result]:
        """A command to run with ``parallel``."""
        return lambda: self.run(*args, **kwargs)


def parallel(*commands: Callable[[], Result]) -> list[Result]:
    """Run independent commands side by side (results in the given order): keeps the suite fast."""
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return list(pool.map(lambda command: command(), commands))
