"""Issue 16 item 10: config values are read with the validators `config set` uses.

Given config.toml written by hand, when a command reads the daemon policy, then `"manual "` means manual
(as `config set sync.background_daemon "manual "` would have stored it), and a value `config set` would
refuse fails in one line naming the key and the file instead of silently meaning `auto`; an idle time
under 5 seconds is refused the same way (the daemon keeps its default).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.projects import make_project, write_bindings, write_config
from support.shell import Shell

from orchestrator.context import Context
from orchestrator.daemon.settings import read_settings
from orchestrator.errors import ConfigError
from orchestrator.home.config import DEFAULT_IDLE_SECONDS

IN_PROCESS = True  # commands run in-process (conftest's ``shell``); tests the guard must watch are ``guarded``

HOST = '[sync]\nserver_url = "https://spec-kitty-dev.fly.dev"\n'
MANUAL = ('Background sync is in manual mode (`[sync].background_daemon = "manual"`).\n'
          "Run `spec-kitty sync run` to perform a one-shot remote sync.\n")


@pytest.mark.guarded
def test_manual_with_a_trailing_space_means_manual(tester: Shell) -> None:
    repo = make_project(tester.cwd / "repo", ["001-demo"])
    write_bindings(repo, "001-demo")
    write_config(tester.home, HOST + 'background_daemon = "manual "\n')
    ran = tester.run("tracker", "sync", "run", cwd=repo)
    assert (ran.stdout, ran.stderr, ran.exit_code) == (MANUAL, "", 0), ran.describe()
    assert not ran.of_kind("network")
    assert not ran.of_kind("process")


@pytest.mark.guarded
def test_a_policy_config_set_would_refuse_is_one_line_naming_key_and_file(tester: Shell) -> None:
    repo = make_project(tester.cwd / "repo", ["001-demo"])
    write_bindings(repo, "001-demo")
    config = write_config(tester.home, HOST + 'background_daemon = "sometimes"\n')
    ran = tester.run("tracker", "sync", "run", cwd=repo)
    assert (ran.stdout, ran.stderr, ran.exit_code) == ("", (
        f"Error: {config} `sync.background_daemon`: `sometimes` is not a daemon policy; use `auto` or `manual`.\n"
    ), 1), ran.describe()
    assert not ran.of_kind("network")
    assert not ran.of_kind("process")


def test_an_idle_time_under_five_seconds_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    config = write_config(home, HOST + "daemon_idle_seconds = 3\n")
    env = {"SPEC_KITTY_HOME": str(home), "SPEC_KITTY_ENABLE_SAAS_SYNC": "1"}
    monkeypatch.setenv("SPEC_KITTY_HOME", str(home))
    with pytest.raises(ConfigError) as refused:
        _ = Context(env=env).facts().daemon_idle_seconds
    assert str(refused.value) == (
        f"{config} `sync.daemon_idle_seconds`: `3` is not a number of seconds (5 or more).")
    assert read_settings(env).idle_seconds == DEFAULT_IDLE_SECONDS  # the daemon keeps its default
