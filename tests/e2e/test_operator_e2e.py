"""Issue 19 against the real dev SaaS: answers that agree with each other and with the host, scriptable.

Given an operator logged in to a dev SaaS on loopback and a repository with one mission, when the host
revokes the session, rejects an env token, refuses connections or speaks plain http to a TLS client,
then every command says so in its own words (and `sync status` keeps the last error until a success);
and `--json` answers are reports a script can read.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.cli import ok, stored_token
from support.projects import transition, write_log
from support.shell import Shell, parallel

from devsaas.testing import DevSaas, start_dev_saas
from orchestrator.missions.ulid import new_ulid
from states import catalog

pytestmark = pytest.mark.e2e
MISSION = "001-demo"


@pytest.fixture
def logged_in(operator: Shell, saas: DevSaas, repo: Path) -> Shell:
    write_log(repo / "kitty-specs" / MISSION,
              [transition("WP01", "planned", from_lane="genesis", event_id=new_ulid(), slug=MISSION)])
    ok(operator.run("auth", "login", "--host", saas.url, cwd=repo))
    return operator


def test_a_session_revoked_on_the_host_is_found_by_auth_status_check_and_explain_probe(
        logged_in: Shell, saas: DevSaas, repo: Path) -> None:
    checked = ok(logged_in.run("auth", "status", "--check", cwd=repo))
    assert catalog.AUTH_CHECK_VALID in checked.stdout.splitlines()
    saas.revoke_token(stored_token(logged_in.home))

    plain, check, as_json, explain = parallel(
        logged_in.later("auth", "status", cwd=repo),
        logged_in.later("auth", "status", "--check", cwd=repo),
        logged_in.later("auth", "status", "--check", "--json", cwd=repo),
        logged_in.later("sync", "explain", "--probe", cwd=repo))
    assert plain.exit_code == 0
    assert plain.network == []
    assert check.exit_code == 1
    assert catalog.AUTH_CHECK_REJECTED.format(url=saas.url) in check.stdout.splitlines()
    (row,) = json.loads(as_json.stdout)["sessions"]
    assert row["check"] == {"valid": False, "error": catalog.SESSION_REJECTED.message.format(url=saas.url),
                            "login": None}
    assert as_json.exit_code == 1
    assert explain.exit_code == 0
    assert "State: Ready" not in explain.stdout
    assert explain.stdout.endswith(catalog.SESSION_REJECTED.render().format(url=saas.url) + "\n"), explain.stdout
    assert catalog.EXPLAIN_SESSION_REJECTED in explain.stdout


def test_a_rejected_env_token_is_named_and_so_is_the_fix(operator: Shell, saas: DevSaas, repo: Path) -> None:
    env = {"SPEC_KITTY_SAAS_TOKEN": "bogus-token-value", "SPEC_KITTY_SAAS_URL": saas.url}
    ran, check = parallel(operator.later("sync", "run", cwd=repo, env=env),
                          operator.later("auth", "status", "--check", cwd=repo, env=env))
    assert (ran.stdout, ran.exit_code) == (catalog.ENV_TOKEN_REJECTED.render().format(url=saas.url) + "\n", 1)
    assert "expired" not in ran.stdout
    assert catalog.AUTH_CHECK_ENV_REJECTED.format(url=saas.url) in check.stdout.splitlines()
    assert "bogus-token-value" not in ran.stdout + ran.stderr + check.stdout + check.stderr


def test_refused_and_tls_failures_have_their_own_words_and_sync_status_keeps_the_last_error(
        logged_in: Shell, saas: DevSaas, repo: Path) -> None:
    ok(logged_in.run("sync", "run", cwd=repo))
    saas.stop()
    refused = logged_in.run("sync", "run", cwd=repo)
    assert (refused.stdout, refused.exit_code) == (
        catalog.UNREACHABLE_REFUSED.render().format(url=saas.url) + "\n", 1)
    status = ok(logged_in.run("sync", "status", "--json", cwd=repo))
    (row,) = json.loads(status.stdout)["missions"]
    assert row["last_error"]["error"] == catalog.UNREACHABLE_REFUSED.message.format(url=saas.url)
    assert row["last_success"]

    saas.restart()
    ok(logged_in.run("sync", "run", cwd=repo))
    (row,) = json.loads(ok(logged_in.run("sync", "status", "--json", cwd=repo)).stdout)["missions"]
    assert row["last_error"] is None
    assert catalog.SYNC_STATUS_LAST_ERROR_NONE in ok(logged_in.run("sync", "status", cwd=repo)).stdout

    tls_url = saas.url.replace("http://", "https://")
    tls = logged_in.run("sync", "run", cwd=repo, env={"SPEC_KITTY_SAAS_URL": tls_url,
                                                      "SPEC_KITTY_SAAS_TOKEN": "tok-0123456789"})
    assert tls.exit_code == 1
    assert tls.stdout.startswith(catalog.TLS_FAILED.message.format(url=tls_url, reason="")[:40]), tls.describe()
    assert tls.stdout.endswith(catalog.TLS_FAILED.next_action + "\n")


def test_logout_of_an_unknown_host_names_the_hosts_that_have_sessions(logged_in: Shell, saas: DevSaas,
                                                                       repo: Path) -> None:
    ran = logged_in.run("auth", "logout", "--host", "http://127.0.0.1:9", cwd=repo)
    assert (ran.stdout, ran.exit_code) == ("", 1)
    assert ran.stderr == "Error: " + catalog.LOGOUT_UNKNOWN_HOST.format(url="http://127.0.0.1:9",
                                                                        hosts=f"`{saas.url}`") + "\n"


def test_the_active_session_is_marked_and_a_login_elsewhere_says_it_did_not_switch(
        logged_in: Shell, saas: DevSaas, repo: Path, tmp_path: Path) -> None:
    with start_dev_saas(auto_approve=True, db=tmp_path / "other.sqlite3") as other:
        second = ok(logged_in.run("auth", "login", "--host", other.url, cwd=repo))
        assert catalog.LOGIN_NOT_ACTIVE.format(
            active=saas.url, url=other.url, source=f"{logged_in.home / 'config.toml'}") in second.stdout.splitlines()
        again = ok(logged_in.run("auth", "login", "--host", other.url, cwd=repo, env={"SPEC_KITTY_SAAS_URL": saas.url}))
        assert catalog.LOGIN_NOT_ACTIVE_ENV.format(active=saas.url, url=other.url) in again.stdout.splitlines()
        status = ok(logged_in.run("auth", "status", "--json", cwd=repo))
        active = {row["host"]: row["active"] for row in json.loads(status.stdout)["sessions"]}
        assert active == {saas.url: True, other.url: False}
        text = ok(logged_in.run("auth", "status", cwd=repo)).stdout.splitlines()
        assert sorted(line.split(": logged in")[0] for line in text) == sorted(
            [f"{saas.url}{catalog.AUTH_ACTIVE}", other.url])


def test_sync_run_json_reports_each_mission(logged_in: Shell, saas: DevSaas, repo: Path) -> None:
    (repo / "kitty-specs" / "002-more").mkdir()
    write_log(repo / "kitty-specs" / "002-more",
              [transition("WP01", "planned", from_lane="genesis", event_id=new_ulid(), slug="002-more"),
               transition("WP02", "planned", from_lane="genesis", event_id=new_ulid(), slug="002-more")])
    ran = ok(logged_in.run("sync", "run", "--json", cwd=repo))
    report = json.loads(ran.stdout)
    assert [(m["mission"], m["pushed"], m["parked"], m["conflicts"], m["queued"]) for m in report["missions"]] == [
        (MISSION, 1, 0, [], 0), ("002-more", 2, 0, [], 0)]
    assert all(m["host"] == saas.url for m in report["missions"])


def test_daemon_status_json(logged_in: Shell, repo: Path) -> None:
    ran = ok(logged_in.run("sync", "daemon", "status", "--json", cwd=repo))
    assert json.loads(ran.stdout)["running"] is False


def test_an_interrupted_login_exits_130(operator: Shell, tmp_path: Path, repo: Path) -> None:
    import signal

    with start_dev_saas(auto_approve=False, db=tmp_path / "slow.sqlite3") as slow:
        running = operator.popen("auth", "login", "--host", slow.url, cwd=repo)
        with running:  # a failure below never leaves the login running, nor its pipes open for the next test
            try:
                assert running.stdout is not None
                seen = [running.stdout.readline() for _ in range(3)]
                assert seen[-1] == catalog.LOGIN_WAITING + "\n", seen
                running.send_signal(signal.SIGINT)
                out, err = running.communicate(timeout=60)
            finally:
                if running.poll() is None:
                    running.kill()
    assert running.returncode == 130, (out, err)
    assert (out, err) == ("", catalog.INTERRUPTED_NOTHING_QUEUED + "\n")
