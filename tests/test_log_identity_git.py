"""Issue 16 item 2: under any git history, a log's checkpoint and saved folds describe the log as it is.

Given a real git repository whose mission log is driven through a random history (rows appended and
committed, branches, checkouts of siblings whose logs have the same size, merges with spec-kitty's union
merge driver, rebases, resets, stashes, cherry-picks, a row rewritten in place at the same size), when
after every step the sync's scan runs (each row it queues is then acknowledged, as an upload would) and
``status`` folds the log through its saved fold, then: ``status`` equals a fold from scratch; every row
of the log has been queued, with the bytes the log holds; and the lanes a sync would push equal a fold
from scratch of the rows the host holds, each naming an event the host stores.

Runs in-process against real ``git`` (a unit test's fakes would hide exactly what git does to inodes);
``CACHE_MIN_BYTES`` is lowered so the saved folds are used at these sizes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.missions import savedfold
from orchestrator.missions.fold import Fold
from orchestrator.missions.log import read_log
from orchestrator.missions.ulid import new_ulid
from orchestrator.sync.queue import EventQueue
from orchestrator.sync.run import LogFeed
from orchestrator.tracker.held import held_lanes, held_rows

SLUG = "001-demo"
KEY = "https://saas.example|demo|001-demo"
LOG = Path("kitty-specs") / SLUG / "status.events.jsonl"
LANES = ["planned", "claimed", "blocked"]  # all seven letters: every row has the same length

# spec-kitty's union merge driver for the log (specify_cli.status.event_log_merge.merge_event_payloads):
# the union of both sides' rows, one per event_id, sorted by (at, event_id), written with sort_keys.
UNION_DRIVER = r"""
import json, sys
def rows(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
base, ours, theirs = sys.argv[1:4]
merged = {}
for group in (rows(base), rows(ours), rows(theirs)):
    for row in group:
        if merged.get(row["event_id"], row) != row:
            sys.exit(1)
        merged[row["event_id"]] = row
with open(ours, "w", encoding="utf-8") as f:
    for row in sorted(merged.values(), key=lambda r: (str(r.get("at", "")), r["event_id"])):
        f.write(json.dumps(row, sort_keys=True) + "\n")
"""


class Repo:
    """A git repository with one mission log, the operations a history is made of, and a sync's view."""

    def __init__(self, root: Path, queue: EventQueue) -> None:
        self.root, self.queue = root, queue
        self.log = root / LOG
        self.branches = ["main"]
        self.acked: set[str] = set()
        self.env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
                    "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
                    "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_EDITOR": "true"}
        self.log.parent.mkdir(parents=True)
        driver = root.parent / "union_driver.py"
        driver.write_text(UNION_DRIVER)
        self.git("init", "-q", "-b", "main")
        self.git("config", "merge.spec-kitty-event-log.driver", f"{sys.executable} {driver} %O %A %B")
        (root / ".gitattributes").write_text("kitty-specs/**/status.events.jsonl merge=spec-kitty-event-log\n")
        (root / ".gitignore").write_text(".kittify/\n")
        self.append(300)  # ~180 KB: more than the last KiB and the first and last 64 KiB
        self.git("add", "-A")
        self.git("commit", "-qm", "start")

    def git(self, *args: str) -> bool:
        return subprocess.run(["git", *args], cwd=self.root, env=self.env, capture_output=True).returncode == 0

    def current(self) -> str:
        found = subprocess.run(["git", "branch", "--show-current"], cwd=self.root, env=self.env,
                               capture_output=True, text=True)
        return found.stdout.strip()

    def append(self, count: int, *, at: int = 0, trailer: int | None = None) -> None:
        """``count`` new rows, then (with ``trailer``) two rows the same on every branch that appends them:
        the rows that differ between siblings then sit more than a KiB before the end of the log."""
        with self.log.open("a", encoding="utf-8") as out:
            for i in range(count):
                out.write(row(f"WP0{1 + (at + i) % 3}", LANES[(at + i) % 3], at + i) + "\n")
            for i in range(2 if trailer is not None else 0):
                out.write(row("WP04", LANES[i], 59, event_id=f"01TRAILER{trailer:015d}{i:02d}") + "\n")

    # --- the steps of a history ------------------------------------------------------------------
    def commit(self, n: int) -> None:
        self.append(1 + n % 2, at=n, trailer=n)
        self.git("commit", "-qam", f"rows {n}")

    def branch(self, n: int) -> None:
        name = f"b{len(self.branches)}"
        if self.git("checkout", "-qb", name):
            self.branches.append(name)
            self.commit(n)  # a sibling: same parent, a row of the same length

    def checkout(self, n: int) -> None:
        self.git("checkout", "-q", self.branches[n % len(self.branches)])

    def merge(self, n: int) -> None:
        if not self.git("merge", "-q", "--no-edit", self.branches[n % len(self.branches)]):
            self.git("merge", "--abort")

    def rebase(self, n: int) -> None:
        if not self.git("rebase", "-q", self.branches[n % len(self.branches)]):
            self.git("rebase", "--abort")

    def reset(self, n: int) -> None:
        self.git("reset", "-q", "--hard", f"HEAD~{1 + n % 2}") or self.git("reset", "-q", "--hard", "HEAD")

    def stash(self, n: int) -> None:
        self.append(1, at=n)
        self.sync_and_status()  # the uncommitted row is seen (and uploaded) before it is stashed
        self.git("stash", "-q")
        if n % 2:
            self.sync_and_status()
            self.git("stash", "pop", "-q") or self.git("checkout", "-q", "--", ".")

    def cherry_pick(self, n: int) -> None:
        if not self.git("cherry-pick", self.branches[n % len(self.branches)]):
            self.git("cherry-pick", "--abort")

    def rewrite(self, n: int) -> None:
        """One row replaced in place by another of the same length (another event and lane)."""
        data = self.log.read_bytes()
        lines = data.splitlines(keepends=True)
        index = n % len(lines)
        old = json.loads(lines[index])
        new = row(str(old["wp_id"]), LANES[(LANES.index(str(old["to_lane"])) + 1) % 3], int(old["at"][14:16]))
        new = new.encode() + b"\n"
        assert len(new) == len(lines[index])
        offset = sum(len(line) for line in lines[:index])
        with self.log.open("r+b") as handle:  # same inode, same size
            handle.seek(offset)
            handle.write(new)
        if n % 2:
            self.git("commit", "-qam", f"rewrite {n}")

    # --- what is checked after every step --------------------------------------------------------
    def sync_and_status(self) -> None:
        folder = self.log.parent
        status, _, _ = savedfold.fold_mission(folder, save=True)
        assert status.snapshot() == scratch(self.log), "status differs from a fold from scratch"
        scan = LogFeed(self.queue, KEY, self.log)  # the scan a sync runs (and the held fold it grows)
        try:
            scan.finish()
        finally:
            scan.close()
        queued = dict(self.queue.pending(KEY, 10**6))
        self.queue.ack(KEY, list(queued))  # as an upload would: the host now holds each of them
        for event_id, text in queued.items():
            assert event_id not in self.acked or text in self.log.read_text(), event_id
        self.acked.update(queued)
        log_rows = {json.loads(line)["event_id"]: line for line in self.log.read_text().splitlines()}
        missing = set(log_rows) - self.acked
        assert not missing, f"rows of the log never queued: {sorted(missing)}"
        for event_id, text in queued.items():
            assert log_rows.get(event_id, text) == text  # queued with the bytes the log holds
        pushed = held_lanes(self.queue, KEY, self.log)
        reference = Fold(SLUG)
        for held in held_rows(self.queue, KEY, self.log):
            reference.add(held)
        assert pushed == reference.snapshot()["work_packages"]
        assert pushed == scratch(self.log)["work_packages"]
        assert {wp["last_event_id"] for wp in pushed.values()} <= self.acked


def row(wp_id: str, lane: str, n: int, *, event_id: str | None = None) -> str:
    """A transition row of spec-kitty's shape, ~600 bytes like real ones, and always of the same length."""
    return json.dumps({"actor": "tester", "at": f"2026-03-01T10:{n % 60:02d}:00+00:00",
                       "event_id": event_id or new_ulid(), "force": False, "from_lane": "planned",
                       "mission_slug": SLUG, "reason": "x" * 480, "to_lane": lane, "wp_id": wp_id}, sort_keys=True)


def scratch(log: Path) -> dict[str, Any]:
    read = read_log(log)
    fold = Fold(SLUG)
    for found in read.rows:
        fold.add(found)
    return fold.snapshot()


STEPS = ["commit", "branch", "checkout", "merge", "rebase", "reset", "stash", "cherry_pick", "rewrite"]


@pytest.fixture
def small_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(savedfold, "CACHE_MIN_BYTES", 1)
    return


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=st.lists(st.tuples(st.sampled_from(STEPS), st.integers(0, 7)), min_size=1, max_size=10))
def test_after_every_step_of_a_git_history_status_and_sync_match_a_read_from_scratch(
        tmp_path_factory: pytest.TempPathFactory, small_cache: None, history: list[tuple[str, int]]) -> None:
    work = tmp_path_factory.mktemp("history")
    with EventQueue(work / "queue.sqlite3") as queue:
        repo = Repo(work / "repo", queue)
        repo.sync_and_status()
        for step, n in history:
            getattr(repo, step)(n)
            repo.sync_and_status()


def test_sibling_branches_with_equal_size_logs_each_get_their_own_rows_queued(
        tmp_path: Path, small_cache: None) -> None:
    """The issue's repro, as one fixed history: sync on one sibling, check out the other, sync again."""
    with EventQueue(tmp_path / "queue.sqlite3") as queue:
        repo = Repo(tmp_path / "repo", queue)
        repo.branch(0)  # b1: main, one row, two trailing rows
        repo.checkout(0)
        repo.branch(0)  # b2: main, another row of the same length, the same two trailing rows
        size = repo.log.stat().st_size
        repo.sync_and_status()
        repo.checkout(1)
        assert repo.log.stat().st_size == size  # (and, with git here, the same inode)
        repo.sync_and_status()
