"""The status reducer (in-process): spec-kitty's event log folded into its ``status.json`` snapshot.

Given the real missions from the public spec-kitty repository, when their logs are read and reduced,
then the result equals the snapshot spec-kitty materialised from the very same log. Given any log of
moves at a few shared timestamps, with rollbacks, repeated event ids and lines nested too deep for the
json module, the fold equals spec-kitty's sorted replay and each deep line is reported, never raised.
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
from orchestrator.missions.read import read_mission

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


# Nested past any recursion limit: 1,000 levels suffice for the installed command, but Hypothesis raises
# the limit by 2,000 frames while a property runs.
DEEP_LINE = "[" * 20_000 + "]" * 20_000
DEEP_OBJECT = '{"wp_id": ' + DEEP_LINE + "}"  # the same, shaped as a row: the fast scanner's path
ATS = ("2026-03-01T10:00:00+00:00", "2026-03-01T11:00:00+00:00", "2026-03-01T12:00:00+00:00")  # few: ties
REF = "feedback://m/WP01/1.md"

common = {"wp_id": st.sampled_from(["WP01", "WP02", "WP03", "WP10"]), "at": st.sampled_from(ATS),
          "event_id": st.integers(0, 30).map(lambda n: f"E{n:04d}"),  # repeats are merge debris
          "force": st.booleans()}
forward_move = st.fixed_dictionaries({**common, "to_lane": st.sampled_from(LANES),
                                      "from_lane": st.sampled_from(LANES),
                                      "review_ref": st.sampled_from([None, REF])})
rollback_move = st.one_of(  # a reviewer sending work back: spec-kitty's two shapes
    st.fixed_dictionaries({**common, "to_lane": st.just("in_progress"), "from_lane": st.just("in_review"),
                           "review_ref": st.sampled_from([None, REF])}),
    st.fixed_dictionaries({**common, "to_lane": st.just("in_progress"), "from_lane": st.just("for_review"),
                           "review_ref": st.just(REF)}))
log_lines = st.lists(st.one_of(forward_move, rollback_move, st.sampled_from([DEEP_LINE, DEEP_OBJECT])),
                     max_size=40)


def spec_kittys_replay(slug: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The reference, written as spec-kitty's reducer goes: keep the first row of each ``event_id``, sort
    by (``at``, ``event_id``), replay in that order; a row at the same ``at`` as a rollback that set
    its work package's lane does not replace it unless it is a rollback too."""
    def rollback(row: dict[str, Any]) -> bool:
        return row["to_lane"] == "in_progress" and (
            row["from_lane"] == "in_review" or (row["from_lane"] == "for_review" and bool(row["review_ref"])))

    unique: dict[str, dict[str, Any]] = {}
    for row in rows:
        unique.setdefault(row["event_id"], row)
    ordered = sorted(unique.values(), key=lambda row: (row["at"], row["event_id"]))
    setter: dict[str, dict[str, Any]] = {}
    for row in ordered:
        current = setter.get(row["wp_id"])
        if current is not None and current["at"] == row["at"] and rollback(current) and not rollback(row):
            continue
        setter[row["wp_id"]] = row
    work_packages = {wp_id: {"lane": row["to_lane"], "last_event_id": row["event_id"],
                             "last_transition_at": row["at"], "actor": row["actor"],
                             "force_count": sum(1 for r in ordered if r["wp_id"] == wp_id and r["force"] is True)}
                     for wp_id, row in sorted(setter.items())}
    last = ordered[-1] if ordered else None
    return {"mission_slug": slug, "event_count": len(ordered),
            "last_event_id": last["event_id"] if last else None, "materialized_at": last["at"] if last else None,
            "summary": {lane: sum(1 for wp in work_packages.values() if wp["lane"] == lane) for lane in LANES},
            "work_packages": work_packages}


@settings(max_examples=150, deadline=None, database=None)
@given(lines=log_lines)
def test_property_any_log_folds_as_spec_kittys_replay_and_a_too_deep_line_is_skipped_not_raised(
        lines: list[dict[str, Any] | str], tmp_path_factory: pytest.TempPathFactory) -> None:
    """Rows at a few shared timestamps, rollbacks among forward moves, repeated event ids and lines nested
    too deep for the json module: read from a log (``read_log`` then ``reduce``, and the streamed
    ``read_mission``), the snapshot equals spec-kitty's replay of the rows, and each deep line is one
    ``RecursionError`` report, never raised."""
    written: list[dict[str, Any] | str] = [
        line if isinstance(line, str) else
        transition(line["wp_id"], line["to_lane"], from_lane=line["from_lane"], event_id=line["event_id"], slug="m",
                   at=line["at"], force=line["force"], review_ref=line["review_ref"], actor=f"actor-{index}")
        for index, line in enumerate(lines)]
    rows = [row for row in written if isinstance(row, dict)]
    folder = tmp_path_factory.mktemp("property") / "m"
    folder.mkdir()
    path = write_log(folder, written)
    log = read_log(path)
    deep = [number for number, line in enumerate(lines, start=1) if isinstance(line, str)]
    assert [(p.line, p.reason) for p in log.problems] == [(n, "invalid JSON: RecursionError") for n in deep]
    assert log.rows == rows
    assert reduce("m", log.rows) == spec_kittys_replay("m", rows)
    streamed = read_mission(folder)  # what `status` runs: the streamed fold, spec-kitty's lines via the C scanner
    assert (streamed.snapshot, streamed.problems) == (spec_kittys_replay("m", rows), log.problems)
