"""HTTP and fixture-data helpers shared by the dev SaaS tests (a module, so tests can import it)."""

from __future__ import annotations

import gzip
import json
import urllib.error
import urllib.request
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
