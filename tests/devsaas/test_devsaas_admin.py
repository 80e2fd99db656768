"""Inspection endpoints and the error shape of things no handler owns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from aiohttp.test_utils import make_mocked_request
from devsaas_helpers import Reply, make_rows

from devsaas.api import ApiError, require_loopback
from devsaas.testing import DevSaas

Call = Callable[..., Reply]


def test_stats_count_rows_bindings_and_requests(saas: DevSaas, call: Call, bound: str) -> None:
    before = saas.stats()
    call("POST", f"{bound}/events", {"events": make_rows(7)})
    call("GET", "/api/v1/whoami")
    call("GET", "/api/v1/whoami")
    after = saas.stats()
    assert after["events"] == before["events"] + 7
    assert after["bindings"] == before["bindings"]
    assert after["requests"]["whoami"] == before["requests"].get("whoami", 0) + 2
    assert after["requests"]["events_upload"] == before["requests"].get("events_upload", 0) + 1
    assert after["requests"]["admin_stats"] == before["requests"]["admin_stats"] + 1


def test_admin_views_of_an_unknown_mission_are_empty(saas: DevSaas) -> None:
    assert saas.events("nobody", "nothing") == []
    assert saas.issues("nobody", "nothing") == {}


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
