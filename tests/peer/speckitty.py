"""The reference client as a neighbour in the same repository: build its project, run its commands.

Each command is still a process of its own, with the arguments, folder and environment given, forked
from a warm server in its venv (``forkserver.py``) so that dozens of runs do not each pay its import
time. Its runs get a scratch ``HOME`` of their own (it keeps state there) and none of this suite's
``SPEC_KITTY_*`` variables; git identity lives in the repository's own config, since the suite's shell
points ``GIT_CONFIG_GLOBAL`` at /dev/null.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

SERVER = Path(__file__).with_name("forkserver.py")

SCRUBBED = ("SPEC_KITTY_", "_SPEC_KITTY_", "PYTHON", "SK_GUARD_", "COV_")


class Warm:
    """The reference client's ``spec-kitty`` for one environment (its ``HOME`` is read at import time, so
    one server per environment): ``run`` is a fresh process per command, forked after the imports."""

    running: ClassVar[list[Warm]] = []  # closed at the end of the session (tests/peer/conftest.py)

    def __init__(self, bin_dir: Path, env: dict[str, str]) -> None:
        self.script = str(bin_dir / "spec-kitty")
        self.env = env
        self.scratch = Path(tempfile.mkdtemp(prefix="peer-runs-"))
        self.proc = subprocess.Popen([str(bin_dir / "python"), str(SERVER)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env, cwd=self.scratch)
        Warm.running.append(self)
        assert self._answer(300.0) == "ready"

    def _answer(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        fd, got, deadline = self.proc.stdout.fileno(), b"", time.monotonic() + timeout
        with selectors.DefaultSelector() as waiting:
            waiting.register(fd, selectors.EVENT_READ)
            while not got.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0 or not waiting.select(left):
                    self.close()
                    raise subprocess.TimeoutExpired(self.script, timeout)
                chunk = os.read(fd, 4096)
                assert chunk, f"the reference client's fork server died ({self.proc.wait()})"
                got += chunk
        return got.decode().strip()

    def run(self, args: tuple[str, ...], cwd: Path, env: dict[str, str] | None = None, merged: bool = False,
            timeout: float = 300.0) -> tuple[int, str, str]:
        """Exit code, stdout, stderr (stderr empty and folded into stdout when ``merged``, as ``2>&1``)."""
        assert self.proc.stdin is not None
        out, err = self.scratch / "out", self.scratch / "err"
        request = {"script": self.script, "argv": list(args), "cwd": str(cwd), "env": env or self.env,
                   "out": str(out), "err": "" if merged else str(err)}
        self.proc.stdin.write(json.dumps(request).encode() + b"\n")
        self.proc.stdin.flush()
        code = int(self._answer(timeout))
        def read(path: Path) -> str:  # as ``text=True`` reads a pipe: universal newlines
            return path.read_bytes().decode().replace("\r\n", "\n").replace("\r", "\n")

        return code, read(out), "" if merged else read(err)

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        shutil.rmtree(self.scratch, ignore_errors=True)
        if self in Warm.running:
            Warm.running.remove(self)


class Neighbour:
    """spec-kitty-cli 3.2.7 working in ``repo`` with its own home."""

    def __init__(self, bin_dir: Path, home: Path, repo: Path) -> None:
        self.bin = bin_dir / "spec-kitty"
        self.home = home
        self.repo = repo
        home.mkdir(parents=True, exist_ok=True)
        self._warm: Warm | None = None

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED)}
        env.update(HOME=str(self.home), GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", NO_COLOR="1",
                   COLUMNS="200", SPEC_KITTY_SYNC_DISABLE="1")
        return env

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        if self._warm is None:
            self._warm = Warm(self.bin.parent, self.env())
        code, out, err = self._warm.run(args, cwd=self.repo)
        done = subprocess.CompletedProcess([str(self.bin), *args], code, out, err)
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
