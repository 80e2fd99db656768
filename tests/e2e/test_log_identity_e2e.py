"""Issue 16 item 2 through the installed command: a log's identity is its content, not its inode.

Given two sibling branches whose mission logs have the same size and differ in one row of equal length
(more than a KiB before the end), when `sync run` runs on one branch, the other is checked out (git
hands the file back with the same inode here) and `sync run` runs again, then the other branch's row
is uploaded too, and the lane pushed for its work package names an event the host stores.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from support.shell import Shell

from devsaas.testing import DevSaas
from orchestrator.missions.ulid import new_ulid

MISSION = "001-demo"
PROJECT = "demo-repo"
LOG = Path("kitty-specs") / MISSION / "status.events.jsonl"

pytestmark = pytest.mark.e2e


def row(wp_id: str, to_lane: str, *, from_lane: str = "planned", reason: str | None = None) -> str:
    return json.dumps({"actor": "tester", "at": "2026-01-02T03:04:05+00:00", "event_id": new_ulid(),
                       "evidence": None, "execution_mode": "direct_repo", "force": False,
                       "from_lane": from_lane, "mission_id": None, "mission_slug": MISSION,
                       "policy_metadata": None, "reason": reason, "review_ref": None, "review_result": None,
                       "to_lane": to_lane, "wp_id": wp_id}, sort_keys=True)


def git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    subprocess.run(["git", *args], cwd=repo, check=True, env=env, capture_output=True)


def test_a_sibling_branch_with_an_equal_size_log_has_its_own_row_uploaded(operator: Shell, saas: DevSaas,
                                                                          repo: Path) -> None:
    log = repo / LOG
    log.write_text(row("WP01", "planned", from_lane="planned") + "\n")
    git(repo, "add", str(LOG))
    git(repo, "commit", "-qm", "base")
    git(repo, "branch", "-M", "main")
    # the rows after the differing one are the same on both branches: more than the last KiB
    after = "".join(row("WP02", "planned", reason="x" * 300) + "\n" for _ in range(4))
    ours, theirs = row("WP01", "claimed"), row("WP01", "blocked")
    assert len(ours) == len(theirs)
    for branch, changed in (("ours", ours), ("theirs", theirs)):
        git(repo, "checkout", "-qb", branch, "main")
        with log.open("a", encoding="utf-8") as out:
            out.write(changed + "\n" + after)
        git(repo, "commit", "-qam", branch)
    git(repo, "checkout", "-q", "ours")
    operator.log_in_and_bind(saas.url, repo)
    first = operator.run("sync", "run", cwd=repo)
    assert first.exit_code == 0, first.describe()
    size, inode = log.stat().st_size, log.stat().st_ino

    git(repo, "checkout", "-q", "theirs")
    assert log.stat().st_size == size  # same size; git handed back the same inode here too:
    same_inode = log.stat().st_ino == inode  # (the repro's figure; the test holds either way)
    second = operator.run("sync", "run", cwd=repo)
    assert second.exit_code == 0, second.describe()
    assert second.stdout.startswith(f"Synced mission `{MISSION}` with {saas.url}: 1 pushed, "), (same_inode, second)
    stored = set(saas.row_ids(MISSION))
    theirs_id = json.loads(theirs)["event_id"]
    assert theirs_id in stored
    issues = saas.issues(PROJECT, MISSION)
    found = {i["wp_id"]: i for i in issues["issues"]} if "issues" in issues else issues
    assert found["WP01"]["last_event_id"] in stored
    assert found["WP01"]["last_event_id"] == theirs_id


def test_status_on_a_sibling_branch_whose_log_grew_folds_its_own_rows(operator: Shell, repo: Path) -> None:
    """The saved fold of a big log (2 MiB and more) used to be trusted on a sampled fingerprint: a sibling
    branch whose log has one row changed in the middle and rows appended showed the other branch's lane."""
    log = repo / LOG
    padding = "".join(row("WP02", "planned", reason="x" * 400) + "\n" for _ in range(3000))
    ours, theirs = row("WP01", "claimed"), row("WP01", "blocked")
    log.write_text(padding + ours + "\n" + padding)
    git(repo, "add", str(LOG))
    git(repo, "commit", "-qm", "ours")
    git(repo, "branch", "-M", "ours")
    git(repo, "checkout", "-qb", "theirs")
    log.write_text(padding + theirs + "\n" + padding + row("WP03", "planned") + "\n")
    git(repo, "commit", "-qam", "theirs")
    git(repo, "checkout", "-q", "ours")

    def lane_of_wp01() -> str:
        ran = operator.run("status", "--json", cwd=repo)
        assert ran.exit_code == 0, ran.describe()
        return str(json.loads(ran.stdout)["work_packages"]["WP01"]["lane"])

    assert lane_of_wp01() == "claimed"  # saves the fold of this 2.8 MB log
    assert (repo / ".kittify" / "cache" / "missions" / f"{MISSION}.json").is_file()
    git(repo, "checkout", "-q", "theirs")
    assert lane_of_wp01() == "blocked"
