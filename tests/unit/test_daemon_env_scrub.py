"""Issue 16 item 3, the daemon's side: it is spawned without, and never reads, ``SPEC_KITTY_SAAS_TOKEN``."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from orchestrator.daemon import client
from orchestrator.daemon.targets import TargetKey


def test_the_daemon_is_spawned_without_the_env_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SPEC_KITTY_SAAS_TOKEN", "tok-from-env")
    monkeypatch.setenv("SPEC_KITTY_HOME", str(tmp_path / "home"))
    seen: dict[str, Any] = {}

    def popen(argv: list[str], **kwargs: Any) -> Any:  # the OS's process table is the outside world here
        seen.update(kwargs)
        return None

    monkeypatch.setattr(subprocess, "Popen", popen)
    client.spawn()
    assert "SPEC_KITTY_SAAS_TOKEN" not in seen["env"]
    assert seen["env"]["SPEC_KITTY_HOME"] == str(tmp_path / "home")


def test_a_daemon_that_inherited_a_token_anyway_never_uses_it(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    monkeypatch.setenv("SPEC_KITTY_SAAS_TOKEN", "tok-from-env")
    facts = TargetKey(str(tmp_path), "001-demo", "https://b.example").facts()
    assert facts.env_token is None
    assert facts.context.env["SPEC_KITTY_SAAS_URL"] == "https://b.example"
