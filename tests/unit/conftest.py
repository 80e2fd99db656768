"""Given the real dev SaaS app in-process, an operator's token and a binding, a repository with the test's
mission folder, and a fresh queue: what every sync unit test starts from."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.loopback_saas import LoopbackSaas

from orchestrator.sync.queue import EventQueue
from tests.unit.test_sync import MISSION, PROJECT


@pytest.fixture
def saas(tmp_path: Path) -> Iterator[LoopbackSaas]:
    """The dev SaaS app, an operator's token, and a binding for the test's mission."""
    for running in LoopbackSaas(tmp_path / "saas" / "saas.sqlite3").serve():
        running.issue_token()
        running.bind(PROJECT, "proj")
        yield running


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "kitty-specs" / MISSION).mkdir(parents=True)
    return root


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``SPEC_KITTY_HOME`` in the test's folder: a sync reserves lamport values in its ``clock.json``."""
    where = tmp_path / "spec-kitty-home"
    monkeypatch.setenv("SPEC_KITTY_HOME", str(where))
    return where


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[EventQueue]:
    with EventQueue(tmp_path / "home" / "sync-queue.sqlite3") as opened:
        yield opened
