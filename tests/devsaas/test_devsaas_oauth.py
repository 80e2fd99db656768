"""Login, sessions and identity in the Spec Kitty SaaS protocol: /oauth/*, /api/v1/me, /api/v1/session-status.

Each answer is the one the reference client (spec-kitty-cli 3.2.7) reads; docs/api.md cites where.
Time-dependent answers (slow_down, expiry, the refresh grace window) run against the in-process app
with a clock the test moves; everything else against a real ``spec-kitty-dev-saas serve`` process.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from devsaas_helpers import DEVICE_GRANT, Reply, form, http, new_code, poll
from support.clock import HandClock
from support.loopback_saas import LoopbackSaas

from devsaas.testing import DevSaas, start_dev_saas


def refresh(saas: Any, refresh_token: str, client_id: str = "cli_native") -> Reply:
    return form(saas, "/oauth/token", grant_type="refresh_token", refresh_token=refresh_token, client_id=client_id)


def login(saas: Any) -> dict[str, Any]:
    """A device login on an auto-approving server: the token answer."""
    reply = poll(saas, new_code(saas)["device_code"])
    assert reply.status == 200, reply.text
    return reply.json


@pytest.fixture
def clock() -> HandClock:
    return HandClock(time.time())


@pytest.fixture
def hand_saas(tmp_path: Path, clock: HandClock) -> Iterator[LoopbackSaas]:
    """The real app in-process, its clock moved by hand; device codes live 60 s, approval by hand."""
    yield from LoopbackSaas(tmp_path / "saas.sqlite3", device_expiry=60, clock=clock).serve()


# -- POST /oauth/device ---------------------------------------------------------------------------


def test_device_answer_has_what_the_reference_client_reads(manual_saas: DevSaas) -> None:
    code = new_code(manual_saas)
    assert set(code) == {"device_code", "user_code", "verification_uri", "verification_uri_complete",
                         "expires_in", "interval"}
    assert code["verification_uri"] == f"{manual_saas.url}/device"
    assert code["verification_uri_complete"] == f"{code['verification_uri']}?user_code={code['user_code']}"
    assert re.fullmatch(r"[A-Z]{4}-[A-Z]{4}", code["user_code"])
    assert (code["expires_in"], code["interval"]) == (2, 1)


@pytest.mark.parametrize(
    ("fields", "status", "error"),
    [
        ({"client_id": "someone-else", "scope": "offline_access"}, 401, "invalid_client"),
        ({"scope": "offline_access"}, 401, "invalid_client"),
        ({"client_id": "cli_native", "scope": "admin"}, 400, "invalid_scope"),
    ],
    ids=["unknown-client", "no-client", "unknown-scope"],
)
def test_device_request_errors(saas: DevSaas, fields: dict[str, str], status: int, error: str) -> None:
    reply = form(saas, "/oauth/device", **fields)
    assert (reply.status, reply.json["error"]) == (status, error)
    assert reply.json["error_description"]


def test_oauth_requests_are_form_encoded(saas: DevSaas) -> None:
    reply = http(saas, "POST", "/oauth/device", {"client_id": "cli_native"})
    assert (reply.status, reply.json["error"]) == (400, "invalid_request")


def test_scope_may_be_left_out(saas: DevSaas) -> None:
    assert form(saas, "/oauth/device", client_id="cli_native").status == 200


# -- POST /oauth/token, device grant --------------------------------------------------------------


def test_device_grant_pending_then_approved_on_the_page_then_used(manual_saas: DevSaas) -> None:
    code = new_code(manual_saas)
    pending = poll(manual_saas, code["device_code"])
    assert (pending.status, pending.json["error"]) == (400, "authorization_pending")

    assert "Approved" in manual_saas.approve_on_page(code["user_code"], login="alice")

    reply = poll(manual_saas, code["device_code"])
    assert reply.status == 200
    tokens = reply.json
    assert set(tokens) == {"access_token", "token_type", "expires_in", "refresh_token", "refresh_token_expires_in",
                           "refresh_token_expires_at", "session_id", "scope"}
    assert (tokens["token_type"], tokens["scope"]) == ("Bearer", "offline_access")
    assert tokens["session_id"].startswith("ses_")
    assert tokens["expires_in"] == 30 * 24 * 3600
    assert tokens["refresh_token_expires_in"] == 90 * 24 * 3600
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", tokens["refresh_token_expires_at"])

    me = http(manual_saas, "GET", "/api/v1/me", token=tokens["access_token"]).json
    assert me["email"] == me["user_id"] == "alice@dev-saas.spec-kitty.invalid"

    again = poll(manual_saas, code["device_code"])
    assert (again.status, again.json["error"]) == (400, "invalid_grant")


def test_device_grant_denied_on_the_page(manual_saas: DevSaas) -> None:
    code = new_code(manual_saas)
    assert "Denied" in manual_saas.approve_on_page(code["user_code"], deny=True)
    reply = poll(manual_saas, code["device_code"])
    assert (reply.status, reply.json["error"]) == (400, "access_denied")


def test_device_grant_approved_through_the_admin_endpoint(manual_saas: DevSaas) -> None:
    code = new_code(manual_saas)
    manual_saas.approve(code["user_code"], login="bob")
    tokens = poll(manual_saas, code["device_code"]).json
    assert http(manual_saas, "GET", "/api/v1/me", token=tokens["access_token"]).json["name"] == "bob"


def test_polling_faster_than_the_interval_is_slow_down(hand_saas: LoopbackSaas, clock: HandClock) -> None:
    code = new_code(hand_saas)
    assert poll(hand_saas, code["device_code"]).json["error"] == "authorization_pending"
    assert poll(hand_saas, code["device_code"]).json["error"] == "slow_down"
    clock.now += code["interval"]
    assert poll(hand_saas, code["device_code"]).json["error"] == "authorization_pending"


def test_a_device_code_is_pending_until_its_expiry_then_expired_token(hand_saas: LoopbackSaas,
                                                                      clock: HandClock) -> None:
    code = new_code(hand_saas)
    clock.now += code["expires_in"] - 0.1
    assert poll(hand_saas, code["device_code"]).json["error"] == "authorization_pending"
    clock.now += 0.1
    reply = poll(hand_saas, code["device_code"])
    assert (reply.status, reply.json["error"]) == (400, "expired_token")


def test_an_expired_device_code_cannot_be_approved(hand_saas: LoopbackSaas, clock: HandClock) -> None:
    code = new_code(hand_saas)
    clock.now += code["expires_in"]
    reply = http(hand_saas, "POST", "/api/v1/admin/device/approve", {"user_code": code["user_code"]})  # type: ignore[arg-type]
    assert (reply.status, reply.json["error"]) == (400, "expired_token")


@pytest.mark.parametrize(
    ("fields", "status", "error"),
    [
        ({"grant_type": DEVICE_GRANT, "device_code": "no-such-code", "client_id": "cli_native"}, 400, "invalid_grant"),
        ({"grant_type": DEVICE_GRANT, "client_id": "cli_native"}, 400, "invalid_request"),
        ({"grant_type": DEVICE_GRANT, "device_code": "x", "client_id": "other"}, 401, "invalid_client"),
        ({"grant_type": "password", "client_id": "cli_native"}, 400, "unsupported_grant_type"),
        ({"client_id": "cli_native"}, 400, "invalid_request"),
    ],
    ids=["unknown-code", "no-code", "unknown-client", "other-grant", "no-grant"],
)
def test_token_request_errors(saas: DevSaas, fields: dict[str, str], status: int, error: str) -> None:
    reply = form(saas, "/oauth/token", **fields)
    assert (reply.status, reply.json["error"]) == (status, error)


# -- POST /oauth/token, refresh grant -------------------------------------------------------------


def test_refresh_rotates_inside_the_same_session(saas: DevSaas) -> None:
    first = login(saas)
    reply = refresh(saas, first["refresh_token"])
    assert reply.status == 200
    second = reply.json
    assert second["session_id"] == first["session_id"]
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    status = http(saas, "GET", "/api/v1/session-status", token=second["access_token"]).json
    assert status["session_id"] == first["session_id"]
    assert refresh(saas, second["refresh_token"]).status == 200


def test_a_just_rotated_refresh_token_is_a_benign_replay_until_the_grace_ends(
    hand_saas: LoopbackSaas, clock: HandClock
) -> None:
    tokens = hand_saas.call(lambda store: store.issue_token("dev", 3600, clock.now))
    assert refresh(hand_saas, tokens.refresh_token).status == 200
    clock.now += 29.9
    replay = refresh(hand_saas, tokens.refresh_token)
    assert (replay.status, replay.json["error"]) == (409, "refresh_replay_benign_retry")
    clock.now += 0.1
    late = refresh(hand_saas, tokens.refresh_token)
    assert (late.status, late.json["error"]) == (400, "invalid_grant")


def test_a_refresh_token_past_its_lifetime_is_invalid_grant(hand_saas: LoopbackSaas, clock: HandClock) -> None:
    tokens = hand_saas.call(lambda store: store.issue_token("dev", 3600, clock.now))
    clock.now = tokens.refresh_expires_at
    reply = refresh(hand_saas, tokens.refresh_token)
    assert (reply.status, reply.json["error"]) == (400, "invalid_grant")


def test_refresh_grace_is_a_serve_option() -> None:
    with start_dev_saas(extra_args=["--refresh-grace", "0"]) as saas:
        tokens = saas.issue_session()
        assert refresh(saas, tokens["refresh_token"]).status == 200
        replay = refresh(saas, tokens["refresh_token"])
        assert (replay.status, replay.json["error"]) == (400, "invalid_grant")


def test_refresh_errors(saas: DevSaas) -> None:
    tokens = saas.issue_session()
    wrong_client = refresh(saas, tokens["refresh_token"], client_id="other")
    assert (wrong_client.status, wrong_client.json["error"]) == (401, "invalid_client")
    unknown = refresh(saas, "skr_not-a-token")
    assert (unknown.status, unknown.json["error"]) == (400, "invalid_grant")
    no_token = form(saas, "/oauth/token", grant_type="refresh_token", client_id="cli_native")
    assert (no_token.status, no_token.json["error"]) == (400, "invalid_request")


# -- POST /oauth/revoke ---------------------------------------------------------------------------


def test_revoke_ends_the_whole_session(saas: DevSaas) -> None:
    first = login(saas)
    second = refresh(saas, first["refresh_token"]).json
    reply = form(saas, "/oauth/revoke", token=second["refresh_token"], token_type_hint="refresh_token")
    assert (reply.status, reply.json) == (200, {"revoked": True})
    for access in (first["access_token"], second["access_token"]):
        assert http(saas, "GET", "/api/v1/me", token=access).status == 401
        assert http(saas, "GET", "/api/v1/session-status", token=access).status == 401
    gone = refresh(saas, second["refresh_token"])
    assert (gone.status, gone.json["error"]) == (400, "invalid_grant")
    [session] = [s for s in saas.sessions() if s["session_id"] == first["session_id"]]
    assert session["revoked_at"] is not None


def test_revoke_by_access_token_and_of_unknown_tokens(saas: DevSaas) -> None:
    tokens = saas.issue_session()
    assert form(saas, "/oauth/revoke", token=tokens["access_token"]).json == {"revoked": True}
    assert http(saas, "GET", "/api/v1/me", token=tokens["access_token"]).status == 401
    unknown = form(saas, "/oauth/revoke", token="skr_unknown", token_type_hint="refresh_token")
    assert (unknown.status, unknown.json) == (200, {"revoked": True})  # RFC 7009 §2.2
    missing = form(saas, "/oauth/revoke", token_type_hint="refresh_token")
    assert (missing.status, missing.json["error"]) == (400, "invalid_request")


# -- GET /api/v1/me, GET /api/v1/session-status ---------------------------------------------------


def test_me_names_the_user_by_email_with_a_private_and_a_shared_team(saas: DevSaas) -> None:
    tokens = login(saas)
    me = http(saas, "GET", "/api/v1/me", token=tokens["access_token"]).json
    assert me == {
        "user_id": "dev@dev-saas.spec-kitty.invalid",
        "email": "dev@dev-saas.spec-kitty.invalid",
        "name": "dev",
        "teams": [
            {"id": "dev-private", "name": "dev (private)", "role": "owner", "slug": "dev-private",
             "is_private_teamspace": True},
            {"id": "dev-team", "name": "Dev Team", "role": "member", "slug": "dev-team",
             "is_private_teamspace": False},
        ],
    }


def test_an_admin_minted_session_is_a_real_session(saas: DevSaas) -> None:
    tokens = saas.issue_session(login="carol")
    status = http(saas, "GET", "/api/v1/session-status", token=tokens["access_token"])
    assert status.status == 200
    assert status.json["session_id"] == tokens["session_id"]
    assert status.json["active"] is True
    assert http(saas, "GET", "/api/v1/me", token=tokens["access_token"]).json["teams"][0]["slug"] == "carol-private"


@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/session-status"])
def test_identity_needs_a_live_bearer(saas: DevSaas, path: str) -> None:
    assert http(saas, "GET", path).status == 401
    assert http(saas, "GET", path, token="skd_unknown").json == {"error": "unauthorized", "detail": "unknown token"}
    expired = saas.issue_token(expires_in=0)
    assert http(saas, "GET", path, token=expired).json["detail"] == "token expired"
