"""HTTP and fixture-data helpers shared by the dev SaaS tests (a module, so tests can import it)."""

from __future__ import annotations

import gzip
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

from devsaas.testing import DevSaas

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)


def http(
    saas: DevSaas,
    method: str,
    path: str,
    body: object = None,
    *,
    token: str | None = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    gzipped: bool = False,
) -> Reply:
    """A plain urllib request, so tests see exactly what goes over the wire."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(saas.url + path, data=data, method=method, headers=headers or {})
    if data is not None and "Content-Type" not in (headers or {}):
        req.add_header("Content-Type", "application/json")
    if gzipped and data is not None:
        req.data = gzip.compress(data)
        req.add_header("Content-Encoding", "gzip")
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with _OPENER.open(req, timeout=30) as resp:
            return Reply(resp.status, dict(resp.headers), resp.read().decode())
    except urllib.error.HTTPError as err:
        with err:
            return Reply(err.code, dict(err.headers), err.read().decode())


def form(saas: DevSaas, path: str, **fields: str) -> Reply:
    """A form-encoded POST, as the reference client's OAuth calls are (httpx ``data=``)."""
    data = urllib.parse.urlencode(fields).encode()
    return http(saas, "POST", path, raw=data, headers={"Content-Type": "application/x-www-form-urlencoded"})


DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def new_code(saas: Any) -> dict[str, Any]:
    """``POST /oauth/device`` as the reference client sends it: the device answer."""
    reply = form(saas, "/oauth/device", client_id="cli_native", scope="offline_access")
    assert reply.status == 200, reply.text
    return reply.json


def poll(saas: Any, device_code: str) -> Reply:
    """One device-grant poll of ``POST /oauth/token``."""
    return form(saas, "/oauth/token", grant_type=DEVICE_GRANT, device_code=device_code, client_id="cli_native")


def post_batch(saas: Any, token: str, events: list[Any], headers: dict[str, str] | None = None) -> Reply:
    """``POST /api/v1/events/batch/`` as the reference client posts: gzip, JSON, the protocol header."""
    body = json.dumps({"events": events}, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    protocol = {"X-Spec-Kitty-Sync-Protocol": "2.0"} if headers is None else headers
    return http(saas, "POST", "/api/v1/events/batch/", raw=body, gzipped=True, token=token,
                headers={"Content-Type": "application/json", **protocol})


def envelope(project_uuid: str, *, event_type: str = "WPStatusChanged", **overrides: Any) -> dict[str, Any]:
    """An envelope shaped like the reference client's (a WPStatusChanged recorded from spec-kitty-cli
    3.2.7), with a fresh ``event_id``; ``overrides`` replace or add top-level fields."""
    event_id = "01M9" + uuid.uuid4().hex[:22].upper()
    body: dict[str, Any] = {
        "admission_generation": 1,
        "aggregate_id": "WP01",
        "aggregate_type": "WorkPackage",
        "binding_audience": "local-nonstrict:http://127.0.0.1:8765",
        "build_id": "ca0848fb-2ef4-5290-bb14-c329f56bb05f",
        "causation_id": "01M94APQCR22Z6G8J42H9N4D02",
        "correlation_id": "01M94APQCR22Z6G8J42H9N4D02",
        "drain_blocked_reason": None,
        "event_id": event_id,
        "event_type": event_type,
        "git_branch": "feat/demo",
        "head_commit_sha": "0812b52e9ccd525c4fab2e3ae6d0ac582fb59607",
        "lamport_clock": 10,
        "node_id": "b805cd5cee74",
        "payload": {"actor": "claude", "execution_mode": "worktree", "force": False, "from_lane": "genesis",
                    "mission_slug": "demo-mission-01M94AND", "to_lane": "planned", "wp_id": "WP01"},
        "project_slug": "proj",
        "project_uuid": project_uuid,
        "repo_slug": None,
        "schema_version": "3.0.0",
        "spec_kitty_delivery_identity": event_id,
        "team_slug": "dev-private",
        "timestamp": "2026-12-06T00:05:19.896391+00:00",
        "type": "event",
    }
    body.update(overrides)
    return body
