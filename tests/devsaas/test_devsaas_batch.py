"""Event sync in the Spec Kitty SaaS protocol: POST /api/v1/events/batch/, artifact bodies, probes, faults.

Given envelopes shaped like the reference client's, when they are posted, then each gets the per-event
answer the reference client maps (specify_cli/delivery/receivers.py), and the server holds each
``event_id`` exactly once, as received. Every request-level answer (400, 412, 413, 401) and every
armed fault is checked against the real server process.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from devsaas_helpers import Reply, envelope, http, post_batch

from devsaas.testing import DevSaas, start_dev_saas

BATCH = "/api/v1/events/batch/"
PROTOCOL = {"X-Spec-Kitty-Sync-Protocol": "2.0"}


@pytest.fixture
def project() -> str:
    """A project_uuid no other test uses."""
    return str(uuid.uuid4())


@pytest.fixture
def clean_faults(saas: DevSaas) -> Iterator[None]:
    yield
    saas.clear_faults()


def statuses(reply: Reply) -> list[str]:
    assert reply.status == 200, reply.text
    return [result["status"] for result in reply.json["results"]]


def test_each_envelope_is_stored_once_by_event_id_whatever_its_type(saas: DevSaas, token: str, project: str) -> None:
    first = [envelope(project), envelope(project, event_type="MissionCreated", aggregate_type="Mission",
                                         aggregate_id="01M94DG5XS0GHRQSGS69H312JT", payload={"wp_count": 0}),
             envelope(project, event_type="BuildRegistered", aggregate_id="build", payload={"build_id": "b"})]
    reply = post_batch(saas, token, first)
    assert reply.json == {"results": [{"event_id": e["event_id"], "status": "success"} for e in first]}

    # A re-send after a lost answer, with a new envelope, and one envelope twice in the same batch.
    late = envelope(project, aggregate_id="WP02")
    resent = post_batch(saas, token, [*first[1:], late, late])
    assert statuses(resent) == ["duplicate", "duplicate", "success", "duplicate"]

    assert saas.envelopes(project_uuid=project) == [*first, late]  # arrival order, each once, as sent
    assert saas.envelopes(project_uuid=project, event_type="MissionCreated") == [first[1]]
    assert saas.envelopes(project_uuid=project, aggregate_id="WP02") == [late]


def test_envelopes_are_kept_byte_for_byte(saas: DevSaas, token: str, project: str) -> None:
    sent = envelope(project, payload={"note": "caf\u00e9 \u2603", "n": 1.50})
    post_batch(saas, token, [sent])
    raw = http(saas, "GET", f"/api/v1/admin/events?project_uuid={project}").text
    assert json.dumps(sent, sort_keys=True, separators=(",", ":"), ensure_ascii=False) in raw


def test_a_plain_json_body_is_accepted_too(saas: DevSaas, token: str, project: str) -> None:
    sent = envelope(project)
    reply = http(saas, "POST", BATCH, {"events": [sent]}, token=token)
    assert statuses(reply) == ["success"]


def test_no_events_is_the_legacy_probe_answer(saas: DevSaas, token: str) -> None:
    """specify_cli/cli/commands/sync.py posts an uncompressed ``{"events": []}`` and looks for this text."""
    reply = http(saas, "POST", BATCH, raw=b'{"events": []}', token=token,
                 headers={"Content-Type": "application/json"})
    assert (reply.status, reply.json) == (400, {"error": "No events provided"})


def test_an_envelope_without_event_id_is_a_400_with_details(saas: DevSaas, token: str, project: str) -> None:
    good = envelope(project)
    nameless = envelope(project)
    del nameless["event_id"]
    reply = post_batch(saas, token, [good, nameless, "not an object"])
    assert reply.status == 400
    assert reply.json["details"] == [
        {"index": 1, "event_id": None, "error": "event_id must be a non-empty string",
         "error_category": "schema_mismatch"},
        {"index": 2, "event_id": None, "error": "not a JSON object", "error_category": "schema_mismatch"},
    ]
    assert saas.envelopes(project_uuid=project) == []  # nothing of that request is stored


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ({"event_type": ""}, "event_type must be a non-empty string"),
        ({"aggregate_id": None}, "aggregate_id must be a non-empty string"),
        ({"payload": []}, "payload must be an object"),
        ({"lamport_clock": -1}, "lamport_clock must be a non-negative integer"),
        ({"lamport_clock": True}, "lamport_clock must be a non-negative integer"),
        ({"timestamp": 5}, "timestamp must be a non-empty string"),
        ({"project_uuid": 7}, "project_uuid must be a string or null"),
    ],
)
def test_a_bad_envelope_is_rejected_alone(saas: DevSaas, token: str, project: str, override: dict[str, Any],
                                          error: str) -> None:
    bad, good = {**envelope(project), **override}, envelope(project)
    reply = post_batch(saas, token, [bad, good])
    assert reply.json["results"] == [
        {"event_id": bad["event_id"], "status": "rejected", "error": error, "error_category": "schema_mismatch"},
        {"event_id": good["event_id"], "status": "success"},
    ]
    assert saas.envelopes(project_uuid=project) == [good]


def test_a_refused_project_is_rejected_with_its_category_until_admitted(saas: DevSaas, token: str,
                                                                         project: str) -> None:
    other = str(uuid.uuid4())
    saas.refuse_project(project)
    refused, fine = envelope(project), envelope(other)
    result = post_batch(saas, token, [refused, fine]).json["results"]
    assert result[0]["status"] == "rejected"
    assert result[0]["error_category"] == "project_not_admitted"
    assert result[1] == {"event_id": fine["event_id"], "status": "success"}
    assert saas.envelopes(project_uuid=project) == []

    saas.admit_project(project)
    assert statuses(post_batch(saas, token, [refused])) == ["success"]


def small(project: str) -> dict[str, Any]:
    """An envelope with only what the server checks: 1000 of them stay under the byte ceiling."""
    return {"event_id": uuid.uuid4().hex, "event_type": "T", "aggregate_id": "A", "payload": {},
            "lamport_clock": 0, "timestamp": "t", "project_uuid": project}


def test_more_than_1000_envelopes_is_413(saas: DevSaas, token: str, project: str) -> None:
    events = [small(project) for _ in range(1001)]
    reply = post_batch(saas, token, events)
    assert (reply.status, reply.json["error"]) == (413, "request_too_large")
    assert statuses(post_batch(saas, token, events[:1000])) == ["success"] * 1000


def test_a_batch_over_the_byte_ceiling_is_413(saas: DevSaas, token: str, project: str) -> None:
    """512 KiB decompressed, as the hosted ingress (the gzip body on the wire is far smaller)."""
    big = envelope(project, payload={"blob": "x" * (512 * 1024)})
    reply = post_batch(saas, token, [big])
    assert (reply.status, reply.json["error"]) == (413, "request_too_large")
    assert saas.envelopes(project_uuid=project) == []


@pytest.mark.parametrize(
    ("sent", "code"),
    [("3.0", "client-too-new"), ("1.4", "client-too-old"), ("two", "client-protocol-unparseable")],
)
def test_another_protocol_major_is_412_with_guidance(saas: DevSaas, token: str, project: str, sent: str,
                                                     code: str) -> None:
    reply = post_batch(saas, token, [envelope(project)], headers={"X-Spec-Kitty-Sync-Protocol": sent})
    assert reply.status == 412
    assert reply.json["error_code"] == code
    assert "2.0" in reply.json["sync_protocol"]["upgrade_guidance"]
    assert saas.envelopes(project_uuid=project) == []


@pytest.mark.parametrize("sent", ["2.0", "2", "2.7"])
def test_any_2_x_protocol_is_served(saas: DevSaas, token: str, project: str, sent: str) -> None:
    assert post_batch(saas, token, [envelope(project)], headers={"X-Spec-Kitty-Sync-Protocol": sent}).status == 200


def test_no_protocol_header_is_served(saas: DevSaas, token: str, project: str) -> None:
    assert post_batch(saas, token, [envelope(project)], headers={}).status == 200


@pytest.mark.parametrize(
    ("status", "body_check"),
    [
        (500, lambda body: body["error"] == "injected_fault"),
        (400, lambda body: body == {"error": "batch validation failed"}),
        (413, lambda body: body["error"] == "request_too_large"),
        (412, lambda body: body["sync_protocol"]["upgrade_guidance"] == "pin spec-kitty-cli 3.2"),
        (503, lambda body: body["error"] == "injected_fault"),
    ],
)
@pytest.mark.usefixtures("clean_faults")
def test_an_armed_fault_answers_the_next_requests(saas: DevSaas, token: str, project: str, status: int,
                                                  body_check: Any) -> None:
    saas.arm_fault(status, count=2, guidance="pin spec-kitty-cli 3.2")
    events = [envelope(project)]
    for _ in range(2):
        reply = post_batch(saas, token, events)
        assert reply.status == status
        assert body_check(reply.json)
    assert saas.envelopes(project_uuid=project) == []
    assert statuses(post_batch(saas, token, events)) == ["success"]


@pytest.mark.usefixtures("clean_faults")
def test_a_fault_waits_for_an_authenticated_request(saas: DevSaas, token: str, project: str) -> None:
    saas.arm_fault(500)
    assert post_batch(saas, "skd_unknown", [envelope(project)]).status == 401
    assert post_batch(saas, token, [envelope(project)]).status == 500


def test_fault_arguments_are_checked(saas: DevSaas) -> None:
    assert http(saas, "POST", "/api/v1/admin/faults", {"status": 200}).status == 400
    assert http(saas, "POST", "/api/v1/admin/faults", {"status": 500, "count": 0}).status == 400


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", BATCH), ("GET", "/api/v1/sync/health/"), ("POST", "/api/dossier/push-content/"),
     ("POST", "/api/v1/ws-token")],
)
def test_sync_routes_need_a_live_bearer(saas: DevSaas, method: str, path: str) -> None:
    reply = http(saas, method, path, {})
    assert (reply.status, reply.json["error"]) == (401, "unauthorized")
    assert http(saas, method, path, {}, token=saas.issue_token(expires_in=0)).status == 401


def test_probes(saas: DevSaas, token: str) -> None:
    assert http(saas, "GET", "/api/v1/sync/health/", token=token).status == 200
    assert http(saas, "GET", "/").status == 200
    head = http(saas, "HEAD", "/")
    assert (head.status, head.text) == (200, "")


def test_websocket_tokens_are_refused_with_a_reason(saas: DevSaas, token: str) -> None:
    reply = http(saas, "POST", "/api/v1/ws-token", {"team_id": "dev-private"}, token=token)
    assert (reply.status, reply.json["error"]) == (403, "websocket_unavailable")
    assert "events/batch" in reply.json["error_description"]


# -- POST /api/dossier/push-content/ --------------------------------------------------------------


def artifact(project: str, text: str = "# Spec\n", **overrides: Any) -> dict[str, Any]:
    body = {"project_uuid": project, "admission_generation": 1, "binding_audience": "local-nonstrict:x",
            "mission_slug": "demo-01M94DG5", "target_branch": "feat/demo", "mission_type": "software-dev",
            "manifest_version": "1", "artifact_path": "spec.md", "hash_algorithm": "sha256",
            "content_hash": hashlib.sha256(text.encode()).hexdigest(), "content_body": text}
    body.update(overrides)
    return body


def test_an_artifact_body_is_stored_then_already_exists(saas: DevSaas, token: str, project: str) -> None:
    sent = artifact(project)
    echo = {"artifact_path": "spec.md", "content_hash": sent["content_hash"]}
    first = http(saas, "POST", "/api/dossier/push-content/", sent, token=token, headers=PROTOCOL)
    assert (first.status, first.json) == (201, {**echo, "status": "stored"})
    again = http(saas, "POST", "/api/dossier/push-content/", sent, token=token, headers=PROTOCOL)
    assert (again.status, again.json) == (200, {**echo, "status": "already_exists"})
    assert saas.dossier_bodies(project) == [sent]


def test_an_artifact_body_must_match_its_hash(saas: DevSaas, token: str, project: str) -> None:
    reply = http(saas, "POST", "/api/dossier/push-content/", artifact(project, content_hash="0" * 64), token=token)
    assert (reply.status, reply.json["error"]) == (400, "invalid_request")
    missing = artifact(project)
    del missing["artifact_path"]
    assert http(saas, "POST", "/api/dossier/push-content/", missing, token=token).status == 400


def test_an_artifact_body_of_a_refused_project_is_403_correlated(saas: DevSaas, token: str, project: str) -> None:
    saas.refuse_project(project)
    sent = artifact(project)
    reply = http(saas, "POST", "/api/dossier/push-content/", sent, token=token)
    assert reply.status == 403
    assert (reply.json["artifact_path"], reply.json["content_hash"]) == ("spec.md", sent["content_hash"])
    assert reply.json["error_category"] == "project_not_admitted"


# -- admin stats ----------------------------------------------------------------------------------


def test_stats_count_envelopes_and_the_new_route_names(saas: DevSaas, token: str, project: str) -> None:
    before = saas.stats()
    post_batch(saas, token, [envelope(project), envelope(project)])
    http(saas, "GET", "/api/v1/sync/health/", token=token)
    after = saas.stats()
    assert after["envelopes"] == before["envelopes"] + 2
    assert after["requests"]["events_batch"] == before["requests"].get("events_batch", 0) + 1
    assert after["requests"]["sync_health"] == before["requests"].get("sync_health", 0) + 1


def test_max_batch_bytes_is_a_serve_option() -> None:
    with start_dev_saas(extra_args=["--max-batch-bytes", "0"]) as saas:
        token = saas.issue_token()
        big = envelope(str(uuid.uuid4()), payload={"blob": "x" * (600 * 1024)})
        assert statuses(post_batch(saas, token, [big])) == ["success"]
