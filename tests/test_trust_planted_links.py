"""Issue 16 item 5: links committed to a repository redirect nothing.

Given a mission log committed as a symbolic link to a file outside the repository, when `wp move` runs,
then nothing is appended there and one line names the log (exit 1). Given `.kittify/cache` committed as
a link to a folder outside the repository, when `status` reads a log big enough to be cached, then it
answers as usual and that folder is untouched: nothing written into it, nothing deleted from it.
"""

from __future__ import annotations

import json
from pathlib import Path

from support.projects import make_project, snapshot_tree, write_log
from support.shell import Shell

from orchestrator.missions.savedfold import CACHE_MIN_BYTES

IN_PROCESS = True  # commands run in-process (conftest's ``shell``); tests the guard must watch are ``guarded``


def test_a_mission_log_linked_outside_the_repository_gets_no_row(shell: Shell, tmp_path: Path) -> None:
    outside = tmp_path / "outside.jsonl"
    outside.write_text('{"mine": true}\n')
    repo = make_project(shell.cwd / "repo", ["001-demo"])
    log = repo / "kitty-specs" / "001-demo" / "status.events.jsonl"
    log.symlink_to(outside)
    ran = shell.run("wp", "move", "WP01", "--to", "planned", cwd=repo)
    assert (ran.stdout, ran.stderr, ran.exit_code) == (
        "", f"Error: {log} is a symbolic link; nothing was recorded (a mission log must be a regular file).\n", 1)
    assert outside.read_text() == '{"mine": true}\n'


def test_a_cache_folder_linked_outside_the_repository_is_never_written_or_emptied(shell: Shell,
                                                                                  tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "missions").mkdir()
    (outside / "missions" / "001-demo.01DECOY.ids").write_bytes(b"keep me")
    (outside / "notes.txt").write_text("mine")
    before = snapshot_tree(outside)
    repo = make_project(shell.cwd / "repo", ["001-demo"])
    (repo / ".kittify").mkdir()
    (repo / ".kittify" / "cache").symlink_to(outside)
    rows = [{"event_id": f"01A{i:023d}", "wp_id": "WP01", "to_lane": "planned", "at": "2026-01-01T00:00:00+00:00",
             "pad": "x" * 200} for i in range(CACHE_MIN_BYTES // 250 + 100)]
    write_log(repo / "kitty-specs" / "001-demo", rows)
    for _ in range(2):  # a first read would save the fold, a second would load it and tidy old tables
        ran = shell.run("status", "--json", cwd=repo)
        assert ran.exit_code == 0, ran.describe()
        assert json.loads(ran.stdout)["event_count"] == len(rows)
    assert snapshot_tree(outside) == before
