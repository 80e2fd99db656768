"""One repository, two tools: spec-kitty 3.2.7's own moves interleaved with ours, its validator as judge.

Given a project laid out by spec-kitty's own ``init`` and ``agent mission create`` (auto-commit on, as its
``init`` writes it), when its ``agent status emit`` and our ``wp move`` take turns on the same mission,
then after each of ours its ``agent status validate`` passes, its ``materialize`` would write exactly the
``status.json`` we left, it continues from our rows, and each move is committed with its message.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from speckitty import Neighbour, build_project, copy_project, git
from support.shell import Shell

pytestmark = [pytest.mark.peer, pytest.mark.e2e]

EVIDENCE = '{"review": {"reviewer": "alice", "verdict": "approved", "reference": "PR#1"}, "extra": 1}'


@pytest.fixture(scope="module")
def single_branch(reference_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    base = tmp_path_factory.mktemp("peer-single")
    slug = build_project(Neighbour(reference_bin, base / "home", base / "repo"), "single_branch", "feat/demo")
    return base / "repo", slug


@pytest.fixture
def project(single_branch: tuple[Path, str], tmp_path: Path, reference_bin: Path) -> tuple[Neighbour, str]:
    source, slug = single_branch
    copy_project(source, tmp_path / "repo")
    return Neighbour(reference_bin, tmp_path / "peer-home", tmp_path / "repo"), slug


def rows(folder: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (folder / "status.events.jsonl").read_text().splitlines() if line.strip()]


def test_moves_interleaved_with_spec_kitty_keep_its_validator_green(project: tuple[Neighbour, str],
                                                                    tmp_path: Path) -> None:
    peer, slug = project
    repo = peer.repo
    folder = repo / "kitty-specs" / slug
    mission_id = json.loads((folder / "meta.json").read_text())["mission_id"]
    ours = Shell(tmp_path)

    def move(*args: str) -> None:
        ran = ours.run("wp", "move", *args, "--mission", slug, "--actor", "codex", cwd=repo)
        assert ran.exit_code == 0, ran.describe()
        assert ran.stderr == "", ran.describe()
        assert peer.validate(slug)["passed"], peer.validate(slug)
        ours_bytes = (folder / "status.json").read_bytes()
        assert peer.materialized(folder, slug) == ours_bytes  # byte for byte what its materialize writes
        assert git(repo, "status", "--porcelain", "--", f"kitty-specs/{slug}") == ""
        assert git(repo, "log", "-1", "--format=%s") == f"chore(spec-kitty): status transition {args[0]}\n"

    peer.emit("WP01", "planned", slug)
    move("WP02", "--to", "planned")
    peer.emit("WP02", "claimed", slug)  # it continues from our row: planned -> claimed
    move("WP02", "--to", "in_progress", "--execution-mode", "direct_repo")
    move("WP01", "--to", "claimed")
    peer.emit("WP01", "in_progress", slug)
    move("WP01", "--to", "for_review", "--review-ref", "feedback://1")
    move("WP01", "--to", "in_review")
    move("WP01", "--to", "approved", "--review-result-json",
         '{"reviewer": "alice", "verdict": "approved", "reference": "PR#1"}')

    before = (folder / "status.events.jsonl").read_bytes()
    refused = ours.run("wp", "move", "WP01", "--to", "done", "--mission", slug, cwd=repo)
    assert (refused.stdout, refused.stderr, refused.exit_code) == (
        "", "Error: WP01 cannot move to done without done evidence: pass --evidence-json with review.reviewer, "
            "review.verdict and review.reference (or --force --reason).\n", 1)
    malformed = ours.run("wp", "move", "WP01", "--to", "done", "--mission", slug, "--evidence-json", "{bad", cwd=repo)
    assert (malformed.stdout, malformed.exit_code) == ("", 2)
    assert malformed.stderr.count("\n") == 1
    assert malformed.stderr.startswith("Error: --evidence-json is not valid")
    assert (folder / "status.events.jsonl").read_bytes() == before  # nothing written by either refusal

    move("WP01", "--to", "done", "--evidence-json", EVIDENCE)
    move("WP03", "--to", "canceled", "--force", "--reason", "out of scope")
    peer.emit("WP02", "for_review", slug, "--subtasks-complete", "--implementation-evidence-present")

    mine = [row for row in rows(folder) if row.get("actor") == "codex"]
    assert len(mine) == 8
    assert {row["mission_id"] for row in mine} == {mission_id}
    done = next(row for row in mine if row["to_lane"] == "done")
    assert done["evidence"] == {"review": {"reviewer": "alice", "verdict": "approved", "reference": "PR#1"}}
    approved = next(row for row in mine if row["to_lane"] == "approved")
    assert approved["review_result"] == {"reviewer": "alice", "verdict": "approved", "reference": "PR#1"}
    assert next(row for row in mine if row["to_lane"] == "for_review")["review_ref"] == "feedback://1"
    assert [row["execution_mode"] for row in mine][:2] == ["worktree", "direct_repo"]
    assert "review_result" not in mine[0]
    assert list(mine[0]) == sorted(mine[0])
    assert peer.validate(slug)["passed"]


def test_a_coordination_mission_is_read_and_written_where_spec_kitty_keeps_it(reference_bin: Path,
                                                                             tmp_path: Path) -> None:
    peer = Neighbour(reference_bin, tmp_path / "peer-home", tmp_path / "repo")
    slug = build_project(peer, "coord", "feat/coord", wps=2)
    repo = peer.repo
    ours = Shell(tmp_path)
    first = ours.run("wp", "move", "WP01", "--to", "planned", "--mission", slug, cwd=repo)  # before spec-kitty wrote
    assert first.exit_code == 0, first.describe()
    coord = next((repo / ".worktrees").iterdir()) / "kitty-specs" / slug
    assert [row["to_lane"] for row in rows(coord)] == ["planned"]
    assert peer.validate(slug)["passed"]
    peer.emit("WP01", "claimed", slug)  # its move sees ours: planned -> claimed
    peer.emit("WP02", "planned", slug)
    second = ours.run("wp", "move", "WP02", "--to", "claimed", "--mission", slug, cwd=repo)
    assert second.exit_code == 0, second.describe()
    assert [row["to_lane"] for row in rows(coord)] == ["planned", "claimed", "planned", "claimed"]
    assert peer.validate(slug)["passed"]
    assert peer.materialized(coord, slug) == (coord / "status.json").read_bytes()
    status = ours.run("status", "--mission", slug, cwd=repo)
    assert status.stdout == f"Mission {slug}: 2 work packages, 4 lane events\n  claimed       2  WP01 WP02\n"
    assert git(coord, "log", "-1", "--format=%s") == "chore(spec-kitty): status transition WP02\n"


def test_our_status_json_matches_its_materialize_for_every_fixture_log(reference_bin: Path, tmp_path: Path) -> None:
    """The materializer against spec-kitty's own on the real logs (annotations, forced moves, rollbacks)."""
    import subprocess

    from support.projects import copy_fixture, fixture_missions

    from orchestrator.missions import materialize

    folders = [copy_fixture(fixture, tmp_path) for fixture in fixture_missions()]
    script = ("import sys; from pathlib import Path; from specify_cli.status.reducer import materialize_snapshot, "
              "materialize_to_json\nfor d in sys.argv[1:]: sys.stdout.write(materialize_to_json("
              "materialize_snapshot(Path(d))) + '\\0')")
    peer = Neighbour(reference_bin, tmp_path / "peer-home", tmp_path)
    theirs = subprocess.run([str(reference_bin / "python"), "-c", script, *map(str, folders)], env=peer.env(),
                            capture_output=True, text=True, check=True, cwd=tmp_path).stdout.split("\0")[:-1]
    ours = [materialize.render(f, materialize.read_rows(f / "status.events.jsonl")) for f in folders]
    assert len(folders) >= 5
    assert ours == theirs
