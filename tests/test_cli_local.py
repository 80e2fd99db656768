"""Local commands through the installed console script: ``status`` and ``wp move``.

Given a spec-kitty project (real missions copied from the public spec-kitty repository, or small
hand-made logs), when the operator runs ``status`` or ``wp move``, then stdout, stderr and the exit code
are exactly as specified, the event log stays in spec-kitty's own format, and nothing touches the
network, starts a process or writes under ``~/.spec-kitty``.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from support.cli import Result
from support.projects import (
    EVENTS,
    copy_fixture,
    fixture_missions,
    make_project,
    set_mtime,
    snapshot_tree,
    transition,
    write_auth,
    write_bindings,
    write_config,
    write_log,
)
from support.shell import Shell, parallel

from orchestrator import __version__

IN_PROCESS = True  # commands run in-process (conftest's ``shell``); tests the guard must watch are ``guarded``

ULID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
TRANSITION_KEYS = ["actor", "at", "event_id", "evidence", "execution_mode", "force", "from_lane", "mission_id",
                   "mission_slug", "policy_metadata", "reason", "review_ref", "to_lane", "wp_id"]
NOT_A_WP = "is not a work package id (expected WP and 1 to 4 ASCII digits, e.g. WP01)."
LANES = ["planned", "claimed", "in_progress", "for_review", "in_review", "approved", "done", "blocked", "canceled"]


def ulid_ms(ulid: str) -> int:
    value = 0
    for ch in ulid[:10]:
        value = value * 32 + CROCKFORD.index(ch)
    return value


def rows_of(mission: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (mission / EVENTS).read_text().splitlines() if line.strip()]


def no_outside_effects(result: Result) -> None:
    assert [e for e in result.events if e["kind"] != "write"] == [], result.describe()
    assert [e for e in result.events if "/operator" in (e["path"] or "")] == [], result.describe()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """``demo-repo/kitty-specs/`` with two hand-made missions: 001-alpha (newest) and 002-beta."""
    root = make_project(tmp_path / "demo-repo", ["001-alpha", "002-beta"])
    write_log(root / "kitty-specs" / "001-alpha", [
        transition("WP01", "planned", from_lane="genesis", event_id="01J0000000000000000000000A", slug="001-alpha"),
        transition("WP02", "planned", from_lane="genesis", event_id="01J0000000000000000000000B", slug="001-alpha"),
        {"kind": "subtask_status", "wp_id": "WP01", "to_lane": "done", "at": "2026-01-02T03:04:05+00:00"},
        transition("WP02", "for_review", event_id="01J0000000000000000000000C", slug="001-alpha",
                   at="2026-01-02T04:00:00+00:00"),
        {"event_type": "MissionCreated", "wp_id": "WP09", "to_lane": "done"},
        {"type": "note", "wp_id": "WP09", "to_lane": "done"},
    ])
    write_log(root / "kitty-specs" / "002-beta", [
        transition("WP01", "done", from_lane="approved", event_id="01J0000000000000000000000D", slug="002-beta"),
    ])
    set_mtime(root / "kitty-specs" / "002-beta" / EVENTS, 1_000_000)
    set_mtime(root / "kitty-specs" / "002-beta", 1_000_000)
    return root


# === status ==============================================================================================
@pytest.mark.guarded
def test_given_every_real_mission_when_status_json_then_it_agrees_with_spec_kittys_own_snapshot(
        shell: Shell, tmp_path: Path) -> None:
    """Given copies of the public spec-kitty missions, when `status --mission SLUG --json` runs, then
    mission_slug, event_count, last_event_id, summary and each work package's lane / last event /
    last transition time equal the status.json spec-kitty materialised from the same log."""
    root = make_project(tmp_path / "real-repo")
    fixtures = fixture_missions()
    for fixture in fixtures:
        copy_fixture(fixture, root)
    results = parallel(*(shell.later("status", "--mission", f.name, "--json", cwd=root, guard_dirs=[root])
                         for f in fixtures))
    for fixture, result in zip(fixtures, results, strict=True):
        assert (result.stderr, result.exit_code, result.events) == ("", 0, []), result.describe()
        ours = json.loads(result.stdout)
        theirs = json.loads((fixture / "status.json").read_text())
        for key in ("mission_slug", "event_count", "last_event_id", "summary"):
            assert ours[key] == theirs[key], (fixture.name, key)
        assert list(ours["summary"]) == sorted(LANES)  # all nine lanes, sorted keys like status.json
        assert set(ours["work_packages"]) == set(theirs["work_packages"]), fixture.name
        for wp_id, theirs_wp in theirs["work_packages"].items():
            ours_wp = ours["work_packages"][wp_id]
            for key in ("lane", "last_event_id", "last_transition_at"):
                assert ours_wp[key] == theirs_wp[key], (fixture.name, wp_id, key)


@pytest.mark.guarded
def test_given_several_missions_when_status_then_one_line_each_latest_transition_first(
        shell: Shell, project: Path) -> None:
    """No mission is guessed from modification times: every mission gets one compact line, the one with
    the latest transition first (000-gamma has none: last); `--mission` shows one board."""
    (project / "kitty-specs" / "000-gamma").mkdir()
    set_mtime(project / "kitty-specs" / "000-gamma", 2_000_000)
    default, other = parallel(shell.later("status", cwd=project), shell.later("status", "--mission", "002-beta",
                                                                              cwd=project))
    assert (default.stdout, default.stderr, default.exit_code) == (
        "001-alpha: 2 work packages (planned 1, for_review 1)\n"
        "002-beta: 1 work packages (done 1)\n"
        "000-gamma: 0 work packages\n", "", 0)
    assert (other.stdout, other.stderr, other.exit_code) == (
        "Mission 002-beta: 1 work packages, 1 lane events\n"
        "  done          1  WP01\n", "", 0)
    assert default.events == other.events == []


def test_given_the_only_mission_when_status_json_then_exact_snapshot(shell: Shell, tmp_path: Path) -> None:
    root = make_project(tmp_path / "solo", ["007-solo"])
    write_log(root / "kitty-specs" / "007-solo", [
        transition("WP01", "in_progress", event_id="01J0000000000000000000000E", slug="007-solo", force=True),
    ])
    done = shell.run("status", "--json", cwd=root / "kitty-specs" / "007-solo")
    assert (done.stderr, done.exit_code) == ("", 0)
    assert json.loads(done.stdout) == {
        "mission_slug": "007-solo",
        "event_count": 1,
        "last_event_id": "01J0000000000000000000000E",
        "materialized_at": "2026-01-02T03:04:05+00:00",
        "summary": {lane: int(lane == "in_progress") for lane in LANES},
        "work_packages": {"WP01": {"lane": "in_progress", "last_event_id": "01J0000000000000000000000E",
                                   "last_transition_at": "2026-01-02T03:04:05+00:00", "actor": "tester",
                                   "force_count": 1}},
    }
    assert done.stdout == json.dumps(json.loads(done.stdout), indent=2, sort_keys=True) + "\n"


def test_given_malformed_lines_when_status_then_each_is_reported_with_file_and_line_and_skipped(
        shell: Shell, project: Path) -> None:
    mission = project / "kitty-specs" / "001-alpha"
    log = mission / EVENTS
    good = log.read_text().splitlines()
    log.write_text("\n".join([good[0], "{not json", good[1], "[1, 2]", "", *good[2:], '{"torn": "li']) + "\n")
    done = shell.run("status", "--mission", "001-alpha", cwd=project)
    assert done.stdout == ("Mission 001-alpha: 2 work packages, 3 lane events\n"
                           "  planned       1  WP01\n"
                           "  for_review    1  WP02\n")
    assert done.stderr == (f"warning: {log}:2: skipped malformed line (invalid JSON: JSONDecodeError)\n"
                           f"warning: {log}:4: skipped malformed line (not a JSON object)\n"
                           f"warning: {log}:10: skipped malformed line (invalid JSON: JSONDecodeError)\n")
    assert done.exit_code == 0


def test_given_invalid_utf8_in_the_log_when_status_then_reported_not_fatal(shell: Shell, project: Path) -> None:
    log = project / "kitty-specs" / "001-alpha" / EVENTS
    log.write_bytes(log.read_bytes() + b"\xff\xfe\n")
    done = shell.run("status", "--json", cwd=project)
    assert done.exit_code == 0
    assert json.loads(done.stdout)["001-alpha"]["event_count"] == 3
    assert done.stderr.startswith(f"warning: {log}:7: skipped malformed line (")
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


@pytest.mark.guarded
def test_given_no_project_or_no_missions_when_status_then_plain_message_and_exit_0(
        shell: Shell, tmp_path: Path) -> None:
    empty = make_project(tmp_path / "empty-project")
    outside, no_missions = parallel(shell.later("status"), shell.later("status", cwd=empty))
    assert (outside.stdout, outside.stderr, outside.exit_code) == (
        "No spec-kitty project here (no `kitty-specs/` folder found).\n", "", 0)
    assert (no_missions.stdout, no_missions.stderr, no_missions.exit_code) == (
        f"No missions found under `{empty / 'kitty-specs'}`.\n", "", 0)
    assert outside.events == no_missions.events == []


def test_given_an_unknown_mission_option_when_status_then_the_missions_are_listed_and_exit_2(
        shell: Shell, project: Path) -> None:
    done = shell.run("status", "--mission", "999-nope", cwd=project)
    assert (done.stdout, done.stderr, done.exit_code) == (
        "", f"Error: No mission matches `999-nope` under {project / 'kitty-specs'}.\n  001-alpha\n  002-beta\n", 2)


BOARD = ("001-alpha: 2 work packages (planned 1, for_review 1)\n"
         "002-beta: 1 work packages (done 1)\n")


def test_given_the_flag_on_when_status_then_exactly_one_hosted_sync_line_computed_without_network(
        tmp_path: Path, project: Path) -> None:
    """Given each readiness state, when status runs with the flag on, then one `Hosted sync:` line
    names it; with the flag off (even fully set up) there is none; never a socket or a process."""
    shells = {name: Shell(tmp_path / name) for name in ("unauthed", "nohost", "bound", "off")}
    for name, shell in shells.items():
        shell.flag(None if name == "off" else "1")
        if name != "unauthed":
            write_auth(shell.home)
        if name != "nohost":
            write_config(shell.home, '[sync]\nserver_url = "https://spec-kitty-dev.fly.dev"\n')
    write_bindings(project, "001-alpha")
    unauthed, nohost, ready, unbound, off = parallel(
        shells["unauthed"].later("status", cwd=project),
        shells["nohost"].later("status", cwd=project),
        shells["bound"].later("status", cwd=project),
        shells["bound"].later("status", "--mission", "002-beta", cwd=project),
        shells["off"].later("status", cwd=project),
    )
    assert unauthed.stdout == BOARD + "Hosted sync: not logged in (run `spec-kitty auth login`)\n"
    assert nohost.stdout == BOARD + (
        "Hosted sync: no host configured (run `spec-kitty config set sync.server_url <url>`)\n")
    assert ready.stdout == BOARD + "Hosted sync: ready\n"
    assert unbound.stdout == ("Mission 002-beta: 1 work packages, 1 lane events\n"  # the binding is the
                              "  done          1  WP01\n"  # repository's: every mission is bound
                              "Hosted sync: ready\n")
    assert off.stdout == BOARD
    for result in (unauthed, nohost, ready, unbound, off):
        assert (result.stderr, result.exit_code, result.events) == ("", 0, []), result.describe()


# === wp move =============================================================================================
@pytest.mark.guarded
def test_given_a_real_mission_when_wp_move_then_one_row_in_spec_kittys_format_is_appended(
        shell: Shell, tmp_path: Path) -> None:
    """Given a copy of a real mission, when `wp move` runs, then exactly one line is appended (the old
    bytes untouched): sorted keys, spec-kitty's key set, a fresh ULID, from_lane = the current lane,
    `at` = now in UTC, the mission's id carried over; status reflects it."""
    fixture = next(f for f in fixture_missions() if f.name.startswith("082-"))
    root = make_project(tmp_path / "real-repo")
    mission = copy_fixture(fixture, root)
    before = (mission / EVENTS).read_bytes()
    snapshot = json.loads((fixture / "status.json").read_text())
    wp_id, wp = sorted(snapshot["work_packages"].items())[0]
    assert wp["lane"] == "done"  # terminal: only a forced move (with its reason) leaves it
    to_lane = "blocked"
    started = time.time()
    done = shell.run("wp", "move", wp_id, "--to", to_lane, "--actor", "ops-bot", "--reason", "waiting on infra",
                     "--force", cwd=root, guard_dirs=[root])
    finished = time.time()
    assert (done.stderr, done.exit_code) == ("", 0)
    after = (mission / EVENTS).read_bytes()
    assert after.startswith(before)
    new_line = after[len(before):].decode()
    assert new_line.endswith("\n")
    assert new_line.count("\n") == 1
    row = json.loads(new_line)
    assert new_line == json.dumps(row, sort_keys=True) + "\n"
    assert sorted(row) == TRANSITION_KEYS
    assert ULID.fullmatch(row["event_id"])
    assert started * 1000 - 5 <= ulid_ms(row["event_id"]) <= finished * 1000 + 5
    at = datetime.fromisoformat(row["at"])
    assert at.utcoffset() is not None
    assert at.utcoffset().total_seconds() == 0
    assert started - 1 <= at.timestamp() <= finished + 1
    old_rows = [json.loads(line) for line in before.decode().splitlines()]
    assert {k: row[k] for k in ("wp_id", "from_lane", "to_lane", "mission_slug", "actor", "reason", "force")} == {
        "wp_id": wp_id, "from_lane": wp["lane"], "to_lane": to_lane, "mission_slug": fixture.name,
        "actor": "ops-bot", "reason": "waiting on infra", "force": True}
    assert row["mission_id"] == next(r["mission_id"] for r in reversed(old_rows) if r.get("mission_id"))
    assert done.stdout == f"{wp_id}: {wp['lane']} -> {to_lane} ({fixture.name}, event {row['event_id']})\n"
    writes = [e for e in done.events if e["kind"] == "write"]
    # the log, and status.json as spec-kitty's materialize writes it (a temp file renamed over it)
    assert {e["path"] for e in writes} == {str((mission / name).resolve()) for name in (EVENTS, "status.json.tmp")}, \
        done.describe()
    no_outside_effects(done)

    status = shell.run("status", "--mission", fixture.name, "--json", cwd=root)
    ours = json.loads(status.stdout)
    assert ours["event_count"] == snapshot["event_count"] + 1
    assert ours["last_event_id"] == row["event_id"]
    assert ours["work_packages"][wp_id]["lane"] == to_lane


@pytest.mark.guarded
def test_given_defaults_when_wp_move_then_the_only_mission_user_as_actor_and_genesis_for_a_new_wp(
        shell: Shell, tmp_path: Path) -> None:
    root = make_project(tmp_path / "solo", ["007-solo"])
    done = shell.run("wp", "move", "WP07", "--to", "planned", cwd=root, env={"USER": "alice", "LOGNAME": "alice"})
    assert (done.stderr, done.exit_code) == ("", 0)
    row = rows_of(root / "kitty-specs" / "007-solo")[-1]
    assert (row["wp_id"], row["from_lane"], row["to_lane"], row["actor"], row["reason"], row["force"],
            row["mission_slug"]) == ("WP07", "genesis", "planned", "alice", None, False, "007-solo")
    assert done.stdout == f"WP07: genesis -> planned (007-solo, event {row['event_id']})\n"
    assert done.events == []


@pytest.mark.guarded
@pytest.mark.parametrize("flag", [None, "1"], ids=["flag-unset", "flag-on"])
def test_given_a_torn_last_line_when_wp_move_then_our_row_stays_on_its_own_line(
        shell: Shell, project: Path, flag: str | None) -> None:
    shell.flag(flag)
    log = project / "kitty-specs" / "002-beta" / EVENTS
    log.write_bytes(log.read_bytes() + b'{"actor": "crashed-wri')
    done = shell.run("wp", "move", "WP01", "--to", "canceled", "--mission", "002-beta", "--force", "--reason", "dup",
                     cwd=project)
    assert done.exit_code == 0, done.describe()
    lines = log.read_text().splitlines()
    assert lines[1] == '{"actor": "crashed-wri'
    assert json.loads(lines[2])["to_lane"] == "canceled"
    assert json.loads(lines[2])["from_lane"] == "done"
    assert done.events == []  # nothing under HOME, with or without the flag (not logged in: nothing queued)
    assert not shell.home.exists()


@pytest.mark.guarded
def test_given_bad_arguments_when_wp_move_then_one_line_on_stderr_exit_1_and_the_log_untouched(
        shell: Shell, project: Path) -> None:
    specs = project / "kitty-specs"
    listing = "\n  001-alpha\n  002-beta\n"
    cases: list[tuple[list[str], str]] = [
        (["WP01", "--to", "nowhere"],
         "Error: Unknown lane `nowhere`. Lanes: planned, claimed, in_progress, for_review, in_review, approved, "
         "done, blocked, canceled.\n"),
        (["wp01", "--to", "done"], f"Error: `wp01` {NOT_A_WP}\n"),
        (["WP1a", "--to", "done"], f"Error: `WP1a` {NOT_A_WP}\n"),
        (["WP", "--to", "done"], f"Error: `WP` {NOT_A_WP}\n"),
    ]
    usage: list[tuple[list[str], str]] = [
        (["WP01", "--to", "Done"],  # issue 19: a near miss names the lane meant (a usage error, as click's)
         "Error: Unknown lane `Done`; did you mean `done`? Lanes: planned, claimed, in_progress, for_review, "
         "in_review, approved, done, blocked, canceled.\n"),
        (["WP01", "--to", "done", "--mission", "999-missing"],
         f"Error: No mission matches `999-missing` under {specs}.{listing}"),
        (["WP01", "--to", "done", "--mission", "../demo-repo"],
         f"Error: No mission matches `../demo-repo` under {specs}.{listing}"),
        (["WP01", "--to", "done", "--mission", "001-alpha/../002-beta"],
         f"Error: No mission matches `001-alpha/../002-beta` under {specs}.{listing}"),
        (["WP01", "--to", "done"],
         f"Error: This repository has 2 missions; choose one with --mission (slug, number or id prefix).{listing}"),
        (["WP01", "--to", "done", "--mission", "001-alpha", "--force"],
         "Error: --force requires --reason (spec-kitty records why a move was forced).\n"),
    ]
    before = snapshot_tree(project)
    everything = [(argv, stderr, 1) for argv, stderr in cases] + [(argv, stderr, 2) for argv, stderr in usage]
    results = parallel(*(shell.later("wp", "move", *argv, cwd=project, guard_dirs=[project])
                         for argv, _, _ in everything))
    for (argv, stderr, code), result in zip(everything, results, strict=True):
        assert (result.stdout, result.stderr, result.exit_code) == ("", stderr, code), argv
        assert result.events == [], result.describe()
    assert snapshot_tree(project) == before


@pytest.mark.guarded
def test_given_no_project_when_wp_move_then_one_line_and_exit_1(shell: Shell) -> None:
    done = shell.run("wp", "move", "WP01", "--to", "done")
    assert (done.stdout, done.stderr, done.exit_code) == (
        "", "Error: No `kitty-specs/` folder here; run this inside a spec-kitty project.\n", 1)
    assert done.events == []


@pytest.mark.guarded
def test_given_twenty_concurrent_moves_when_they_race_then_twenty_intact_lines_in_a_consistent_chain(
        shell: Shell, project: Path) -> None:
    """Given 20 `wp move` processes started at once on the same work package, when they all finish, then
    the log holds 20 new intact lines with distinct ULIDs, and each row's from_lane is the lane the row
    before it moved to (the current lane is read under the same lock as the append)."""
    mission = project / "kitty-specs" / "001-alpha"
    before = (mission / EVENTS).read_bytes()
    lanes = [LANES[i % len(LANES)] for i in range(1, 21)]
    results = parallel(*(shell.later("wp", "move", "WP01", "--to", lane, "--mission", "001-alpha", "--force",
                                     "--reason", "race", "--actor", f"worker-{i}", cwd=project)
                         for i, lane in enumerate(lanes)))
    assert [r.exit_code for r in results] == [0] * 20, [r.stderr for r in results if r.exit_code]
    assert all(r.events == [] for r in results)  # flag off: nothing under HOME
    after = (mission / EVENTS).read_bytes()
    assert after.startswith(before)
    new_lines = after[len(before):].decode().splitlines()
    assert len(new_lines) == 20
    rows = [json.loads(line) for line in new_lines]
    assert all(line == json.dumps(row, sort_keys=True) for line, row in zip(new_lines, rows, strict=True))
    assert len({r["event_id"] for r in rows}) == 20
    assert sorted(r["actor"] for r in rows) == sorted(f"worker-{i}" for i in range(20))
    current = "planned"  # WP01's lane before the race
    for row in rows:
        assert row["from_lane"] == current, rows
        current = row["to_lane"]
    printed = sorted(r.stdout for r in results)
    assert printed == sorted(f"WP01: {r['from_lane']} -> {r['to_lane']} (001-alpha, event {r['event_id']})\n"
                             for r in rows)


@pytest.mark.guarded
def test_version(shell: Shell) -> None:
    done = shell.run("--version")
    # the distribution is named: spec-kitty-cli installs a `spec-kitty` script too
    assert (done.stdout, done.stderr, done.exit_code) == (f"spec-kitty (spec-kitty-sync) {__version__}\n", "", 0)
    assert done.events == []
