"""Tracker sync push/pull semantics (docs/api.md, "Tracker sync"), over real HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from devsaas_helpers import Reply

from devsaas.testing import DevSaas

Call = Callable[..., Reply]


def _sync(call: Call, bound: str, cursor: int | None, **lanes: tuple[str, str]) -> dict[str, Any]:
    body = {"cursor": cursor, "lanes": {wp: {"lane": lane, "last_event_id": eid} for wp, (lane, eid) in lanes.items()}}
    reply = call("POST", f"{bound}/tracker/sync", body)
    assert reply.status == 200, reply.text
    return reply.json


def test_push_creates_issues_and_a_repush_is_a_no_op(
    saas: DevSaas, call: Call, bound: str, mission: tuple[str, str]
) -> None:
    first = _sync(call, bound, None, WP01=("in_progress", "E1"), WP02=("planned", "E2"))
    assert (first["pushed"], first["changes"]) == (2, [])
    assert first["cursor"] > 0
    issues = saas.issues(*mission)
    assert {wp: (i["lane"], i["last_event_id"]) for wp, i in issues.items()} == {
        "WP01": ("in_progress", "E1"),
        "WP02": ("planned", "E2"),
    }

    again = _sync(call, bound, first["cursor"], WP01=("in_progress", "E1"), WP02=("planned", "E2"))
    assert again == {"cursor": first["cursor"], "pushed": 0, "changes": []}


def test_a_stale_repush_never_overwrites_a_remote_change(
    saas: DevSaas, call: Call, bound: str, mission: tuple[str, str]
) -> None:
    cursor = _sync(call, bound, None, WP01=("in_progress", "E1"))["cursor"]
    remote = saas.set_issue_lane(*mission, "WP01", "done")
    assert remote["seq"] > cursor

    pulled = _sync(call, bound, cursor, WP01=("in_progress", "E1"))
    assert pulled["pushed"] == 0
    assert [(c["wp_id"], c["lane"], c["seq"]) for c in pulled["changes"]] == [("WP01", "done", remote["seq"])]
    assert pulled["cursor"] == remote["seq"]
    assert saas.issues(*mission)["WP01"]["lane"] == "done"

    # Nothing newer than the cursor: nothing pulled.
    assert _sync(call, bound, pulled["cursor"], WP01=("in_progress", "E1"))["changes"] == []
    # From the start, the remote lane is still the news.
    assert [c["lane"] for c in _sync(call, bound, None)["changes"]] == ["done"]


def test_a_new_local_event_wins_and_is_not_echoed_back(
    saas: DevSaas, call: Call, bound: str, mission: tuple[str, str]
) -> None:
    cursor = _sync(call, bound, None, WP01=("in_progress", "E1"))["cursor"]
    saas.set_issue_lane(*mission, "WP01", "blocked")

    result = _sync(call, bound, cursor, WP01=("for_review", "E2"))
    assert result["pushed"] == 1
    assert result["changes"] == []  # the client's change is now the latest; nothing remote to pull
    issue = saas.issues(*mission)["WP01"]
    assert (issue["lane"], issue["last_event_id"]) == ("for_review", "E2")


def test_same_lane_new_event_updates_the_issue_without_a_change(
    saas: DevSaas, call: Call, bound: str, mission: tuple[str, str]
) -> None:
    cursor = _sync(call, bound, None, WP01=("done", "E1"))["cursor"]
    result = _sync(call, bound, cursor, WP01=("done", "E2"))
    assert result == {"cursor": cursor, "pushed": 0, "changes": []}
    assert saas.issues(*mission)["WP01"]["last_event_id"] == "E2"


def test_remote_change_on_an_unknown_wp_creates_the_issue(
    saas: DevSaas, call: Call, bound: str, mission: tuple[str, str]
) -> None:
    saas.set_issue_lane(*mission, "WP07", "canceled")
    changes = _sync(call, bound, 0)["changes"]
    assert [(c["wp_id"], c["lane"]) for c in changes] == [("WP07", "canceled")]
    assert set(changes[0]) == {"wp_id", "lane", "changed_at", "seq"}
    assert saas.issues(*mission)["WP07"]["last_event_id"] is None


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"cursor": None, "lanes": {"WP01": {"lane": "doing", "last_event_id": "E"}}}, 400, "invalid_lane"),
        ({"cursor": None, "lanes": {"WP 1": {"lane": "done", "last_event_id": "E"}}}, 400, "invalid_name"),
        ({"cursor": None, "lanes": {"WP01": {"lane": "done"}}}, 400, "invalid_request"),
        ({"cursor": "7", "lanes": {}}, 400, "invalid_request"),
        ({"cursor": True, "lanes": {}}, 400, "invalid_request"),
        ({"cursor": -1, "lanes": {}}, 400, "invalid_request"),
        ({"cursor": None, "lanes": []}, 400, "invalid_request"),
    ],
)
def test_bad_sync_bodies(call: Call, bound: str, body: dict[str, Any], status: int, error: str) -> None:
    reply = call("POST", f"{bound}/tracker/sync", body)
    assert (reply.status, reply.json["error"]) == (status, error)


def test_sync_and_remote_changes_need_a_binding(
    saas: DevSaas, call: Call, mission_path: str, mission: tuple[str, str]
) -> None:
    reply = call("POST", f"{mission_path}/tracker/sync", {"cursor": None, "lanes": {}})
    assert (reply.status, reply.json["error"]) == (404, "not_bound")
    status, answer = saas.request(
        "POST", "/api/v1/admin/projects/{}/missions/{}/issues/WP01".format(*mission), {"lane": "done"}
    )
    assert (status, answer["error"]) == (404, "not_bound")


def test_admin_lane_is_validated(saas: DevSaas, bound: str, mission: tuple[str, str]) -> None:
    status, answer = saas.request(
        "POST", "/api/v1/admin/projects/{}/missions/{}/issues/WP01".format(*mission), {"lane": "genesis"}
    )
    assert (status, answer["error"]) == (400, "invalid_lane")
