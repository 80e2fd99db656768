"""Issue 11, through the installed command: big logs are read once, then only their new rows.

Given a mission log of a few MiB (over ``CACHE_MIN_BYTES``) and the rollout flag off, when ``status``
runs, then its only writes are the saved fold under ``<repo>/.kittify/cache/`` (which tells git to ignore
it), nothing under the home dir, and later runs print byte for byte what a fold from scratch prints,
after rows were appended out of order, repeated or malformed, and after the log was rewritten. When
``wp move`` runs on such a log, it checks the lane table against the exact current lane (rows appended
by others since the last read included), writes the log and the cache only, and a refused move writes
nothing at all.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support.projects import EVENTS, make_project, transition, write_log
from support.shell import Shell, parallel

from orchestrator.missions.savedfold import CACHE_MIN_BYTES
from orchestrator.missions.ulid import new_ulid

IN_PROCESS = True  # commands run in-process (conftest's ``shell``); tests the guard must watch are ``guarded``

SLUG = "110-big"
EARLY, LATE = "2026-01-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repo whose one mission's log is just over the cache threshold (WP01 ends in `planned`)."""
    root = make_project(tmp_path / "big-repo", [SLUG])
    rows = []
    lanes = ("planned", "claimed", "in_progress", "for_review")
    for i in range(CACHE_MIN_BYTES // 300 + 100):
        rows.append(transition(f"WP{i % 9 + 2:02d}", lanes[i % 4], event_id=new_ulid(), slug=SLUG,
                               at=f"2026-06-01T00:00:00.{i:06d}+00:00", mission_id="01KBIGMISSION0000000000000"))
    rows.append(transition("WP01", "planned", from_lane="genesis", event_id=new_ulid(), slug=SLUG,
                           at="2026-06-02T00:00:00+00:00", mission_id="01KBIGMISSION0000000000000"))
    write_log(root / "kitty-specs" / SLUG, rows)
    assert (root / "kitty-specs" / SLUG / EVENTS).stat().st_size >= CACHE_MIN_BYTES
    return root


def cache_of(root: Path) -> Path:
    return root / ".kittify" / "cache"


def writes(result) -> set[str]:  # type: ignore[no-untyped-def]
    return {e["path"] for e in result.events if e["kind"] == "write"}


def in_cache(root: Path, path: str) -> bool:
    """Inside ``.kittify/cache/`` (or the ``mkdir`` of ``.kittify`` on the way there)."""
    return Path(path).is_relative_to(cache_of(root).resolve()) or Path(path) == (root / ".kittify").resolve()


def fresh(shell: Shell, root: Path, *argv: str):  # type: ignore[no-untyped-def]
    """The same command with the cache removed first: a fold from scratch."""
    shutil.rmtree(cache_of(root), ignore_errors=True)
    return shell.run(*argv, cwd=root)


def append(root: Path, *lines: str) -> None:
    with (root / "kitty-specs" / SLUG / EVENTS).open("a", encoding="utf-8") as out:
        out.write("".join(line + "\n" for line in lines))


@pytest.mark.guarded
def test_given_a_big_log_when_status_runs_then_it_writes_only_its_own_cache_in_the_repo(
        shell: Shell, repo: Path) -> None:
    first = shell.run("status", "--json", cwd=repo, guard_dirs=[repo])
    assert (first.stderr, first.exit_code) == ("", 0)
    assert writes(first), first.describe()
    assert all(in_cache(repo, p) for p in writes(first)), first.describe()
    assert [e for e in first.events if e["kind"] != "write"] == []
    assert not shell.home.exists()
    assert (cache_of(repo) / ".gitignore").read_text().splitlines()[-1] == "*"
    board, again = parallel(shell.later("status", cwd=repo), shell.later("status", "--json", cwd=repo))
    assert (again.stdout, again.stderr, again.exit_code) == (first.stdout, "", 0)
    assert board.exit_code == 0
    assert board.stdout.startswith(f"Mission {SLUG}: 10 work packages")


def test_given_a_cached_big_log_when_rows_arrive_out_of_order_then_status_is_the_full_fold(
        shell: Shell, repo: Path) -> None:
    shell.run("status", cwd=repo)
    log = repo / "kitty-specs" / SLUG / EVENTS
    last_line = log.read_text().splitlines()[-1]
    rewritten = dict(json.loads(last_line), to_lane="done")  # same event_id, other content: ignored
    append(repo,
           json.dumps(transition("WP01", "claimed", event_id=new_ulid(), slug=SLUG, at=LATE), sort_keys=True),
           json.dumps(transition("WP01", "canceled", event_id=new_ulid(), slug=SLUG, at=EARLY), sort_keys=True),
           last_line, json.dumps(rewritten, sort_keys=True), "{torn", "")
    cached = parallel(shell.later("status", "--json", cwd=repo), shell.later("status", cwd=repo))
    assert json.loads(cached[0].stdout)["work_packages"]["WP01"]["lane"] == "claimed"
    scratch = [fresh(shell, repo, "status", "--json"), fresh(shell, repo, "status")]
    for ours, theirs in zip(cached, scratch, strict=True):
        assert (ours.stdout, ours.stderr, ours.exit_code) == (theirs.stdout, theirs.stderr, theirs.exit_code)
    assert "skipped malformed line" in cached[0].stderr

    # rewritten rather than appended (same size, WP01's last move now `blocked`): rebuilt, never stale
    data = log.read_bytes()
    at = data.rindex(b'"to_lane": "claimed"')
    log.write_bytes(data[:at] + b'"to_lane": "blocked"' + data[at + 20:])
    after = shell.run("status", "--json", cwd=repo)
    assert json.loads(after.stdout)["work_packages"]["WP01"]["lane"] == "blocked"
    assert after.stdout == fresh(shell, repo, "status", "--json").stdout


@pytest.mark.guarded
def test_given_a_cached_big_log_when_wp_move_then_the_lane_is_exact_and_only_log_snapshot_and_cache_are_written(
        shell: Shell, repo: Path) -> None:
    shell.run("status", cwd=repo)  # the cache now says WP01 is `planned`
    append(repo, json.dumps(transition("WP01", "claimed", event_id=new_ulid(), slug=SLUG,
                                       at="2026-06-03T00:00:00+00:00"), sort_keys=True))
    log = (repo / "kitty-specs" / SLUG / EVENTS).resolve()
    before = (log.read_bytes(), {p.name: p.read_bytes() for p in (cache_of(repo) / "missions").iterdir()})
    refused = shell.run("wp", "move", "WP01", "--to", "planned", "--mission", SLUG, cwd=repo, guard_dirs=[repo])
    assert refused.exit_code == 1, refused.describe()
    assert writes(refused) <= {str(log)}, refused.describe()  # opened to lock it
    assert (log.read_bytes(), {p.name: p.read_bytes() for p in (cache_of(repo) / "missions").iterdir()}) == before
    assert refused.stderr.startswith("Error: Refusing WP01: claimed -> planned is not an allowed lane move;")

    moved = shell.run("wp", "move", "WP01", "--to", "in_progress", "--mission", SLUG, cwd=repo, guard_dirs=[repo])
    assert (moved.stderr, moved.exit_code) == ("", 0), moved.describe()
    assert moved.stdout.startswith(f"WP01: claimed -> in_progress ({SLUG}, event ")
    snapshot_tmp = str(log.parent / "status.json.tmp")  # status.json, rewritten as spec-kitty's materialize does
    assert all(p in (str(log), snapshot_tmp) or in_cache(repo, p) for p in writes(moved)), moved.describe()
    row = json.loads(log.read_text().splitlines()[-1])
    assert (row["from_lane"], row["mission_id"]) == ("claimed", "01KBIGMISSION0000000000000")
    assert not shell.home.exists()
    status = shell.run("status", "--json", cwd=repo)
    assert status.stdout == fresh(shell, repo, "status", "--json").stdout
    assert json.loads(status.stdout)["work_packages"]["WP01"]["lane"] == "in_progress"
