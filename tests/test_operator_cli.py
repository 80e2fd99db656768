"""Issue 19 without a host: what an operator sees is true and usable from a script.

Given a throwaway home (and a small project where one is needed), when the operator runs the installed
``spec-kitty`` as a new user would (a pipe into ``head``, ``--debug`` after the subcommand, ``config get``
of a default, a near-miss work package or lane), then the answer is exactly the catalog's, with the exit
code a script expects, and no command needs the network.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import click
import pytest
from support.cli import SPEC_KITTY
from support.projects import make_project, transition, write_auth, write_config, write_log
from support.shell import Shell, parallel

from states import catalog

IN_PROCESS = True  # commands run in-process (conftest's ``shell``); tests the guard must watch are ``guarded``

HOST = "https://spec-kitty-dev.fly.dev"


def walk(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path under ``command`` (groups included), hosted groups too."""
    found = [path]
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None
            found += walk(sub, (*path, name))
    return found


def every_command() -> list[tuple[str, ...]]:
    import importlib

    from cli.main import COMMANDS

    paths: list[tuple[str, ...]] = [()]
    for name, entry in COMMANDS.items():
        module, attribute = entry.target.split(":")
        paths += walk(getattr(importlib.import_module(module), attribute), (name,))
    return paths


def test_a_closed_pipe_ends_status_quietly_as_unix_tools_do(shell: Shell, tmp_path: Path) -> None:
    """`spec-kitty status | head -1`: the reader is gone before the rest is written."""
    project = make_project(tmp_path / "proj", ["001-demo"])
    write_log(project / "kitty-specs" / "001-demo",
              [transition(f"WP{i:02d}", "planned", from_lane="genesis", event_id=f"01J{i:023d}", slug="001-demo")
               for i in range(1, 40)])
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will ever read: every write meets EPIPE, deterministically
    try:
        done = subprocess.run([str(SPEC_KITTY), "status"], cwd=project, env=shell.full_env(), stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=60, check=False)
    finally:
        os.close(write_end)
    assert (done.stderr, done.returncode) == ("", int(catalog.ExitCode.BROKEN_PIPE))


def test_debug_is_accepted_after_the_subcommand_too(shell: Shell) -> None:
    before, after, nested = parallel(shell.later("--debug", "config", "list"),
                                     shell.later("config", "list", "--debug"),
                                     shell.later("config", "get", "sync.background_daemon", "--debug"))
    assert before.exit_code == after.exit_code == nested.exit_code == 0, after.describe()
    assert before.stdout == after.stdout
    assert nested.stdout == "auto\n"


# `tracker` and its subcommands are being reworked in parallel (the tracker issue): their examples land there.
def test_every_command_help_shows_an_example(shell: Shell) -> None:
    paths = [path for path in every_command() if path[:1] != ("tracker",)]
    assert ("auth", "token") in paths
    assert ("sync", "daemon", "status") in paths
    shell.flag("1")
    results = parallel(*(shell.later(*path, "--help") for path in paths))
    for path, ran in zip(paths, results, strict=True):
        assert ran.exit_code == 0, ran.describe()
        assert "Examples:\n" in ran.stdout, (path, ran.stdout)
        assert "  spec-kitty " + " ".join(path) in ran.stdout, (path, ran.stdout)


def test_config_set_help_lists_the_keys_with_their_defaults(shell: Shell) -> None:
    ran = shell.run("config", "set", "--help")
    assert ran.exit_code == 0
    from orchestrator.home.config import KNOWN_KEYS

    for key in KNOWN_KEYS:
        assert key in ran.stdout, ran.stdout
    assert "auto | manual (default: auto)" in " ".join(ran.stdout.split())


def test_config_get_says_where_the_value_comes_from_default_file_or_env(shell: Shell) -> None:
    path = write_config(shell.home, f'[sync]\nserver_url = "{HOST}"\n')
    default, from_file, from_env = parallel(
        shell.later("config", "get", "sync.background_daemon"),
        shell.later("config", "get", "sync.server_url"),
        shell.later("config", "get", "sync.server_url", env={"SPEC_KITTY_SAAS_URL": "http://127.0.0.1:9"}))
    assert (default.stdout, default.stderr, default.exit_code) == (
        "auto\n", catalog.CONFIG_FROM.format(source=catalog.CONFIG_SOURCE_DEFAULT) + "\n", 0)
    assert (from_file.stdout, from_file.stderr) == (
        f"{HOST}\n", catalog.CONFIG_FROM.format(source=catalog.CONFIG_SOURCE_FILE.format(path=path)) + "\n")
    assert (from_env.stdout, from_env.stderr) == (
        "http://127.0.0.1:9\n",
        catalog.CONFIG_FROM.format(source=catalog.CONFIG_SOURCE_ENV.format(var="SPEC_KITTY_SAAS_URL")) + "\n")
    as_json = shell.run("config", "get", "sync.daemon_idle_seconds", "--json")
    assert json.loads(as_json.stdout) == {"key": "sync.daemon_idle_seconds", "value": 900, "source": "default"}


def test_config_list_shows_defaults_and_json(shell: Shell) -> None:
    write_config(shell.home, f'[sync]\nserver_url = "{HOST}"\nmine = 1\n')
    text, as_json = parallel(shell.later("config", "list"), shell.later("config", "list", "--json"))
    assert text.stdout == (f"sync.server_url = {HOST}\n"
                           "sync.mine = 1\n"
                           "sync.background_daemon = auto  (default)\n"
                           "sync.daemon_idle_seconds = 900  (default)\n"), text.describe()
    assert json.loads(as_json.stdout) == {
        "sync.server_url": {"value": HOST, "source": "file"},
        "sync.mine": {"value": 1, "source": "file"},
        "sync.background_daemon": {"value": "auto", "source": "default"},
        "sync.daemon_idle_seconds": {"value": 900, "source": "default"},
    }


@pytest.fixture
def one_mission(tmp_path: Path) -> Path:
    project = make_project(tmp_path / "proj", ["001-demo"])
    write_log(project / "kitty-specs" / "001-demo",
              [transition("WP01", "planned", from_lane="genesis", event_id="01J" + "0" * 23, slug="001-demo")])
    return project


def test_wp_move_suggests_the_work_package_and_the_lane_meant(shell: Shell, one_mission: Path) -> None:
    log = one_mission / "kitty-specs" / "001-demo" / "status.events.jsonl"
    before = log.read_bytes()
    wp, lane = parallel(shell.later("wp", "move", "WP1", "--to", "claimed", cwd=one_mission),
                        shell.later("wp", "move", "WP01", "--to", "in-progress", cwd=one_mission))
    assert (wp.stdout, wp.exit_code) == ("", 2)
    assert wp.stderr == "Error: " + catalog.WP_NEAR_MATCH.format(wp_id="WP1", mission="001-demo", match="WP01") + "\n"
    assert (lane.stdout, lane.exit_code) == ("", 2)
    from states.lanes import LANES

    assert lane.stderr == "Error: " + catalog.UNKNOWN_LANE_NEAR.format(
        lane="in-progress", match="in_progress", lanes=", ".join(LANES)) + "\n"
    assert log.read_bytes() == before


def test_wp_move_help_points_to_the_docs_not_an_uninstalled_diagram(shell: Shell) -> None:
    ran = shell.run("wp", "move", "--help")
    assert "lanes.mmd" not in ran.stdout
    assert "docs/getting-started.md" in ran.stdout
    assert "planned -> claimed" in " ".join(ran.stdout.split())


def test_auth_status_with_only_an_env_token_and_no_host_names_the_missing_host(shell: Shell) -> None:
    shell.flag("1")
    ran = shell.run("auth", "status", env={"SPEC_KITTY_SAAS_TOKEN": "tok-0123456789"})
    assert (ran.stdout, ran.exit_code) == (catalog.AUTH_ENV_NO_HOST.render() + "\n", 1)
    assert "(unknown host)" not in ran.stdout


@pytest.mark.guarded
def test_auth_token_prints_the_effective_token_for_ci(shell: Shell) -> None:
    shell.flag("1")
    write_auth(shell.home, token="tok-stored-0123456789", server_url=HOST)
    write_config(shell.home, f'[sync]\nserver_url = "{HOST}"\n')
    stored, env, other, for_host = parallel(
        shell.later("auth", "token"),
        shell.later("auth", "token", env={"SPEC_KITTY_SAAS_TOKEN": "tok-env-0123456789"}),
        shell.later("auth", "token", "--host", "https://other.example"),
        shell.later("auth", "token", "--host", HOST))
    assert (stored.stdout, stored.stderr, stored.exit_code) == ("tok-stored-0123456789\n", "", 0)
    assert (env.stdout, env.exit_code) == ("tok-env-0123456789\n", 0)
    assert (other.stdout, other.exit_code) == (
        catalog.UNAUTHED_OTHER_HOST.render().format(url="https://other.example") + "\n", 1)
    assert for_host.stdout == "tok-stored-0123456789\n"
    assert stored.events == []


def test_a_host_name_that_does_not_resolve_is_named_as_such(shell: Shell, one_mission: Path) -> None:
    shell.flag("1")
    url = "https://no-such-host.invalid"  # .invalid never resolves (RFC 6761)
    ran = shell.run("sync", "run", cwd=one_mission, env={"SPEC_KITTY_SAAS_URL": url,
                                                         "SPEC_KITTY_SAAS_TOKEN": "tok-0123456789"})
    assert (ran.stdout, ran.exit_code) == (catalog.UNREACHABLE_NO_NAME.render().format(url=url) + "\n", 1)
