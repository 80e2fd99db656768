"""Issue 10 through the installed command against the real dev SaaS: one bad row never stalls a mission,
nothing is applied twice, conflicts are reported, and `sync status` says where sync stands."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest
from support.shell import Shell

from devsaas.testing import DevSaas
from orchestrator.missions.ulid import new_ulid
from orchestrator.sync.rows import MAX_ROW_BYTES

MISSION = "001-demo"
PROJECT = "demo-repo"

pytestmark = pytest.mark.e2e


def row(wp_id: str, to_lane: str, **extra: object) -> dict[str, object]:
    base: dict[str, object] = {"actor": "tester", "at": "2026-01-02T03:04:05+00:00", "event_id": new_ulid(),
                               "evidence": None, "execution_mode": "direct_repo", "force": False,
                               "from_lane": "planned", "mission_id": None, "mission_slug": MISSION,
                               "policy_metadata": None, "reason": None, "review_ref": None,
                               "review_result": None, "to_lane": to_lane, "wp_id": wp_id}
    base.update(extra)
    return base


def log_path(repo: Path) -> Path:
    return repo / "kitty-specs" / MISSION / "status.events.jsonl"


def append_lines(repo: Path, lines: list[str], *, final_newline: bool = True) -> None:
    with log_path(repo).open("a", encoding="utf-8") as out:
        out.write("\n".join(lines) + ("\n" if final_newline else ""))


def stored_ids(saas: DevSaas) -> list[str]:
    return saas.row_ids(MISSION)


def status_json(operator: Shell, repo: Path) -> dict[str, object]:
    ran = operator.run("sync", "status", "--json", cwd=repo)
    assert ran.exit_code == 0, ran
    return json.loads(ran.stdout)


def test_a_line_nested_1000_deep_is_parked_and_the_rows_around_it_upload(operator: Shell, saas: DevSaas,
                                                                         repo: Path) -> None:
    operator.log_in_and_bind(saas.url, repo)
    before, after = row("WP01", "claimed"), row("WP02", "claimed")
    deep = '{"event_id": "01DEEP", "x": ' + "[" * 1000 + "]" * 1000 + "}"
    append_lines(repo, [json.dumps(before), deep, json.dumps(after)])
    ran = operator.run("sync", "run", cwd=repo)
    assert ran.exit_code == 0, ran
    assert ran.stdout.splitlines() == [
        f"Synced mission `{MISSION}` with {saas.url}: 2 pushed, 0 pulled, 0 still queued.",
        "1 row(s) parked; see `spec-kitty sync status`.",
    ]
    assert stored_ids(saas) == [before["event_id"], after["event_id"]]
    offset = len(json.dumps(before)) + 1
    parked = status_json(operator, repo)["missions"][0]["parked"]  # type: ignore[index]
    assert parked == [{"ref": f"line@{offset}", "reason": "malformed: not JSON (RecursionError)"}]
    text = operator.run("sync", "status", cwd=repo).stdout
    assert f"    line@{offset}: malformed: not JSON (RecursionError)\n" in text


def test_a_row_too_large_for_one_request_is_parked_then_dropped_by_name(operator: Shell, saas: DevSaas,
                                                                       repo: Path) -> None:
    operator.log_in_and_bind(saas.url, repo)
    small, later = row("WP01", "claimed"), row("WP01", "in_progress")
    huge = row("WP01", "for_review", evidence="x" * (8 * 1024 * 1024))
    append_lines(repo, [json.dumps(small), json.dumps(huge), json.dumps(later)])
    ran = operator.run("sync", "run", cwd=repo)
    assert ran.exit_code == 0, ran
    assert "2 pushed, 0 pulled, 0 still queued." in ran.stdout
    assert stored_ids(saas) == [small["event_id"], later["event_id"]]
    parked = status_json(operator, repo)["missions"][0]["parked"]  # type: ignore[index]
    size = len(json.dumps(huge).encode())
    assert parked == [{"ref": huge["event_id"],
                       "reason": f"too large: {size} bytes, one request carries at most {MAX_ROW_BYTES}"}]
    still = operator.run("sync", "retry", str(huge["event_id"]), cwd=repo)
    assert still.stdout.startswith(f"Still parked: {huge['event_id']} (too large: ")
    dropped = operator.run("sync", "drop", str(huge["event_id"]), cwd=repo)
    assert (dropped.stdout, dropped.exit_code) == (f"Dropped: {huge['event_id']}\n", 0)
    assert status_json(operator, repo)["missions"][0]["parked"] == []  # type: ignore[index]
    unknown = operator.run("sync", "drop", "nope", cwd=repo)
    assert (unknown.stderr, unknown.exit_code) == ("Not parked: nope\n", 1)
    again = operator.run("sync", "run", cwd=repo)
    assert "0 pushed, 0 pulled, 0 still queued." in again.stdout  # a dropped row is not queued again


def test_the_pushed_last_event_id_is_always_one_the_server_holds(operator: Shell, saas: DevSaas,
                                                                repo: Path) -> None:
    operator.log_in_and_bind(saas.url, repo)
    held = row("WP01", "claimed")
    huge = row("WP01", "done", evidence="x" * (8 * 1024 * 1024))
    append_lines(repo, [json.dumps(held), json.dumps(huge)])
    assert operator.run("sync", "run", cwd=repo).exit_code == 0
    issues = saas.issues(PROJECT, MISSION)
    found = {i["wp_id"]: i for i in issues["issues"]} if "issues" in issues else issues
    assert found["WP01"]["lane"] == "claimed", issues
    assert found["WP01"]["last_event_id"] == held["event_id"]


def test_a_last_line_without_a_newline_is_uploaded_once_complete(operator: Shell, saas: DevSaas,
                                                                 repo: Path) -> None:
    operator.log_in_and_bind(saas.url, repo)
    first, last = row("WP01", "claimed"), row("WP02", "in_progress")
    append_lines(repo, [json.dumps(first), json.dumps(last)], final_newline=False)
    ran = operator.run("sync", "run", cwd=repo)
    assert "2 pushed, 0 pulled, 0 still queued." in ran.stdout, ran
    assert stored_ids(saas) == [first["event_id"], last["event_id"]]
    moved = operator.run("wp", "move", "WP03", "--to", "planned", cwd=repo)  # appends after the bare line
    assert moved.exit_code == 0, moved
    again = operator.run("sync", "run", cwd=repo)
    assert "1 pushed, 0 pulled, 0 still queued." in again.stdout
    assert len(stored_ids(saas)) == 3


def test_wp_ids_the_saas_cannot_take_are_parked_not_dropped_silently(operator: Shell, saas: DevSaas,
                                                                     repo: Path) -> None:
    operator.log_in_and_bind(saas.url, repo)
    arabic, long_id, good = row("WP\u0661\u0662", "claimed"), row("WP" + "1" * 5000, "claimed"), row("WP01", "done")
    append_lines(repo, [json.dumps(arabic), json.dumps(long_id), json.dumps(good)])
    ran = operator.run("sync", "run", cwd=repo)
    assert ran.exit_code == 0, ran
    assert "1 pushed, 0 pulled, 0 still queued." in ran.stdout
    parked = status_json(operator, repo)["missions"][0]["parked"]  # type: ignore[index]
    reason = "malformed: `wp_id` is not a work package id (WP and 1 to 4 ASCII digits)"
    assert parked == [{"ref": arabic["event_id"], "reason": reason}, {"ref": long_id["event_id"], "reason": reason}]


def test_wp_move_succeeds_with_a_corrupt_queue_and_warns_once(operator: Shell, saas: DevSaas,
                                                              repo: Path) -> None:
    operator.log_in_and_bind(saas.url, repo)
    queue = operator.home / "sync-queue.sqlite3"
    queue.write_bytes(b"this is not a database" * 100)
    ran = operator.run("wp", "move", "WP01", "--to", "planned", cwd=repo)
    assert ran.exit_code == 0, ran
    assert ran.stdout.startswith("WP01: genesis -> planned")
    lines = ran.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"warning: the row is in the log but was not queued (The sync "
                                                   f"queue `{queue}` cannot be used (")
    assert lines[0].endswith("the next sync picks it up.")
    assert json.loads(log_path(repo).read_text().splitlines()[-1])["wp_id"] == "WP01"


def test_wp_move_succeeds_while_another_process_holds_the_queue(operator: Shell, saas: DevSaas,
                                                                repo: Path) -> None:
    operator.log_in_and_bind(saas.url, repo)
    assert operator.run("wp", "move", "WP01", "--to", "planned", cwd=repo).exit_code == 0  # creates the queue
    holder = sqlite3.connect(operator.home / "sync-queue.sqlite3", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        ran = operator.run("wp", "move", "WP01", "--to", "claimed", cwd=repo, timeout=20)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert ran.exit_code == 0, ran
    assert ran.stderr.count("\n") == 1
    assert "Another spec-kitty process holds it" in ran.stderr
    synced = operator.run("sync", "run", cwd=repo)
    assert "2 pushed" in synced.stdout  # the scan found the row the queue missed


def test_a_conflict_is_reported_and_the_local_lane_kept(operator: Shell, saas: DevSaas, repo: Path) -> None:
    operator.log_in_and_bind(saas.url, repo)
    assert operator.run("wp", "move", "WP01", "--to", "planned", cwd=repo).exit_code == 0
    assert operator.run("sync", "run", cwd=repo).exit_code == 0
    assert operator.run("wp", "move", "WP01", "--to", "in_review", "--force", "--reason", "t", cwd=repo).exit_code == 0
    saas.set_issue_lane(PROJECT, MISSION, "WP01", "done")
    ran = operator.run("sync", "run", cwd=repo)
    assert ran.exit_code == 0, ran
    assert ran.stdout.splitlines()[1:] == [
        "Conflict: WP01 moved here (to in_review) and on the SaaS (to done) since the last sync; "
        "kept in_review, the SaaS change stays in its change log."]
    assert json.loads(log_path(repo).read_text().splitlines()[-1])["to_lane"] == "in_review"
    issues = saas.issues(PROJECT, MISSION)
    found = {i["wp_id"]: i for i in issues["issues"]} if "issues" in issues else issues
    assert found["WP01"]["lane"] == "in_review"
    conflicts = status_json(operator, repo)["missions"][0]["conflicts"]  # type: ignore[index]
    assert [(c["wp_id"], c["local_lane"], c["remote_lane"]) for c in conflicts] == [("WP01", "in_review", "done")]
    assert "kept in_review, SaaS had done" in operator.run("sync", "status", cwd=repo).stdout


def test_a_remote_change_is_applied_once_however_many_syncs_race(operator: Shell, saas: DevSaas,
                                                                 repo: Path) -> None:
    operator.log_in_and_bind(saas.url, repo)
    assert operator.run("wp", "move", "WP01", "--to", "planned", cwd=repo).exit_code == 0
    assert operator.run("sync", "run", cwd=repo).exit_code == 0
    saas.set_issue_lane(PROJECT, MISSION, "WP01", "done")
    procs = [operator.popen("sync", "run", cwd=repo) for _ in range(3)]
    for proc in procs:
        proc.communicate(timeout=60)
    lanes = [json.loads(line)["to_lane"] for line in log_path(repo).read_text().splitlines()]
    assert lanes == ["planned", "done"]


def test_sync_status_shows_queue_age_last_success_and_a_dead_daemon(operator: Shell, saas: DevSaas,
                                                                    repo: Path) -> None:
    operator.log_in_and_bind(saas.url, repo)
    assert operator.run("wp", "move", "WP01", "--to", "planned", cwd=repo).exit_code == 0
    assert operator.run("sync", "run", cwd=repo).exit_code == 0
    assert operator.run("wp", "move", "WP01", "--to", "claimed", cwd=repo).exit_code == 0
    db = sqlite3.connect(operator.home / "sync-queue.sqlite3")
    db.execute("UPDATE pending SET queued_at = ?", (time.time() - 2 * 3600,))  # given: it waited two hours
    db.commit()
    db.close()
    (operator.home / "sync-daemon").write_text("{}")  # a daemon that died left its state behind
    ran = operator.run("sync", "status", cwd=repo)
    assert ran.exit_code == 0, ran
    lines = ran.stdout.splitlines()
    assert lines[0] == f"Mission `{MISSION}` on {saas.url}:"
    assert lines[1] == "  Queued: 1 (oldest waiting 2h)"
    assert lines[2].startswith("  Last success: 20")
    assert lines[3:] == ["  Last error: none", "  Parked: 0", "  Conflicts: 0", "Sync daemon: died with work pending"]
    assert ran.stderr == (f"warning: 1 event(s) for mission `{MISSION}` have waited 2h and no sync daemon is "
                          "running; run `spec-kitty sync run`.\n")
    report = status_json(operator, repo)
    assert report["daemon"] == "died with work pending"
    assert report["missions"][0]["queued"] == 1  # type: ignore[index]


def test_an_unreadable_log_is_one_line_naming_it(operator: Shell, saas: DevSaas, repo: Path) -> None:
    import os

    if os.geteuid() == 0:  # root reads anything: make the log a folder-less dangling target instead
        import pytest

        pytest.skip("root ignores file permissions")
    operator.log_in_and_bind(saas.url, repo)
    append_lines(repo, [json.dumps(row("WP01", "claimed"))])
    log_path(repo).chmod(0o000)
    try:
        ran = operator.run("sync", "run", cwd=repo)
    finally:
        log_path(repo).chmod(0o644)
    assert (ran.stderr, ran.exit_code) == (f"Error: The mission log `{log_path(repo)}` cannot be read (Permission "
                                      "denied). Make it readable by you and retry.\n", 1)
