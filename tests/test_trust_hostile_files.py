"""Issue 16 item 6: hostile auth and config files never hang or balloon a command.

Given auth.json (or config.toml) that is a FIFO, or a link to /dev/zero, when `status`, `auth status`
or `tracker status` runs, then it answers at once as if the file were absent, with one line naming it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.projects import make_project
from support.shell import Shell

IN_PROCESS = True  # commands run in-process (conftest's ``shell``); tests the guard must watch are ``guarded``

KINDS = ["fifo", "dev-zero", "huge"]


def plant(path: Path, kind: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if kind == "fifo":
        os.mkfifo(path, 0o600)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    else:
        with path.open("wb") as out:
            out.truncate((1 << 20) + 1)


def refused(path: Path) -> str:
    return f"warning: {path} is not a regular file of at most 1 MiB (a link, a FIFO or a device?); ignored.\n"


@pytest.mark.guarded
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("command", [("status",), ("auth", "status"), ("tracker", "status")])
def test_a_hostile_auth_json_counts_as_absent_with_one_line(shell: Shell, kind: str,
                                                            command: tuple[str, ...]) -> None:
    shell.flag("1")
    make_project(shell.cwd, ["001-demo"])
    auth = shell.home / "auth.json"
    plant(auth, kind)
    ran = shell.run(*command, timeout=15)
    assert ran.stderr.count(refused(auth)) == 1, ran.describe()
    if command == ("tracker", "status"):
        assert ran.stdout == "No SaaS authentication token is present.\n\nRun `spec-kitty auth login`.\n"
        assert ran.exit_code == 1


@pytest.mark.guarded
@pytest.mark.parametrize("kind", KINDS)
def test_a_hostile_config_toml_counts_as_absent_and_config_set_refuses_it(shell: Shell, kind: str) -> None:
    shell.flag("1")
    make_project(shell.cwd, ["001-demo"])
    config = shell.home / "config.toml"
    plant(config, kind)
    ran = shell.run("status", timeout=15)
    assert ran.exit_code == 0, ran.describe()
    assert ran.stderr.count(refused(config)) == 1, ran.describe()
    changed = shell.run("config", "set", "sync.background_daemon", "manual", timeout=15)
    assert (changed.stderr, changed.exit_code) == ("Error: " + refused(config)[len("warning: "):], 1)
