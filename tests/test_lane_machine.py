"""The lane machine: ``wp move`` takes exactly spec-kitty's lane edges, unless forced with a reason.

Given spec-kitty's lane graph (``tests/fixtures/lane-transitions.json``), the table in ``states/lanes.py``
is the same graph. Given a mission whose work packages rest in every lane, when the operator runs
``spec-kitty wp move`` for each of the 81 from/to pairs, without and with ``--force`` (in-process: the
console script's own entry, ``support.inprocess``), then an edge of the table is written, any other
move is refused with one line naming the move and the lanes reachable (nothing written), and every
forced move is written with ``force: true`` and its reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.projects import EVENTS, make_project, snapshot_tree, transition, write_log
from support.shell import Shell, parallel

from states import lanes

SPEC = json.loads((Path(__file__).parent / "fixtures" / "lane-transitions.json").read_text())
PAIRS = [(src, dest) for src in lanes.LANES for dest in lanes.LANES]
SLUG = "070-lanes"
IN_PROCESS = True  # commands run in-process (conftest's ``shell``): output, exit codes and the log are what count


def test_the_table_is_spec_kittys_lane_graph() -> None:
    assert list(lanes.LANES) == SPEC["lanes"]
    assert SPEC["initial"] == lanes.GENESIS
    assert sorted(lanes.TERMINAL) == sorted(SPEC["terminal"])
    assert SPEC["aliases"] == lanes.ALIASES
    assert sorted(lanes.EDGES) == sorted(tuple(edge) for edge in SPEC["edges"])
    assert len(lanes.EDGES) == len(set(lanes.EDGES)) == 29
    for src, dest in [*PAIRS, *((lanes.GENESIS, dest) for dest in lanes.LANES)]:
        assert lanes.allowed(src, dest) == ([src, dest] in SPEC["edges"]), (src, dest)
    assert all(lanes.reachable(terminal) == [] for terminal in lanes.TERMINAL)


EVIDENCE = '{"review": {"reviewer": "alice", "verdict": "approved", "reference": "PR#1"}}'


def wp_for(index: int) -> str:
    return f"WP{index + 1:03d}"


@pytest.fixture
def board(tmp_path: Path) -> Path:
    """One mission; for each pair two work packages rest in its from-lane (one per variant: plain, forced)."""
    root = make_project(tmp_path / "repo", [SLUG])
    rows = [transition(wp_for(2 * i + forced), src, event_id=f"01J{2 * i + forced:023d}", slug=SLUG)
            for i, (src, _) in enumerate(PAIRS) for forced in (0, 1)]
    write_log(root / "kitty-specs" / SLUG, rows)
    return root


def test_every_pair_without_and_with_force_through_the_command(shell: Shell, board: Path) -> None:
    log = board / "kitty-specs" / SLUG / EVENTS
    before = log.read_bytes()
    commands = []
    for i, (_, dest) in enumerate(PAIRS):
        evidence = ["--evidence-json", EVIDENCE] if dest == "done" else []  # spec-kitty's done needs it
        commands.append(shell.later("wp", "move", wp_for(2 * i), "--to", dest, "--actor", "op", *evidence,
                                    cwd=board))
        commands.append(shell.later("wp", "move", wp_for(2 * i + 1), "--to", dest, "--actor", "op", "--force",
                                    "--reason", f"pair {i}", cwd=board))
    results = parallel(*commands)
    appended = [json.loads(line) for line in log.read_bytes()[len(before):].decode().splitlines()]
    by_wp = {row["wp_id"]: row for row in appended}
    assert len(by_wp) == len(appended)  # at most one row per work package
    for i, (src, dest) in enumerate(PAIRS):
        plain, forced = results[2 * i], results[2 * i + 1]
        plain_wp, forced_wp = wp_for(2 * i), wp_for(2 * i + 1)
        if (src, dest) in lanes.EDGES:
            row = by_wp[plain_wp]
            assert (plain.stdout, plain.stderr, plain.exit_code) == (
                f"{plain_wp}: {src} -> {dest} ({SLUG}, event {row['event_id']})\n", "", 0), (src, dest)
            assert (row["from_lane"], row["to_lane"], row["force"], row["reason"]) == (src, dest, False, None)
        else:
            reachable = lanes.reachable(src)
            where = f"from {src} it may move to {', '.join(reachable)}" if reachable else f"{src} is a terminal lane"
            assert (plain.stdout, plain.stderr, plain.exit_code) == (
                "", f"Error: Refusing {plain_wp}: {src} -> {dest} is not an allowed lane move; {where} "
                    "(or pass --force with --reason).\n", 1), (src, dest)
            assert plain_wp not in by_wp
        row = by_wp[forced_wp]
        assert (forced.stderr, forced.exit_code) == ("", 0), (src, dest)
        assert (row["from_lane"], row["to_lane"], row["force"], row["reason"]) == (src, dest, True, f"pair {i}")
    assert len(appended) == 81 + sum(1 for pair in PAIRS if pair in lanes.EDGES)


def test_a_work_package_with_no_transition_is_in_genesis(shell: Shell, board: Path) -> None:
    """A typo like WP99 no longer invents work: from genesis only planned or canceled."""
    before = snapshot_tree(board)
    refused, alias_refused = parallel(
        shell.later("wp", "move", "WP999", "--to", "done", cwd=board),
        shell.later("wp", "move", "WP999", "--to", "doing", cwd=board),
    )
    expected = (
        "is not an allowed lane move; from genesis it may move to planned, canceled (or pass --force with --reason).\n")
    assert (refused.stdout, refused.stderr, refused.exit_code) == (
        "", f"Error: Refusing WP999: genesis -> done {expected}", 1)
    assert (alias_refused.stderr, alias_refused.exit_code) == (
        f"Error: Refusing WP999: genesis -> in_progress {expected}", 1)
    assert snapshot_tree(board) == before
    planned = shell.run("wp", "move", "WP999", "--to", "planned", cwd=board)
    assert (planned.stderr, planned.exit_code) == ("", 0)
    assert planned.stdout.startswith(f"WP999: genesis -> planned ({SLUG}, event ")


def test_force_without_a_reason_is_a_usage_error_and_writes_nothing(shell: Shell, board: Path) -> None:
    before = snapshot_tree(board)
    results = parallel(shell.later("wp", "move", "WP001", "--to", "done", "--force", cwd=board),
                       shell.later("wp", "move", "WP001", "--to", "done", "--force", "--reason", "  ", cwd=board))
    for result in results:
        assert (result.stdout, result.stderr, result.exit_code) == (
            "", "Error: --force requires --reason (spec-kitty records why a move was forced).\n", 2)
    assert snapshot_tree(board) == before


@pytest.mark.parametrize("wp_id", ["WP12345", "WP", "WP1a", "WP\u0661", "wp01", "WP-1"])
def test_work_package_ids_are_wp_and_one_to_four_ascii_digits(shell: Shell, board: Path, wp_id: str) -> None:
    done = shell.run("wp", "move", wp_id, "--to", "planned", cwd=board)
    assert (done.stdout, done.stderr, done.exit_code) == (
        "", f"Error: `{wp_id}` is not a work package id (expected WP and 1 to 4 ASCII digits, e.g. WP01).\n", 1)
