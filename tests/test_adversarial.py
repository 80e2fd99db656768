"""A hostile or careless operator, through the installed command: odd homes, odd files, odd sessions.

Given a state an operator should never reach but sometimes does (a home that is a file, a mission log
that is a folder, a hand-edited session for a plain-http host, several missions and a bulk flag),
when a command runs, then it ends in one line (or JSON under ``--json``) with a non-zero exit code,
never "unexpected <Exception>", and it sends no token anywhere it should not.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from support.projects import make_project, transition, write_auth, write_config, write_log
from support.shell import Shell

IN_PROCESS = True  # output and exit codes (conftest's ``shell``); the guard's tests are marked ``guarded``
HOST = "http://127.0.0.1:9"  # loopback, never contacted by the local commands below


@pytest.fixture
def hosted(shell: Shell) -> Shell:
    """The rollout flag on, with a host configured."""
    write_config(shell.home, f'[sync]\nserver_url = "{HOST}"\n')
    return shell.flag("1")


def _json(stdout: str) -> dict[str, object]:
    parsed = json.loads(stdout)
    assert isinstance(parsed, dict)
    return parsed


# --- --json is always JSON, on hosted commands too ---------------------------------------------------
def test_auth_status_json_without_any_session_is_a_json_error(hosted: Shell) -> None:
    ran = hosted.run("auth", "status", "--json")
    assert (ran.exit_code, ran.stderr) == (1, ""), ran.describe()
    assert _json(ran.stdout) == {"error": "unauthed", "message": "No SaaS authentication token is present.",
                                 "next_action": "Run `spec-kitty auth login`."}


@pytest.mark.parametrize("args", [("sync", "status", "--json"), ("sync", "explain", "--json")])
def test_hosted_json_commands_report_a_broken_config_as_json(hosted: Shell, args: tuple[str, ...]) -> None:
    config = write_config(hosted.home, "[sync\nserver_url=")
    ran = hosted.run(*args)
    assert (ran.exit_code, ran.stderr) == (1, ""), ran.describe()
    assert _json(ran.stdout) == {
        "error": "config_error",
        "message": f"{config}:1: invalid TOML (Expected ']' at the end of a table declaration); "
                   "fix or remove the file."}


def test_a_bad_host_url_from_the_environment_is_json_under_json(hosted: Shell) -> None:
    ran = hosted.run("sync", "status", "--json", env={"SPEC_KITTY_SAAS_URL": "http://saas.example"})
    assert (ran.exit_code, ran.stderr) == (1, ""), ran.describe()
    assert _json(ran.stdout)["error"] == "config_error"


# --- a session for a host no URL rule allows is never sent its token ---------------------------------
@pytest.mark.guarded
def test_logout_never_sends_a_token_to_a_plain_http_remote_session_host(hosted: Shell) -> None:
    write_auth(hosted.home, token="tok-SECRET-never-sent", server_url="http://saas.example")
    # a proxy on loopback would carry the request (and the token, in clear) if one were made
    ran = hosted.run("auth", "logout", "--all", env={"HTTP_PROXY": HOST, "http_proxy": HOST})
    assert ran.of_kind("network") == [], ran.describe()
    assert (ran.stdout, ran.stderr, ran.exit_code) == (
        "Logged out of http://saas.example.\n"
        "The host `http://saas.example` did not answer; its copy of the session was not revoked.\n", "", 0)
    assert not (hosted.home / "auth.json").exists()


# --- a home that cannot be a home --------------------------------------------------------------------
@pytest.mark.parametrize("flag", [None, "1"])
def test_a_home_that_is_a_file_is_one_line(shell: Shell, flag: str | None) -> None:
    shell.home.write_text("not a folder\n")
    ran = shell.flag(flag).run("config", "set", "sync.background_daemon", "manual")
    assert (ran.stdout, ran.stderr, ran.exit_code) == (
        "", f"Error: {shell.home} is not a folder; set SPEC_KITTY_HOME to a folder you own.\n", 1), ran.describe()
    assert shell.home.read_text() == "not a folder\n"


def test_a_home_that_is_a_file_does_not_break_local_status(shell: Shell) -> None:
    shell.home.write_text("not a folder\n")
    ran = shell.run("status")
    assert (ran.exit_code, ran.stderr) == (0, ""), ran.describe()


def test_a_home_under_a_file_is_one_line_without_an_exception_name(shell: Shell) -> None:
    blocker = shell.root / "blocker"
    blocker.write_text("")
    ran = shell.flag("1").run("sync", "status", "--json", env={"SPEC_KITTY_HOME": str(blocker / "home")})
    assert ran.exit_code == 1, ran.describe()
    assert "unexpected" not in ran.stderr + ran.stdout, ran.describe()
    # the daemon lock is looked up without touching the home (a flock holder is read from /proc/locks), so
    # the first file that cannot be read is config.toml: one config error naming it
    assert _json(ran.stdout) == {"error": "config_error",
                                 "message": f"Cannot read {blocker / 'home' / 'config.toml'}: Not a directory."}


# --- a mission log that cannot be read -----------------------------------------------------------------
@pytest.fixture
def broken_log(shell: Shell) -> Shell:
    """Given a mission whose event log is a symlink to itself (a loop no reader can follow)."""
    project = make_project(shell.cwd, ["001-a"])
    log = project / "kitty-specs" / "001-a" / "status.events.jsonl"
    log.symlink_to(log)
    return shell


@pytest.mark.parametrize("args", [("status",), ("wp", "move", "WP01", "--to", "planned")])
def test_an_unreadable_mission_log_is_one_line(broken_log: Shell, args: tuple[str, ...]) -> None:
    log = broken_log.cwd / "kitty-specs" / "001-a" / "status.events.jsonl"
    ran = broken_log.run(*args)
    reason = (f"{log}: Too many levels of symbolic links" if args == ("status",)  # a move never follows a link:
              else f"{log} is a symbolic link; nothing was recorded (a mission log must be a regular file)")  # item 5
    assert (ran.stdout, ran.stderr, ran.exit_code) == ("", f"Error: {reason}.\n", 1), ran.describe()


def test_an_unreadable_mission_log_under_status_json_is_json(broken_log: Shell) -> None:
    ran = broken_log.run("status", "--json")
    assert (ran.exit_code, ran.stderr) == (1, ""), ran.describe()
    assert _json(ran.stdout)["error"] == "error"


def test_a_mission_log_that_is_a_folder_refuses_a_move_in_one_line(shell: Shell) -> None:
    project = make_project(shell.cwd, ["001-a"])
    (project / "kitty-specs" / "001-a" / "status.events.jsonl").mkdir()
    ran = shell.run("wp", "move", "WP01", "--to", "planned")
    assert ran.exit_code == 1, ran.describe()
    assert ran.stdout == "", ran.describe()
    assert ran.stderr.startswith("Error: "), ran.describe()
    assert "unexpected" not in ran.stderr, ran.describe()


# --- no guessing: parked rows belong to one mission ---------------------------------------------------
@pytest.mark.parametrize("verb", ["retry", "drop"])
def test_sync_retry_and_drop_with_several_missions_need_a_mission(hosted: Shell, verb: str) -> None:
    project = make_project(hosted.cwd, ["001-a", "002-b"])
    write_auth(hosted.home, server_url=HOST)
    kittify = project / ".kittify"
    kittify.mkdir()
    (kittify / "config.toml").write_text("".join(
        f'[[tracker.binding]]\nmission = "{slug}"\nproject = "p"\nserver_url = "{HOST}"\nbinding_id = "b-{slug}"\n'
        for slug in ("001-a", "002-b")))
    ran = hosted.run("sync", verb, "--all")
    assert (ran.stdout, ran.stderr, ran.exit_code) == (
        "", "Error: This repository has 2 missions; choose one with --mission (slug, number or id prefix).\n"
            "  001-a\n  002-b\n", 2), ran.describe()


# --- login talks to a host, not to a queue -------------------------------------------------------------
class _Failing(BaseHTTPRequestHandler):
    """A scripted host (the dev SaaS never answers so): every request gets ``status`` with ``answer`` as
    JSON; by default HTTP 500, a scripted fault."""

    status: ClassVar[int] = 500
    answer: ClassVar[object] = {"error": "boom"}

    def _reply(self) -> None:
        body = json.dumps(self.answer).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _reply

    def log_message(self, *_: object) -> None:  # keep the test output clean
        pass


@contextlib.contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """``handler`` on a loopback port for the ``with`` block; yields its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def failing_host() -> Iterator[str]:
    with _serving(_Failing) as url:
        yield url


@pytest.mark.parametrize("with_token", [False, True])
def test_login_against_a_failing_host_never_mentions_queued_events(shell: Shell, failing_host: str,
                                                                   with_token: bool) -> None:
    args = ["auth", "login", "--host", failing_host] + (["--with-token"] if with_token else [])
    ran = shell.flag("1").run(*args, stdin="tok-abc\n" if with_token else None)
    assert (ran.stdout, ran.stderr, ran.exit_code) == (
        f"The SaaS host `{failing_host}` answered with an error: HTTP 500 boom.\n\n"
        "Retry `spec-kitty auth login` later.\n", "", 1), ran.describe()
    assert not (shell.home / "auth.json").exists()



def test_idle_seconds_take_ascii_digits_only(shell: Shell) -> None:
    """`int()` reads Arabic-Indic digits too; a config value the operator cannot read back is refused."""
    ran = shell.run("config", "set", "sync.daemon_idle_seconds", "\u0665\u0665")
    assert ran.exit_code != 0, ran.describe()
    assert "Traceback" not in ran.stderr, ran.describe()
    assert not (shell.home / "config.toml").exists()


def test_bind_against_a_failing_host_names_the_bind_as_the_retry_not_a_queue(shell: Shell, failing_host: str,
                                                                            tmp_path: Path) -> None:
    """Given a session and host that answers 500, when the operator binds, then the host's words and a
    retry of `tracker bind` (no queue is involved in a bind)."""
    root = make_project(tmp_path / "repo", ["001-a"])
    write_auth(shell.home, server_url=failing_host)
    write_config(shell.home, f'[sync]\nserver_url = "{failing_host}"\n')
    ran = shell.flag("1").run("tracker", "bind", cwd=root)
    assert (ran.stdout, ran.stderr, ran.exit_code) == (
        f"The SaaS host `{failing_host}` answered with an error: HTTP 500 boom.\n\n"
        "Retry `spec-kitty tracker bind` later.\n", "", 1), ran.describe()
    assert not (root / ".kittify" / "config.toml").exists()


# --- nothing from a file or a host reaches the terminal as a control sequence ---------------------------
ESC_NAME = "002-\x1b[2Jgone"
NEWLINE_NAME = "003-b\nwarning: forged"


def test_a_folder_that_is_not_a_mission_slug_is_skipped_with_one_escaped_line(shell: Shell) -> None:
    """Given a cloned repo whose kitty-specs holds folders named with an ESC sequence and a newline, when the
    operator runs `status`, then only the real mission is shown and each odd folder is one escaped line."""
    project = make_project(shell.cwd, ["001-a", ESC_NAME, NEWLINE_NAME])
    specs = project / "kitty-specs"
    ran = shell.run("status")
    assert (ran.stdout, ran.exit_code) == ("Mission 001-a: 0 work packages, 0 lane events\n", 0), ran.describe()
    assert ran.stderr == (
        f"warning: {specs}/002-\\x1b[2Jgone is not a mission folder (a mission slug is letters, digits, "
        "`._-`); skipped.\n"
        f"warning: {specs}/003-b\\nwarning: forged is not a mission folder (a mission slug is letters, digits, "
        "`._-`); skipped.\n"), ran.describe()


def test_wp_move_never_takes_a_folder_that_is_not_a_mission_slug(shell: Shell) -> None:
    make_project(shell.cwd, ["001-a", ESC_NAME])
    ran = shell.run("wp", "move", "WP01", "--to", "planned")
    assert ran.exit_code == 0, ran.describe()
    assert "\x1b" not in ran.stdout + ran.stderr, ran.describe()
    assert ran.stdout.startswith("WP01: genesis -> planned (001-a, event "), ran.describe()


def test_a_work_package_id_from_the_log_is_printed_escaped(shell: Shell) -> None:
    project = make_project(shell.cwd, ["001-a"])
    write_log(project / "kitty-specs" / "001-a", [transition("WP01\x1b[2J", "planned", from_lane="planned",
                                                             event_id="01HX0000000000000000000001", slug="001-a")])
    ran = shell.run("status")
    assert (ran.stdout, ran.stderr, ran.exit_code) == (
        "Mission 001-a: 1 work packages, 1 lane events\n  planned       1  WP01\\x1b[2J\n", "", 0), ran.describe()


class _Device(_Failing):
    """A hostile host whose device grant (``answer``) carries what the test sets (the dev SaaS never does)."""

    status = 200


@pytest.fixture
def device_host() -> Iterator[tuple[str, type[_Device]]]:
    handler = type("Grant", (_Device,), {"answer": {}})
    with _serving(handler) as url:
        yield url, handler


GRANT = {"device_code": "dc", "user_code": "ABCD-EFGH", "verification_uri": "https://x.example/device",
         "interval": 5, "expires_in": 600}


@pytest.mark.parametrize(("field", "value"), [
    ("verification_uri", "https://x.example/device\nforged line"),
    ("verification_uri", "https://x.example/\x1b]8;;evil\x07"),
    ("verification_uri", "javascript:alert(1)"),
    ("verification_uri", None),
    ("user_code", None),
    ("user_code", "AB\x1b[2JCD"),
    ("user_code", ""),
])
def test_a_device_grant_the_operator_cannot_safely_read_is_one_line(
        shell: Shell, device_host: tuple[str, type[_Device]], field: str, value: object) -> None:
    url, handler = device_host
    handler.answer = {**GRANT, field: value}
    ran = shell.flag("1").run("auth", "login", "--host", url)
    assert (ran.stdout, ran.stderr, ran.exit_code) == (
        "", f"Error: The SaaS host `{url}` sent an unexpected answer to the device login (`{field}`).\n", 1), \
        ran.describe()
    assert not (shell.home / "auth.json").exists()


def test_a_host_error_detail_with_control_characters_is_printed_escaped(shell: Shell) -> None:
    class Hostile(_Failing):
        answer: ClassVar[object] = {"error": "boom\x1b[2J\x07"}  # on the wire: \u001b[2J\u0007

    with _serving(Hostile) as url:
        ran = shell.flag("1").run("auth", "login", "--host", url)
    assert (ran.stdout, ran.stderr, ran.exit_code) == (
        f"The SaaS host `{url}` answered with an error: HTTP 500 boom\\x1b[2J\\x07.\n\n"
        "Retry `spec-kitty auth login` later.\n", "", 1), ran.describe()


# --- a mission log that is not a regular file is never opened for reading -------------------------------
def _odd_log(shell: Shell, kind: str) -> Path:
    import os

    project = make_project(shell.cwd, ["001-a"])
    log = project / "kitty-specs" / "001-a" / "status.events.jsonl"
    if kind == "fifo":
        os.mkfifo(log)
    else:
        log.symlink_to("/dev/zero")
    return log


@pytest.mark.guarded  # a hang here must end in its own process (timeout), not hang the suite
@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_status_skips_a_mission_log_that_is_not_a_regular_file_in_one_line(shell: Shell, kind: str) -> None:
    log = _odd_log(shell, kind)
    ran = shell.run("status", timeout=30)
    assert (ran.stdout, ran.stderr, ran.exit_code) == (
        "Mission 001-a: 0 work packages, 0 lane events\n",
        f"warning: {log} is not a regular file; skipped.\n", 0), ran.describe()


@pytest.mark.guarded  # a hang here must end in its own process (timeout), not hang the suite
@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_wp_move_refuses_a_mission_log_that_is_not_a_regular_file(shell: Shell, kind: str) -> None:
    log = _odd_log(shell, kind)
    ran = shell.run("wp", "move", "WP01", "--to", "planned", timeout=30)
    refusal = (f"{log} is a symbolic link; nothing was recorded (a mission log must be a regular file)"
               if kind == "dev-zero" else f"{log} is not a regular file; nothing was recorded")  # issue 16 item 5
    assert (ran.stdout, ran.stderr, ran.exit_code) == ("", f"Error: {refusal}.\n", 1), ran.describe()


# --- an empty mission handle is a usage error, never "no handle" ----------------------------------------
@pytest.mark.parametrize("handle", ["", "  "])
@pytest.mark.parametrize("args", [("status",), ("wp", "move", "WP01", "--to", "planned")])
def test_an_empty_mission_handle_is_a_usage_error(shell: Shell, handle: str, args: tuple[str, ...]) -> None:
    make_project(shell.cwd, ["001-a", "002-b"])
    ran = shell.run(*args, "--mission", handle)
    assert (ran.stdout, ran.stderr, ran.exit_code) == (
        "", f"Error: --mission {handle!r} is empty; name a mission by slug, number or id prefix.\n", 2), \
        ran.describe()


def test_an_empty_mission_handle_under_json_is_a_json_usage_error(shell: Shell) -> None:
    make_project(shell.cwd, ["001-a", "002-b"])
    ran = shell.run("status", "--json", "--mission", "")
    assert (ran.exit_code, ran.stderr) == (2, ""), ran.describe()
    assert _json(ran.stdout)["error"] == "usage"


# --- a binding file nobody can read is one line, never a traceback ---------------------------------------
def test_an_unreadable_config_yaml_is_one_line_naming_it(hosted: Shell) -> None:
    project = make_project(hosted.cwd, ["001-a"])
    config = project / ".kittify" / "config.yaml"
    config.parent.mkdir()
    config.write_text("tracker: [unclosed\n")
    write_auth(hosted.home, server_url=HOST)
    ran = hosted.run("tracker", "unbind")
    assert ran.exit_code == 1, ran.describe()
    assert "Traceback" not in ran.stderr, ran.describe()
    assert ran.stderr.startswith(f"Error: {config}"), ran.describe()


def test_a_hand_edited_display_label_cannot_write_escapes_to_the_terminal(shell: Shell, tmp_path: Path) -> None:
    """Given a `tracker:` block whose display label carries an ESC sequence, when the operator unbinds
    (local only), then the label is shown escaped, never sent to the terminal raw."""
    root = make_project(tmp_path / "repo", ["001-a"])
    (root / ".kittify").mkdir()
    (root / ".kittify" / "config.yaml").write_text(
        'tracker:\n  provider: github\n  binding_ref: br_1\n  display_label: "p\\e[2J"\n')
    write_auth(shell.home)
    write_config(shell.home, '[sync]\nserver_url = "https://spec-kitty-dev.fly.dev"\n')
    ran = shell.flag("1").run("tracker", "unbind", cwd=root)
    assert "\x1b" not in ran.stdout + ran.stderr, ran.describe()
    assert ran.stdout.startswith("Removed the tracker binding to github `p\\x1b[2J` from "), ran.describe()
