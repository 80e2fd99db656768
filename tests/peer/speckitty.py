"""The reference client as a neighbour in the same repository: build its project, run its commands.

Its runs get a scratch ``HOME`` of their own (it keeps state there) and none of this suite's
``SPEC_KITTY_*`` variables; git identity lives in the repository's own config, since the suite's shell
points ``GIT_CONFIG_GLOBAL`` at /dev/null.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

SCRUBBED = ("SPEC_KITTY_", "_SPEC_KITTY_", "PYTHON", "SK_GUARD_", "COV_")


class Neighbour:
    """spec-kitty-cli 3.2.7 working in ``repo`` with its own home."""

    def __init__(self, bin_dir: Path, home: Path, repo: Path) -> None:
        self.bin = bin_dir / "spec-kitty"
        self.home = home
        self.repo = repo
        home.mkdir(parents=True, exist_ok=True)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED)}
        env.update(HOME=str(self.home), GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", NO_COLOR="1",
                   COLUMNS="200", SPEC_KITTY_SYNC_DISABLE="1")
        return env

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(self.bin), *args], cwd=self.repo, env=self.env(), capture_output=True, text=True,
                              timeout=300, stdin=subprocess.DEVNULL)
        if check:
            assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done

    def validate(self, slug: str) -> dict[str, Any]:
        """Its own validator's verdict on the mission (schema, lane legality, done evidence, drift)."""
        done = self.run("agent", "status", "validate", "--mission", slug, "--json", check=False)
        return dict(json.loads(done.stdout))

    def emit(self, wp_id: str, lane: str, slug: str, *extra: str) -> None:
        self.run("agent", "status", "emit", wp_id, "--to", lane, "--actor", "claude", "--mission", slug, *extra)

    def materialized(self, folder: Path, slug: str) -> bytes:
        """The status.json its ``materialize`` writes for the log as it is now (it rewrites only on change)."""
        self.run("agent", "status", "materialize", "--mission", slug)
        return (folder / "status.json").read_bytes()


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env=env).stdout


def build_project(neighbour: Neighbour, topology: str, branch: str, wps: int = 3) -> str:
    """``git init``, its ``init``, one mission of ``topology`` with ``wps`` work packages, all committed."""
    repo = neighbour.repo
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "peer@example.invalid")
    git(repo, "config", "user.name", "peer")
    neighbour.run("init", "--ai", "claude", "--non-interactive")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    created = neighbour.run("agent", "mission", "create", "demo", "--topology", topology, "--start-branch", branch,
                            "--json")
    slug = str(json.loads(created.stdout)["mission_slug"])
    tasks = repo / "kitty-specs" / slug / "tasks"
    tasks.mkdir(exist_ok=True)
    for n in range(1, wps + 1):
        front = f"work_package_id: WP0{n}\ntitle: WP0{n}\nsubtasks: []"
        (tasks / f"WP0{n}-x.md").write_text(f"---\n{front}\n---\n# WP0{n}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "tasks")
    return slug


def copy_project(source: Path, target: Path) -> None:
    shutil.copytree(source, target, symlinks=True)
