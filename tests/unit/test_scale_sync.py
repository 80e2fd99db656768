"""Issue 11, the sync side: cost follows the new rows, the queue file follows its live data.

Given a mission log and the real dev SaaS app on loopback, when a sync with a progress bar drains many
batches, then the queue is counted once per drain, not once per batch. When a sync runs again with
nothing new or one new row, then the tracker's lane fold folds only the new rows, and it is exactly
the fold of every held row (parked and pending rows excluded, in any order and with repeats). After a
full drain, the queue file is a small share of the log, and a rescan of the same log sends nothing.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import pytest
from support.loopback_saas import LoopbackSaas

from orchestrator.missions import savedfold
from orchestrator.missions.fold import Fold, reduce
from orchestrator.missions.ulid import new_ulid
from orchestrator.sync.queue import EventQueue
from orchestrator.sync.scan import LogScanner
from orchestrator.tracker.held import held_lanes, held_rows
from tests.unit.test_sync import MISSION, fixture_lines, log_of, sync_with, target_for, write_lines


class Counting:
    """The real queue, counting the calls a sync makes to one of its methods."""

    def __init__(self, queue: EventQueue, name: str) -> None:
        self.queue, self.name, self.calls = queue, name, 0

    def __getattr__(self, attr: str) -> Any:
        found = getattr(self.queue, attr)
        if attr != self.name:
            return found

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return found(*args, **kwargs)

        return counted


def test_given_many_batches_and_a_progress_bar_then_the_queue_is_counted_once_per_drain(
        saas: LoopbackSaas, repo: Path, queue: EventQueue) -> None:
    write_lines(repo, fixture_lines(300))
    counting = Counting(queue, "count")
    seen: list[tuple[int, int]] = []
    result = sync_with(saas, counting, repo, batch_size=10,  # type: ignore[arg-type]
                       progress=lambda done, total: seen.append((done, total)))
    assert result.pushed == 300
    assert seen[-1] == (300, 300)
    assert len(seen) == 30
    assert counting.calls <= 4  # one per drain, plus the run's summary: never one per batch (was 30+)


def test_given_a_synced_log_when_one_row_is_added_then_the_lane_fold_reads_only_that_row(
        saas: LoopbackSaas, repo: Path, queue: EventQueue, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(savedfold, "CACHE_MIN_BYTES", 1)
    write_lines(repo, fixture_lines(400))
    sync_with(saas, queue, repo)
    added: list[str] = []
    original = Fold.add
    monkeypatch.setattr(Fold, "add", lambda self, row: (added.append(row["event_id"]), original(self, row)))
    assert sync_with(saas, queue, repo).pushed == 0
    assert added == []
    write_lines(repo, fixture_lines(1))
    assert sync_with(saas, queue, repo).pushed == 1
    assert len(added) == 1


def test_given_held_parked_and_repeated_rows_in_any_order_then_the_incremental_fold_is_the_full_one(
        saas: LoopbackSaas, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(savedfold, "CACHE_MIN_BYTES", 1)
    rng = random.Random(11)
    base = [json.loads(line) for line in fixture_lines(60)]
    ids = [new_ulid() for _ in range(40)]
    key = target_for(saas, repo).key
    with EventQueue(tmp_path / "q2" / "sync-queue.sqlite3") as queue:
        for _ in range(8):
            rows = []
            for _ in range(rng.randint(0, 12)):
                row = dict(rng.choice(base), event_id=rng.choice(ids))
                row["at"] = rng.choice(["2026-01-01T00:00:00+00:00", "2026-06-01T00:00:00+00:00", row["at"]])
                if rng.random() < 0.1:
                    row["wp_id"] = "WP١"  # not an ASCII WP id: parked by the scan, never held
                text = json.dumps(row, sort_keys=True)
                rows.append("\ufeff" + text if rng.random() < 0.1 else text)  # json.loads reads a BOM'd line
            write_lines(repo, rows + (["{not json"] if rng.random() < 0.3 else []))
            sync_with(saas, queue, repo)
            log = log_of(repo)
            assert held_lanes(queue, key, log) == reduce(MISSION, held_rows(queue, key, log))["work_packages"]
            LogScanner(queue).scan_log(key, log)  # scanned, not yet drained: pending rows are not held either
            assert held_lanes(queue, key, log) == reduce(MISSION, held_rows(queue, key, log))["work_packages"]


def test_given_a_full_drain_then_the_queue_file_is_a_small_share_of_the_log_and_a_rescan_sends_nothing(
        saas: LoopbackSaas, repo: Path, tmp_path: Path) -> None:
    write_lines(repo, fixture_lines(6000))
    path = tmp_path / "q3" / "sync-queue.sqlite3"
    with EventQueue(path) as queue:
        assert sync_with(saas, queue, repo).pushed == 6000
    size = sum(p.stat().st_size for p in path.parent.glob("sync-queue.sqlite3*"))
    assert size <= log_of(repo).stat().st_size // 10, (size, log_of(repo).stat().st_size)
    data = log_of(repo).read_bytes()
    log_of(repo).unlink()
    log_of(repo).write_bytes(data)  # the same rows in a new file: rescanned whole
    before = len(saas.uploads)
    with EventQueue(path) as queue:
        assert sync_with(saas, queue, repo).pushed == 0
    assert len(saas.uploads) == before
    assert os.stat(path).st_size <= log_of(repo).stat().st_size // 10


def test_given_more_acks_than_are_kept_then_pruning_runs_once_per_tenth_of_the_kept_ids(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding the prune cut walks ``acked_keep`` index entries: after every batch, a 1M-row sync spent
    ~15% of its time there. The kept ids stay within 10% of the bound."""
    prunes = []
    original = EventQueue._prune
    monkeypatch.setattr(EventQueue, "_prune", lambda self, db, mission: (prunes.append(1), original(self, db, mission)))
    with EventQueue(tmp_path / "q.sqlite3") as queue:
        queue.acked_keep = 1000
        ids = sorted(new_ulid() for _ in range(3000))
        queue.enqueue("k", [{"event_id": i} for i in ids])
        for start in range(0, 3000, 10):
            queue.ack("k", ids[start:start + 10])
            assert queue.acked_count("k") <= 1100
        assert len(prunes) <= 20
        assert queue.enqueue("k", [{"event_id": i} for i in ids[-1000:]]) == 0  # the newest are still known
