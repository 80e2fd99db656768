"""The dev SaaS's hosted tracker (``/api/v1/tracker/*``), spoken to over plain HTTP.

Given a token of the shared server and a project identity no other test uses, when a client resolves,
confirms, pushes, pulls and runs, then the answers are the shapes spec-kitty-cli 3.2.7 reads, every
error is the envelope, and a change made on the tracker side comes back exactly once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from devsaas_helpers import Reply

from devsaas.testing import DevSaas

Call = Callable[..., Reply]
T = "/api/v1/tracker"
ENVELOPE_KEYS = {"error_code", "error_category", "message", "retryable", "user_action_required"}


def headers(key: str | None = None, team: str = "dev-team") -> dict[str, str]:
    found = {"X-Team-Slug": team}
    if key is not None:
        found["Idempotency-Key"] = key
    return found


@pytest.fixture
def identity() -> dict[str, Any]:
    project = str(uuid.uuid4())
    return {"uuid": project, "slug": f"repo-{project[:8]}", "node_id": "0123456789ab", "repo_slug": None,
            "build_id": str(uuid.uuid4())}


@pytest.fixture
def bound(call: Call, identity: dict[str, Any]) -> dict[str, Any]:
    resolved = call("POST", f"{T}/bind-resolve/", {"provider": "github", "project_identity": identity},
                    headers=headers())
    assert resolved.status == 200
    assert resolved.json["match_type"] == "candidates"
    [candidate] = [c for c in resolved.json["candidates"] if c["display_label"] == "dev-saas/issues"]
    assert set(candidate) == {"candidate_token", "display_label", "confidence", "match_reason", "sort_position"}
    body = {"provider": "github", "candidate_token": candidate["candidate_token"], "project_identity": identity}
    confirmed = call("POST", f"{T}/bind-confirm/", body, headers=headers(str(uuid.uuid4())))
    assert confirmed.status == 200, confirmed.text
    assert {"binding_ref", "display_label", "provider", "provider_context", "bound_at", "project_slug"} <= set(
        confirmed.json)
    return confirmed.json


def test_a_bound_project_resolves_exactly_and_a_replayed_confirm_gets_the_first_answer(
        call: Call, identity: dict[str, Any], bound: dict[str, Any]) -> None:
    again = call("POST", f"{T}/bind-resolve/", {"provider": "github", "project_identity": identity},
                 headers=headers())
    assert (again.json["match_type"], again.json["binding_ref"]) == ("exact", bound["binding_ref"])
    key = str(uuid.uuid4())
    body = {"provider": "github", "candidate_token": "ct_" + b"dev-saas/issues".hex(), "project_identity": identity}
    first = call("POST", f"{T}/bind-confirm/", body, headers=headers(key))
    replay = call("POST", f"{T}/bind-confirm/", body, headers=headers(key))
    assert replay.json == first.json
    assert replay.headers.get("Idempotency-Replayed") == "true"


def test_errors_are_the_envelope(call: Call, identity: dict[str, Any]) -> None:
    cases = [
        (call("POST", f"{T}/bind-resolve/", {"provider": "jira", "project_identity": identity}, headers=headers()),
         404, "provider_not_connected"),
        (call("POST", f"{T}/bind-resolve/", {"provider": "github", "project_identity": identity}),
         400, "missing_team_slug"),
        (call("POST", f"{T}/bind-resolve/", {"provider": "github", "project_identity": identity},
              headers=headers(team="someone-else")), 403, "team_forbidden"),
        (call("POST", f"{T}/bind-confirm/", {"provider": "github", "candidate_token": "nope",
                                            "project_identity": identity}, headers=headers("k")),
         400, "invalid_candidate_token"),
        (call("POST", f"{T}/push/", {"provider": "github", "binding_ref": "br_x", "items": []}, headers=headers()),
         400, "missing_idempotency_key"),
        (call("GET", f"{T}/status/?provider=github&binding_ref=br_gone", headers=headers()), 404, "binding_not_found"),
        (call("POST", f"{T}/pull/", {"provider": "github"}, headers=headers()), 400, "missing_routing_key"),
    ]
    for reply, status, code in cases:
        assert (reply.status, reply.json["error_code"]) == (status, code), reply.text
        assert set(reply.json) == ENVELOPE_KEYS


def test_push_then_a_tracker_side_change_is_pulled_once(saas: DevSaas, call: Call, identity: dict[str, Any],
                                                       bound: dict[str, Any]) -> None:
    route = {"provider": "github", "binding_ref": bound["binding_ref"]}
    item = {"ref": "001-m/WP01", "action": "set_status", "target_status": "in_progress",
            "patch": {"last_event_id": "E1"}}
    pushed = call("POST", f"{T}/push/", {**route, "items": [item, {"ref": "bad"}]}, headers=headers("p1"))
    assert [r["status"] for r in pushed.json["results"]] == ["succeeded", "failed"]
    assert pushed.json["summary"] == {"total": 2, "succeeded": 1, "failed": 1, "skipped": 0}
    first = call("POST", f"{T}/pull/", {**route, "limit": 100}, headers=headers()).json
    assert (first["items"], first["has_more"]) == ([], False)  # a client's own push never comes back
    saas.set_issue_lane(identity["uuid"], "001-m", "WP01", "blocked")
    pulled = call("POST", f"{T}/pull/", {**route, "limit": 100, "cursor": first["next_cursor"],
                                         "filters": {"mission_slug": "001-m"}}, headers=headers()).json
    assert [(i["ref"], i["status"]) for i in pulled["items"]] == [("001-m/WP01", "blocked")]
    later = call("POST", f"{T}/pull/", {**route, "limit": 100, "cursor": pulled["next_cursor"]}, headers=headers())
    assert later.json["items"] == []
    repush = call("POST", f"{T}/push/", {**route, "items": [item]}, headers=headers("p2")).json
    assert repush["results"] == [{"ref": "001-m/WP01", "status": "skipped"}]  # same row: never clobbers
    assert saas.issues(identity["slug"], "001-m")["WP01"]["lane"] == "blocked"


def test_run_answers_202_and_its_operation_reports_the_summary(saas: DevSaas, call: Call,
                                                               bound: dict[str, Any]) -> None:
    route = {"provider": "github", "binding_ref": bound["binding_ref"]}
    saas.tracker_async("run", 1)
    try:
        accepted = call("POST", f"{T}/run/", {**route, "pull_first": True, "limit": 100}, headers=headers("r1"))
        assert accepted.status == 202
        assert accepted.json["status"] == "pending"
        path = f"{T}/operations/{accepted.json['operation_id']}/"
        assert call("GET", path, headers=headers()).json["status"] == "running"
        done = call("GET", path, headers=headers()).json
    finally:
        saas.tracker_async("run", 0)
    assert done["status"] == "completed"
    assert done["result"]["summary"] == {"total": 0, "succeeded": 0, "failed": 0, "skipped": 0}
    assert call("GET", path, headers=headers(team="nobody")).status == 403


def test_status_names_the_identity_path(call: Call, bound: dict[str, Any]) -> None:
    ref = bound["binding_ref"]
    answer = call("GET", f"{T}/status/?provider=github&binding_ref={ref}", headers=headers()).json
    assert (answer["configured"], answer["provider"], answer["identity_path"]["type"]) == (True, "github",
                                                                                            "binding_ref")
    by_slug = call("GET", f"{T}/status/?provider=github&project_slug={bound['project_slug']}", headers=headers())
    assert by_slug.json["identity_path"]["type"] == "project_slug"


def test_admin_lane_is_validated(saas: DevSaas, identity: dict[str, Any], bound: dict[str, Any]) -> None:
    status, answer = saas.request("POST", f"/api/v1/admin/projects/{identity['uuid']}/missions/m/issues/WP01",
                                  {"lane": "genesis"})
    assert (status, answer["error"]) == (400, "invalid_lane")
    status, answer = saas.request("POST", "/api/v1/admin/projects/never-bound/missions/m/issues/WP01",
                                  {"lane": "done"})
    assert (status, answer["error"]) == (404, "not_bound")
