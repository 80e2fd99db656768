"""Mission handles and several missions, through the installed command.

Given a repository holding the real spec-kitty missions (two of which share a `mission_id` prefix),
when the operator names a mission by its full slug, its number, its slug without the number or the
first 8 characters of its `mission_id`, then that mission is used; an unknown or ambiguous handle exits
2 and lists the candidates. Without `--mission`, nothing is guessed: `status` covers every mission,
single-mission commands exit 2 listing them, and `--json` is JSON in every case, errors included.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.projects import (
    EVENTS,
    copy_fixture,
    fixture_missions,
    make_project,
    snapshot_tree,
    write_bindings,
)
from support.shell import Shell, parallel

from states import catalog

IN_PROCESS = True  # commands run in-process (conftest's ``shell``); tests the guard must watch are ``guarded``

STEALTH = "082-stealth-gated-saas-sync-hardening"
SHARED_PREFIX = "01KN2371"  # 017-... and 050-... both have mission ids starting so
FIXTURES = fixture_missions(required=False)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = make_project(tmp_path / "many-repo")
    for fixture in FIXTURES:
        copy_fixture(fixture, root)
    return root


def listing(root: Path, slugs: list[str] | None = None) -> str:
    """The candidate lines: `  slug (id prefix)` per mission, in slug order."""
    lines = []
    for folder in sorted((root / "kitty-specs").iterdir()):
        if slugs is not None and folder.name not in slugs:
            continue
        mission_id = next(json.loads(line)["mission_id"] for line in (folder / EVENTS).read_text().splitlines()
                          if '"mission_id": "' in line)
        lines.append(f"  {folder.name} ({mission_id[:8]})\n")
    return "".join(lines)


@pytest.mark.parametrize("handle", [
    STEALTH, "082", "82", "stealth-gated-saas-sync-hardening", "01KNXJ5M", "01knxj5m", "01KNXJ5MREJK8ZBRABRE401W39",
])
def test_every_kind_of_handle_names_the_mission(shell: Shell, repo: Path, handle: str) -> None:
    done = shell.run("status", "--mission", handle, "--json", cwd=repo)
    assert (done.stderr, done.exit_code) == ("", 0), done.describe()
    assert json.loads(done.stdout)["mission_slug"] == STEALTH


def test_meta_json_mission_id_comes_before_the_logs(shell: Shell, repo: Path) -> None:
    (repo / "kitty-specs" / STEALTH / "meta.json").write_text(json.dumps({"mission_id": "01ZZZZZZAAAA"}))
    by_meta, by_log = parallel(shell.later("status", "--mission", "01ZZZZZZ", "--json", cwd=repo),
                               shell.later("status", "--mission", "01KNXJ5M", "--json", cwd=repo))
    assert (json.loads(by_meta.stdout)["mission_slug"], by_meta.exit_code) == (STEALTH, 0)
    assert by_log.exit_code == 2


def test_an_ambiguous_or_unknown_handle_exits_2_listing_the_candidates(shell: Shell, repo: Path) -> None:
    ambiguous, unknown, as_json = parallel(
        shell.later("status", "--mission", SHARED_PREFIX, cwd=repo),
        shell.later("wp", "move", "WP01", "--to", "planned", "--mission", "999", cwd=repo),
        shell.later("status", "--mission", SHARED_PREFIX, "--json", cwd=repo),
    )
    pair = ["017-smarter-feature-merge-with-preflight", "050-state-model-cleanup-foundations"]
    assert (ambiguous.stdout, ambiguous.stderr, ambiguous.exit_code) == (
        "", f"Error: `{SHARED_PREFIX}` names more than one mission; use the full slug.\n{listing(repo, pair)}", 2)
    assert (unknown.stdout, unknown.stderr, unknown.exit_code) == (
        "", f"Error: No mission matches `999` under {repo / 'kitty-specs'}.\n{listing(repo)}", 2)
    body = json.loads(as_json.stdout)
    assert (as_json.stderr, as_json.exit_code) == ("", 2)
    assert (body["error"], body["message"]) == (
        "mission_ambiguous", f"`{SHARED_PREFIX}` names more than one mission; use the full slug.")
    assert [c["slug"] for c in body["candidates"]] == pair
    assert all(c["mission_id"].startswith(SHARED_PREFIX) for c in body["candidates"])


@pytest.mark.guarded
def test_without_mission_wp_move_exits_2_listing_the_missions_and_writes_nothing(shell: Shell, repo: Path) -> None:
    before = snapshot_tree(repo)
    done = shell.run("wp", "move", "WP01", "--to", "planned", cwd=repo)
    assert (done.stdout, done.exit_code) == ("", 2)
    assert done.stderr == ("Error: This repository has 7 missions; choose one with --mission (slug, number or id "
                           f"prefix).\n{listing(repo)}")
    assert snapshot_tree(repo) == before
    assert done.events == []


def test_without_mission_status_covers_every_mission(shell: Shell, repo: Path) -> None:
    board, as_json = parallel(shell.later("status", cwd=repo), shell.later("status", "--json", cwd=repo))
    assert (board.stderr, board.exit_code, as_json.stderr, as_json.exit_code) == ("", 0, "", 0)
    snapshots = {f.name: json.loads((f / "status.json").read_text()) for f in FIXTURES}
    latest_first = sorted(snapshots, key=lambda slug: snapshots[slug]["materialized_at"], reverse=True)
    assert [line.split(":")[0] for line in board.stdout.splitlines()] == latest_first
    assert "082-stealth-gated-saas-sync-hardening: 6 work packages (done 6)\n" in board.stdout
    body = json.loads(as_json.stdout)
    assert sorted(body) == sorted(snapshots)
    for slug, theirs in snapshots.items():
        assert (body[slug]["summary"], body[slug]["last_event_id"]) == (theirs["summary"], theirs["last_event_id"])


def test_status_json_is_json_outside_a_project_and_without_missions(shell: Shell, tmp_path: Path) -> None:
    empty = make_project(tmp_path / "empty-project")
    outside, no_missions = parallel(shell.later("status", "--json"), shell.later("status", "--json", cwd=empty))
    for result in (outside, no_missions):
        assert (result.stdout, result.stderr, result.exit_code) == ("{}\n", "", 0)


# --- hosted commands (flag on, logged in, host set; nothing here talks to the network) ---------------------
@pytest.mark.guarded
def test_tracker_unbind_with_several_missions_removes_the_repositorys_binding(tester: Shell, tmp_path: Path) -> None:
    """A binding is the repository's: ``unbind`` needs no ``--mission`` and touches no network."""
    root = make_project(tmp_path / "repo", ["001-one", "002-two"])
    write_bindings(root)
    result = tester.run("tracker", "unbind", cwd=root)
    assert (result.stderr, result.exit_code) == ("", 0), result.describe()
    assert result.stdout.splitlines()[-1] == catalog.TRACKER_UNBOUND_HOST_NOTE
    assert "tracker:" not in (root / ".kittify" / "config.yaml").read_text()
    assert [e for e in result.events if e["kind"] not in ("write",)] == []


def test_several_unbound_missions_name_the_first_in_slug_order(tester: Shell, tmp_path: Path) -> None:
    root = make_project(tmp_path / "repo", ["002-two", "001-one"])
    done = tester.run("tracker", "status", cwd=root)
    assert (done.stdout, done.exit_code) == (
        "No tracker binding exists for feature `001-one`.\n\nRun `spec-kitty tracker bind`.\n", 1)
