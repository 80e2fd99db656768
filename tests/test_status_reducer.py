"""The status reducer (in-process): spec-kitty's event log folded into its ``status.json`` snapshot.

Given the real missions from the public spec-kitty repository, when their logs are read and reduced,
then the result equals the snapshot spec-kitty materialised from the very same log.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.projects import EVENTS, fixture_missions, transition, write_log

from orchestrator.missions.fold import reduce
from orchestrator.missions.log import read_log

LANES = ("planned", "claimed", "in_progress", "for_review", "in_review", "approved", "done", "blocked", "canceled")


def fixture_ids() -> list[str]:
    return [p.name for p in fixture_missions(required=False)]


@pytest.mark.parametrize("name", fixture_ids())
def test_given_a_real_mission_when_reduced_then_equal_to_spec_kittys_snapshot(name: str) -> None:
    folder = next(p for p in fixture_missions() if p.name == name)
    log = read_log(folder / EVENTS)
    assert log.problems == []
    ours = reduce(folder.name, log.rows)
    theirs = json.loads((folder / "status.json").read_text())
    for key in ("mission_slug", "event_count", "last_event_id", "summary"):
        assert ours[key] == theirs[key], key
    assert ours["work_packages"].keys() == theirs["work_packages"].keys()
    for wp_id, wp in theirs["work_packages"].items():
        for key in ("lane", "last_event_id", "last_transition_at", "force_count", "actor"):
            assert ours["work_packages"][wp_id][key] == wp[key], (wp_id, key)


def test_the_fixtures_do_contain_rows_that_are_not_lane_transitions() -> None:
    """Guards the next test's premise: the real logs mix in `kind` / `event_type` / `type` rows."""
    keys: set[str] = set()
    for folder in fixture_missions():
        for row in read_log(folder / EVENTS).rows:
            keys |= {k for k in ("kind", "event_type", "type") if k in row}
    assert keys == {"kind", "event_type", "type"}


def test_given_rows_keyed_kind_event_type_or_type_when_reduced_then_skipped_without_error(tmp_path: Path) -> None:
    rows: list[dict[str, Any]] = [
        transition("WP01", "planned", from_lane="genesis", event_id="A", slug="m"),
        {"kind": "subtask", "wp_id": "WP01", "to_lane": "done", "event_id": "X1"},
        {"event_type": "Lane", "wp_id": "WP01", "to_lane": "done", "event_id": "X2"},
        {"type": "whatever", "wp_id": "WP02", "to_lane": "done", "event_id": "X3"},
        {"note": "no wp_id at all"},
        transition("WP01", "claimed", event_id="B", slug="m"),
    ]
    snapshot = reduce("m", rows)
    assert snapshot["event_count"] == 2
    assert snapshot["last_event_id"] == "B"
    assert {k: v["lane"] for k, v in snapshot["work_packages"].items()} == {"WP01": "claimed"}


def test_given_malformed_lines_when_read_then_each_reported_with_its_line_number_and_skipped(tmp_path: Path) -> None:
    path = write_log(tmp_path, [
        transition("WP01", "planned", event_id="A", slug="m"),
        "{broken",
        "",
        "42",
        '"a string"',
        transition("WP01", "done", event_id="B", slug="m"),
    ])
    with path.open("ab") as handle:
        handle.write(b"\xff\n   \n")
    log = read_log(path)
    assert [(p.path, p.line, p.reason) for p in log.problems] == [
        (path, 2, "invalid JSON: JSONDecodeError"),
        (path, 4, "not a JSON object"),
        (path, 5, "not a JSON object"),
        (path, 7, "invalid JSON: UnicodeDecodeError"),
    ]
    assert [r["event_id"] for r in log.rows] == ["A", "B"]


def test_given_no_log_when_reduced_then_an_empty_snapshot_with_all_nine_lanes(tmp_path: Path) -> None:
    log = read_log(tmp_path / EVENTS)
    assert (log.rows, log.problems) == ([], [])
    assert reduce("m", log.rows) == {
        "mission_slug": "m", "event_count": 0, "last_event_id": None, "materialized_at": None,
        "summary": dict.fromkeys(LANES, 0), "work_packages": {},
    }


def test_rows_are_folded_by_timestamp_not_file_order() -> None:
    """Merged worktrees interleave lines: spec-kitty orders by (`at`, `event_id`), whatever the file says."""
    rows = [transition("WP01", "done", event_id="A", slug="m", at="2026-05-01T00:00:00+00:00"),
            transition("WP01", "in_review", event_id="B", slug="m", at="2026-04-01T00:00:00+00:00")]
    snapshot = reduce("m", rows)
    wp = snapshot["work_packages"]["WP01"]
    assert (wp["lane"], wp["last_event_id"], wp["last_transition_at"]) == ("done", "A", "2026-05-01T00:00:00+00:00")
    assert (snapshot["last_event_id"], snapshot["materialized_at"]) == ("A", "2026-05-01T00:00:00+00:00")


lane_moves = st.lists(st.tuples(st.sampled_from(["WP01", "WP02", "WP03", "WP10"]), st.sampled_from(LANES)),
                      max_size=40)


@settings(max_examples=150, deadline=None, database=None)
@given(moves=lane_moves)
def test_property_each_wp_rests_in_its_last_lane_and_the_summary_counts_every_wp_once(
        moves: list[tuple[str, str]]) -> None:
    rows = [transition(wp, lane, event_id=f"E{i:04d}", slug="m") for i, (wp, lane) in enumerate(moves)]
    snapshot = reduce("m", rows)
    last = {wp: lane for wp, lane in moves}
    assert {k: v["lane"] for k, v in snapshot["work_packages"].items()} == last
    assert snapshot["summary"] == {lane: sum(1 for v in last.values() if v == lane) for lane in LANES}
    assert snapshot["event_count"] == len(moves)
    assert snapshot["last_event_id"] == (f"E{len(moves) - 1:04d}" if moves else None)
    assert list(snapshot["work_packages"]) == sorted(last)
