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
from pathlib import Path
from typing import Any

from support.shell import Shell
from support.wait import wait_for

MISSION = "001-demo"


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


class Operator(Shell):
    """An operator's shell (the suite's one harness, under the stealth guard) with the rollout flag on,
    plus views of the daemon files and processes of its ``SPEC_KITTY_HOME``."""

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.flag("1")

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


def project_uuid(repo: Path) -> str:
    """The repository's ``project_uuid`` (``.kittify/config.yaml``, written by its first sync): the suite's
    daemon tests share one dev SaaS, so what a test reads back is narrowed to its own project."""
    from orchestrator.project.identity import read_identity

    identity = read_identity(repo)
    assert identity is not None, f"{repo} has not synced yet"
    return identity.uuid
