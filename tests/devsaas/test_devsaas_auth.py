"""Device approval on the verification page and through the admin endpoint, the bearer 401 contract,
and admin-minted tokens, over real HTTP.

Given a device code from ``POST /oauth/device``, when a person decides on the page or a test through
the admin endpoint, then both follow the same rules; and every bearer route answers a bad token with
the same 401 body.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable

import pytest
from devsaas_helpers import Reply, http, new_code, poll

from devsaas.testing import DevSaas, DevSaasHTTPError


def _form(saas: DevSaas, **fields: str) -> Reply:
    data = urllib.parse.urlencode(fields).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return http(saas, "POST", "/device", raw=data, headers=headers)


def test_the_page_takes_the_code_as_a_person_types_it(manual_saas: DevSaas) -> None:
    code = new_code(manual_saas)
    page = http(manual_saas, "GET", f"/device?user_code={code['user_code'].lower()}")
    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert f'value="{code["user_code"]}"' in page.text
    typed = code["user_code"].lower().replace("-", " ")
    confirmed = _form(manual_saas, user_code=typed, login="alice", action="approve")
    assert (confirmed.status, "Approved" in confirmed.text) == (200, True)
    tokens = poll(manual_saas, code["device_code"]).json
    assert http(manual_saas, "GET", "/api/v1/me", token=tokens["access_token"]).json["name"] == "alice"


def test_a_denial_cannot_be_reversed_on_the_page_or_by_the_admin(manual_saas: DevSaas) -> None:
    code = new_code(manual_saas)
    assert _form(manual_saas, user_code=code["user_code"], login="dev", action="deny").status == 200
    assert _form(manual_saas, user_code=code["user_code"], login="dev").status == 409
    with pytest.raises(DevSaasHTTPError, match="409"):
        manual_saas.approve(code["user_code"])
    reply = poll(manual_saas, code["device_code"])
    assert (reply.status, reply.json["error"]) == (400, "access_denied")


def test_admin_approve_is_idempotent(manual_saas: DevSaas) -> None:
    code = new_code(manual_saas)
    manual_saas.approve(code["user_code"], login="bob")
    manual_saas.approve(code["user_code"], login="bob")
    tokens = poll(manual_saas, code["device_code"]).json
    assert http(manual_saas, "GET", "/api/v1/me", token=tokens["access_token"]).json["name"] == "bob"


def test_an_unknown_code_on_the_page_is_a_404_page(manual_saas: DevSaas) -> None:
    page = _form(manual_saas, user_code="ZZZZ-ZZZZ", login="dev")
    assert page.status == 404
    assert "no device code" in page.text


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
        ("GET", "/api/v1/me"),
        ("POST", "/api/v1/events/batch/"),
        ("POST", "/api/v1/tracker/bind-resolve/"),
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
    assert http(saas, "GET", "/api/v1/me", token=token).status == 200
    saas.revoke_token(token)
    return token


def test_admin_tokens(saas: DevSaas) -> None:
    reply = http(saas, "POST", "/api/v1/admin/tokens", {"login": "erin", "expires_in": 60})
    assert reply.status == 201
    assert set(reply.json) == {"access_token", "refresh_token", "expires_at", "session_id", "refresh_token_expires_at"}
    me = http(saas, "GET", "/api/v1/me", token=reply.json["access_token"]).json
    assert (me["name"], me["email"]) == ("erin", "erin@dev-saas.spec-kitty.invalid")
    status = http(saas, "GET", "/api/v1/session-status", token=reply.json["access_token"]).json
    assert (status["session_id"], status["access_token_expires_at"]) == (reply.json["session_id"],
                                                                         reply.json["expires_at"])
    bad = http(saas, "POST", "/api/v1/admin/tokens", {"login": "not a login"})
    assert (bad.status, bad.json["error"]) == (400, "invalid_name")
