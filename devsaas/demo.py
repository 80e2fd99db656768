"""`spec-kitty-dev-saas demo`: the operator quickstart, run literally against the embedded dev SaaS.

Every step of ``quickstart.md`` is executed as the shell line an operator types, with the real
``spec-kitty`` console script, in a throwaway ``$HOME`` (so ``~/.spec-kitty`` in the quickstart is the
real path the tool uses) and with this process's dev SaaS on loopback standing in for
https://spec-kitty-dev.fly.dev. Each step prints the command, what it printed, and whether that
matched what the quickstart expects. The exit code is non-zero if any step did not match.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devsaas.testing import start_dev_saas
from states import catalog

FLY = "https://spec-kitty-dev.fly.dev"


@dataclass
class Ran:
    stdout: str
    stderr: str
    code: int


@dataclass(frozen=True)
class Step:
    title: str
    line: str  # the quickstart's shell line (with the dev SaaS URL substituted for the hosted one)
    check: Callable[[Ran, Path], str | None]  # None when it matched, else what was wrong


def exact(text: str, code: int) -> Callable[[Ran, Path], str | None]:
    def check(ran: Ran, _: Path) -> str | None:
        if ran.stdout.rstrip("\n") != text or ran.code != code:
            return f"expected exit {code} and stdout:\n{text}"
        return None

    return check


def code_is(
    code: int,
    *,
    contains: str | None = None,
    absent: str | None = None,
    no_files: str | None = None,
    files: str | None = None,
) -> Callable[[Ran, Path], str | None]:
    def check(ran: Ran, home: Path) -> str | None:
        out = ran.stdout + ran.stderr
        if ran.code != code:
            return f"expected exit code {code}, got {ran.code}"
        if contains and contains.lower() not in out.lower():
            return f"expected output containing {contains!r}"
        if absent and absent.lower() in out.lower():
            return f"expected no {absent!r} in the output"
        if no_files and list(home.glob(no_files)):
            return f"expected no {home / no_files}"
        if files and not list(home.glob(files)):
            return f"expected {home / files} to exist"
        return None

    return check


def steps(url: str) -> list[tuple[str, dict[str, str], list[Step]]]:
    """The quickstart, scenario by scenario: (heading, env changes, steps)."""
    blank_host = (
        "python -c \"\nimport tomllib, pathlib\np = pathlib.Path.home() / '.spec-kitty/config.toml'\n"
        "data = tomllib.loads(p.read_text())\ndata.setdefault('sync', {})['server_url'] = ''\n"
        "p.write_text(tomllib.dumps(data) if hasattr(tomllib, 'dumps') else '[sync]\\nserver_url = \\\"\\\"\\n')\n\""
    )
    manual = catalog.DAEMON_MANUAL.render()
    return [
        (
            "Scenario 1 - Customer machine (stealth default)",
            {"SPEC_KITTY_ENABLE_SAAS_SYNC": ""},
            [
                Step("1. tracker is hidden in --help", "spec-kitty --help | grep -i tracker", exact("", 1)),
                Step(
                    "2. direct invocation fails closed",
                    "spec-kitty tracker --help",
                    code_is(2, contains="No such command 'tracker'"),
                ),
                Step(
                    "3. no daemon state or lock file",
                    "ls ~/.spec-kitty/sync-daemon* 2>/dev/null",
                    code_is(2, no_files="sync-daemon*"),
                ),
                Step("4. local status works offline", "spec-kitty status", code_is(0, absent="Hosted sync")),
            ],
        ),
        (
            "Scenario 2 - Internal tester machine",
            {"SPEC_KITTY_ENABLE_SAAS_SYNC": "1"},
            [
                Step(
                    "1. tracker is visible",
                    "spec-kitty --help | grep -i tracker",
                    code_is(0, contains="tracker  Hosted SaaS tracker commands"),
                ),
                Step(
                    "2. no auth: MISSING_AUTH",
                    "rm -f ~/.spec-kitty/auth.json; spec-kitty tracker status",
                    exact(catalog.UNAUTHED.render(), 1),
                ),
                Step(
                    "3a. log in (device flow, dev SaaS auto-approves)",
                    f"spec-kitty auth login --host {url}",
                    code_is(0, contains=f"Logged in to {url}"),
                ),
                Step("3b. clear the host by hand", blank_host, code_is(0)),
                Step(
                    "3c. no host: MISSING_HOST_CONFIG", "spec-kitty tracker status", exact(catalog.NO_HOST.render(), 1)
                ),
                Step("4a. restore the host", f"spec-kitty config set sync.server_url {url}", code_is(0)),
                Step(
                    "4b. fresh repo: MISSING_MISSION_BINDING",
                    "cd $DEMO_TMP && mkdir empty-repo && cd empty-repo && git init -q && spec-kitty tracker status",
                    exact(catalog.UNBOUND.render().format(slug="empty-repo"), 1),
                ),
                Step(
                    "5a. bind the repository",
                    "cd $DEMO_TMP/empty-repo && spec-kitty tracker bind",
                    code_is(0, contains="Bound this repository to github `dev-saas/issues`"),
                ),
                Step(
                    "5b. a remote command runs end to end",
                    "cd $DEMO_TMP/empty-repo && spec-kitty tracker sync run",
                    code_is(0, contains=f"with {url}:"),
                ),
            ],
        ),
        (
            "Scenario 3 - Manual daemon policy",
            {"SPEC_KITTY_ENABLE_SAAS_SYNC": "1"},
            [
                Step("0. stop the daemon Scenario 2 started", "spec-kitty sync daemon stop", code_is(0)),
                Step("1. policy manual", "spec-kitty config set sync.background_daemon manual", code_is(0)),
                Step(
                    "2. help and status start nothing",
                    "spec-kitty --help >/dev/null && spec-kitty status >/dev/null && spec-kitty sync daemon status",
                    exact(catalog.DAEMON_LINE_NOT_RUNNING, 0),
                ),
                Step(
                    "3. REMOTE_REQUIRED says manual, exit 0",
                    "cd $DEMO_TMP/empty-repo && spec-kitty tracker sync run",
                    exact(manual, 0),
                ),
                Step(
                    "3b. still no daemon (its lock file outlives a daemon, as spec-kitty's does)",
                    "spec-kitty sync daemon status",
                    exact(catalog.DAEMON_LINE_NOT_RUNNING, 0),
                ),
                Step(
                    "4. auto again: the daemon spawns",
                    "spec-kitty config set sync.background_daemon auto && cd $DEMO_TMP/empty-repo && "
                    "spec-kitty tracker sync run && ls ~/.spec-kitty/sync-daemon.lock",
                    code_is(0, files="sync-daemon.lock"),
                ),
            ],
        ),
        (
            "Negative verification",
            {"SPEC_KITTY_ENABLE_SAAS_SYNC": "1"},
            [
                Step(
                    "1. the tracker package is untouched (never vendored here)",
                    "pip show spec-kitty-tracker 2>/dev/null | grep Version; "
                    f'{sys.executable} -c "import importlib.util as u; '
                    "print('spec_kitty_tracker module:', u.find_spec('spec_kitty_tracker'))\"",
                    code_is(0, contains="spec_kitty_tracker module: None"),
                ),
                Step(
                    "2a. tracker shim follows the env (on)",
                    'python -c "from specify_cli.tracker.feature_flags import is_saas_sync_enabled; '
                    'print(is_saas_sync_enabled())"',
                    exact("True", 0),
                ),
                Step(
                    "2b. sync shim follows the env (off)",
                    'SPEC_KITTY_ENABLE_SAAS_SYNC= python -c "from specify_cli.sync.feature_flags import '
                    'is_saas_sync_enabled; print(is_saas_sync_enabled())"',
                    exact("False", 0),
                ),
            ],
        ),
        (
            "Cleanup",
            {"SPEC_KITTY_ENABLE_SAAS_SYNC": "1"},
            [
                Step(
                    "stop the daemon, restore auto, remove the repo",
                    "spec-kitty sync daemon stop; spec-kitty config set sync.background_daemon auto && "
                    "rm -rf $DEMO_TMP/empty-repo",
                    code_is(0),
                ),
            ],
        ),
    ]


def run_demo() -> int:
    """Walk the quickstart; print each step and whether it matched. Returns the exit code."""
    tmp = Path(tempfile.mkdtemp(prefix="spec-kitty-demo-"))
    home = tmp / "home"
    home.mkdir()
    bindir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPEC_KITTY_")}
    env.update(
        HOME=str(home),
        DEMO_TMP=str(tmp),
        PATH=f"{bindir}{os.pathsep}{env.get('PATH', '')}",
        GIT_CONFIG_GLOBAL=os.devnull,
        NO_COLOR="1",
    )
    failures = 0
    try:
        with start_dev_saas(auto_approve=True, db=tmp / "dev-saas.sqlite3") as saas:
            print(f"Dev SaaS on {saas.url} stands in for {FLY}; throwaway HOME={home}\n")
            for heading, changes, scenario in steps(saas.url):
                print(f"== {heading}")
                scenario_env = {**env, **changes}
                for step in scenario:
                    done = subprocess.run(
                        ["bash", "-c", step.line],
                        cwd=home,
                        env=scenario_env,
                        capture_output=True,
                        text=True,
                        timeout=60,
                    )
                    ran = Ran(done.stdout, done.stderr, done.returncode)
                    problem = step.check(ran, home / ".spec-kitty")
                    failures += problem is not None
                    print(f"-- {step.title}\n$ {step.line}")
                    for line in (ran.stdout + ran.stderr).rstrip("\n").splitlines():
                        print(f"  | {line}")
                    print(f"  exit {ran.code}: {'ok' if problem is None else 'MISMATCH - ' + problem}\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("All quickstart steps matched." if not failures else f"{failures} step(s) did not match.")
    return 1 if failures else 0
