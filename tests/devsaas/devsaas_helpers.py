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


# Shapes copied from real spec-kitty status.events.jsonl files: a lane transition with nested
# policy metadata, and an annotation row without lanes.
_TRANSITION: dict[str, Any] = {
    "actor": "claude:sonnet:orchestrator:implementer",
    "at": "2026-06-03T06:45:29.716931+00:00",
    "event_id": "",
    "evidence": None,
    "execution_mode": "worktree",
    "force": False,
    "from_lane": "planned",
    "mission_id": "01KT5YTQ9HXWAFSEHSFZ61K3HX",
    "mission_slug": "agent-harness-install-audit-follow-through-01KT5YTQ",
    "policy_metadata": {"agent": "claude:sonnet:orchestrator:reviewer", "shell_pid": 51739},
    "reason": "State contract module complete: 4 StrEnum classes, frozen StateSurface dataclass, ruff clean",
    "review_ref": None,
    "review_result": None,
    "to_lane": "claimed",
    "wp_id": "WP01",
}
_ANNOTATION: dict[str, Any] = {
    "actor": "migration:backfill_runtime_state",
    "at": "2026-03-18T19:03:57.949152+00:00",
    "delta": {"subtasks": {"T001": "done", "T002": "done", "T003": "planned"}},
    "event_id": "",
    "kind": "annotation",
    "wp_id": "WP01",
}


def make_rows(n: int, *, tag: str = "") -> list[dict[str, Any]]:
    """`n` real-shaped rows (~600 bytes) with distinct event ids; `tag` keeps batches apart."""
    rows = []
    for i in range(n):
        row = dict(_ANNOTATION if i % 5 == 4 else _TRANSITION)
        row["event_id"] = f"01KT{tag}{i:08d}"
        row["wp_id"] = f"WP{i % 12 + 1:02d}"
        rows.append(row)
    return rows


def form(saas: DevSaas, path: str, **fields: str) -> Reply:
    """A form-encoded POST, as the reference client's OAuth calls are (httpx ``data=``)."""
    data = urllib.parse.urlencode(fields).encode()
    return http(saas, "POST", path, raw=data, headers={"Content-Type": "application/x-www-form-urlencoded"})


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
