"""``spec-kitty config get|set|unset|list`` over ``~/.spec-kitty/config.toml``.

Given an operator's config file (with their comments and keys this tool does not know), when they
change one key, then only that leaf changes; invalid values, unknown keys and corrupt files are refused
with one line naming what is wrong, and the file is never overwritten. Writes touch only config.toml
(through a temp file and rename) and its lock.
"""

from __future__ import annotations

import re
import stat
import tomllib

import pytest
from support.cli import assert_only_config_written
from support.projects import snapshot_tree, write_auth, write_config
from support.shell import Shell, parallel

from orchestrator.errors import ConfigError
from orchestrator.home import config as cfg

IN_PROCESS = True  # commands run in-process (conftest's ``shell``); tests the guard must watch are ``guarded``

KNOWN = "sync.server_url, sync.background_daemon, sync.daemon_idle_seconds"

OPERATOR_FILE = """\
# operator notes: keep me
title = "mine"   # inline comment

[sync]
server_url = "https://old.example"  # trailing comment stays
extra = 1

# a table this tool does not know
[other]
key = [1, 2]
"""


@pytest.mark.guarded
def test_given_an_operator_file_when_setting_and_unsetting_keys_then_comments_and_unknown_keys_survive(
        shell: Shell) -> None:
    path = write_config(shell.home, OPERATOR_FILE)
    changed = shell.run("config", "set", "sync.server_url", "https://new.example/")
    assert (changed.stdout, changed.stderr, changed.exit_code) == ("", "", 0)
    assert_only_config_written(changed, shell.home)
    assert path.read_text() == OPERATOR_FILE.replace("https://old.example", "https://new.example")

    added = shell.run("config", "set", "sync.background_daemon", "manual")
    assert added.exit_code == 0
    text = path.read_text()
    # every original line survives (tomlkit may place a new key after a comment that precedes the next
    # table; the values are what count), and the data is exactly the old data plus the new key
    for original in OPERATOR_FILE.replace("https://old.example", "https://new.example").splitlines():
        assert original in text.splitlines(), original
    assert tomllib.loads(text) == {"title": "mine", "other": {"key": [1, 2]}, "sync": {
        "server_url": "https://new.example", "extra": 1, "background_daemon": "manual"}}

    removed = shell.run("config", "unset", "sync.server_url")
    assert (removed.stdout, removed.stderr, removed.exit_code) == ("", "", 0)
    assert_only_config_written(removed, shell.home)
    text = path.read_text()
    assert "server_url" not in text
    for kept in ("# operator notes: keep me\n", 'title = "mine"   # inline comment\n', "extra = 1\n",
                 'background_daemon = "manual"\n', "# a table this tool does not know\n", "[other]\nkey = [1, 2]\n"):
        assert kept in text


@pytest.mark.guarded
def test_given_values_when_get_and_list_then_printed_plainly_without_writing(shell: Shell) -> None:
    write_config(shell.home, OPERATOR_FILE)
    get, missing, listed = parallel(
        shell.later("config", "get", "sync.server_url"),
        shell.later("config", "get", "sync.background_daemon"),
        shell.later("config", "list"),
    )
    # issue 19: the value on stdout (scripts read it), where it came from on stderr; a default is a value
    assert (get.stdout, get.stderr, get.exit_code) == (
        "https://old.example\n", f"(from {shell.home / 'config.toml'})\n", 0)
    assert (missing.stdout, missing.stderr, missing.exit_code) == ("auto\n", "(from default)\n", 0)
    assert (listed.stdout, listed.stderr, listed.exit_code) == (
        "title = mine\n"
        "sync.server_url = https://old.example\n"
        "sync.extra = 1\n"
        "other.key = [1, 2]\n"
        "sync.background_daemon = auto  (default)\n"
        "sync.daemon_idle_seconds = 900  (default)\n", "", 0)
    assert get.events == missing.events == listed.events == []


@pytest.mark.guarded
def test_given_no_file_when_reading_then_nothing_is_created(shell: Shell) -> None:
    listed, got, unset = parallel(shell.later("config", "list"), shell.later("config", "get", "sync.server_url"),
                                  shell.later("config", "unset", "sync.server_url"))
    assert listed.exit_code == 0
    assert unset.exit_code == 0
    assert got.exit_code == 1
    assert listed.events == got.events == unset.events == []
    assert not shell.home.exists()


@pytest.mark.guarded
def test_given_no_file_when_set_then_it_is_created_0600_in_a_0700_home(shell: Shell) -> None:
    """Quickstart cleanup (flag unset): `spec-kitty config set sync.background_daemon auto`."""
    done = shell.run("config", "set", "sync.background_daemon", "auto")
    assert (done.stdout, done.stderr, done.exit_code) == ("", "", 0)
    path = shell.home / "config.toml"
    assert path.read_text() == '[sync]\nbackground_daemon = "auto"\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(shell.home.stat().st_mode) == 0o700
    assert_only_config_written(done, shell.home)
    assert sorted(p.name for p in shell.home.iterdir()) == [".config.toml.lock", "config.toml"]


def test_given_an_empty_server_url_when_set_then_accepted_as_no_host(shell: Shell) -> None:
    done = shell.run("config", "set", "sync.server_url", "")
    assert (done.stdout, done.stderr, done.exit_code) == ("", "", 0)
    assert (shell.home / "config.toml").read_text() == '[sync]\nserver_url = ""\n'


CONFIG_REFUSALS = [
    (["sync.server_url", "http://example.com"],
     "Plain http is allowed only for loopback hosts; use https for `example.com`."),
    (["sync.server_url", "https://user:secret@example.com"], "A server URL must not contain credentials."),
    (["sync.server_url", "https://token@example.com"], "A server URL must not contain credentials."),
    (["sync.server_url", "ftp://example.com"], "`ftp://example.com` is not an http(s) URL."),
    (["sync.server_url", "example.com"], "`example.com` is not an http(s) URL."),
    (["sync.server_url", "https://example.com/?a=1"], "`https://example.com/?…` must not carry a query or fragment."),
    (["sync.background_daemon", "sometimes"], "`sometimes` is not a daemon policy; use `auto` or `manual`."),
    (["sync.background_daemon", ""], "`` is not a daemon policy; use `auto` or `manual`."),
    (["sync.daemon_idle_seconds", "soon"], "`soon` is not a number of seconds (5 or more)."),
    (["foo.bar", "1"], f"Unknown key `foo.bar`. Known keys: {KNOWN}."),
    (["server_url", "https://example.com"], f"Unknown key `server_url`. Known keys: {KNOWN}."),
]


@pytest.mark.guarded
def test_given_invalid_values_or_unknown_keys_when_set_then_one_line_exit_1_and_file_untouched(
        shell: Shell) -> None:
    write_config(shell.home, OPERATOR_FILE)
    before = snapshot_tree(shell.home)
    extra = [(["get", "foo.bar"], f"Unknown key `foo.bar`. Known keys: {KNOWN}."),
             (["unset", "sync"], f"Unknown key `sync`. Known keys: {KNOWN}.")]
    cases = [(["set", *argv], message) for argv, message in CONFIG_REFUSALS] + extra
    results = parallel(*(shell.later("config", *argv) for argv, _ in cases))
    for (argv, message), result in zip(cases, results, strict=True):
        assert (result.stdout, result.stderr, result.exit_code) == ("", f"Error: {message}\n", 1), argv
        assert result.events == [], argv
    assert snapshot_tree(shell.home) == before


def test_given_loopback_http_when_set_then_accepted(shell: Shell) -> None:
    for url, stored in (("http://localhost:8000/", "http://localhost:8000"), ("http://127.0.0.1:9", None),
                        ("http://[::1]:8080", None), ("https://spec-kitty-dev.fly.dev", None)):
        done = shell.run("config", "set", "sync.server_url", url)
        assert (done.stderr, done.exit_code) == ("", 0), url
        got = shell.run("config", "get", "sync.server_url")
        assert got.stdout == f"{stored or url}\n"


@pytest.mark.guarded
def test_given_a_corrupt_file_when_any_config_command_then_one_line_naming_file_and_line_and_never_overwritten(
        shell: Shell) -> None:
    path = write_config(shell.home, 'a = 1\n[sync\nserver_url = "x"\n')
    before = snapshot_tree(shell.home)
    results = parallel(
        shell.later("config", "set", "sync.server_url", "https://x.example"),
        shell.later("config", "unset", "sync.server_url"),
        shell.later("config", "get", "sync.server_url"),
        shell.later("config", "list"),
    )
    line = re.compile(rf"^Error: {re.escape(str(path))}:2: invalid TOML \([^\n]+\); fix or remove the file\.\n$")
    for result in results:
        assert result.stdout == ""
        assert line.match(result.stderr), result.stderr
        assert result.exit_code == 1
        lock_only = {str(shell.home.resolve()), str(shell.home.resolve() / ".config.toml.lock")}
        assert {p for e in result.events for p in e["paths"]} <= lock_only, result.describe()
        assert {e["kind"] for e in result.events} <= {"write"}
    assert {k: v for k, v in snapshot_tree(shell.home).items() if not k.startswith(".config.toml.lock")} == before


def test_given_concurrent_sets_of_different_keys_when_all_finish_then_none_is_lost(shell: Shell) -> None:
    """The read-modify-write happens under an inter-process lock: three writers, three keys kept."""
    write_config(shell.home, "# keep\n")
    results = parallel(
        shell.later("config", "set", "sync.server_url", "https://a.example"),
        shell.later("config", "set", "sync.background_daemon", "manual"),
        shell.later("config", "set", "sync.daemon_idle_seconds", "60"),
    )
    assert [r.exit_code for r in results] == [0, 0, 0], [r.stderr for r in results]
    text = (shell.home / "config.toml").read_text()
    assert text.startswith("# keep\n")
    assert tomllib.loads(text) == {"sync": {"server_url": "https://a.example", "background_daemon": "manual",
                                            "daemon_idle_seconds": 60}}


# --- the validators, directly (a table of values is cheaper in-process) ------------------------------
@pytest.mark.parametrize(("value", "stored"), [
    ("", ""), ("   ", ""), ("https://spec-kitty-dev.fly.dev", "https://spec-kitty-dev.fly.dev"),
    ("https://saas.example/", "https://saas.example"), ("https://saas.example/base/", "https://saas.example/base"),
    ("http://localhost", "http://localhost"), ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
    ("http://127.1.2.3", "http://127.1.2.3"), ("http://[::1]:1", "http://[::1]:1"),
    (" https://padded.example ", "https://padded.example"),
])
def test_server_url_accepts(value: str, stored: str) -> None:
    assert cfg.validate_url(value) == stored


@pytest.mark.parametrize("value", [
    "http://example.com", "http://10.0.0.1", "http://localhost.example.com", "http://0.0.0.0",
    "https://u:p@example.com", "https://u@example.com", "http://u:p@127.0.0.1", "ftp://example.com",
    "file:///etc/passwd", "https://", "example.com", "https://example.com#frag", "https://example.com?x=1",
    "javascript:alert(1)",
])
def test_server_url_refuses(value: str) -> None:
    with pytest.raises(ConfigError):
        cfg.validate_url(value)


@pytest.mark.parametrize(("value", "ok"), [("auto", True), ("manual", True), (" manual ", True), ("Manual", False),
                                           ("off", False), ("", False)])
def test_background_daemon_is_auto_or_manual(value: str, ok: bool) -> None:
    if ok:
        assert cfg.validate_policy(value) == value.strip()
    else:
        with pytest.raises(ConfigError):
            cfg.validate_policy(value)


def test_unknown_key_error_lists_every_known_key() -> None:
    with pytest.raises(ConfigError) as caught:
        cfg.known_key("sync.nope")
    assert str(caught.value) == f"Unknown key `sync.nope`. Known keys: {KNOWN}."
    assert KNOWN.split(", ") == list(cfg.KNOWN_KEYS)


def test_given_a_malformed_host_or_port_when_set_then_one_line_not_a_traceback(shell: Shell) -> None:
    for value in ("http://[::1", "https://h.example:99999", "https://h.example:abc"):
        done = shell.run("config", "set", "sync.server_url", value)
        assert (done.stdout, done.stderr, done.exit_code) == ("", f"Error: `{value}` is not an http(s) URL.\n", 1)


def test_given_a_secret_in_a_bad_url_when_set_then_the_error_never_echoes_it(shell: Shell) -> None:
    for value in ("ftp://user:hunter2@example.com", "user:hunter2@example.com", "https://h.example/?token=hunter2",
                  "gopher://h.example/#hunter2"):
        done = shell.run("config", "set", "sync.server_url", value)
        assert done.exit_code == 1, done.describe()
        assert "hunter2" not in done.stdout + done.stderr, done.describe()


def test_given_credentials_in_the_url_env_var_when_a_hosted_command_runs_then_refused_without_echo(
        shell: Shell) -> None:
    shell.flag("1")
    write_auth(shell.home)
    done = shell.run("tracker", "status", env={"SPEC_KITTY_SAAS_URL": "https://me:hunter2@saas.example"})
    assert (done.stdout, done.stderr, done.exit_code) == (
        "", "Error: SPEC_KITTY_SAAS_URL: A server URL must not contain credentials.\n", 1)
