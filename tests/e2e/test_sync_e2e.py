"""Scenario 2 step 5 for real: log in, bind, move work packages, sync over HTTP to the dev SaaS."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path
from subprocess import Popen

import pytest
from support.cli import ok, stored_token
from support.projects import git_init
from support.shell import Shell
from support.wait import wait_for

from devsaas.testing import DevSaas
from orchestrator.missions.ulid import new_ulid
from states import catalog

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "missions"
MISSION = "001-demo"


def log_rows(repo: Path, mission: str = MISSION) -> list[dict[str, object]]:
    text = (repo / "kitty-specs" / mission / "status.events.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_device_login_stores_a_private_token_and_records_the_host(operator: Shell, saas: DevSaas,
                                                                   repo: Path) -> None:
    ran = operator.run("auth", "login", "--host", saas.url, cwd=repo)
    assert ran.exit_code == 0, ran
    assert ran.stdout.splitlines()[-1] == f"Logged in to {saas.url} as dev@dev-saas.spec-kitty.invalid."
    auth = operator.home / "auth.json"
    assert stat.S_IMODE(auth.stat().st_mode) == 0o600
    token = stored_token(operator.home)
    assert token not in ran.stdout + ran.stderr
    assert f'server_url = "{saas.url}"' in (operator.home / "config.toml").read_text()
    status = operator.run("auth", "status", cwd=repo)
    assert status.exit_code == 0
    assert "as dev" in status.stdout
    assert token not in status.stdout


def test_with_token_reads_stdin_like_gh(operator: Shell, saas: DevSaas, repo: Path) -> None:
    token = saas.issue_token("scripted")
    ran = operator.run("auth", "login", "--host", saas.url, "--with-token", cwd=repo, stdin=token + "\n")
    assert (ran.stdout, ran.exit_code) == (f"Logged in to {saas.url} as scripted@dev-saas.spec-kitty.invalid.\n", 0)
    assert token not in ran.stdout + ran.stderr
    assert ok(operator.run("auth", "logout", cwd=repo)).stdout == f"Logged out of {saas.url}.\n"
    ok(operator.run("auth", "logout", cwd=repo))


def test_bind_in_a_fresh_git_init_folder(operator: Shell, saas: DevSaas, tmp_path: Path) -> None:
    empty = git_init(tmp_path / "empty-repo")
    assert operator.run("auth", "login", "--host", saas.url, cwd=empty).exit_code == 0
    ran = operator.run("tracker", "bind", cwd=empty)
    assert ran.exit_code == 0, ran.describe()
    assert ran.stdout.startswith(f"Bound this repository to github `dev-saas/issues` on {saas.url} (binding br_")
    text = (empty / ".kittify" / "config.yaml").read_text()
    assert "project:\n  uuid: " in text
    assert "tracker:\n  provider: github\n  binding_ref: br_" in text
    assert not (empty / ".kittify" / "config.toml").exists()
    status = operator.run("tracker", "status", cwd=empty)
    assert status.exit_code == 0
    assert "Queued events: 0." in status.stdout


def test_n_moves_arrive_exactly_once(operator: Shell, saas: DevSaas, repo: Path) -> None:
    operator.log_in_and_bind(saas.url, repo)
    lanes = ["claimed", "in_progress", "for_review", "in_review", "approved", "done"]
    for n in range(12):
        assert operator.run("wp", "move", f"WP0{n % 4 + 1}", "--to", lanes[n // 4], "--force", "--reason", "e2e",
                            cwd=repo).exit_code == 0
    assert "Queued events: 12." in ok(operator.run("tracker", "status", cwd=repo)).stdout
    ran = operator.run("sync", "run", cwd=repo)
    assert (ran.stdout, ran.exit_code) == (f"Synced mission `{MISSION}` with {saas.url}: 12 pushed, 0 pulled, "
                                      "0 still queued.\n", 0)
    again = ok(operator.run("sync", "run", cwd=repo))
    assert "0 pushed, 0 pulled, 0 still queued." in again.stdout
    assert saas.row_ids(MISSION) == [r["event_id"] for r in log_rows(repo)]  # each once, in log order
    assert {wp: issue["lane"] for wp, issue in saas.issues("demo-repo", MISSION).items()} == {
        "WP01": "for_review", "WP02": "for_review", "WP03": "for_review", "WP04": "for_review"}


def test_a_lane_changed_on_the_server_is_pulled_into_the_log(operator: Shell, saas: DevSaas,
                                                            repo: Path) -> None:
    operator.log_in_and_bind(saas.url, repo)
    ok(operator.run("wp", "move", "WP01", "--to", "planned", cwd=repo))
    ok(operator.run("sync", "run", cwd=repo))
    saas.set_issue_lane("demo-repo", MISSION, "WP01", "blocked")
    ran = ok(operator.run("sync", "run", cwd=repo))
    assert "1 pulled" in ran.stdout
    last = log_rows(repo)[-1]
    assert (last["wp_id"], last["from_lane"], last["to_lane"], last["actor"]) == (
        "WP01", "planned", "blocked", "spec-kitty-sync")
    assert "blocked" in ok(operator.run("status", cwd=repo)).stdout
    third = ok(operator.run("sync", "run", cwd=repo))
    assert "0 pulled" in third.stdout  # the pulled row goes up, and nothing bounces back
    assert saas.issues("demo-repo", MISSION)["WP01"]["lane"] == "blocked"


def test_expired_session_says_so_byte_for_byte(operator: Shell, saas: DevSaas, repo: Path) -> None:
    operator.log_in_and_bind(saas.url, repo)
    token = stored_token(operator.home)
    saas.revoke_token(token)
    ok(operator.run("wp", "move", "WP01", "--to", "planned", cwd=repo))
    ran = operator.run("sync", "run", cwd=repo)
    assert (ran.stdout, ran.exit_code) == (catalog.SESSION_EXPIRED.render() + "\n", 1)
    assert token not in ran.stdout + ran.stderr


def test_unreachable_host_says_so_and_keeps_the_queue(operator: Shell, saas: DevSaas, repo: Path) -> None:
    operator.log_in_and_bind(saas.url, repo)
    ok(operator.run("wp", "move", "WP01", "--to", "planned", cwd=repo))
    saas.stop()
    ran = operator.run("sync", "run", cwd=repo)
    expected = catalog.UNREACHABLE_REFUSED.render().format(url=saas.url)  # a stopped host refuses
    assert (ran.stdout, ran.exit_code) == (expected + "\n", 1)
    assert "  Queued: 1 (oldest waiting" in ok(operator.run("sync", "status", cwd=repo)).stdout  # local only
    saas.restart()
    assert "1 pushed" in ok(operator.run("sync", "run", cwd=repo)).stdout


def write_real_log(repo: Path, count: int) -> Path:
    """A mission log of ``count`` real fixture rows (the huge outliers left out), re-keyed."""
    rows = [json.loads(line) for f in sorted(FIXTURES.glob("*/status.events.jsonl"))
            for line in f.read_text().splitlines() if line.strip() and len(line) < 64 * 1024]
    log = repo / "kitty-specs" / MISSION / "status.events.jsonl"
    with log.open("w") as out:
        for i in range(count):
            row = dict(rows[i % len(rows)], event_id=new_ulid(), mission_slug=MISSION)
            out.write(json.dumps(row, sort_keys=True) + "\n")
    return log


def assert_stored_exactly_once(saas: DevSaas, log: Path, count: int) -> None:
    """Every lane row of the log (``count`` rows, some of them annotations, which never travel) is held once."""
    stored = saas.row_ids(MISSION)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    lanes = {r["event_id"] for r in rows if isinstance(r.get("to_lane"), str)}
    assert len(rows) == count
    assert len(stored) == len(set(stored)) == len(lanes)
    assert set(stored) == lanes


def upload_20000_in_background(operator: Shell, saas: DevSaas, repo: Path) -> tuple[Path, Popen[str]]:
    """Given a bound mission with 20,000 real rows, start `sync run` and return once a batch landed."""
    operator.log_in_and_bind(saas.url, repo)
    log = write_real_log(repo, 20000)
    sync = operator.popen("sync", "run", cwd=repo)
    wait_for(lambda: saas.stats()["envelopes"] > 0, 30, step=0.005)
    return log, sync


def test_kill_9_of_the_syncing_process_mid_upload_loses_and_doubles_nothing(operator: Shell, saas: DevSaas,
                                                                           repo: Path) -> None:
    log, sync = upload_20000_in_background(operator, saas, repo)
    sync.kill()
    sync.communicate(timeout=30)
    assert saas.stats()["envelopes"] < 20000, "the upload finished before the kill; the test proved nothing"
    ran = operator.run("sync", "run", cwd=repo, timeout=120)
    assert ran.exit_code == 0, ran
    assert ran.stdout.endswith("0 still queued.\n"), ran
    assert_stored_exactly_once(saas, log, 20000)


def test_killing_the_server_mid_upload_loses_and_doubles_nothing(operator: Shell, saas: DevSaas,
                                                                 repo: Path) -> None:
    log, sync = upload_20000_in_background(operator, saas, repo)
    saas.kill()
    first_out, _ = sync.communicate(timeout=60)
    # issue 19: the retries after the kill were refused, and the line says so (queued events are kept)
    assert (first_out, sync.returncode) == (catalog.HOST_REFUSED.render().format(url=saas.url) + "\n", 1)
    saas.restart()
    ran = operator.run("sync", "run", cwd=repo, timeout=120)
    assert ran.exit_code == 0, ran
    assert ran.stdout.endswith("0 still queued.\n")
    assert_stored_exactly_once(saas, log, 20000)


def test_token_never_reaches_any_output_or_log(operator: Shell, saas: DevSaas, repo: Path) -> None:
    outputs = []
    for args in (("auth", "login", "--host", saas.url), ("tracker", "bind"), ("auth", "status"),
                 ("tracker", "status"), ("sync", "run"), ("config", "list")):
        ran = ok(operator.run(*args, cwd=repo))
        outputs.append(ran.stdout + ran.stderr)
    token = stored_token(operator.home)
    logs = [p.read_text(errors="replace") for p in operator.home.glob("*.log*")]
    assert all(token not in text for text in outputs + logs)
    shutil.rmtree(repo / ".kittify")


def test_the_progress_bar_on_a_terminal_ends_at_100_percent_with_the_real_total(operator: Shell, saas: DevSaas,
                                                                               repo: Path) -> None:
    """Given 3,000 rows whose last third is eight times wider (the scan runs while batches upload, so the
    bar's total starts as an estimate from the bytes left, here too high), when the operator syncs on a
    terminal, then the bar ends exactly full and the summary follows it."""
    from support.cli import SPEC_KITTY, run_on_terminal

    operator.log_in_and_bind(saas.url, repo)
    log = write_real_log(repo, 3000)
    lines = log.read_text().splitlines()
    wide = [json.dumps(dict(json.loads(line), reason="x" * 4000), sort_keys=True) for line in lines[2000:]]
    log.write_text("\n".join(lines[:2000] + wide) + "\n")
    shown, code = run_on_terminal([str(SPEC_KITTY), "sync", "run"], cwd=repo, env=operator.full_env(),
                                  stderr_too=True)
    assert code == 0, shown
    frames = shown.replace("\r\n", "\n").split("\r")
    bars = [f for f in frames if catalog.SYNC_PROGRESS_LABEL in f]
    assert bars, frames
    assert "100%" in bars[-1]
    assert not any(f"{p}%" in f for f in bars for p in range(101, 200))
    assert frames[-1].rstrip().endswith("3000 pushed, 0 pulled, 0 still queued.")
