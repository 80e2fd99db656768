"""Device-code login, tokens and the 401 contract, over real HTTP."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest
from devsaas_helpers import Reply, http

from devsaas.testing import DevSaas, DevSaasHTTPError

CODE = "/api/v1/auth/device/code"
TOKEN = "/api/v1/auth/device/token"


def _new_code(saas: DevSaas) -> dict[str, Any]:
    reply = http(saas, "POST", CODE, {"client_id": "spec-kitty-cli"})
    assert reply.status == 200
    return reply.json


def _poll(saas: DevSaas, device_code: str) -> Reply:
    return http(saas, "POST", TOKEN, {"device_code": device_code})


def _form(saas: DevSaas, **fields: str) -> Reply:
    data = urllib.parse.urlencode(fields).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return http(saas, "POST", "/device", raw=data, headers=headers)


def test_device_code_has_the_rfc_8628_shape(manual_saas: DevSaas) -> None:
    code = _new_code(manual_saas)
    assert set(code) == {
        "device_code",
        "user_code",
        "verification_uri",
        "verification_uri_complete",
        "expires_in",
        "interval",
    }
    assert re.fullmatch(r"[A-Z]{4}-[A-Z]{4}", code["user_code"])
    assert code["verification_uri"].endswith(f":{manual_saas.port}/device")
    assert code["verification_uri_complete"] == f"{code['verification_uri']}?user_code={code['user_code']}"
    assert (code["expires_in"], code["interval"]) == (2, 1)
    assert http(manual_saas, "POST", CODE).status == 200  # the body is optional


def test_device_flow_pending_then_approved_on_the_page_then_token_once(manual_saas: DevSaas) -> None:
    code = _new_code(manual_saas)
    assert _poll(manual_saas, code["device_code"]).json["error"] == "authorization_pending"

    page = http(manual_saas, "GET", f"/device?user_code={code['user_code'].lower()}")
    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert f'value="{code["user_code"]}"' in page.text

    confirmed = _form(manual_saas, user_code=code["user_code"], login="alice", action="approve")
    assert confirmed.status == 200
    assert "Approved" in confirmed.text

    reply = _poll(manual_saas, code["device_code"])
    assert reply.status == 200
    body = reply.json
    assert body["token_type"] == "bearer"
    assert re.fullmatch(r"skd_[A-Za-z0-9_-]{43}", body["access_token"])
    assert body["user"] == {"login": "alice", "email": "alice@dev-saas.spec-kitty.invalid"}
    assert body["expires_in"] == 30 * 24 * 3600
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["expires_at"])

    who = http(manual_saas, "GET", "/api/v1/whoami", token=body["access_token"])
    assert who.json == {"login": "alice", "email": body["user"]["email"], "expires_at": body["expires_at"]}

    again = _poll(manual_saas, code["device_code"])
    assert (again.status, again.json["error"]) == (400, "invalid_grant")


def test_denied_on_the_page_gives_access_denied(manual_saas: DevSaas) -> None:
    code = _new_code(manual_saas)
    assert _form(manual_saas, user_code=code["user_code"], login="dev", action="deny").status == 200
    assert _poll(manual_saas, code["device_code"]).json["error"] == "access_denied"
    # Changing your mind after a deny is refused, on the page and through the admin endpoint.
    assert _form(manual_saas, user_code=code["user_code"], login="dev").status == 409
    with pytest.raises(DevSaasHTTPError, match="409"):
        manual_saas.approve(code["user_code"])


def test_admin_approve_is_what_the_page_does(manual_saas: DevSaas) -> None:
    code = _new_code(manual_saas)
    manual_saas.approve(code["user_code"], login="bob")
    manual_saas.approve(code["user_code"], login="bob")  # idempotent
    assert _poll(manual_saas, code["device_code"]).json["user"]["login"] == "bob"


def test_unknown_codes(manual_saas: DevSaas) -> None:
    assert _poll(manual_saas, "no-such-code").json["error"] == "invalid_grant"
    assert http(manual_saas, "POST", TOKEN, {}).json["error"] == "invalid_request"
    page = _form(manual_saas, user_code="ZZZZ-ZZZZ", login="dev")
    assert page.status == 404
    assert "no device code" in page.text


def test_auto_approve_gives_a_token_on_the_first_poll(saas: DevSaas) -> None:
    code = _new_code(saas)
    reply = _poll(saas, code["device_code"])
    assert reply.status == 200
    assert reply.json["user"]["login"] == "dev"


def test_page_escapes_what_it_echoes(saas: DevSaas) -> None:
    page = http(saas, "GET", "/device?user_code=" + urllib.parse.quote('"><script>x</script>'))
    assert "<script>x" not in page.text
    assert "&quot;&gt;&lt;SCRIPT&gt;" in page.text


@pytest.mark.parametrize(
    ("make_header", "detail"),
    [
        (lambda saas: None, "missing bearer token"),
        (lambda saas: "Basic ZGV2OmRldg==", "missing bearer token"),
        (lambda saas: "Bearer skd_not-a-real-token", "unknown token"),
        (lambda saas: f"Bearer {saas.issue_token(expires_in=0)}", "token expired"),
        (lambda saas: f"Bearer {_revoked(saas)}", "token revoked"),
    ],
    ids=["missing", "not-bearer", "unknown", "expired", "revoked"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/whoami"),
        ("POST", "/api/v1/tracker/bind-resolve/"),
        ("POST", "/api/v1/projects/p/missions/m/events"),
        ("POST", "/api/v1/tracker/push/"),
    ],
)
def test_401(saas: DevSaas, make_header: Callable[[DevSaas], str | None], detail: str, method: str, path: str) -> None:
    header = make_header(saas)
    reply = http(saas, method, path, {}, headers={"Authorization": header} if header else {})
    assert reply.status == 401
    assert reply.json == {"error": "unauthorized", "detail": detail}


def _revoked(saas: DevSaas) -> str:
    token = saas.issue_token()
    assert http(saas, "GET", "/api/v1/whoami", token=token).status == 200
    saas.revoke_token(token)
    return token


def test_admin_tokens(saas: DevSaas) -> None:
    reply = http(saas, "POST", "/api/v1/admin/tokens", {"login": "erin", "expires_in": 60})
    assert reply.status == 201
    assert set(reply.json) == {"access_token", "refresh_token", "expires_at", "session_id", "refresh_token_expires_at"}
    who = http(saas, "GET", "/api/v1/whoami", token=reply.json["access_token"]).json
    assert who == {"login": "erin", "email": "erin@dev-saas.spec-kitty.invalid", "expires_at": reply.json["expires_at"]}
    bad = http(saas, "POST", "/api/v1/admin/tokens", {"login": "not a login"})
    assert (bad.status, bad.json["error"]) == (400, "invalid_name")
