"""Given a throwaway home and a real dev SaaS on loopback, run the installed `spec-kitty`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.devsaas.testing import DevSaas, start_dev_saas

SPEC_KITTY = str(Path(sys.executable).parent / "spec-kitty")


@dataclass
class Ran:
    stdout: str
    stderr: str
    code: int


@dataclass
class Operator:
    """An operator's shell: a home dir, an env, and the installed console script."""

    home: Path
    env: dict[str, str]

    def run(self, *args: str, cwd: Path, stdin: str | None = None, timeout: float = 60) -> Ran:
        done = subprocess.run([SPEC_KITTY, *args], cwd=cwd, env=self.env, input=stdin,
                              capture_output=True, text=True, timeout=timeout)
        return Ran(done.stdout, done.stderr, done.returncode)

    def popen(self, *args: str, cwd: Path) -> subprocess.Popen[str]:
        return subprocess.Popen([SPEC_KITTY, *args], cwd=cwd, env=self.env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture
def saas(tmp_path: Path) -> Iterator[DevSaas]:
    with start_dev_saas(auto_approve=True, db=tmp_path / "saas.sqlite3") as handle:
        yield handle


@pytest.fixture
def operator(tmp_path: Path) -> Operator:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPEC_KITTY_")}
    env.update(SPEC_KITTY_HOME=str(home / ".spec-kitty"), HOME=str(home), SPEC_KITTY_ENABLE_SAAS_SYNC="1",
               SPEC_KITTY_SYNC_DISABLE="", GIT_CONFIG_GLOBAL=os.devnull, NO_COLOR="1")
    home.mkdir()
    return Operator(home / ".spec-kitty", env)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A fresh `git init` folder with one empty mission."""
    root = tmp_path / "demo-repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    (root / "kitty-specs" / "001-demo").mkdir(parents=True)
    return root
