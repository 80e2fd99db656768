"""Given a lane row of a mission log, when it is made an envelope, then it has the reference client's shape
(``shared/fixtures/real-envelope-WPStatusChanged.json``) and an ``event_id`` that is the same every time."""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator.missions.ulid import _ALPHABET
from orchestrator.sync import envelopes

REAL = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "spec-kitty" /
                   "real-envelope-WPStatusChanged.json").read_text())
# what the reference client keeps for its own queue (admission, delivery bookkeeping), not protocol fields
LOCAL_ONLY = {"admission_generation", "binding_audience", "drain_blocked_reason", "spec_kitty_delivery_identity"}
CONTEXT = envelopes.EnvelopeContext("1d231484-659e-47f6-bb5e-23c777f7d9aa", "proj", "b805cd5cee74",
                                    "ca0848fb-2ef4-5290-bb14-c329f56bb05f", "dev-private", "feat/demo",
                                    "0812b52e9ccd525c4fab2e3ae6d0ac582fb59607", None)
ROW = {"actor": "claude", "at": "2026-12-06T00:05:19.896391+00:00", "event_id": "01M94APQCR22Z6G8J42H9N4D02",
       "evidence": None, "execution_mode": "worktree", "force": False, "from_lane": "genesis",
       "mission_id": "01M94AND", "mission_slug": "demo-mission-01M94AND", "policy_metadata": None, "reason": None,
       "review_ref": None, "review_result": None, "to_lane": "planned", "wp_id": "WP01"}


def test_a_lane_row_becomes_the_reference_clients_envelope() -> None:
    built = envelopes.build(CONTEXT, ROW, ROW["event_id"], 10, "demo-mission-01M94AND")
    sent = json.loads(built.text)

    assert set(sent) == set(REAL) - LOCAL_ONLY
    assert sent["payload"] == REAL["payload"]
    for key in ("aggregate_id", "aggregate_type", "build_id", "causation_id", "correlation_id", "event_type",
                "git_branch", "head_commit_sha", "lamport_clock", "node_id", "project_slug", "project_uuid",
                "repo_slug", "schema_version", "team_slug", "timestamp", "type"):
        assert sent[key] == REAL[key], key
    assert sent["event_id"] == built.event_id


def test_the_envelope_id_is_stable_and_carries_the_rows_time() -> None:
    first = envelopes.envelope_id(CONTEXT.project_uuid, ROW["event_id"], ROW["at"])
    assert first == envelopes.envelope_id(CONTEXT.project_uuid, ROW["event_id"], ROW["at"])
    assert first != envelopes.envelope_id("another-project", ROW["event_id"], ROW["at"])
    value = 0
    for char in first:
        value = value * 32 + _ALPHABET.index(char)
    assert value >> 80 == 1796515519896  # 2026-12-06T00:05:19.896Z in ms


def test_optional_fields_travel_only_when_set() -> None:
    row = dict(ROW, reason="rework", evidence={"review": {"verdict": "approved"}})
    payload = json.loads(envelopes.build(CONTEXT, row, row["event_id"], 1, "m").text)["payload"]
    assert payload["reason"] == "rework"
    assert payload["evidence"] == {"review": {"verdict": "approved"}}
    assert "review_ref" not in payload
    assert not envelopes.lane_row({"event_id": "x", "wp_id": "WP01"})
