"""Issue 18: the tracker on the real protocol, driven through the installed ``spec-kitty``.

Given a repository and a login against the dev SaaS (which fronts a built-in ``github`` tracker), when
the operator binds, asks for status, syncs, unbinds, then the requests are spec-kitty's
(``/api/v1/tracker/*`` with ``X-Team-Slug`` and ``Idempotency-Key``), and the binding is the
``tracker:`` block of ``.kittify/config.yaml`` with every other key and comment kept.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ruamel.yaml import YAML
from support.cli import ok
from support.shell import Shell

from devsaas.testing import DevSaas
from states import catalog

pytestmark = pytest.mark.e2e

MISSION = "001-demo"
CONFIG_YAML = """\
# spec-kitty project settings (kept by every tool that writes this file)
agents:
  available:
  - claude   # the one we use
project:
  uuid: 6f1c2a9e-3d4b-4c5a-8e7f-9a0b1c2d3e4f
  slug: demo-repo
  node_id: 0123456789ab
  build_id: 7d9e4c1a-2b3c-5d4e-8f9a-0b1c2d3e4f5a
"""


def tracker_block(repo: Path) -> dict[str, object]:
    return dict(YAML(typ="safe").load((repo / ".kittify" / "config.yaml").read_text())["tracker"])


@pytest.fixture
def logged_in(operator: Shell, saas: DevSaas, repo: Path) -> Path:
    (repo / ".kittify").mkdir(exist_ok=True)
    (repo / ".kittify" / "config.yaml").write_text(CONFIG_YAML)
    ok(operator.run("auth", "login", "--host", saas.url, cwd=repo))
    return repo


def test_bare_bind_binds_the_one_candidate_and_writes_the_tracker_block(operator: Shell, saas: DevSaas,
                                                                          logged_in: Path) -> None:
    ran = ok(operator.run("tracker", "bind", cwd=logged_in))
    [binding] = saas.tracker_bindings("6f1c2a9e-3d4b-4c5a-8e7f-9a0b1c2d3e4f")
    assert ran.stdout.splitlines()[-1] == catalog.TRACKER_BOUND.format(
        provider="github", label="dev-saas/issues", url=saas.url, ref=binding["binding_ref"],
        mode="spec_kitty_authoritative")
    text = (logged_in / ".kittify" / "config.yaml").read_text()
    assert text.startswith(CONFIG_YAML)  # every other key and comment kept, byte for byte
    assert tracker_block(logged_in) == {
        "provider": "github", "binding_ref": binding["binding_ref"], "project_slug": "demo-repo",
        "display_label": "dev-saas/issues", "provider_context": {"resource": "dev-saas/issues"}, "workspace": None,
        "ownership": {"mode": "spec_kitty_authoritative", "field_owners": {}}}
    seen = saas.tracker_requests()
    assert [(r["method"], r["path"]) for r in seen] == [
        ("POST", "/api/v1/tracker/bind-resolve/"),  # github: the host fronts it
        ("POST", "/api/v1/tracker/bind-resolve/"),  # gitlab, jira, linear: it does not
        ("POST", "/api/v1/tracker/bind-resolve/"),
        ("POST", "/api/v1/tracker/bind-resolve/"),
        ("POST", "/api/v1/tracker/bind-confirm/")]
    assert {r["team"] for r in seen} == {"dev-team"}
    assert [r["idempotency_key"] for r in seen] == [False] * 4 + [True]
    assert seen[0]["body"] == {"provider": "str", "project_identity": ["build_id", "node_id", "repo_slug", "slug",
                                                                      "uuid"]}
    assert seen[-1]["body"] == {"provider": "str", "candidate_token": "str",
                                "project_identity": ["build_id", "node_id", "repo_slug", "slug", "uuid"]}


def test_several_candidates_are_listed_numbered_and_select_picks_one(operator: Shell, saas: DevSaas,
                                                                     logged_in: Path) -> None:
    saas.add_tracker_resource("dev-saas/other")
    listed = operator.run("tracker", "bind", cwd=logged_in)
    assert listed.exit_code == 2, listed.describe()
    assert listed.stdout.splitlines() == [
        catalog.TRACKER_CANDIDATES_HEADING.format(url=saas.url),
        "  1. github: dev-saas/issues (a resource of the connected provider)",
        "  2. github: dev-saas/other (a resource of the connected provider)",
        "", catalog.TRACKER_CANDIDATES_PICK]
    assert not (logged_in / ".kittify" / "config.yaml").read_text().count("tracker:")
    ok(operator.run("tracker", "bind", "--provider", "github", "--select", "2", "--ownership-mode",
                    "external_authoritative", cwd=logged_in))
    block = tracker_block(logged_in)
    assert block["display_label"] == "dev-saas/other"
    assert block["ownership"] == {"mode": "external_authoritative", "field_owners": {}}
    again = ok(operator.run("tracker", "bind", "--bind-ref", str(block["binding_ref"]), cwd=logged_in))
    assert "binding " + str(block["binding_ref"]) in again.stdout
    assert tracker_block(logged_in)["ownership"] == {"mode": "external_authoritative", "field_owners": {}}


def test_status_asks_the_host_and_unbind_removes_the_block(operator: Shell, saas: DevSaas, logged_in: Path) -> None:
    unbound = operator.run("tracker", "status", cwd=logged_in)
    assert (unbound.exit_code, unbound.stdout) == (1, catalog.UNBOUND.filled(slug=MISSION).render() + "\n")
    ok(operator.run("tracker", "bind", cwd=logged_in))
    ran = ok(operator.run("tracker", "status", "--json", cwd=logged_in))
    body = json.loads(ran.stdout)
    assert body["remote"]["configured"] is True
    assert body["remote"]["identity_path"]["type"] == "binding_ref"
    status = [r for r in saas.tracker_requests() if r["path"] == "/api/v1/tracker/status/"]
    assert [(r["method"], r["query"], r["team"]) for r in status] == [
        ("GET", ["binding_ref", "provider"], "dev-team")]
    ran = ok(operator.run("tracker", "unbind", cwd=logged_in))
    assert ran.stdout.splitlines()[-1] == catalog.TRACKER_UNBOUND_HOST_NOTE
    assert (logged_in / ".kittify" / "config.yaml").read_text() == CONFIG_YAML
    again = operator.run("tracker", "status", cwd=logged_in)
    assert again.exit_code == 1
    assert "No tracker binding exists for feature `001-demo`." in again.stdout


def test_a_stale_binding_ref_is_one_line_naming_the_rebind(operator: Shell, saas: DevSaas, logged_in: Path) -> None:
    ok(operator.run("tracker", "bind", cwd=logged_in))
    path = logged_in / ".kittify" / "config.yaml"
    path.write_text(path.read_text().replace("binding_ref: br_", "binding_ref: gone_"))
    ran = operator.run("tracker", "status", cwd=logged_in)
    assert ran.exit_code == 1
    assert ran.stderr.strip() == "Error: " + catalog.TRACKER_REFUSED.format(
        url=saas.url, message="no such tracker binding", code="binding_not_found", hint=catalog.TRACKER_HINT_REBIND)


def test_an_old_config_toml_binding_counts_and_is_converted_by_the_next_bind(operator: Shell, saas: DevSaas,
                                                                             logged_in: Path) -> None:
    toml = logged_in / ".kittify" / "config.toml"
    toml.write_text('[tracker]\nkeep = 1\n\n[[tracker.binding]]\nmission = "001-demo"\nproject = "demo-repo"\n'
                    f'server_url = "{saas.url}"\nbinding_id = "b-1"\nbound_at = "2026-01-01T00:00:00+00:00"\n')
    ran = ok(operator.run("tracker", "status", cwd=logged_in))  # still bound: read once more
    assert ran.stdout.splitlines()[0] == catalog.TRACKER_LEGACY_STATUS.format(path=toml, project="demo-repo")
    bound = ok(operator.run("tracker", "bind", cwd=logged_in))
    assert bound.stdout.splitlines()[-1] == catalog.TRACKER_MIGRATED.format(
        old=toml, new=logged_in / ".kittify" / "config.yaml")
    assert toml.read_text() == "[tracker]\nkeep = 1\n\n"
    assert tracker_block(logged_in)["provider"] == "github"


def test_a_binding_one_host_confirmed_is_no_binding_on_another(operator: Shell, saas: DevSaas, logged_in: Path,
                                                               tmp_path: Path) -> None:
    """The ``tracker:`` block names no host (spec-kitty's layout), yet its binding_ref is host A's: on host B
    the repository is unbound (the quickstart's wording) and ``sync run`` sends events without a tracker step."""
    from devsaas.testing import start_dev_saas

    ok(operator.run("tracker", "bind", cwd=logged_in))
    (logged_in / "kitty-specs" / "001-demo").mkdir(parents=True, exist_ok=True)
    ok(operator.run("wp", "move", "WP01", "--to", "planned", cwd=logged_in))
    with start_dev_saas(auto_approve=True, db=tmp_path / "b.sqlite3") as other:
        ok(operator.run("auth", "login", "--host", other.url, cwd=logged_in))
        on_b = {"SPEC_KITTY_SAAS_URL": other.url}
        status = operator.run("tracker", "status", cwd=logged_in, env=on_b)
        assert (status.stdout, status.exit_code) == (catalog.UNBOUND.filled(slug="001-demo").render() + "\n", 1)
        synced = ok(operator.run("sync", "run", cwd=logged_in, env=on_b))
        assert "1 pushed" in synced.stdout
        assert len(other.row_ids("001-demo")) == 1
        assert other.tracker_requests() == []
    assert ok(operator.run("tracker", "status", cwd=logged_in)).exit_code == 0  # still bound on its own host
