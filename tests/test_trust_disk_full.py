"""Issue 16 item 1 (every file but the mission log): a full disk never hides behind a success.

Given the operator's home (and a repository) on a real file system with no byte left (a small tmpfs,
filled), when a command must rewrite one of its files, then the file is as it was, no temp file is left
beside it, nothing claims success, and one line names the file and says the disk is full (exit 1). A
cache the command only reads faster with (the saved fold of a big log) is skipped: `status` still works.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.fullfs import fill, small_tmpfs
from support.projects import write_log
from support.shell import Shell

from orchestrator.missions.savedfold import CACHE_MIN_BYTES

IN_PROCESS = True  # commands run in-process (conftest's ``shell``); tests the guard must watch are ``guarded``


@pytest.fixture
def full(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "full", "4m") as where:
        yield where


def full_line(path: Path) -> str:
    return f"Error: The disk is full: {path} was not written (it is as it was); free some space and retry.\n"


def test_config_set_on_a_full_disk_names_the_file_and_leaves_it_whole(shell: Shell, full: Path) -> None:
    shell.home = full / "home"
    shell.home.mkdir(mode=0o700)
    config = shell.home / "config.toml"
    config.write_text('# mine\n[sync]\nbackground_daemon = "auto"\n')
    before = config.read_bytes()
    fill(full)
    ran = shell.run("config", "set", "sync.server_url", "https://saas.example.com/" + "a" * 4000)
    assert (ran.stdout, ran.stderr, ran.exit_code) == ("", full_line(config), 1)
    assert config.read_bytes() == before
    assert sorted(p.name for p in shell.home.iterdir()) == [".config.toml.lock", "config.toml"]


def test_status_on_a_full_disk_skips_the_saved_fold_and_still_answers(shell: Shell, full: Path) -> None:
    repo = full / "repo"
    mission = repo / "kitty-specs" / "001-demo"
    mission.mkdir(parents=True)
    rows = [{"event_id": f"01A{i:023d}", "wp_id": f"WP{i % 9 + 1:02d}", "to_lane": "planned",
             "at": "2026-01-01T00:00:00+00:00", "pad": "x" * 200} for i in range(CACHE_MIN_BYTES // 250 + 100)]
    write_log(mission, rows)  # just over CACHE_MIN_BYTES: big enough to be cached
    fill(full)
    ran = shell.run("status", "--json", cwd=repo)
    assert ran.exit_code == 0, ran.describe()
    assert json.loads(ran.stdout)["event_count"] == len(rows)
    cache = repo / ".kittify" / "cache" / "missions"
    assert not cache.exists() or not [p for p in cache.iterdir() if p.suffix in (".tmp", ".json")]
