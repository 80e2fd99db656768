"""One name for a mission on a host: every spelling of the host is one mission, and the key is the string
queue files have always held (a queue written before ``MissionRef`` existed still matches)."""

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
