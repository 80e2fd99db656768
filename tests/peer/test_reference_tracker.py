"""Issue 18 with the reference client as the judge: the tracker, bound and synced by either tool.

Given a project built, opted in and synced once by spec-kitty-cli 3.2.7 in a scratch HOME (its tracker
needs that), against the dev SaaS on loopback: the reference client binds (``--provider github
--select 1``), reads status and runs a tracker sync; our CLI, logged in to the same host, finds the
repository bound by it, and binds a repository of its own with requests of the same shapes (paths,
methods, body keys, headers); a binding our CLI writes is one the reference client reads, byte for
byte the block it writes itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from support.projects import git_init
from support.shell import Shell
from test_reference_journey import Journey, Ran, _login_on_the_page, new_project

from devsaas.testing import DevSaas

pytestmark = pytest.mark.peer


def shapes(requests: list[dict[str, Any]], path: str) -> list[tuple[Any, ...]]:
    """What must match between the tools: method, path, query keys, body keys, team, key present."""
    return [(r["method"], r["path"], tuple(r["query"]), r["body"], r["team"], r["idempotency_key"])
            for r in requests if r["path"] == f"/api/v1/tracker/{path}"]


@pytest.fixture(scope="module")
def peer(saas: DevSaas, reference_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Journey:
    """A project the reference client built, logged in for, opted in and synced once, then bound."""
    j = new_project(saas, reference_bin, tmp_path_factory.mktemp("peer-tracker"))
    _login_on_the_page(j).ok()
    j.run("sync", "opt-in").ok()
    for wp, lane in (("WP01", "planned"), ("WP02", "planned"), ("WP01", "claimed")):
        j.run("agent", "status", "emit", wp, "--to", lane, "--actor", "claude", "--mission", j.slug).ok()
    j.run("sync", "now").ok()
    return j


@pytest.fixture(scope="module")
def bound(peer: Journey) -> Ran:
    return peer.run("tracker", "bind", "--provider", "github", "--select", "1").ok()


@pytest.fixture(scope="module")
def ours(saas: DevSaas, tmp_path_factory: pytest.TempPathFactory) -> Shell:
    shell = Shell(tmp_path_factory.mktemp("ours")).flag("1")
    ran = shell.run("auth", "login", "--host", saas.url, "--with-token", stdin=saas.issue_token("dev") + "\n")
    assert ran.exit_code == 0, ran.describe()
    return shell


def block_text(repo: Path) -> str:
    text = (repo / ".kittify" / "config.yaml").read_text()
    return text[text.index("tracker:"):]


def test_the_reference_client_binds_with_select_1(peer: Journey, bound: Ran) -> None:
    assert "Tracker binding saved" in bound.out
    assert "- provider: github" in bound.out
    block = YAML(typ="safe").load((peer.repo / ".kittify" / "config.yaml").read_text())["tracker"]
    [binding] = peer.saas.tracker_bindings(peer.project_uuid)
    assert block == {"provider": "github", "binding_ref": binding["binding_ref"], "project_slug": "repo",
                     "display_label": "dev-saas/issues", "provider_context": {"resource": "dev-saas/issues"},
                     "workspace": None, "ownership": {"mode": "external_authoritative", "field_owners": {}}}
    seen = peer.saas.tracker_requests()
    assert [r["path"] for r in seen][-2:] == ["/api/v1/tracker/bind-resolve/", "/api/v1/tracker/bind-confirm/"]
    assert {r["team"] for r in seen} == {"dev-team"}


def test_the_reference_client_reads_status_and_runs_a_tracker_sync(peer: Journey, bound: Ran) -> None:
    status = peer.run("tracker", "status").ok().out
    assert "Tracker status" in status
    assert "- provider: github" in status
    assert "- type: binding_ref" in status
    ran = peer.run("tracker", "sync", "run").ok().out
    assert "Sync run complete" in ran, ran
    assert "- succeeded: 2" in ran, ran
    issues = peer.saas.issues(peer.project_uuid, peer.slug)
    assert {wp: issue["lane"] for wp, issue in issues.items()} == {"WP01": "claimed", "WP02": "planned"}


def test_a_repository_bound_by_the_reference_client_is_bound_for_us(peer: Journey, bound: Ran, ours: Shell) -> None:
    before = len(peer.saas.tracker_requests())
    ran = ours.run("tracker", "status", cwd=peer.repo)
    assert ran.exit_code == 0, ran.describe()
    assert ran.stdout.startswith(f"Tracker: github `dev-saas/issues` on {peer.saas.url} (binding br_")
    peer.run("tracker", "status").ok()
    requests = peer.saas.tracker_requests()[before:]
    ours_seen, theirs = shapes(requests[:1], "status/"), shapes(requests[1:], "status/")
    assert ours_seen == theirs
    assert len(theirs) == 1


def test_our_bind_sends_what_the_reference_client_sends(peer: Journey, bound: Ran, ours: Shell,
                                                        tmp_path: Path) -> None:
    reference = peer.saas.tracker_requests()
    repo = git_init(tmp_path / "our-repo")
    before = len(reference)
    ran = ours.run("tracker", "bind", "--provider", "github", "--select", "1", cwd=repo)
    assert ran.exit_code == 0, ran.describe()
    mine = peer.saas.tracker_requests()[before:]
    for path in ("bind-resolve/", "bind-confirm/"):
        assert shapes(mine, path) == shapes(reference, path)[-1:], path


def test_a_binding_we_write_is_the_block_the_reference_client_writes(peer: Journey, bound: Ran,
                                                                   ours: Shell) -> None:
    """Both tools rebind the same (host-bound) project from an unbound file: the same bytes result, and
    the reference client reads ours."""
    peer.run("tracker", "unbind").ok()
    peer.run("tracker", "bind", "--provider", "github", "--select", "1").ok()
    theirs = (peer.repo / ".kittify" / "config.yaml").read_text()
    ran = ours.run("tracker", "unbind", cwd=peer.repo)
    assert ran.exit_code == 0, ran.describe()
    assert "tracker:" not in (peer.repo / ".kittify" / "config.yaml").read_text()
    ran = ours.run("tracker", "bind", "--ownership-mode", "external_authoritative", cwd=peer.repo)
    assert ran.exit_code == 0, ran.describe()
    assert (peer.repo / ".kittify" / "config.yaml").read_text() == theirs
    status = peer.run("tracker", "status").ok().out
    assert "- provider: github" in status


def test_our_sync_pulls_and_pushes_in_the_reference_clients_shapes(peer: Journey, bound: Ran, ours: Shell) -> None:
    """The reference CLI's own ``tracker sync pull|push`` stop at its manual daemon policy (this HOME's, as
    the journey needs), so the shapes are its client's (``saas_client.py`` ``pull``/``push``): routing
    keys plus ``limit`` (and ``cursor`` once it has one), ``items`` with an ``Idempotency-Key``."""
    before = len(peer.saas.tracker_requests())
    peer.saas.set_issue_lane(peer.project_uuid, peer.slug, "WP01", "for_review")
    ran = ours.run("sync", "run", "--mission", peer.slug, cwd=peer.repo)
    assert ran.exit_code == 0, ran.describe()
    assert "1 pulled" in ran.stdout, ran.describe()
    mine = peer.saas.tracker_requests()[before:]
    pulls = shapes(mine, "pull/")
    assert pulls == [("POST", "/api/v1/tracker/pull/", (), {"provider": "str", "binding_ref": "str", "limit": "int"},
                      "dev-team", False)]
    moved = ours.run("wp", "move", "WP02", "--to", "claimed", "--mission", peer.slug, cwd=peer.repo)
    assert moved.exit_code == 0, moved.describe()
    ran = ours.run("sync", "run", "--mission", peer.slug, cwd=peer.repo)
    assert ran.exit_code == 0, ran.describe()
    later = peer.saas.tracker_requests()[before + len(mine):]
    assert [p[3] for p in shapes(later, "pull/")] == [{"provider": "str", "binding_ref": "str", "limit": "int",
                                                       "cursor": "str"}]
    assert shapes(later, "push/") == [("POST", "/api/v1/tracker/push/", (),
                                       {"provider": "str", "binding_ref": "str", "items": "list"}, "dev-team", True)]
    issues = peer.saas.issues(peer.project_uuid, peer.slug)
    assert {wp: issue["lane"] for wp, issue in issues.items()} == {"WP01": "for_review", "WP02": "claimed"}
