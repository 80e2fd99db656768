"""Quickstart Scenario 1 (customer machine) and Scenario 2 steps 1–4 (internal tester), literally.

Every step runs the installed ``spec-kitty`` console script in a subprocess, in a throwaway ``$HOME``,
under the stealth guard (``spec_kitty_testing/guard/sitecustomize.py``), and asserts stdout byte for
byte, the exit code, and what the guard recorded: no socket, no process, no write under the home folder.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from support.cli import Result, assert_only_config_written, run_guarded, run_python
from support.projects import git_init, make_project, set_mtime, transition, write_auth, write_config, write_log
from support.shell import Shell, parallel

from states import catalog

FLAG = "SPEC_KITTY_ENABLE_SAAS_SYNC"
FALSY = [None, "0", "false", "", " no "]
TRUTHY = ["1", "true", "YES", " on ", "y"]


def flag_id(value: str | None) -> str:
    return "unset" if value is None else repr(value)


HELP_OFF = """\
Usage: spec-kitty [OPTIONS] COMMAND [ARGS]...

  Spec Kitty: local mission status and work-package lanes.

Options:
  --version   Show the version and exit.
  -h, --help  Show this message and exit.

Commands:
  config  Read and change ~/.spec-kitty/config.toml.
  status  Show the local mission status.
  wp      Move work packages between lanes.

  Examples:
    spec-kitty status
    spec-kitty wp move WP01 --to claimed
    spec-kitty config list

  A guide from nothing: docs/getting-started.md in this project's repository.
"""

HELP_ON = """\
Usage: spec-kitty [OPTIONS] COMMAND [ARGS]...

  Spec Kitty: local mission status and work-package lanes.

Options:
  --version   Show the version and exit.
  -h, --help  Show this message and exit.

Commands:
  auth     Log in to the hosted SaaS.
  config   Read and change ~/.spec-kitty/config.toml.
  status   Show the local mission status.
  sync     Hosted SaaS sync commands.
  tracker  Hosted SaaS tracker commands.
  wp       Move work packages between lanes.

  Examples:
    spec-kitty status
    spec-kitty wp move WP01 --to claimed
    spec-kitty config list

  A guide from nothing: docs/getting-started.md in this project's repository.
"""

UNAUTHED = "No SaaS authentication token is present.\n\nRun `spec-kitty auth login`.\n"
NO_HOST = "No SaaS host URL is configured.\n\nRun `spec-kitty config set sync.server_url <url>`.\n"


def unbound(slug: str) -> str:
    return f"No tracker binding exists for feature `{slug}`.\n\nRun `spec-kitty tracker bind`.\n"


def no_such_command(name: str) -> str:
    return (f"Usage: spec-kitty [OPTIONS] COMMAND [ARGS]...\nTry 'spec-kitty --help' for help.\n\n"
            f"Error: No such command '{name}'.\n")


HOSTED_WORDS = re.compile(r"tracker|\bauth|\bsync|hosted|saas|daemon", re.IGNORECASE)

# The quickstart's step 3 snippet, verbatim (it runs with HOME pointing at the operator's home).
QUICKSTART_CLEAR_HOST = """
import tomllib, pathlib
p = pathlib.Path.home() / '.spec-kitty/config.toml'
data = tomllib.loads(p.read_text())
data.setdefault('sync', {})['server_url'] = ''
p.write_text(tomllib.dumps(data) if hasattr(tomllib, 'dumps') else '[sync]\\nserver_url = \"\"\\n')
"""


def assert_untouched(result: Result, shell: Shell) -> None:
    """The guard saw no socket, no process, no write under HOME; no sync-daemon file exists."""
    assert result.events == [], result.describe()
    assert not list(shell.user_home.rglob("sync-daemon*"))
    assert not shell.home.exists(), f"{shell.home} was created: {sorted(shell.home.rglob('*'))}"


def demo_project(root: Path) -> Path:
    project = make_project(root, ["001-demo"])
    write_log(project / "kitty-specs" / "001-demo", [
        transition("WP01", "planned", from_lane="genesis", event_id="01J0000000000000000000000A", slug="001-demo"),
        transition("WP02", "planned", from_lane="genesis", event_id="01J0000000000000000000000B", slug="001-demo"),
        transition("WP01", "in_progress", event_id="01J0000000000000000000000C", slug="001-demo"),
        transition("WP03", "done", from_lane="approved", event_id="01J0000000000000000000000D", slug="001-demo"),
    ])
    return project


DEMO_STATUS = """\
Mission 001-demo: 3 work packages, 4 lane events
  planned       1  WP02
  in_progress   1  WP01
  done          1  WP03
"""


# === Scenario 1: customer machine (stealth default) ===================================================
@pytest.mark.parametrize("flag", FALSY, ids=flag_id)
def test_scenario_1_given_flag_not_truthy_when_operator_walks_the_quickstart_then_hosted_surface_is_invisible(
        shell: Shell, tmp_path: Path, flag: str | None) -> None:
    """Given SPEC_KITTY_ENABLE_SAAS_SYNC unset or falsy, when each Scenario 1 step runs, then the
    tracker group is absent from --help, direct invocation fails closed with click's usage error,
    no daemon file exists, status works, and nothing touched the network, a process or ~/.spec-kitty."""
    shell.flag(flag)
    project = demo_project(tmp_path / "demo-repo")
    refusals = (["tracker", "--help"], ["tracker"], ["auth"], ["sync"])
    help_, status, *refused = parallel(
        shell.later("--help"),
        shell.later("status", cwd=project, guard_dirs=[project]),
        *(shell.later(*argv) for argv in refusals),
    )

    # 1. spec-kitty --help | grep -i tracker  → no output
    assert (help_.stdout, help_.stderr, help_.exit_code) == (HELP_OFF, "", 0)
    assert not HOSTED_WORDS.search(help_.stdout)
    assert_untouched(help_, shell)

    # 2. spec-kitty tracker --help  → "No such command", exit 2; likewise tracker, auth, sync
    for argv, result in zip(refusals, refused, strict=True):
        assert (result.stdout, result.stderr, result.exit_code) == ("", no_such_command(argv[0]), 2), argv
        assert_untouched(result, shell)

    # 3. ls ~/.spec-kitty/sync-daemon*  → nothing (the folder does not even exist)
    assert not shell.home.exists()
    assert not list(shell.user_home.rglob("sync-daemon*"))

    # 4. spec-kitty status  → local mission status, no network, no daemon, no write anywhere watched
    assert (status.stdout, status.stderr, status.exit_code) == (DEMO_STATUS, "", 0)
    assert not HOSTED_WORDS.search(status.stdout)
    assert_untouched(status, shell)


def test_given_flag_unset_when_invoking_hosted_subcommands_then_the_group_itself_does_not_exist(
        shell: Shell) -> None:
    refusals = (["tracker", "status"], ["tracker", "sync", "run"], ["auth", "login", "--with-token"],
                ["sync", "run"], ["tracker", "bind", "--help"])
    for argv, result in zip(refusals, parallel(*(shell.later(*argv) for argv in refusals)), strict=True):
        assert (result.stdout, result.stderr, result.exit_code) == ("", no_such_command(argv[0]), 2), argv
        assert_untouched(result, shell)


@pytest.mark.parametrize("flag", [None, " no "], ids=flag_id)
def test_given_flag_not_truthy_when_shell_completion_lists_commands_then_no_hosted_group(
        shell: Shell, flag: str | None) -> None:
    shell.flag(flag)
    done = shell.run(env={"_SPEC_KITTY_COMPLETE": "bash_complete", "COMP_WORDS": "spec-kitty ", "COMP_CWORD": "1"})
    assert (done.stdout, done.exit_code) == ("plain,config\nplain,status\nplain,wp\n", 0)
    assert_untouched(done, shell)


@pytest.mark.parametrize("flag", ["1", " on "], ids=flag_id)
def test_given_flag_on_when_shell_completion_lists_commands_then_hosted_groups_appear(
        shell: Shell, flag: str) -> None:
    shell.flag(flag)
    done = shell.run(env={"_SPEC_KITTY_COMPLETE": "bash_complete", "COMP_WORDS": "spec-kitty ", "COMP_CWORD": "1"})
    assert (done.stdout, done.exit_code) == (
        "plain,auth\nplain,config\nplain,status\nplain,sync\nplain,tracker\nplain,wp\n", 0)
    assert done.events == []


def test_given_flag_off_when_completing_inside_tracker_then_no_tracker_subcommand_is_revealed(shell: Shell) -> None:
    done = shell.run(env={"_SPEC_KITTY_COMPLETE": "bash_complete", "COMP_WORDS": "spec-kitty tracker ",
                          "COMP_CWORD": "2"})
    assert done.exit_code == 0
    for word in ("bind", "unbind", "sync", "tracker", "auth"):
        assert f"plain,{word}\n" not in done.stdout, done.stdout
    assert_untouched(done, shell)


def test_given_flag_off_when_reading_local_help_then_nothing_mentions_the_hosted_surface(shell: Shell) -> None:
    argvs = (["status", "--help"], ["wp", "--help"], ["wp", "move", "--help"], ["config", "--help"], ["--version"])
    for argv, done in zip(argvs, parallel(*(shell.later(*argv) for argv in argvs)), strict=True):
        assert done.exit_code == 0, argv
        # --version names the distribution (issue 17: an operator must tell it from spec-kitty-cli); that
        # name is the package's, not a mention of the hosted surface
        shown = (done.stdout + done.stderr).replace(f"({catalog.DISTRIBUTION})", "")
        assert not HOSTED_WORDS.search(shown), done.stdout
        assert_untouched(done, shell)


def test_given_flag_off_and_a_corrupt_config_when_help_or_tracker_then_the_hosted_config_is_not_even_read(
        shell: Shell) -> None:
    """With the flag off, hosted configuration must not matter: a broken config.toml cannot break
    --help, nor turn the usage error for `tracker` into a config error."""
    write_config(shell.home, "[sync\nserver_url = \n")
    help_, refused = parallel(shell.later("--help"), shell.later("tracker", "status"))
    assert (help_.stdout, help_.stderr, help_.exit_code) == (HELP_OFF, "", 0)
    assert (refused.stdout, refused.stderr, refused.exit_code) == ("", no_such_command("tracker"), 2)
    assert help_.events == refused.events == []


# === Scenario 2, steps 1–4: internal tester, per-prerequisite failures ============================
@pytest.mark.parametrize("flag", TRUTHY, ids=flag_id)
def test_scenario_2_given_flag_truthy_when_prerequisites_are_missing_one_by_one_then_each_names_its_own(
        shell: Shell, tmp_path: Path, flag: str) -> None:
    """Given SPEC_KITTY_ENABLE_SAAS_SYNC truthy, when the operator walks steps 1–4, then --help lists
    tracker, and `tracker status` fails at MISSING_AUTH, then MISSING_HOST_CONFIG, then
    MISSING_MISSION_BINDING with the exact stable wording, exit 1, touching nothing."""
    shell.flag(flag)

    help_, unauthed = parallel(shell.later("--help"), shell.later("tracker", "status"))

    # 1. spec-kitty --help | grep -i tracker  → "tracker  Hosted SaaS tracker commands."
    assert (help_.stdout, help_.stderr, help_.exit_code) == (HELP_ON, "", 0)
    assert "  tracker  Hosted SaaS tracker commands.\n" in help_.stdout
    assert help_.events == []

    # 2. rm -f ~/.spec-kitty/auth.json; spec-kitty tracker status  → Unauthed, exit 1
    assert (unauthed.stdout, unauthed.stderr, unauthed.exit_code) == (UNAUTHED, "", 1)
    assert_untouched(unauthed, shell)

    # 3. after `auth login` (auth.json + [sync].server_url), clear the host with the quickstart's snippet
    #    (`auth login` with no host logs in to the hosted dev SaaS, the host step 4 restores)
    write_auth(shell.home, server_url="https://spec-kitty-dev.fly.dev")
    write_config(shell.home, '[sync]\nserver_url = "https://spec-kitty-dev.fly.dev"\n')
    cleared = run_python(QUICKSTART_CLEAR_HOST, home=shell.home, cwd=shell.cwd, user_home=shell.user_home)
    assert cleared.exit_code == 0, cleared.describe()
    assert (shell.home / "config.toml").read_text() == '[sync]\nserver_url = ""\n'
    no_host = shell.run("tracker", "status")
    assert (no_host.stdout, no_host.stderr, no_host.exit_code) == (NO_HOST, "", 1)
    assert no_host.events == []

    # 4. spec-kitty config set sync.server_url https://spec-kitty-dev.fly.dev
    configured = shell.run("config", "set", "sync.server_url", "https://spec-kitty-dev.fly.dev")
    assert (configured.stdout, configured.stderr, configured.exit_code) == ("", "", 0)
    assert_only_config_written(configured, shell.home)
    assert any(e["event"] == "os.rename" and e["paths"][-1] == str(shell.home.resolve() / "config.toml")
               for e in configured.events), "the guard should have seen config.toml being replaced"
    assert (shell.home / "config.toml").read_text() == '[sync]\nserver_url = "https://spec-kitty-dev.fly.dev"\n'
    #    cd /tmp && mkdir empty-repo && cd empty-repo && git init; spec-kitty tracker status
    repo = git_init(tmp_path / "empty-repo")
    before = sorted(p.name for p in shell.home.iterdir())
    unbound_ = shell.run("tracker", "status", cwd=repo, guard_dirs=[repo])
    assert (unbound_.stdout, unbound_.stderr, unbound_.exit_code) == (unbound("empty-repo"), "", 1)
    assert unbound_.events == []
    assert sorted(p.name for p in shell.home.iterdir()) == before
    assert not list(shell.home.glob("sync-daemon*"))


def test_given_no_missions_in_a_git_repo_when_run_from_a_subfolder_then_slug_is_the_repo_folder_name(
        tester: Shell, tmp_path: Path) -> None:
    repo = git_init(tmp_path / "acme-widgets")
    inner = repo / "src" / "pkg"
    inner.mkdir(parents=True)
    done = tester.run("tracker", "status", cwd=inner)
    assert (done.stdout, done.stderr, done.exit_code) == (unbound("acme-widgets"), "", 1)


def test_given_the_mission_option_when_tracker_status_then_slug_is_the_option(tester: Shell, tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj", ["001-one", "002-two"])
    done = tester.run("tracker", "status", "--mission", "002-two", cwd=project)
    assert (done.stdout, done.exit_code) == (unbound("002-two"), 1)


def test_given_exactly_one_mission_when_tracker_status_then_slug_is_that_mission(
        tester: Shell, tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj", ["082-stealth-gated"])
    done = tester.run("tracker", "status", cwd=project / "kitty-specs")
    assert (done.stdout, done.exit_code) == (unbound("082-stealth-gated"), 1)


def test_given_several_unbound_missions_when_tracker_status_then_slug_is_the_first_in_slug_order(
        tester: Shell, tmp_path: Path) -> None:
    """Never guessed from modification times (a checkout or an editor changes them): with several
    missions and none bound, the Unbound wording names the first mission in slug order."""
    project = make_project(tmp_path / "proj", ["002-newest", "001-old", "003-middle"])
    for when, slug in ((1_000_000, "001-old"), (3_000_000, "002-newest"), (2_000_000, "003-middle")):
        set_mtime(project / "kitty-specs" / slug, when)
    done = tester.run("tracker", "status", cwd=project)
    assert (done.stdout, done.exit_code) == (unbound("001-old"), 1)
    log = write_log(project / "kitty-specs" / "003-middle", [])
    set_mtime(log, 4_000_000)
    done = tester.run("tracker", "status", cwd=project)
    assert (done.stdout, done.exit_code) == (unbound("001-old"), 1)


def test_given_kitty_specs_without_missions_when_tracker_status_then_slug_is_the_project_folder(
        tester: Shell, tmp_path: Path) -> None:
    project = make_project(tmp_path / "bare-project")
    done = tester.run("tracker", "status", cwd=project)
    assert (done.stdout, done.exit_code) == (unbound("bare-project"), 1)


def test_given_host_only_in_env_when_config_is_blank_then_env_wins(shell: Shell, tmp_path: Path) -> None:
    shell.flag("1")
    write_auth(shell.home, server_url="https://saas.example")
    write_config(shell.home, '[sync]\nserver_url = ""\n')
    repo = git_init(tmp_path / "env-repo")
    done = shell.run("tracker", "status", cwd=repo, env={"SPEC_KITTY_SAAS_URL": "https://saas.example"})
    assert (done.stdout, done.exit_code) == (unbound("env-repo"), 1)
    blank = shell.run("tracker", "status", cwd=repo, env={"SPEC_KITTY_SAAS_URL": "  "})
    assert (blank.stdout, blank.exit_code) == (NO_HOST, 1)


@pytest.mark.parametrize("content", [
    b"{not json",
    b'{"access_token": ""}',
    b'{"server_url": "https://spec-kitty-dev.fly.dev"}',
    b"\xff\xfe\x00garbage",
], ids=["not-json", "empty-token", "no-token", "binary"])
def test_given_a_malformed_auth_file_when_tracker_status_then_unauthed_plus_one_warning_naming_the_file(
        shell: Shell, content: bytes) -> None:
    shell.flag("1")
    shell.home.mkdir()
    auth = shell.home / "auth.json"
    auth.write_bytes(content)
    done = shell.run("tracker", "status")
    assert (done.stdout, done.stderr, done.exit_code) == (
        UNAUTHED, f"warning: {auth} is malformed and was ignored.\n", 1)
    assert done.events == []
    assert auth.read_bytes() == content


def test_given_an_unreadable_auth_file_when_tracker_status_then_unauthed(shell: Shell) -> None:
    shell.flag("1")
    shell.home.mkdir()
    (shell.home / "auth.json").mkdir()  # unreadable as a file, whoever runs the tests
    done = shell.run("tracker", "status")
    assert (done.stdout, done.exit_code) == (UNAUTHED, 1)
    assert "Traceback" not in done.stderr


def test_the_guard_records_what_it_must(shell: Shell, tmp_path: Path) -> None:
    """The guard itself: a deliberate socket, process, and writes under home are all recorded;
    reads under home and writes elsewhere are not."""
    shell.home.mkdir()
    (shell.home / "read-me").write_text("x")
    elsewhere = tmp_path / "not-guarded"
    elsewhere.mkdir()
    code = f"""
import os, socket, subprocess, sqlite3
home = os.environ["SPEC_KITTY_HOME"]
open(os.path.join(home, "read-me")).read()
open({str(elsewhere / "free.txt")!r}, "w").write("ok")
s = socket.socket(); s.close()
subprocess.run(["true"])
open(os.path.join(home, "new.txt"), "w").write("x")
open(os.path.join(home, "new.txt"), "a").write("x")
fd = os.open(os.path.join(home, "raw"), os.O_WRONLY | os.O_CREAT); os.close(fd)
os.mkdir(os.path.join(home, "sub"))
os.replace(os.path.join(home, "raw"), os.path.join(home, "sub", "raw"))
os.unlink(os.path.join(home, "sub", "raw"))
sqlite3.connect(":memory:").close()
"""
    result = run_python(code, home=shell.home, cwd=shell.cwd, user_home=shell.user_home)
    assert result.exit_code == 0, result.describe()
    seen = [(e["kind"], e["event"], e["path"] and Path(e["path"]).name) for e in result.events]
    assert seen == [
        ("network", "socket.__new__", None),
        ("process", "subprocess.Popen", None),
        ("write", "open", "new.txt"),
        ("write", "open", "new.txt"),
        ("write", "open", "raw"),
        ("write", "os.mkdir", "sub"),
        ("write", "os.rename", "raw"),
        ("write", "os.remove", "raw"),
        ("store", "sqlite3.connect", None),
    ], result.describe()


def test_the_guard_sees_child_processes_and_connect_attempts(shell: Shell) -> None:
    """A grandchild Python inherits the guard (PYTHONPATH), and a connect attempt is recorded even when
    it fails (nothing listens on the port)."""
    code = """
import subprocess, sys
subprocess.run([sys.executable, "-c", "import socket; s = socket.socket(); s.settimeout(1)\\n"
                "try: s.connect(('127.0.0.1', 9))\\nexcept OSError: pass\\ns.close()"])
"""
    result = run_guarded([sys.executable, "-c", code], home=shell.home, cwd=shell.cwd, user_home=shell.user_home)
    events = [e["event"] for e in result.events]
    assert events == ["subprocess.Popen", "socket.__new__", "socket.connect"], result.describe()
    assert len({e["pid"] for e in result.events}) == 2


def test_the_guard_chains_an_existing_sitecustomize(shell: Shell, tmp_path: Path) -> None:
    """Shadowing a site's own sitecustomize must not disable it: the guard runs it too, and still guards."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import os\nos.environ['CHAINED_SITECUSTOMIZE'] = 'yes'\n")
    code = "import os, socket; socket.socket().close(); print(os.environ.get('CHAINED_SITECUSTOMIZE'))"
    alone, chained = parallel(
        lambda: run_guarded([sys.executable, "-c", code], home=shell.home, cwd=shell.cwd, user_home=shell.user_home),
        lambda: run_guarded([sys.executable, "-c", code], home=shell.home, cwd=shell.cwd, user_home=shell.user_home,
                            extra_pythonpath=[site]),
    )
    assert (alone.stdout, alone.exit_code) == ("None\n", 0), alone.describe()
    assert (chained.stdout, chained.exit_code) == ("yes\n", 0), chained.describe()
    assert [e["event"] for e in alone.events] == [e["event"] for e in chained.events] == ["socket.__new__"]


def test_given_flag_on_and_a_leftover_daemon_state_file_when_status_then_no_socket(
        shell: Shell, tmp_path: Path) -> None:
    shell.flag("1")
    shell.home.mkdir()
    (shell.home / "sync-daemon").write_text('{"pid": 1, "port": 9, "secret": "s", "version": "0"}\n')
    project = demo_project(tmp_path / "demo-repo")
    done = shell.run("status", cwd=project)
    assert done.exit_code == 0
    assert done.of_kind("network") == [], done.describe()
