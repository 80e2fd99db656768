"""Tracker bindings and project ownership (the old protocol's tracker routes, until the tracker issue
moves them to /api/v1/tracker/), over real HTTP. Event sync is test_devsaas_batch.py's."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from devsaas_helpers import Reply, http

from devsaas.testing import DevSaas

Call = Callable[..., Reply]


def test_binding_crud(call: Call, mission: tuple[str, str], mission_path: str) -> None:
    path = f"{mission_path}/binding"
    assert call("GET", path).json["error"] == "not_found"

    created = call("PUT", path, {"repo_name": "spec-kitty", "mission_slug": "082-x"})
    assert created.status == 201
    binding = created.json
    assert binding["binding_id"].startswith("bnd_")
    assert (binding["project"], binding["mission"]) == mission
    assert (binding["repo_name"], binding["mission_slug"]) == ("spec-kitty", "082-x")

    again = call("PUT", path)  # body optional; keeps what it had
    assert (again.status, again.json) == (200, binding)
    assert (call("GET", path).status, call("GET", path).json) == (200, binding)

    assert call("DELETE", path).status == 204
    assert call("DELETE", path).status == 204
    assert call("GET", path).status == 404


@pytest.mark.parametrize("name", ["bad%20name", ".hidden", "-dash", "x" * 129, "%C3%A9t%C3%A9"])
def test_names_are_validated(call: Call, name: str) -> None:
    for path in (f"/api/v1/projects/{name}/missions/m/binding", f"/api/v1/projects/p/missions/{name}/binding"):
        reply = call("PUT", path)
        assert (reply.status, reply.json["error"]) == (400, "invalid_name")


def test_a_project_belongs_to_its_first_binder_until_the_admin_grants_another_login(
    saas: DevSaas, call: Call, mission: tuple[str, str], mission_path: str
) -> None:
    assert call("PUT", f"{mission_path}/binding").status == 201  # the shared token's login owns it now
    other = saas.issue_token(login="mallory")
    for method, path, body in (("GET", "binding", None), ("PUT", "binding", {}), ("DELETE", "binding", None),
                               ("POST", "tracker/sync", {"cursor": 0, "lanes": {}})):
        reply = http(saas, method, f"{mission_path}/{path}", body, token=other)
        assert (reply.status, reply.json["error"]) == (403, "forbidden"), (method, path)
    saas.grant_project(mission[0], "mallory")
    assert http(saas, "GET", f"{mission_path}/binding", token=other).status == 200
