"""Merge-proof status: the snapshot spec-kitty would show, whatever order a git merge left the lines in.

Given a real mission's log, when its lines are shuffled and some repeated (as merging parallel worktrees
leaves them), then the fold still equals spec-kitty's own ``status.json`` and is byte-identical to the
fold of the log as committed. Given rows that share an ``at``, a rollback wins; given a backfill with
earlier timestamps appended at the end, the later lanes still win; given a line nested too deep for the
json module, it is reported with file and line and skipped, in ``status`` and in the sync queue alike.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.projects import EVENTS, copy_fixture, fixture_missions, make_project, transition, write_log
from support.shell import Shell, parallel

from orchestrator.missions.fold import reduce
from orchestrator.missions.read import read_mission
from orchestrator.sync.queue import EventQueue
from orchestrator.sync.scan import LogScanner

IN_PROCESS = True  # commands run in-process (conftest's ``shell``); tests the guard must watch are ``guarded``

FIXTURES = fixture_missions(required=False)
WP_KEYS = ("lane", "last_event_id", "last_transition_at", "force_count", "actor")
T0, T1, T2 = "2026-03-01T10:00:00+00:00", "2026-03-01T11:00:00+00:00", "2026-03-01T12:00:00+00:00"
DEEP_LINE = "[" * 1000 + "]" * 1000  # 2 KB; json raises RecursionError, not ValueError


def agrees_with_spec_kitty(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    for key in ("mission_slug", "event_count", "last_event_id", "materialized_at", "summary"):
        assert ours[key] == theirs[key], key
    assert ours["work_packages"].keys() == theirs["work_packages"].keys()
    for wp_id, wp in theirs["work_packages"].items():
        for key in WP_KEYS:
            assert ours["work_packages"][wp_id][key] == wp[key], (wp_id, key)


def log_lines(folder: Path) -> list[bytes]:
    return [line for line in (folder / EVENTS).read_bytes().splitlines(keepends=True) if line.strip()]


def merged(lines: list[bytes], seed: int) -> list[bytes]:
    """The lines as a merge may leave them: shuffled, with about one in ten repeated somewhere."""
    rng = random.Random(seed)
    out = list(lines) + [line for line in lines if rng.random() < 0.1]
    rng.shuffle(out)
    return out


@pytest.mark.parametrize("folder", FIXTURES, ids=[f.name for f in FIXTURES])
def test_given_a_real_mission_as_committed_then_its_fold_is_spec_kittys_snapshot(folder: Path) -> None:
    read = read_mission(folder)
    assert read.problems == []
    agrees_with_spec_kitty(read.snapshot, json.loads((folder / "status.json").read_text()))


@pytest.mark.parametrize("folder", FIXTURES, ids=[f.name for f in FIXTURES])
@settings(max_examples=60, deadline=None, database=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_given_a_real_mission_merged_in_any_order_with_repeats_then_the_snapshot_does_not_change(
        folder: Path, seed: int, tmp_path_factory: pytest.TempPathFactory) -> None:
    committed = read_mission(folder).snapshot
    target = tmp_path_factory.mktemp("merged") / folder.name
    target.mkdir()
    (target / EVENTS).write_bytes(b"".join(merged(log_lines(folder), seed)))
    ours = read_mission(target).snapshot
    assert json.dumps(ours, sort_keys=True) == json.dumps(committed, sort_keys=True)
    agrees_with_spec_kitty(ours, json.loads((folder / "status.json").read_text()))


def test_given_the_installed_command_and_merged_logs_then_status_json_equals_spec_kittys_snapshot(
        shell: Shell, tmp_path: Path) -> None:
    """The same property through `spec-kitty status --json`, one merged copy per real mission."""
    root = make_project(tmp_path / "merged-repo")
    for seed, fixture in enumerate(FIXTURES):
        mission = copy_fixture(fixture, root)
        (mission / EVENTS).write_bytes(b"".join(merged(log_lines(fixture), seed)))
    results = parallel(*(shell.later("status", "--mission", f.name, "--json", cwd=root) for f in FIXTURES))
    for fixture, result in zip(FIXTURES, results, strict=True):
        assert (result.stderr, result.exit_code) == ("", 0), result.describe()
        agrees_with_spec_kitty(json.loads(result.stdout), json.loads((fixture / "status.json").read_text()))


@pytest.mark.parametrize("rollback_first", [True, False])
@pytest.mark.parametrize("rollback_id", ["A", "Z"])
def test_given_a_rollback_and_a_forward_move_at_the_same_at_then_the_rollback_wins(
        rollback_first: bool, rollback_id: str) -> None:
    """In file order or not, with the smaller event id or the larger: the reviewer's rollback wins."""
    start = transition("WP01", "in_review", from_lane="for_review", event_id="0", slug="m", at=T0)
    forward = transition("WP01", "approved", from_lane="in_review", event_id="Z" if rollback_id == "A" else "A",
                         slug="m", at=T1)
    rollback = transition("WP01", "in_progress", from_lane="in_review", event_id=rollback_id, slug="m", at=T1)
    rows = [start, rollback, forward] if rollback_first else [start, forward, rollback]
    snapshot = reduce("m", rows)
    wp = snapshot["work_packages"]["WP01"]
    assert (wp["lane"], wp["last_event_id"]) == ("in_progress", rollback_id)
    assert snapshot["event_count"] == 3
    assert snapshot["last_event_id"] == "Z"  # the last by (at, event_id), whichever move that was


def test_given_for_review_to_in_progress_then_it_is_a_rollback_only_with_a_review_ref() -> None:
    forward = transition("WP01", "in_review", from_lane="for_review", event_id="B", slug="m", at=T1)
    with_ref = transition("WP01", "in_progress", from_lane="for_review", event_id="A", slug="m", at=T1,
                          review_ref="feedback://m/WP01/1.md")
    without = {**with_ref, "review_ref": None}
    assert reduce("m", [with_ref, forward])["work_packages"]["WP01"]["lane"] == "in_progress"
    assert reduce("m", [without, forward])["work_packages"]["WP01"]["lane"] == "in_review"


def test_given_a_backfill_with_earlier_timestamps_appended_at_the_end_then_the_later_lanes_win(
        shell: Shell, tmp_path: Path) -> None:
    """Like the committed mission whose last rows backfill history: spec-kitty shows `approved`."""
    root = make_project(tmp_path / "repo", ["090-backfill"])
    rows = [transition(wp, "approved", from_lane="in_review", event_id=f"02{wp}", slug="090-backfill", at=T2)
            for wp in ("WP01", "WP02")]
    rows += [transition(wp, "claimed", from_lane="planned", event_id=f"01{wp}", slug="090-backfill", at=T0)
             for wp in ("WP01", "WP02")]
    write_log(root / "kitty-specs" / "090-backfill", rows)
    done = shell.run("status", "--json", cwd=root)
    assert (done.stderr, done.exit_code) == ("", 0)
    snapshot = json.loads(done.stdout)
    assert {k: v["lane"] for k, v in snapshot["work_packages"].items()} == {"WP01": "approved", "WP02": "approved"}
    assert (snapshot["event_count"], snapshot["last_event_id"], snapshot["materialized_at"]) == (4, "02WP02", T2)


def test_given_a_repeated_event_id_then_the_first_occurrence_wins_and_counts_once() -> None:
    first = transition("WP01", "claimed", event_id="A", slug="m", at=T0)
    rewritten = transition("WP01", "blocked", event_id="A", slug="m", at=T1)
    snapshot = reduce("m", [first, first, rewritten])
    assert (snapshot["event_count"], snapshot["work_packages"]["WP01"]["lane"]) == (1, "claimed")


def test_given_a_line_nested_too_deep_when_status_then_reported_with_file_and_line_and_skipped(
        shell: Shell, tmp_path: Path) -> None:
    root = make_project(tmp_path / "repo", ["091-deep"])
    log = write_log(root / "kitty-specs" / "091-deep", [
        transition("WP01", "planned", from_lane="genesis", event_id="A", slug="091-deep"),
        DEEP_LINE,
        '{"wp_id": ' + DEEP_LINE + "}",
        transition("WP01", "claimed", event_id="B", slug="091-deep", at=T2),
    ])
    board, as_json = parallel(shell.later("status", cwd=root), shell.later("status", "--json", cwd=root))
    warnings = (f"warning: {log}:2: skipped malformed line (invalid JSON: RecursionError)\n"
                f"warning: {log}:3: skipped malformed line (invalid JSON: RecursionError)\n")
    assert (board.stdout, board.stderr, board.exit_code) == (
        "Mission 091-deep: 1 work packages, 2 lane events\n  claimed       1  WP01\n", warnings, 0)
    assert (as_json.stderr, as_json.exit_code) == (warnings, 0)
    assert json.loads(as_json.stdout)["work_packages"]["WP01"]["lane"] == "claimed"


def test_given_a_line_nested_too_deep_when_the_sync_queue_scans_the_log_then_it_is_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "092-deep"
    folder.mkdir()
    write_log(folder, [DEEP_LINE, transition("WP01", "planned", event_id="A", slug="092-deep")])
    with EventQueue(tmp_path / "q.sqlite3") as queue:
        assert LogScanner(queue).scan_log("key", folder / EVENTS) == 1
        assert [event_id for event_id, _ in queue.pending("key", 10)] == ["A"]
