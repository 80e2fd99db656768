"""An operator's shell for daemon tests, and a way to see (and end) the daemons it started.

Daemons are found by what they are, not by a pid file: processes whose command line runs
``orchestrator.daemon`` and whose environment names the ``SPEC_KITTY_HOME`` in question. Zombies do
not count (a killed daemon may linger as one when its parent never reaps it).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SPEC_KITTY = str(Path(sys.executable).parent / "spec-kitty")
MISSION = "001-demo"


@dataclass
class Ran:
    stdout: str
    stderr: str
    code: int


def _proc_env(pid: str) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}


def daemon_processes(*, home: Path | None = None, under: Path | None = None) -> list[int]:
    """Live daemon pids serving ``home`` (or any home below ``under``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if not any(b"orchestrator.daemon" in arg for arg in cmdline):
            continue
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            continue
        served = _proc_env(entry.name).get("SPEC_KITTY_HOME", "")
        if home is not None and served != str(home):
            continue
        if under is not None and not served.startswith(str(under)):
            continue
        found.append(int(entry.name))
    return found


def kill_daemons(*, home: Path | None = None, under: Path | None = None) -> list[int]:
    pids = daemon_processes(home=home, under=under)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return pids


def wait_for(predicate: Callable[[], Any], timeout: float, step: float = 0.02) -> Any:
    """Poll until ``predicate()`` is truthy; return its last value (falsy on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(step)


@dataclass
class Operator:
    """A shell with its own ``$HOME`` and ``~/.spec-kitty``, the rollout flag on, running the installed CLI."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.user_home = self.root / "operator"
        self.home = self.user_home / ".spec-kitty"
        self.user_home.mkdir(parents=True, exist_ok=True)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("SPEC_KITTY_", "PYTHON"))}
        base.update(SPEC_KITTY_HOME=str(self.home), HOME=str(self.user_home), SPEC_KITTY_ENABLE_SAAS_SYNC="1",
                    GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", NO_COLOR="1", LC_ALL="C.UTF-8")
        self.env = {**base, **self.env}

    def run(self, *args: str, cwd: Path, stdin: str | None = None, env: dict[str, str] | None = None,
            timeout: float = 60) -> Ran:
        done = subprocess.run([SPEC_KITTY, *args], cwd=cwd, env={**self.env, **(env or {})}, input=stdin,
                              capture_output=True, text=True, timeout=timeout)
        return Ran(done.stdout, done.stderr, done.returncode)

    def popen(self, *args: str, cwd: Path) -> subprocess.Popen[str]:
        return subprocess.Popen([SPEC_KITTY, *args], cwd=cwd, env=self.env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    @property
    def lock_file(self) -> Path:
        return self.home / "sync-daemon.lock"

    @property
    def state_file(self) -> Path:
        return self.home / "sync-daemon"

    @property
    def log_file(self) -> Path:
        return self.home / "sync-daemon.log"

    def state(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None

    def daemons(self) -> list[int]:
        return daemon_processes(home=self.home)

    def settled_daemons(self, timeout: float = 5.0) -> list[int]:
        """Daemon pids once race losers have exited (they leave within milliseconds of losing)."""
        wait_for(lambda: len(self.daemons()) <= 1, timeout)
        return self.daemons()
