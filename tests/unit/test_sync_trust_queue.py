"""Issue 10: the queue never grows without bound, and parked rows come back or go away by name."""

from __future__ import annotations

from pathlib import Path

from orchestrator.missions.ulid import new_ulid
from orchestrator.sync.deadletters import DeadLetters
from orchestrator.sync.queue import EventQueue
from orchestrator.sync.rows import Parked
from orchestrator.tracker.ledger import TrackerLedger


def test_acked_ids_are_pruned_oldest_first_and_a_resend_stays_harmless(tmp_path: Path) -> None:
    with EventQueue(tmp_path / "q.sqlite3") as queue:
        queue.acked_keep = 10
        ids = sorted(new_ulid() for _ in range(30))
        queue.enqueue("k", [{"event_id": i} for i in ids])
        queue.ack("k", ids)
        assert queue.acked_count("k") == 10
        assert queue.enqueue("k", [{"event_id": i} for i in ids[-10:]]) == 0  # recent ones: still deduped
        assert queue.count("k") == 0


def test_conflicts_kept_are_bounded(tmp_path: Path) -> None:
    with EventQueue(tmp_path / "q.sqlite3") as queue:
        for n in range(60):
            TrackerLedger(queue).add_conflict("k", f"WP{n:02d}", "in_review", "done")
        kept = TrackerLedger(queue).conflicts("k")
        assert len(kept) == 50
        assert kept[-1]["wp_id"] == "WP59"


def test_retry_requeues_a_refused_row_and_drop_remembers_it(tmp_path: Path) -> None:
    with EventQueue(tmp_path / "q.sqlite3") as queue:
        queue.enqueue("k", [{"event_id": "01A"}, {"event_id": "01B"}])
        DeadLetters(queue).park("k", [Parked("01A", '{"event_id": "01A"}', "refused by the SaaS host: HTTP 400")])
        assert [p.ref for p in DeadLetters(queue).parked("k")] == ["01A"]
        assert queue.count("k") == 1
        assert DeadLetters(queue).retry("k", ["01A", "nope"]) == [("nope", Parked("nope", "", "")), ("01A", None)]
        assert queue.count("k") == 2
        assert DeadLetters(queue).parked("k") == []
        DeadLetters(queue).park("k", [Parked("01A", '{"event_id": "01A"}', "refused")])
        assert DeadLetters(queue).drop("k", None) == (["01A"], [])
        assert queue.enqueue("k", [{"event_id": "01A"}]) == 0  # dropped stays dropped
        assert "01A" in DeadLetters(queue).not_held("k")  # and is never named as a lane's last_event_id
