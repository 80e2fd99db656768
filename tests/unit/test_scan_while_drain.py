"""Issue 11, a cold sync: the log is scanned while the upload drain runs, not all before it.

Given a mission log many scan steps long and the real dev SaaS app on loopback, when a sync runs with a
progress bar, then the first batch reaches the server before the scan has reached the end of the log,
every row still arrives once, byte for byte and in log order, and the progress it reports never runs
backwards, never counts more done than its total, and ends at exactly (rows, rows). When an upload fails
part way, then the rows of the whole log are left queued (as a scan before the drain left them), and
the next sync sends exactly those.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.loopback_saas import LoopbackSaas

from orchestrator.saas.client import SaasClient
from orchestrator.saas.errors import ServerFailed
from orchestrator.sync.mission_ref import MissionRef
from orchestrator.sync.queue import EventQueue
from orchestrator.sync.run import LogFeed
from orchestrator.sync.scan import LogScanner
from tests.unit.test_sync import MISSION, PROJECT, fixture_lines, ids, log_of, sync_with, write_lines

ROWS = 300


@pytest.fixture(autouse=True)
def small_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scan steps of 4 KiB (a few rows each), so a log of 300 rows takes many steps and many batches."""
    monkeypatch.setattr(LogFeed, "STEP", 4096)


def test_given_a_long_log_then_uploads_start_before_the_scan_ends_and_progress_adds_up(
        saas: LoopbackSaas, repo: Path, queue: EventQueue, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = fixture_lines(ROWS)
    write_lines(repo, lines)
    scanned_at_first_upload: list[int] = []
    original = SaasClient.send_events

    async def spying(self: SaasClient, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        if not scanned_at_first_upload:
            scanned_at_first_upload.append(LogScanner(queue).scanned_offset(key, log_of(repo)))
        return await original(self, *args, **kwargs)

    key = MissionRef.at(saas.url, PROJECT, MISSION).key
    monkeypatch.setattr(SaasClient, "send_events", spying)
    seen: list[tuple[int, int]] = []
    result = sync_with(saas, queue, repo, batch_size=10, progress=lambda done, total: seen.append((done, total)))

    assert (result.pushed, result.queued) == (ROWS, 0)
    assert 0 < scanned_at_first_upload[0] < log_of(repo).stat().st_size
    assert [e["causation_id"] for e in saas.stored(PROJECT, MISSION)] == ids(lines)  # in order
    assert set(saas.sent.values()) == {1}
    assert [done for done, _ in seen] == list(range(10, ROWS + 1, 10))
    assert all(done <= total for done, total in seen)
    assert seen[-1] == (ROWS, ROWS)


def test_given_an_upload_failing_part_way_then_the_whole_log_stays_queued_and_the_next_sync_sends_it(
        saas: LoopbackSaas, repo: Path, queue: EventQueue) -> None:
    lines = fixture_lines(ROWS)
    write_lines(repo, lines)
    saas.faults.fail_uploads_from = 2
    with pytest.raises(ServerFailed):
        sync_with(saas, queue, repo, batch_size=10)
    key = next(iter(queue.mission_keys()))
    assert queue.count(key) == ROWS - 20
    assert LogScanner(queue).scanned_offset(key, log_of(repo)) == log_of(repo).stat().st_size
    saas.faults.fail_uploads_from = None
    result = sync_with(saas, queue, repo, batch_size=10)
    assert (result.pushed, result.queued) == (ROWS - 20, 0)
    assert set(saas.sent) == {json.loads(line)["event_id"] for line in lines}
    assert set(saas.sent.values()) == {1}


def test_given_a_log_scanned_while_it_drained_then_the_queue_files_are_a_small_share_of_the_log(
        saas: LoopbackSaas, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Scanning while draining reuses the freed pages, so the file keeps few free ones; its ``-wal``
    file must not stay behind as most of the queue's bytes."""
    monkeypatch.setattr(LogFeed, "STEP", 256 * 1024)
    lines = [line for line in fixture_lines(9000) if len(line) < 2048][:8000]  # spec-kitty's usual rows
    write_lines(repo, lines)
    path = tmp_path / "q" / "sync-queue.sqlite3"
    with EventQueue(path) as queue:
        assert sync_with(saas, queue, repo).pushed == len(lines)
    size = sum(p.stat().st_size for p in path.parent.glob("sync-queue.sqlite3*"))
    assert size <= log_of(repo).stat().st_size // 10, (size, log_of(repo).stat().st_size)
