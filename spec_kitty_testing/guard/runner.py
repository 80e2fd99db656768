"""Run a command under the stealth guard: the one runner behind the pytest plugin and the project's tests.

Given an environment, a working folder and the folders to watch, when a command runs, then the caller
gets what an operator would see (stdout, stderr, exit code) plus the guard's record of every socket,
process and watched write. Stdlib only, imported when a guarded run starts.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spec_kitty_testing.guard import DIRS_ENV, GUARD_DIR, MODULES_ENV, RECORD_ENV


@dataclass(frozen=True)
class Guarded:
    """A guarded run: what an operator saw, and what the process did that a stealth path must not."""

    argv: list[str]
    stdout: str
    stderr: str
    exit_code: int
    events: list[dict[str, Any]]
    modules: frozenset[str] = field(default_factory=frozenset)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("kind") == kind]

    @property
    def network(self) -> list[dict[str, Any]]:
        return self.of_kind("network")

    @property
    def processes(self) -> list[dict[str, Any]]:
        return self.of_kind("process")

    @property
    def writes(self) -> list[dict[str, Any]]:
        return self.of_kind("write")

    @property
    def clean(self) -> bool:
        """No socket, no process, no write under the watched folders (and no guard error)."""
        return not self.events

    def describe(self) -> str:
        """A readable dump for assertion messages."""
        lines = [f"$ {' '.join(self.argv)}", f"exit={self.exit_code}", "--- stdout ---", self.stdout,
                 "--- stderr ---", self.stderr, "--- events ---", *(json.dumps(e) for e in self.events)]
        return "\n".join(lines)


def guarded_env(env: Mapping[str, str], *, record: Path, watch: Sequence[Path],
                modules: Path | None = None, pythonpath: Sequence[Path] = ()) -> dict[str, str]:
    """``env`` with the guard first on ``PYTHONPATH``, recording to ``record``, watching ``watch``."""
    for folder in watch:
        if record.resolve().is_relative_to(folder.resolve()):
            raise ValueError(f"the guard record {record} must live outside the watched folder {folder}")
    child = dict(env)
    child.update({
        "PYTHONPATH": os.pathsep.join(str(p) for p in (GUARD_DIR, *pythonpath)),
        RECORD_ENV: str(record),
        DIRS_ENV: os.pathsep.join(str(p) for p in watch),
    })
    if modules is not None:
        child[MODULES_ENV] = str(modules)
    return child


def read_record(record: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []


def run_guarded(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path | None, record: Path,
                watch: Sequence[Path], stdin: str | None = None, timeout: float = 60,
                modules: Path | None = None, pythonpath: Sequence[Path] = ()) -> Guarded:
    """Run ``argv`` to completion under the guard (a subprocess, so the record is the process's own)."""
    done = subprocess.run(
        list(argv), cwd=cwd, env=guarded_env(env, record=record, watch=watch, modules=modules,
                                            pythonpath=pythonpath),
        capture_output=True, timeout=timeout,
        input=stdin.encode("utf-8") if stdin is not None else None,
        stdin=subprocess.DEVNULL if stdin is None else None,
    )
    dumped = frozenset(modules.read_text().split()) if modules is not None and modules.exists() else frozenset()
    return Guarded(list(argv), done.stdout.decode("utf-8"), done.stderr.decode("utf-8"), done.returncode,
                   read_record(record), dumped)


def popen_guarded(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path | None, record: Path,
                  watch: Sequence[Path]) -> subprocess.Popen[str]:
    """Start ``argv`` under the guard without waiting (for races and kills); read ``record`` afterwards."""
    return subprocess.Popen(list(argv), cwd=cwd, env=guarded_env(env, record=record, watch=watch), text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
