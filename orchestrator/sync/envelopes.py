"""Log rows as the Spec Kitty SaaS receives them: one ``WPStatusChanged`` envelope per lane row.

The shape is the reference client's (spec-kitty-cli 3.2.7, ``sync/emitter.py`` ``_emit`` and
``emit_wp_status_changed``; fields listed in ``shared/spec/saas-protocol.md``): the row's ``event_id``
becomes ``causation_id`` and ``correlation_id``, its ``at`` the ``timestamp``, its lane fields the
``payload`` (optional fields only when set, as the reference client drops ``None`` optionals).

The envelope's own ``event_id`` is a ULID *derived* from the project and the row (the row's time as the
ULID's time, a hash of project uuid and row id as its random part): it is the same on every re-send,
from any process, even after the queue was lost, so the host's de-duplication by ``event_id`` makes a
re-send harmless. Building is pure CPU (no I/O): the drain builds the next batch while one is on the wire.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime
from typing import Any, NamedTuple

from orchestrator.missions.ulid import _ALPHABET

EVENT_TYPE = "WPStatusChanged"
SCHEMA_VERSION = "3.0.0"
PAYLOAD_KEYS = ("actor", "execution_mode", "force", "from_lane", "mission_slug", "to_lane", "wp_id")
OPTIONAL_PAYLOAD_KEYS = ("reason", "review_ref", "evidence")
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class EnvelopeContext(NamedTuple):
    """What every envelope of one sync shares: who, where, and on which branch."""

    project_uuid: str
    project_slug: str
    node_id: str
    build_id: str
    team_slug: str
    git_branch: str | None
    head_commit_sha: str | None
    repo_slug: str | None


# Crockford's base32 by way of the standard one (C speed): 20 bytes make 32 characters, the last 26 of
# which carry the ULID's 130 bits (128 and two leading zeros).
_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _ALPHABET.encode())


def envelope_id(project_uuid: str, row_event_id: str, at: str) -> str:
    """The envelope's stable ULID: the row's time (ms) and 80 bits of sha256(project uuid, row id)."""
    digest = hashlib.sha256(f"{project_uuid}|{row_event_id}".encode()).digest()
    value = (_millis(at) << 80) | int.from_bytes(digest[:10], "big")
    return base64.b32encode(value.to_bytes(20, "big")).translate(_CROCKFORD)[-26:].decode("ascii")


def _millis(at: str) -> int:
    try:
        parsed = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return 0
    if parsed.tzinfo is None:
        from datetime import UTC

        parsed = parsed.replace(tzinfo=UTC)
    return max(0, min(int(parsed.timestamp() * 1000), (1 << 48) - 1))


class Envelope(NamedTuple):
    event_id: str  # the envelope's, what the host answers by
    text: str  # the JSON sent


def lane_row(row: object) -> bool:
    """Rows that travel: a JSON object with a work package and a lane it moved to."""
    return isinstance(row, dict) and isinstance(row.get("wp_id"), str) and isinstance(row.get("to_lane"), str)


def build(context: EnvelopeContext, row: dict[str, Any], row_event_id: str, lamport: int,
          mission_slug: str) -> Envelope:
    """One ``WPStatusChanged`` envelope for a lane row."""
    at = str(row.get("at") or "")
    payload: dict[str, Any] = {
        "actor": str(row.get("actor") or "unknown"),
        "execution_mode": str(row.get("execution_mode") or "direct_repo"),
        "force": bool(row.get("force")),
        "from_lane": str(row.get("from_lane") or "genesis"),
        "mission_slug": str(row.get("mission_slug") or mission_slug),
        "to_lane": row["to_lane"],
        "wp_id": row["wp_id"],
    }
    for key in OPTIONAL_PAYLOAD_KEYS:
        if row.get(key) is not None:
            payload[key] = row[key]
    own_id = envelope_id(context.project_uuid, row_event_id, at)
    envelope = {
        "event_id": own_id,
        "event_type": EVENT_TYPE,
        "aggregate_id": row["wp_id"],
        "aggregate_type": "WorkPackage",
        "schema_version": SCHEMA_VERSION,
        "build_id": context.build_id,
        "payload": payload,
        "node_id": context.node_id,
        "lamport_clock": lamport,
        "causation_id": row_event_id,
        "correlation_id": row_event_id,
        "timestamp": at,
        "team_slug": context.team_slug,
        "project_uuid": context.project_uuid,
        "project_slug": context.project_slug,
        "git_branch": context.git_branch,
        "head_commit_sha": context.head_commit_sha,
        "repo_slug": context.repo_slug,
        "type": "event",
    }
    return Envelope(own_id, _ENCODE(envelope))
