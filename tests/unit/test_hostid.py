"""Issue 9 units: origins, clamped device-flow numbers, the Unauthed variants, the session store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.sessions.login import MAX_EXPIRES_IN, MAX_INTERVAL, MIN_EXPIRES_IN, MIN_INTERVAL, clamp
from orchestrator.sessions.store import Session, origin, read_sessions, remove_session, write_session
from states import catalog
from states.facts import Need, StaticFacts
from states.machine import UNAUTHED, settle


@pytest.mark.parametrize(("url", "expected"), [
    ("https://Saas.Example", "https://saas.example:443"),
    ("https://saas.example:443/", "https://saas.example:443"),
    ("https://saas.example/api", "https://saas.example:443"),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ("http://LOCALHOST", "http://localhost:80"),
    ("https://[::1]:9", "https://[::1]:9"),
])
def test_an_origin_makes_the_default_port_explicit_and_the_host_lower_case(url: str, expected: str) -> None:
    assert origin(url) == expected


def test_different_scheme_port_or_host_is_another_origin() -> None:
    base = origin("https://saas.example")
    assert base not in {origin("http://saas.example"), origin("https://saas.example:8443"),
                        origin("https://saas.example.evil")}


@pytest.mark.parametrize(("value", "expected"), [
    (-5, MIN_INTERVAL), (0, MIN_INTERVAL), ("nan", 5.0), (None, 5.0), ("x", 5.0), (10**9, MAX_INTERVAL), (3, 3.0),
])
def test_device_interval_is_clamped(value: object, expected: float) -> None:
    assert clamp(value, MIN_INTERVAL, MAX_INTERVAL, 5.0) == expected


def test_device_expiry_is_clamped() -> None:
    assert clamp(10**12, MIN_EXPIRES_IN, MAX_EXPIRES_IN, 600.0) == MAX_EXPIRES_IN
    assert clamp(-1, MIN_EXPIRES_IN, MAX_EXPIRES_IN, 600.0) == MIN_EXPIRES_IN


@pytest.mark.parametrize(("variant", "expected"), [
    ("none", catalog.UNAUTHED.render()),
    ("other_host", "No SaaS session exists for `https://b.example`; the stored sessions are for other hosts.\n\n"
                   "Run `spec-kitty auth login --host https://b.example`."),
    ("expired", "Your SaaS session has expired.\n\nRun `spec-kitty auth login`."),
])
def test_unauthed_says_why_with_one_next_action(variant: str, expected: str) -> None:
    verdict = settle(StaticFacts(has_token=False, host_url="https://b.example", auth_variant=variant),
                     Need(hosted=True, state="Ready"))
    assert verdict.state == UNAUTHED
    assert verdict.outcome is not None
    assert verdict.outcome.render() == expected


def test_the_store_keeps_one_session_per_origin_and_migrates_the_old_layout(tmp_path: Path) -> None:
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"access_token": "old", "server_url": "https://a.example", "login": "me"}))
    assert set(read_sessions(path).sessions) == {"https://a.example:443"}
    write_session(Session("tok-secret-b", "https://B.example/", login="you", refresh_token="ref-secret-b"), path)
    data = json.loads(path.read_text())
    assert data["version"] == 2
    assert set(data["sessions"]) == {"https://a.example:443", "https://b.example:443"}
    assert (path.stat().st_mode & 0o777) == 0o600
    write_session(Session("env", "https://a.example", source="env"), path)  # never written
    assert read_sessions(path).sessions["https://a.example:443"].access_token == "old"
    assert [s.access_token for s in remove_session("https://a.example:443", path)] == ["old"]
    assert set(read_sessions(path).sessions) == {"https://b.example:443"}
    shown = repr(read_sessions(path))
    assert "tok-secret-b" not in shown
    assert "ref-secret-b" not in shown
