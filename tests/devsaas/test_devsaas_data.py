"""Idempotent event upload on the old per-mission route, over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from devsaas_helpers import Reply, make_rows

from devsaas.testing import DevSaas

Call = Callable[..., Reply]


@pytest.mark.parametrize("name", ["bad%20name", ".hidden", "-dash", "x" * 129, "%C3%A9t%C3%A9"])
def test_names_are_validated(call: Call, name: str) -> None:
    for path in (f"/api/v1/projects/{name}/missions/m/events", f"/api/v1/projects/p/missions/{name}/events"):
        reply = call("POST", path, {"events": []})
        assert (reply.status, reply.json["error"]) == (400, "invalid_name")


def test_upload_is_idempotent_by_event_id(saas: DevSaas, call: Call, bound: str, mission: tuple[str, str]) -> None:
    first, second = make_rows(40, tag="a"), make_rows(20, tag="b")
    reply = call("POST", f"{bound}/events", {"events": first})
    assert reply.status == 200
    assert reply.json == {"acked": [r["event_id"] for r in first], "stored": 40, "duplicates": 0}

    # A retry after a lost ack, with new rows mixed in: everything acked, only the new rows stored.
    resend = first[30:] + second
    reply = call("POST", f"{bound}/events", {"events": resend})
    assert reply.json == {"acked": [r["event_id"] for r in resend], "stored": 20, "duplicates": 10}

    assert saas.events(*mission) == first + second  # arrival order, each row once


def test_an_empty_batch_is_fine(call: Call, bound: str) -> None:
    assert call("POST", f"{bound}/events", {"events": []}).json == {"acked": [], "stored": 0, "duplicates": 0}


def test_repeated_id_within_one_request(call: Call, bound: str) -> None:
    row = make_rows(1)[0]
    reply = call("POST", f"{bound}/events", {"events": [row, row]})
    assert reply.json == {"acked": [row["event_id"]], "stored": 1, "duplicates": 1}


def test_gzip_body(saas: DevSaas, call: Call, bound: str, mission: tuple[str, str]) -> None:
    rows = make_rows(500)
    reply = call("POST", f"{bound}/events", {"events": rows}, gzipped=True)
    assert reply.json["stored"] == 500
    assert saas.events(*mission) == rows


def test_rows_are_stored_verbatim(call: Call, bound: str, mission: tuple[str, str]) -> None:
    """The exact row text comes back, escapes, spacing and key order included."""
    row_text = '{ "event_id" : "01KRAW", "reason": "caf\\u00e9 \u2713", "n": 1.50, "z": 1, "a": 2 }'
    body = '{"events": [' + row_text + "]}"
    assert call("POST", f"{bound}/events", raw=body.encode()).json["stored"] == 1
    listed = call("GET", "/api/v1/admin/projects/{}/missions/{}/events".format(*mission))
    assert listed.text == '{"events":[' + row_text + '],"count":1}'
    assert json.loads(listed.text)["events"][0]["reason"] == "café ✓"


@pytest.mark.parametrize(
    ("events", "detail"),
    [
        ([{"event_id": "ok"}, {"event_id": 7}], "row 1: event_id must be a non-empty string"),
        ([{"event_id": "ok"}, {"wp_id": "WP01"}], "row 1: event_id must be a non-empty string"),
        ([{"event_id": "ok"}, {"event_id": ""}], "row 1: event_id must be a non-empty string"),
        ([{"event_id": "ok"}, "01KX"], "row 1: not a JSON object"),
    ],
)
def test_a_bad_row_refuses_the_whole_request(
    saas: DevSaas, call: Call, bound: str, mission: tuple[str, str], events: list[object], detail: str
) -> None:
    reply = call("POST", f"{bound}/events", {"events": events})
    assert (reply.status, reply.json) == (400, {"error": "invalid_event", "detail": detail})
    assert saas.events(*mission) == []


@pytest.mark.parametrize("body", [b"", b"[]", b"{}", b'{"events": {}}', b'{"events": [', b"\xff"])
def test_malformed_bodies(call: Call, bound: str, body: bytes) -> None:
    reply = call("POST", f"{bound}/events", raw=body)
    assert (reply.status, reply.json["error"]) == (400, "invalid_request")


def test_a_body_labelled_gzip_must_be_gzip(call: Call, bound: str) -> None:
    reply = call("POST", f"{bound}/events", raw=b'{"events": []}', headers={"Content-Encoding": "gzip"})
    assert (reply.status, reply.json["error"]) == (400, "invalid_request")


def test_at_most_5000_rows_per_request(saas: DevSaas, call: Call, bound: str, mission: tuple[str, str]) -> None:
    rows = [{"event_id": f"e{i}"} for i in range(5001)]
    reply = call("POST", f"{bound}/events", {"events": rows}, gzipped=True)
    assert (reply.status, reply.json["error"]) == (413, "too_large")
    assert call("POST", f"{bound}/events", {"events": rows[:5000]}, gzipped=True).json["stored"] == 5000
