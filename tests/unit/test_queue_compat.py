"""Queues written before still open and still match: one name for a mission on a host (every spelling of
the host is one mission, keyed by the string queue files have always held), and an older schema migrated."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.sync.mission_ref import MissionRef
from orchestrator.sync.queue import EventQueue

PROJECT = "7d1f5c0e-0000-4000-8000-000000000001"


@pytest.mark.parametrize("url", ["https://saas.example", "https://Saas.Example/", "https://saas.example:443/api"])
def test_every_spelling_of_a_host_is_one_mission_with_the_queue_key_as_it_always_was(url: str) -> None:
    ref = MissionRef.at(url, PROJECT, "001-demo")
    assert ref == MissionRef("https://saas.example:443", PROJECT, "001-demo")
    assert ref.key == f"https://saas.example:443|{PROJECT}|001-demo"


def test_another_host_or_port_is_another_mission() -> None:
    here = MissionRef.at("https://saas.example", PROJECT, "001-demo")
    assert MissionRef.at("https://saas.example:8443", PROJECT, "001-demo") != here
    assert MissionRef.at("http://saas.example", PROJECT, "001-demo") != here


def test_rows_queued_under_the_old_key_string_are_found_by_the_ref(tmp_path: Path) -> None:
    old_key = f"https://saas.example:443|{PROJECT}|001-demo"  # as queue.mission_key() wrote it
    with EventQueue(tmp_path / "q.sqlite3") as queue:
        queue.enqueue(old_key, [{"event_id": "01A"}])
        assert queue.count(MissionRef.at("https://SAAS.example/", PROJECT, "001-demo").key) == 1


def test_a_queue_an_older_version_wrote_opens_and_keeps_its_rows(tmp_path: Path) -> None:
    """Given a version 3 queue (conflicts without ``kept``), when this version opens it, then its rows
    and conflicts are read under the same key (the column is added once; an old conflict kept the log)."""
    import sqlite3

    from orchestrator.sync.store import SCHEMA_VERSION
    from orchestrator.tracker.ledger import TrackerLedger

    key = MissionRef.at("https://saas.example", PROJECT, "001-demo").key
    path = tmp_path / "q.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(f"""
        CREATE TABLE missions (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, cursor INTEGER, last_result TEXT);
        CREATE TABLE pending (seq INTEGER PRIMARY KEY, mission INTEGER NOT NULL, event_id TEXT NOT NULL,
                              row TEXT NOT NULL, queued_at REAL, UNIQUE (mission, event_id));
        CREATE TABLE conflicts (seq INTEGER PRIMARY KEY, mission INTEGER NOT NULL, wp_id TEXT NOT NULL,
                                local_lane TEXT NOT NULL, remote_lane TEXT NOT NULL, at TEXT NOT NULL);
        INSERT INTO missions (id, key) VALUES (1, '{key}');
        INSERT INTO pending (mission, event_id, row) VALUES (1, '01A', '{{"event_id": "01A"}}');
        INSERT INTO conflicts (mission, wp_id, local_lane, remote_lane, at)
            VALUES (1, 'WP01', 'doing', 'done', '2026-06-03T06:45:29Z');
        PRAGMA user_version = 3;
    """)
    db.close()
    with EventQueue(path) as queue:
        assert queue.pending(key, 10) == [("01A", '{"event_id": "01A"}')]
        assert TrackerLedger(queue).conflicts(key) == [{"time": "2026-06-03T06:45:29Z", "wp_id": "WP01",
                                                        "local_lane": "doing", "remote_lane": "done",
                                                        "kept": "local"}]
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()
