"""Several missions against the real dev SaaS: `sync run` without `--mission` covers every bound one.

Given a repository with three missions, two of them bound, when the operator moves work packages in
each and runs `spec-kitty sync run` with no `--mission`, then each bound mission is synced (one summary
line each, slug order) and the unbound one is left alone; `--mission` with a numeric handle syncs one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.shell import Shell

from devsaas.testing import DevSaas

pytestmark = pytest.mark.e2e


def test_sync_run_covers_every_mission_and_the_tracker_of_the_bound_ones(operator: Shell, saas: DevSaas,
                                                                         repo: Path) -> None:
    for slug in ("002-more", "003-unbound"):
        (repo / "kitty-specs" / slug).mkdir()
    assert operator.run("auth", "login", "--host", saas.url, cwd=repo).exit_code == 0
    for handle in ("1", "more"):
        bound = operator.run("tracker", "bind", "--mission", handle, cwd=repo)
        assert bound.exit_code == 0, bound
    for handle in ("001", "002", "003"):
        moved = operator.run("wp", "move", "WP01", "--to", "planned", "--mission", handle, cwd=repo)
        assert moved.exit_code == 0, moved
    ran = operator.run("sync", "run", cwd=repo)
    assert (ran.stdout, ran.stderr, ran.exit_code) == (
        f"Synced mission `001-demo` with {saas.url}: 1 pushed, 0 pulled, 0 still queued.\n"
        f"Synced mission `002-more` with {saas.url}: 1 pushed, 0 pulled, 0 still queued.\n"
        f"Synced mission `003-unbound` with {saas.url}: 1 pushed, 0 pulled, 0 still queued.\n", "", 0)
    assert [len(saas.row_ids(slug)) for slug in ("001-demo", "002-more", "003-unbound")] == [1, 1, 1]
    assert operator.run("wp", "move", "WP01", "--to", "claimed", "--mission", "2", cwd=repo).exit_code == 0
    one = operator.run("sync", "run", "--mission", "2", cwd=repo)
    assert (one.stdout, one.exit_code) == (
        f"Synced mission `002-more` with {saas.url}: 1 pushed, 0 pulled, 0 still queued.\n", 0)
    assert saas.issues("demo-repo", "002-more")["WP01"]["lane"] == "claimed"
