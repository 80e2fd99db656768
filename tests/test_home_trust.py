"""A home the operator does not own, or others can write, is refused by the commands that use it, in one
line: never with a traceback, and never by the commands that do not touch the home at all."""

from __future__ import annotations

import pytest
from support.shell import Shell

IN_PROCESS = True  # commands run in-process (conftest's ``shell``); tests the guard must watch are ``guarded``


@pytest.fixture
def open_home(shell: Shell) -> Shell:
    """Given ``~/.spec-kitty`` exists and is writable by everyone (mode 777)."""
    shell.home.mkdir(parents=True)
    shell.home.chmod(0o777)
    return shell


@pytest.mark.guarded
@pytest.mark.parametrize("args", [("--help",), ("status",), ("config", "list")])
def test_with_the_flag_off_local_commands_never_trip_over_an_open_home(open_home: Shell,
                                                                       args: tuple[str, ...]) -> None:
    ran = open_home.flag(None).run(*args)
    assert "Traceback" not in ran.stderr, ran.describe()
    assert ran.exit_code in (0, 1), ran.describe()
    assert ran.of_kind("network") == []
    assert ran.of_kind("write") == []


def test_with_the_flag_on_a_hosted_command_refuses_an_open_home_in_one_line(open_home: Shell) -> None:
    ran = open_home.flag("1").run("tracker", "status")
    assert (ran.stdout, ran.stderr, ran.exit_code) == (
        "", f"Error: {open_home.home} is writable by group or others (mode 777); "
            f"run `chmod 700 {open_home.home}`.\n", 1)
