"""Issue 11: the streamed, incremental fold is byte-for-byte the full fold.

Given a log grown by appends in any order (rows with an earlier ``at`` than rows already folded, lines
repeated, an ``event_id`` reused with other content, malformed and blank lines, a last line still
without its newline), when it is read after every append through the saved fold, then the snapshot,
the mission id and the malformed-line reports equal a fold of the whole log from scratch (the reducer
``reduce`` over ``read_log``, which reads every line with ``json.loads``). Given a saved fold that no
longer describes the log (rewritten in place, truncated, replaced, cache files corrupt or missing), the
read is still exact. Given event ids that only differ in case, they stay distinct.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.missions import eventids, savedfold
from orchestrator.missions.eventids import EventIds
from orchestrator.missions.fold import Fold
from orchestrator.missions.log import read_log
from orchestrator.missions.read import read_mission
from orchestrator.missions.ulid import new_ulid

SLUG = "101-scale"
EVENTS = "status.events.jsonl"
ATS = ["2026-03-01T10:00:00+00:00", "2026-03-01T11:00:00+00:00", "2026-03-01T12:00:00+00:00"]
ULIDS = [new_ulid(1_700_000_000_000 + i) for i in range(6)]
IDS = [*ULIDS, ULIDS[0].lower(), "A", "B", "0" * 26]  # lower case, short, and an all-zero ULID stay exact
LANE_NAMES = ["planned", "claimed", "in_progress", "for_review", "in_review", "approved", "done", "doing"]


def full_fold(folder: Path) -> tuple[dict[str, Any], list[tuple[int, str]], str | None]:
    """The reference: every line through json.loads, every row into one fresh fold."""
    log = read_log(folder / EVENTS)
    fold = Fold(folder.name)
    for row in log.rows:
        fold.add(row)
    return fold.snapshot(), [(p.line, p.reason) for p in log.problems], fold.mission_id()


def incremental(folder: Path) -> tuple[dict[str, Any], list[tuple[int, str]], str | None]:
    fold, problems, _ = savedfold.fold_mission(folder, save=True)
    return fold.snapshot(), [(p.line, p.reason) for p in problems], fold.mission_id()


rows = st.fixed_dictionaries({
    "wp_id": st.sampled_from(["WP01", "WP02", "WP03"]),
    "to_lane": st.sampled_from(LANE_NAMES),
    "from_lane": st.sampled_from(["planned", "in_review", "for_review"]),
    "event_id": st.sampled_from(IDS),
    "at": st.sampled_from(ATS),
    "force": st.sampled_from([False, True, None]),
    "review_ref": st.sampled_from([None, "PR-1"]),
    "actor": st.sampled_from(["ann", "bob", None]),
    "mission_id": st.sampled_from(["01MISSIONAAAAAAAAAAAAAAAAA", "01MISSIONBBBBBBBBBBBBBBBBB", None]),
})
lines = st.one_of(
    rows.map(lambda row: json.dumps(row, sort_keys=True) + "\n"),
    rows.map(lambda row: json.dumps(row) + "  \r\n"),  # not spec-kitty's shape: the json.loads path
    st.sampled_from(["\n", "   \n", "{not json\n", "[1, 2]\n", '{"kind": "other", "event_id": "X"}\n',
                     '\ufeff{"wp_id": "WP01"}\n', "[" * 1000 + "]" * 1000 + "\n"]),
)


@pytest.fixture
def mission(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A mission folder in a repo, with every log big enough to be cached and a tiny id delta."""
    monkeypatch.setattr(savedfold, "CACHE_MIN_BYTES", 1)
    monkeypatch.setattr(savedfold, "DELTA_MAX", 2)
    folder = tmp_path / "repo" / "kitty-specs" / SLUG
    folder.mkdir(parents=True)
    return folder


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunks=st.lists(st.lists(lines, max_size=12), min_size=1, max_size=6), torn=st.booleans())
def test_given_any_sequence_of_appends_when_read_after_each_then_incremental_equals_the_full_fold(
        mission: Path, chunks: list[list[str]], torn: bool) -> None:
    log = mission / EVENTS
    log.write_bytes(b"")
    for path in savedfold.cache_dir(mission).glob("*"):
        path.unlink()
    for number, chunk in enumerate(chunks):
        text = "".join(chunk)
        if torn and number == len(chunks) - 1 and text.endswith("\n"):
            text = text[:-1]  # spec-kitty is mid-append: the last line has no newline yet
        with log.open("ab") as out:
            out.write(text.encode("utf-8"))
        assert incremental(mission) == full_fold(mission)
    assert incremental(mission) == full_fold(mission)  # and once more from the saved fold alone


def write(folder: Path, count: int, *, first_at: str = "2026-03-01T10:00:00") -> list[str]:
    ids = [new_ulid() for _ in range(count)]
    with (folder / EVENTS).open("a", encoding="utf-8") as out:
        for i, event_id in enumerate(ids):
            row = {"wp_id": f"WP{i % 7:02d}", "to_lane": LANE_NAMES[i % 7], "from_lane": "planned",
                   "event_id": event_id, "at": f"{first_at}.{i:06d}+00:00", "actor": "x", "force": i % 5 == 0,
                   "mission_id": "01MISSIONAAAAAAAAAAAAAAAAA"}
            out.write(json.dumps(row, sort_keys=True) + "\n")
    return ids


@pytest.mark.parametrize("where", ["head", "middle", "end"])
def test_given_a_saved_fold_when_the_log_is_rewritten_in_place_then_it_is_rebuilt(mission: Path, where: str) -> None:
    """Same size, same inode, one forced flag flipped (force_count changes): the saved fold's prefix hash
    no longer matches, wherever the flip is."""
    write(mission, 300)
    before = incremental(mission)
    log = mission / EVENTS
    data = log.read_bytes()
    start = {"head": 0, "middle": len(data) // 2, "end": len(data) - 600}[where]
    flip = data.index(b'"force": false', start)
    log.write_bytes(data[:flip] + b'"force": true ' + data[flip + 14:])
    assert incremental(mission) == full_fold(mission) != before


@pytest.mark.parametrize("damage", ["truncate", "replace", "json", "table-size", "table-missing", "version"])
def test_given_a_saved_fold_that_no_longer_fits_then_the_read_is_still_exact(mission: Path, damage: str) -> None:
    write(mission, 200)
    incremental(mission)
    log, where = mission / EVENTS, savedfold.cache_dir(mission)
    state_file = where / f"{SLUG}.json"
    table = next(where.glob(f"{SLUG}.*.ids"))
    if damage == "truncate":
        log.write_bytes(log.read_bytes()[: log.stat().st_size // 2].rsplit(b"\n", 1)[0] + b"\n")
    elif damage == "replace":
        data = log.read_bytes()
        log.unlink()
        log.write_bytes(data.replace(b'"claimed"', b'"blocked"'))
    elif damage == "json":
        state_file.write_bytes(state_file.read_bytes()[:-7])
    elif damage == "table-size":
        table.write_bytes(table.read_bytes()[:-16])
    elif damage == "table-missing":
        table.unlink()
    else:
        state = json.loads(state_file.read_bytes())
        state["version"] = -1
        state_file.write_text(json.dumps(state))
    write(mission, 3, first_at="2026-02-01T00:00:00")  # appended rows that are older than the others
    assert incremental(mission) == full_fold(mission)


def test_given_a_big_log_when_read_then_the_cache_folder_ignores_itself_for_git(mission: Path) -> None:
    write(mission, 10)
    incremental(mission)
    repo = mission.parent.parent
    assert (repo / ".kittify" / "cache" / ".gitignore").read_text().splitlines()[-1] == "*"
    assert sorted(p.suffix for p in savedfold.cache_dir(mission).iterdir()) == [".ids", ".json", ".lock"]


def test_given_many_appends_then_old_id_tables_are_removed(mission: Path) -> None:
    for _ in range(4):
        write(mission, 5)
        assert incremental(mission) == full_fold(mission)
    assert len(list(savedfold.cache_dir(mission).glob("*.ids"))) == 1


def test_given_another_process_is_saving_then_the_read_skips_saving_and_stays_exact(mission: Path) -> None:
    import fcntl

    write(mission, 20)
    where = savedfold.cache_dir(mission)
    where.mkdir(parents=True)
    with (where / f"{SLUG}.lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert incremental(mission) == full_fold(mission)
        assert not (where / f"{SLUG}.json").exists()


def test_given_a_small_log_when_read_then_nothing_is_cached(tmp_path: Path) -> None:
    folder = tmp_path / "repo" / "kitty-specs" / SLUG
    folder.mkdir(parents=True)
    write(folder, 10)
    assert read_mission(folder).snapshot == full_fold(folder)[0]
    assert not (tmp_path / "repo" / ".kittify").exists()


# --- the id set ---------------------------------------------------------------------------------------

def test_given_ids_that_differ_only_in_case_or_form_then_each_is_distinct_and_exact() -> None:
    ids = EventIds(0)
    ulid = new_ulid()
    variants = [ulid, ulid.lower(), " " + ulid[1:], ulid + " ", "8" + ulid[1:], "0" * 26, "0" * 25 + "1", "A", ""]
    assert [ids.add(v) for v in variants] == [True] * len(variants)
    assert [ids.add(v) for v in variants] == [False] * len(variants)
    assert len(ids) == len(variants)


def test_given_more_ids_than_expected_then_the_table_grows_and_forgets_none() -> None:
    ids = EventIds(0)
    many = [new_ulid() for _ in range(5000)]
    assert all(ids.add(i) for i in many)
    assert not any(ids.add(i) for i in many)
    assert len(ids) == 5000
    assert ids.slots > eventids.capacity_for(0)


def test_given_a_written_table_when_mapped_back_then_membership_is_the_same(tmp_path: Path) -> None:
    ids = EventIds(100)
    first = [new_ulid() for _ in range(100)] + ["plain"]
    for event_id in first:
        ids.add(event_id)
    path = tmp_path / "t.ids"
    path.write_bytes(bytes(ids.table_bytes()))
    fd = os.open(path, os.O_RDONLY)
    try:
        mapped = EventIds.over_file(fd, ids.slots, ids.used, sorted(ids.strings), [])
    finally:
        os.close(fd)
    later = new_ulid()
    assert not any(mapped.add(i) for i in first)
    assert mapped.add(later)
    assert not mapped.add(later)
    mapped.merge_base()
    assert mapped.base is None
    assert len(mapped) == 102
    assert not any(mapped.add(i) for i in [*first, later])
