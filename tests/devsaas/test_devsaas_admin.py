"""Inspection endpoints and the error shape of things no handler owns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from aiohttp.test_utils import make_mocked_request
from devsaas_helpers import Reply, http

from devsaas.api import ApiError, require_loopback
from devsaas.testing import DevSaas

Call = Callable[..., Reply]


def test_stats_count_bindings_and_requests_by_route_name(saas: DevSaas, call: Call, token: str) -> None:
    before = saas.stats()
    assert set(before) == {"envelopes", "dossier_bodies", "bindings", "requests"}
    confirm = {"provider": "github", "candidate_token": "ct_" + b"dev-saas/issues".hex(),
               "project_identity": {"uuid": "9d7c5b3a-1e2f-4a6b-8c9d-0e1f2a3b4c5d", "slug": "p"}}
    bound = http(saas, "POST", "/api/v1/tracker/bind-confirm/", confirm, token=token,
                 headers={"X-Team-Slug": "dev-team", "Idempotency-Key": "stats-1"})
    assert bound.status == 200, bound
    call("GET", "/api/v1/me")
    call("GET", "/api/v1/me")
    after = saas.stats()
    assert after["bindings"] == before["bindings"] + 1
    assert after["envelopes"] == before["envelopes"]
    assert after["requests"]["me"] == before["requests"].get("me", 0) + 2
    assert after["requests"]["tracker_bind_confirm"] == before["requests"].get("tracker_bind_confirm", 0) + 1
    assert after["requests"]["admin_stats"] == before["requests"]["admin_stats"] + 1


def test_admin_views_of_an_unknown_project_are_empty(saas: DevSaas) -> None:
    assert saas.envelopes(project_uuid="nobody") == []
    assert saas.dossier_bodies("nobody") == []
    assert saas.issues("nobody", "nothing") == {}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/auth/device/code"),
        ("POST", "/api/v1/auth/device/token"),
        ("POST", "/api/v1/auth/token/refresh"),
        ("POST", "/api/v1/auth/revoke"),
        ("GET", "/api/v1/whoami"),
        ("POST", "/api/v1/projects/p/missions/m/events"),
        ("GET", "/api/v1/admin/projects/p/missions/m/events"),
    ],
)
def test_the_old_protocol_is_not_served(call: Call, method: str, path: str) -> None:
    """The project's own login, identity and upload paths are gone: a client still on them gets a 404,
    never a half-working session."""
    reply = call(method, path, {})
    assert (reply.status, reply.json["error"]) == (404, "not_found")


def test_unrouted_api_paths_answer_in_the_error_shape(call: Call) -> None:
    missing = call("GET", "/api/v1/nope")
    assert (missing.status, missing.json["error"]) == (404, "not_found")
    wrong_method = call("PATCH", "/api/v1/health")
    assert (wrong_method.status, wrong_method.json["error"]) == (405, "method_not_allowed")


@pytest.mark.parametrize(
    ("peer", "allowed"),
    [("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("::ffff:127.0.0.1", True), ("10.1.2.3", False)],
)
def test_admin_answers_only_loopback_peers(peer: str, allowed: bool) -> None:
    transport: Any = mock.Mock()
    transport.get_extra_info.side_effect = lambda key, default=None: (peer, 1234) if key == "peername" else default
    request = make_mocked_request("GET", "/api/v1/admin/stats", transport=transport)
    if allowed:
        require_loopback(request)
    else:
        with pytest.raises(ApiError, match="forbidden"):
            require_loopback(request)
